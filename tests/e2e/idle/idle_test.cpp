// Idle instances and wake on request, end to end: a real mcpd, real echo servers and real MCP SDK
// clients. An instance with spec.idleTimeout goes Idle once nobody called it for that long (no
// process, no port); the next tool call through the gateway wakes it and gets its normal answer;
// twenty clients calling at once start it once; it stays Idle across an mcpd restart and wakes
// afterwards; with a warm pool the wake claims a waiting process.
#include <gtest/gtest.h>

#include <future>
#include <set>
#include <vector>

#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

bool isIdle(const json& mi) { return phaseOf(mi) == "Idle"; }

const json kEcho = json::array({{{"name", "echo"}, {"arguments", {{"text", "good morning"}}}}});

// The one text result of kEcho, as the SDK client printed it.
std::string echoText(const json& out) {
  if (!out.is_object() || !out.contains("results") || out["results"].empty()) return "";
  return out["results"][0].value("text", "");
}

// How many times the instance was started with this event reason and a message containing
// `part` (events of the same reason and message are counted in one object).
int eventCount(Cluster& c, const std::string& uid, const std::string& reason,
               const std::string& part) {
  int n = 0;
  for (const auto& e : c.eventsFor(uid)) {
    if (e.value("reason", "") == reason && e.value("message", "").find(part) != std::string::npos) {
      n += e.value("count", 1);
    }
  }
  return n;
}

// Applies `name` with idleTimeout `timeout`, waits until it served and went Idle; returns the
// instance as it was while it ran.
json runThenSleep(Cluster& c, const std::string& name, const std::string& timeout) {
  applyOk(c, instanceYaml(name, "  idleTimeout: " + timeout + "\n"));
  EXPECT_TRUE(c.await(name, isReady, 30s)) << c.lastSeen();
  const json running = c.instance(name);
  EXPECT_TRUE(c.await(name, isIdle, 30s)) << c.lastSeen();
  return running;
}

TEST(IdleE2E, GoesIdleWithoutProcessOrPortAndTwentyConcurrentCallsWakeItOnce) {
  Cluster c;
  const json running = runThenSleep(c, "sleepy", "3s");
  const int pid = pidOf(running);
  const int port = portOf(running);
  ASSERT_GT(pid, 0);
  ASSERT_GT(port, 0);
  const std::string uid = uidOf(running);

  // Idle: no process, no port, no Ready (an intended state), idleSince set.
  json idle = c.instance("sleepy");
  EXPECT_TRUE(pollUntil([&] { return !processRunning(pid); }, 10s)) << "pid " << pid << " runs";
  EXPECT_TRUE(pidsWithMcpId(uid).empty());
  EXPECT_TRUE(portBindable(port)) << "something still listens on " << port;
  EXPECT_EQ(pidOf(idle), 0) << idle.dump(2);
  EXPECT_EQ(portOf(idle), 0) << idle.dump(2);
  EXPECT_TRUE(idle["status"].contains("idleSince")) << idle.dump(2);
  EXPECT_TRUE(conditionOf(idle, "Ready").empty()) << idle.dump(2);
  EXPECT_EQ(conditionOf(idle, "Stalled").value("status", ""), "False");
  EXPECT_EQ(conditionOf(idle, "Reconciling").value("status", ""), "False");
  EXPECT_FALSE(c.event(uid, "Idle").is_null());
  {
    auto get = c.mcpd().mcpctl({"get", "mi", "sleepy"});
    EXPECT_NE(get.out.find("Idle"), std::string::npos) << get.out << get.err;
    auto describe = c.mcpd().mcpctl({"describe", "mi", "sleepy"});
    EXPECT_NE(describe.out.find("Idle since:"), std::string::npos) << describe.out;
  }
  const std::string before = scrape(c);
  EXPECT_EQ(sample(before, "minimcp_instance_idle_total"), 1) << before;

  // Twenty SDK clients call a tool at once: every one gets the normal answer, from one start.
  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "-n", "default"}));
  const std::string url = c.mcpd().url() + "/mcp/default/sleepy";
  std::vector<std::future<testing::CommandResult>> calls;
  for (int i = 0; i < 20; ++i) {
    calls.push_back(
        std::async(std::launch::async, [&] { return runToolCalls(c, url, token, kEcho); }));
  }
  int ok = 0;
  for (auto& f : calls) {
    const testing::CommandResult r = f.get();
    EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
    const json out = json::parse(r.out, nullptr, false);
    if (r.exitCode == 0 && echoText(out).find("good morning") != std::string::npos) ++ok;
  }
  EXPECT_EQ(ok, 20);
  // The gateway proxies from the first healthy probe on; the status says so a moment later.
  ASSERT_TRUE(c.await("sleepy", isReady, 10s)) << c.lastSeen();
  json woken = c.instance("sleepy");
  EXPECT_TRUE(woken["status"].contains("lastWake")) << woken.dump(2);
  EXPECT_EQ(woken["status"]["lastWake"].value("reason", ""), "Request") << woken.dump(2);
  EXPECT_FALSE(woken["status"].contains("idleSince")) << woken.dump(2);
  EXPECT_EQ(pidsWithMcpId(uid).size(), 1u) << "exactly one process after the wake";
  EXPECT_EQ(eventCount(c, uid, "Starting", "waking") + eventCount(c, uid, "ClaimedFromPool", ""), 1)
      << "one start for twenty calls";
  EXPECT_EQ(restartsOf(woken), 0);
  const std::string after = scrape(c);
  EXPECT_EQ(sample(after, R"(minimcp_instance_wakes_total{result="ok"})"), 1) << after;
  EXPECT_EQ(sample(after, R"(minimcp_instance_wakes_total{result="failed"})"), 0) << after;
  EXPECT_EQ(sample(after, "minimcp_instance_wake_seconds_count"), 1) << after;
  auto describe = c.mcpd().mcpctl({"describe", "mi", "sleepy"});
  EXPECT_NE(describe.out.find("Last wake:"), std::string::npos) << describe.out;
  EXPECT_NE(describe.out.find("by a request through the gateway"), std::string::npos)
      << describe.out;
}

TEST(IdleE2E, AnIdleInstanceStaysIdleAcrossAnMcpdRestartAndWakesAfterwards) {
  Cluster c;
  const json running = runThenSleep(c, "dozy", "2s");
  const std::string uid = uidOf(running);
  ASSERT_TRUE(pollUntil([&] { return pidsWithMcpId(uid).empty(); }, 10s));

  c.mcpd().stop();
  c.mcpd().start();
  // The restarted controller looks at every instance first thing; for a few seconds after it,
  // nothing starts the Idle one.
  const auto until = std::chrono::steady_clock::now() + 4s;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(pidsWithMcpId(uid).empty()) << "a process started after the restart";
    ASSERT_EQ(phaseOf(c.instance("dozy")), "Idle");
    std::this_thread::sleep_for(100ms);
  }

  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "-n", "default"}));
  const json out = callTools(c, c.mcpd().url() + "/mcp/default/dozy", token, kEcho);
  EXPECT_NE(echoText(out).find("good morning"), std::string::npos) << out.dump();
  EXPECT_EQ(pidsWithMcpId(uid).size(), 1u);
  EXPECT_TRUE(c.instance("dozy")["status"].contains("lastWake"));
}

TEST(IdleE2E, IdleTimeoutIsValidatedAndChangingItRestartsNothing) {
  Cluster c;
  for (const char* bad : {"500ms", "soon", "-1s"}) {
    auto r = c.mcpd().mcpctl({"apply", "-f", "-"},
                             instanceYaml("bad", std::string("  idleTimeout: \"") + bad + "\"\n"));
    EXPECT_NE(r.exitCode, 0) << bad;
    EXPECT_NE((r.out + r.err).find("spec.idleTimeout"), std::string::npos) << r.out << r.err;
  }
  EXPECT_TRUE(c.instance("bad").is_null());
  applyOk(c, instanceYaml("steady", "  idleTimeout: \"0\"\n"));
  ASSERT_TRUE(c.await("steady", isReady, 30s)) << c.lastSeen();
  const int pid = pidOf(c.instance("steady"));
  ASSERT_EQ(c.mergePatch("steady", {{"spec", {{"idleTimeout", "1h"}}}}).status, 200);
  ASSERT_TRUE(c.await(
      "steady",
      [](const json& mi) {
        return mi["metadata"].value("generation", 0) ==
               mi["status"].value("observedGeneration", -1);
      },
      10s));
  EXPECT_EQ(pidOf(c.instance("steady")), pid) << "idleTimeout must not restart the process";
  EXPECT_TRUE(processRunning(pid));
}

TEST(IdleE2E, WithAWarmPoolAWakeClaimsAWaitingProcess) {
  if (geteuid() != 0) GTEST_SKIP() << "warm pools need a uid per process: mcpd runs as root";
  Cluster c;
  auto r = c.api().request("PATCH", std::string(kApi) + "/mcptypes/echo",
                           json{{"spec", {{"warmPool", {{"size", 1}}}}}}.dump(),
                           {{"Content-Type", "application/merge-patch+json"}}, 10s);
  ASSERT_EQ(r.status, 200) << r.body;
  const json running = runThenSleep(c, "pooled", "2s");
  const std::string uid = uidOf(running);
  std::set<int> waiting;
  ASSERT_TRUE(pollUntil(
      [&] {
        auto pids = pidsUnder(c.mcpd().dataDir() + "/pool/echo");
        waiting = {pids.begin(), pids.end()};
        return waiting.size() == 1 &&
               sample(scrape(c), R"(minimcp_warm_pool_processes{state="ready",type="echo"})") == 1;
      },
      30s));
  const int claimsBefore = eventCount(c, uid, "ClaimedFromPool", "");

  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "-n", "default"}));
  const json out = callTools(c, c.mcpd().url() + "/mcp/default/pooled", token, kEcho);
  EXPECT_NE(echoText(out).find("good morning"), std::string::npos) << out.dump();
  const int pid = pidOf(c.instance("pooled"));
  EXPECT_TRUE(waiting.count(pid)) << "woken on pid " << pid << ", not the waiting process";
  EXPECT_EQ(eventCount(c, uid, "ClaimedFromPool", ""), claimsBefore + 1);
}

}  // namespace
}  // namespace minimcp::e2e
