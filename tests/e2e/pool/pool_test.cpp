// Warm pools end to end: a real mcpd keeps spec.warmPool.size waiting echo processes; applying
// an instance claims one (its pid was a waiting process before the apply: no node start on the
// critical path), the claimed process serves that instance only and never goes back to the
// pool, the pool refills, shrinks and survives an mcpd restart without orphans.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

void setPoolSize(Cluster& c, const std::string& type, int size) {
  auto r = c.api().request("PATCH", std::string(kApi) + "/mcptypes/" + type,
                           json{{"spec", {{"warmPool", {{"size", size}}}}}}.dump(),
                           {{"Content-Type", "application/merge-patch+json"}}, 10s);
  ASSERT_EQ(r.status, 200) << r.body;
}

std::set<int> poolPids(Cluster& c, const std::string& type) {
  auto v = pidsUnder(c.mcpd().dataDir() + "/pool/" + type);
  return {v.begin(), v.end()};
}

// Waits until `type` has `ready` waiting processes by the metrics and as many on the host.
::testing::AssertionResult awaitPool(Cluster& c, const std::string& type, int ready,
                                     std::chrono::milliseconds timeout = 30s) {
  std::string text;
  const bool ok = pollUntil(
      [&] {
        text = scrape(c);
        return sample(text, "minimcp_warm_pool_processes{state=\"ready\",type=\"" + type + "\"}") ==
                   ready &&
               sample(text, "minimcp_warm_pool_processes{state=\"starting\",type=\"" + type +
                                "\"}") == 0 &&
               poolPids(c, type).size() == static_cast<size_t>(ready);
      },
      timeout);
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "pool of " << type << " not at " << ready
                                       << " ready; host pids " << poolPids(c, type).size() << "\n"
                                       << text;
}

uid_t realUid(int pid) {
  struct stat st {};
  return ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0 ? st.st_uid : 0;
}

TEST(WarmPoolE2E, ApplyClaimsAWaitingProcessThatServesThatInstanceOnly) {
  if (geteuid() != 0) GTEST_SKIP() << "warm pools need a uid per process: mcpd runs as root";
  Cluster c;
  setPoolSize(c, "echo", 2);
  ASSERT_TRUE(awaitPool(c, "echo", 2));
  const std::set<int> waiting = poolPids(c, "echo");
  std::set<uid_t> waitingUids;
  for (int pid : waiting) {
    waitingUids.insert(realUid(pid));
    const auto env = procEnviron(pid);
    EXPECT_EQ(env.count("MCP_ACCESS_TOKEN"), 0u);
    EXPECT_EQ(env.count("PORT"), 0u);
    EXPECT_EQ(env.count("MCP_ID"), 0u);
    EXPECT_EQ(env.count("MCP_POOL_ID"), 1u);
  }
  EXPECT_EQ(waitingUids.size(), 2u) << "each waiting process has a uid of its own";
  EXPECT_EQ(waitingUids.count(0), 0u);

  applyOk(c, instanceYaml("p1"));
  ASSERT_TRUE(c.await("p1", isReady, 30s)) << c.lastSeen();
  json p1 = c.instance("p1");
  const int pid = pidOf(p1);
  EXPECT_TRUE(waiting.count(pid)) << "p1 runs pid " << pid << ", not one of the waiting processes";
  EXPECT_FALSE(c.event(uidOf(p1), "ClaimedFromPool").is_null());
  // The instance's identity: its uid (the process's), its dir, a token never in the environment.
  EXPECT_EQ(p1["status"]["isolation"].value("uid", -1), static_cast<int>(realUid(pid)));
  char cwd[4096];
  const ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/cwd").c_str(), cwd, sizeof cwd);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(cwd, static_cast<size_t>(n)), c.mcpd().dataDir() + "/instances/default/p1");
  EXPECT_EQ(procEnviron(pid).count("MCP_ACCESS_TOKEN"), 0u);
  // It answers through the gateway as p1.
  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "-n", "default"}));
  auto call = c.mcpCall(c.mcpd().url() + "/mcp/default/p1", token, "echo", R"({"text":"warm"})");
  EXPECT_EQ(call.exitCode, 0) << call.out << call.err;
  EXPECT_NE(call.out.find("warm"), std::string::npos) << call.out;
  {
    const std::string text = scrape(c);
    EXPECT_EQ(sample(text, R"(minimcp_warm_pool_claims_total{type="echo"})"), 1) << text;
    EXPECT_EQ(sample(text, R"(minimcp_warm_pool_size{type="echo"})"), 2) << text;
  }

  // The pool refills without it: the claimed process is the instance's for good.
  ASSERT_TRUE(awaitPool(c, "echo", 2));
  EXPECT_FALSE(poolPids(c, "echo").count(pid));

  // A second instance gets another process; deleting p1 stops p1's, which never serves again.
  applyOk(c, instanceYaml("p2"));
  ASSERT_TRUE(c.await("p2", isReady, 30s)) << c.lastSeen();
  const int pid2 = pidOf(c.instance("p2"));
  EXPECT_NE(pid2, pid);
  EXPECT_NE(realUid(pid2), realUid(pid));
  ASSERT_EQ(c.api().request("DELETE", Cluster::instancePath("p1"), "", {}, 10s).status, 200);
  ASSERT_TRUE(pollUntil([&] { return !processRunning(pid); }, 20s)) << "p1's process runs on";
  ASSERT_TRUE(awaitPool(c, "echo", 2));
  EXPECT_FALSE(poolPids(c, "echo").count(pid));
  applyOk(c, instanceYaml("p3"));
  ASSERT_TRUE(c.await("p3", isReady, 30s)) << c.lastSeen();
  EXPECT_NE(pidOf(c.instance("p3")), pid);
  EXPECT_NE(pidOf(c.instance("p3")), pid2);

  // Shrinking the pool stops what waits; its series say so.
  setPoolSize(c, "echo", 0);
  ASSERT_TRUE(pollUntil([&] { return poolPids(c, "echo").empty(); }, 20s));
  ASSERT_TRUE(pollUntil(
      [&] { return sample(scrape(c), R"(minimcp_warm_pool_size{type="echo"})") == 0; }, 10s));
}

TEST(WarmPoolE2E, AClaimedInstanceIsAdoptedAcrossAnMcpdRestartAndNothingIsLeftWaiting) {
  if (geteuid() != 0) GTEST_SKIP() << "warm pools need a uid per process: mcpd runs as root";
  Cluster c;
  setPoolSize(c, "echo", 1);
  ASSERT_TRUE(awaitPool(c, "echo", 1));
  applyOk(c, instanceYaml("kept"));
  ASSERT_TRUE(c.await("kept", isReady, 30s)) << c.lastSeen();
  const json before = c.instance("kept");
  const int pid = pidOf(before);
  ASSERT_FALSE(c.event(uidOf(before), "ClaimedFromPool").is_null());
  ASSERT_TRUE(awaitPool(c, "echo", 1));
  const std::set<int> waitingBefore = poolPids(c, "echo");

  c.mcpd().stop();
  // Their channel closed with mcpd: the waiting processes exit by themselves.
  EXPECT_TRUE(pollUntil(
      [&] {
        for (int p : waitingBefore) {
          if (processRunning(p)) return false;
        }
        return true;
      },
      10s));
  EXPECT_TRUE(processRunning(pid)) << "the instance's process outlives mcpd";
  c.mcpd().start();
  ASSERT_TRUE(c.await(
      "kept", [&](const json& m) { return isReady(m) && pidOf(m) == pid && restartsOf(m) == 0; },
      30s))
      << c.lastSeen();
  ASSERT_TRUE(awaitPool(c, "echo", 1));
  const auto inDir = pidsUnder(c.mcpd().dataDir() + "/instances/default/kept");
  EXPECT_EQ(inDir, std::vector<int>{pid}) << "exactly one process for the instance";
  for (int p : poolPids(c, "echo")) EXPECT_FALSE(waitingBefore.count(p));
  EXPECT_TRUE(c.event(uidOf(before), "StrayProcess").is_null());
}

TEST(WarmPoolE2E, SizeIsBoundedAndRefusedWith422NamingTheField) {
  Cluster c;
  auto r = c.api().request("PATCH", std::string(kApi) + "/mcptypes/echo",
                           json{{"spec", {{"warmPool", {{"size", 1000}}}}}}.dump(),
                           {{"Content-Type", "application/merge-patch+json"}}, 10s);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("spec.warmPool.size"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace minimcp::e2e
