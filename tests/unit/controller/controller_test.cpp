#include "reconciler/controller.h"

#include <stdlib.h>

#include <mutex>
#include <set>

#include "tests/mocks/forwarding_store.h"
#include "tests/unit/controller/controller_fixture.h"

namespace minimcp::test {
namespace {

using ::testing::_;

const std::string kKey = "alice/inbox";

std::map<std::string, std::string> envMap(const runtime::LaunchSpec& spec) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : spec.env) m[k] = v;
  return m;
}

TEST_F(ControllerTest, SpawnsOnCreateWithFinalizerPortAndEnvironmentBuiltFromNothing) {
  ::setenv("MINIMCP_CANARY_SHOULD_NOT_LEAK", "secret", 1);
  createType();
  json created = createInstance("inbox", {{"config", {{"nested", {{"y", nullptr}, {"z", 3}}}}},
                                          {"env", {{{"name", "LOG_LEVEL"}, {"value", "debug"}}}}});
  const std::string uid = created["metadata"]["uid"];
  auto c = makeController();

  // First pass stores the finalizer, nothing else.
  auto r = c->reconcile(kKey);
  EXPECT_EQ(r.requeueAfter, std::chrono::milliseconds(0));
  EXPECT_EQ(instance("inbox")["metadata"]["finalizers"], json::array({"minimcp.io/process"}));
  EXPECT_TRUE(table_.launches(kKey).empty());

  // Second pass: port, spawn, status.
  c->reconcile(kKey);
  auto launches = table_.launches(kKey);
  ASSERT_EQ(launches.size(), 1u);
  const runtime::LaunchSpec& spec = launches[0];
  json st = status("inbox");
  EXPECT_EQ(st["phase"], "Starting");
  EXPECT_EQ(st["pid"], table_.live(kKey)->pid);
  EXPECT_EQ(st["processStartTime"], std::to_string(table_.live(kKey)->startTime));
  const int port = st["port"];
  EXPECT_GE(port, 41000);
  EXPECT_LE(port, 41100);
  EXPECT_EQ(st["url"], "http://127.0.0.1:" + std::to_string(port) + "/mcp");
  EXPECT_EQ(st["gatewayURL"], "https://127.0.0.1:7443/mcp/alice/inbox");
  EXPECT_EQ(st["node"], "node-a");
  EXPECT_TRUE(st.contains("expiresAt") == false);

  // The environment: exactly these names, no variable of this test process.
  auto env = envMap(spec);
  std::set<std::string> names;
  for (const auto& [k, v] : spec.env) names.insert(k);
  EXPECT_EQ(names, (std::set<std::string>{"PATH", "HOME", "PORT", "MCP_ID", "MCP_INSTANCE",
                                          "MCP_ACCESS_TOKEN", "MCP_API_URL", "MCP_CONFIG",
                                          "LOG_LEVEL", "NODE_ENV", "TYPE_VAR"}));
  EXPECT_EQ(names.size(), spec.env.size()) << "no duplicates";
  const auto instDir = dir_.path() / "data" / "instances" / "alice" / "inbox";
  EXPECT_EQ(env["PATH"], "/usr/local/bin:/usr/bin:/bin");
  EXPECT_EQ(env["HOME"], instDir.string());
  EXPECT_EQ(env["PORT"], std::to_string(port));
  EXPECT_EQ(env["MCP_ID"], uid);
  EXPECT_EQ(env["MCP_ACCESS_TOKEN"], tokens_.issue(uid, 0));
  EXPECT_EQ(env["MCP_INSTANCE"], "alice/inbox");
  EXPECT_EQ(env["MCP_API_URL"], "https://127.0.0.1:7443");
  EXPECT_EQ(json::parse(env["MCP_CONFIG"]), json({{"a", 1}, {"nested", {{"x", 1}, {"z", 3}}}}));
  EXPECT_EQ(env["LOG_LEVEL"], "debug");
  EXPECT_EQ(env["NODE_ENV"], "production");
  EXPECT_EQ(env["TYPE_VAR"], "t");
  // Launch details.
  EXPECT_EQ(spec.key, kKey);
  EXPECT_EQ(spec.command, "/usr/bin/sh") << "resolved on mcpd's instance PATH";
  ASSERT_EQ(spec.args.size(), 2u);
  EXPECT_EQ(spec.args[0], (std::filesystem::canonical(serversDir()) / "echo/server.js").string());
  EXPECT_EQ(spec.args[1], "--flag");
  EXPECT_EQ(spec.workingDir, instDir.string());
  const auto logDir = dir_.path() / "data" / "logs" / "alice" / "inbox";
  EXPECT_EQ(spec.logDir, logDir.string()) << "out of the instance's dir";
  EXPECT_TRUE(std::filesystem::is_directory(logDir));
  for (const auto& d :
       {dir_.path() / "data" / "logs", dir_.path() / "data" / "logs" / "alice", logDir, instDir}) {
    EXPECT_EQ(std::filesystem::status(d).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_all)
        << d << " is mcpd's (the runtime hands the instance dir over)";
  }
  EXPECT_FALSE(spec.uid) << "no uid allocator: the runtime's user";
  EXPECT_EQ(status("inbox")["isolation"]["mode"], "None");
  EXPECT_EQ(spec.limits.memoryBytes, 128u * 1024 * 1024);
  EXPECT_EQ(spec.limits.cpuMillis, 250u);
  EXPECT_EQ(spec.stopGracePeriod, std::chrono::seconds(3));
  for (const auto& a : spec.args) EXPECT_EQ(a.find(tokens_.issue(uid, 0)), std::string::npos);

  // The (mock) prober answers healthy: Running, Ready=True.
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  EXPECT_EQ(condition("inbox", "Ready"), "True");
  EXPECT_EQ(eventsWithReason("Starting").size(), 1u);
  EXPECT_EQ(eventsWithReason("Healthy").size(), 1u);
  ::unsetenv("MINIMCP_CANARY_SHOULD_NOT_LEAK");
}

TEST_F(ControllerTest, ExitIsRestartedWithRestartCountAndLastTermination) {
  createType();
  createInstance("inbox");
  auto c = makeController();
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  const int firstPid = status("inbox")["pid"];

  table_.exit(kKey, 1);
  c->reconcile(kKey);
  json st = status("inbox");
  EXPECT_EQ(table_.launches(kKey).size(), 2u) << "first restart at once";
  EXPECT_NE(st["pid"], firstPid);
  EXPECT_EQ(st["pid"], table_.live(kKey)->pid);
  EXPECT_EQ(st["restartCount"], 1);
  EXPECT_EQ(st["lastTermination"]["exitCode"], 1);
  EXPECT_TRUE(st["lastTermination"]["signal"].is_null());
  EXPECT_EQ(st["lastTermination"]["reason"], "Error");
  EXPECT_EQ(st["phase"], "Degraded");
  EXPECT_EQ(eventsWithReason("CrashLoopBackOff").size(), 1u);

  // The second crash waits for its back-off (1 s on the fake clock).
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  table_.exit(kKey, std::nullopt, 9);
  c->reconcile(kKey);
  EXPECT_EQ(table_.launches(kKey).size(), 2u);
  EXPECT_EQ(status("inbox")["lastTermination"]["signal"], 9);
  clock_.advance(1100ms);
  c->reconcile(kKey);
  EXPECT_EQ(table_.launches(kKey).size(), 3u);
  EXPECT_EQ(status("inbox")["restartCount"], 2);
}

TEST_F(ControllerTest, DeleteStopsReleasesPortAndRemovesTheObject) {
  createType();
  createInstance("inbox");
  // One port only: the next instance can start only if the delete released it.
  auto c = makeController(options(41500, 41500));
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  EXPECT_EQ(status("inbox")["port"], 41500);

  createInstance("other");
  c->reconcile("alice/other");
  c->reconcile("alice/other");
  EXPECT_EQ(condition("other", "Ready", "reason"), "AllocatePortFailed") << status("other").dump();
  EXPECT_TRUE(table_.launches("alice/other").empty());

  json obj = instance("inbox");
  obj["metadata"]["deletionTimestamp"] = formatRfc3339(clock_.now());
  store_->update("mcpinstances", obj, store::parseResourceVersion(obj));
  EXPECT_CALL(rt_, stop(kKey, std::optional<std::chrono::milliseconds>(3000ms)));
  c->reconcile(kKey);
  EXPECT_FALSE(store_->get("mcpinstances", "alice", "inbox")) << "finalizer dropped: gone";
  EXPECT_FALSE(table_.live(kKey));
  EXPECT_EQ(eventsWithReason("Terminating").size(), 1u);

  c->reconcile("alice/other");
  EXPECT_EQ(table_.launches("alice/other").size(), 1u);
  EXPECT_EQ(status("other")["port"], 41500);
}

TEST_F(ControllerTest, ObjectRemovedBehindOurBackStopsTheStrayProcess) {
  createType();
  createInstance("inbox");
  auto c = makeController();
  c->reconcile(kKey);
  c->reconcile(kKey);
  ASSERT_TRUE(table_.live(kKey));
  json obj = instance("inbox");
  store_->remove("mcpinstances", "alice", "inbox", 0);
  c->reconcile(kKey);
  EXPECT_FALSE(table_.live(kKey));
}

// Writes a label into the stored object right before the controller's first status write that
// carries a pid, so that write meets a newer resourceVersion.
class RacingStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::atomic<bool> armed{false};

  json update(const std::string& r, json o, int64_t rv) override {
    if (r == "mcpinstances" && o.contains("status") && o["status"].contains("pid") &&
        armed.exchange(false)) {
      json cur = *inner_.get(r, o["metadata"]["namespace"], o["metadata"]["name"]);
      cur["metadata"]["labels"] = {{"team", "blue"}};
      inner_.update(r, cur, store::parseResourceVersion(cur));
    }
    return inner_.update(r, std::move(o), rv);
  }
};

TEST_F(ControllerTest, ConflictOnStatusWriteRequeuesAndLosesNothing) {
  createType();
  createInstance("inbox");
  RacingStore racing(*store_);
  reconciler::Controller c(options(), racing, rt_, prober_, tokens_, clock_);
  c.reconcile(kKey);  // finalizer
  racing.armed = true;
  auto r = c.reconcile(kKey);  // spawns, then loses the status write
  EXPECT_EQ(r.requeueAfter, std::chrono::milliseconds(0)) << "requeued at once";
  EXPECT_FALSE(r.retryWithBackoff);
  EXPECT_EQ(table_.launches(kKey).size(), 1u);
  EXPECT_FALSE(status("inbox").contains("pid")) << "the write did not happen";

  c.reconcile(kKey);
  json obj = instance("inbox");
  EXPECT_EQ(obj["metadata"]["labels"]["team"], "blue") << "the other writer's change survives";
  EXPECT_EQ(obj["status"]["pid"], table_.live(kKey)->pid) << "and so does ours";
  EXPECT_TRUE(obj["status"].contains("startedAt"));
  EXPECT_TRUE(obj["status"].contains("launchedWith"));
  EXPECT_EQ(table_.launches(kKey).size(), 1u) << "never spawned twice";
  EXPECT_EQ(eventsWithReason("Starting").size(), 1u);
}

TEST_F(ControllerTest, ConflictOnACrashRestartKeepsRestartCount) {
  createType();
  createInstance("inbox");
  RacingStore racing(*store_);
  reconciler::Controller c(options(), racing, rt_, prober_, tokens_, clock_);
  ASSERT_TRUE(reconcileUntil(c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  table_.exit(kKey, 3);
  racing.armed = true;
  EXPECT_EQ(c.reconcile(kKey).requeueAfter, std::chrono::milliseconds(0));
  c.reconcile(kKey);
  json st = status("inbox");
  EXPECT_EQ(st["restartCount"], 1);
  EXPECT_EQ(st["lastTermination"]["exitCode"], 3);
  EXPECT_EQ(st["pid"], table_.live(kKey)->pid);
  EXPECT_EQ(table_.launches(kKey).size(), 2u);
}

// The runtime's usage samples as a test sets them (none until then).
class Samples {
 public:
  explicit Samples(MockProcessRuntime& rt) {
    ON_CALL(rt, usage(_)).WillByDefault([this](const std::string&) {
      std::lock_guard lock(mu_);
      return sample_;
    });
  }
  void set(uint64_t memoryBytes, double cpuPercent = 2) {
    std::lock_guard lock(mu_);
    sample_ = runtime::Usage{.cpuPercent = cpuPercent, .memoryBytes = memoryBytes};
  }

 private:
  std::mutex mu_;
  std::optional<runtime::Usage> sample_;
};

uint64_t usageMemory(const json& status) {
  return status.value("usage", json::object()).value("memoryBytes", uint64_t{0});
}

// A health check can answer before the runtime's first sample of a new process (it samples
// within a second): the usage follows as soon as there is a sample, and each refresh comes when
// it is due, however many other reconciles happened in between.
TEST_F(ControllerTest, UsageIsWrittenOnceTheFirstSampleExistsThenRefreshedWhenDue) {
  Samples samples(rt_);
  createType();
  createInstance("inbox");
  auto c = makeController();
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  EXPECT_FALSE(status("inbox").contains("usage"));
  auto r = c->reconcile(kKey);
  ASSERT_TRUE(r.requeueAfter);
  EXPECT_LE(*r.requeueAfter, 1000ms) << "no sample yet: looked at again soon";

  samples.set(50u << 20);
  clock_.advance(*r.requeueAfter);
  r = c->reconcile(kKey);
  EXPECT_EQ(usageMemory(status("inbox")), 50u << 20);
  ASSERT_TRUE(r.requeueAfter);
  EXPECT_EQ(*r.requeueAfter, 60000ms) << "the next refresh, at the usage period";

  // Another reconcile half-way (a watch event, a timer) does not push the refresh back.
  samples.set(80u << 20);  // moved more than 10%
  clock_.advance(30s);
  r = c->reconcile(kKey);
  EXPECT_EQ(usageMemory(status("inbox")), 50u << 20) << "not due yet";
  ASSERT_TRUE(r.requeueAfter);
  EXPECT_EQ(*r.requeueAfter, 30000ms);
  clock_.advance(*r.requeueAfter);
  c->reconcile(kKey);
  EXPECT_EQ(usageMemory(status("inbox")), 80u << 20);

  // Unmoved numbers are not rewritten at every period.
  const std::string rv = instance("inbox")["metadata"]["resourceVersion"];
  clock_.advance(60s);
  c->reconcile(kKey);
  EXPECT_EQ(instance("inbox")["metadata"]["resourceVersion"], rv);
}

// The store write a sample lands in the middle of.
class SampledDuringWriteStore : public testing::ForwardingStore {
 public:
  SampledDuringWriteStore(store::Store& inner, Samples& samples)
      : ForwardingStore(inner), samples_(samples) {}
  json update(const std::string& r, json o, int64_t rv) override {
    json out = inner_.update(r, o, rv);
    if (r == "mcpinstances" && o.value("status", json::object()).value("phase", "") == "Running") {
      samples_.set(40u << 20);
    }
    return out;
  }

 private:
  Samples& samples_;
};

// A sample taken while a status without usage is written was not written: it is not mistaken
// for the last usage written (which would hold back every refresh until it moves).
TEST_F(ControllerTest, ASampleTakenDuringTheStatusWriteIsWrittenNext) {
  Samples samples(rt_);
  createType();
  createInstance("inbox");
  SampledDuringWriteStore store(*store_, samples);
  reconciler::Controller c(options(), store, rt_, prober_, tokens_, clock_);
  ASSERT_TRUE(reconcileUntil(c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  ASSERT_FALSE(status("inbox").contains("usage"));
  for (int i = 0; i < 3 && !status("inbox").contains("usage"); ++i) {
    auto r = c.reconcile(kKey);
    ASSERT_TRUE(r.requeueAfter);
    clock_.advance(*r.requeueAfter);
  }
  EXPECT_EQ(usageMemory(status("inbox")), 40u << 20);
}

// A runtime that never samples the process costs a reconcile now and then, not every second.
TEST_F(ControllerTest, WithoutSamplesTheUsageLookBacksOffToThePeriod) {
  Samples samples(rt_);
  createType();
  createInstance("inbox");
  auto c = makeController();
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  int reconciles = 0;
  for (auto spent = 0ms; spent < 10min; ++reconciles) {
    auto r = c->reconcile(kKey);
    ASSERT_TRUE(r.requeueAfter);
    ASSERT_GT(*r.requeueAfter, 0ms);
    ASSERT_LE(*r.requeueAfter, 60000ms);
    clock_.advance(*r.requeueAfter);
    spent += *r.requeueAfter;
  }
  EXPECT_LE(reconciles, 20);
  EXPECT_FALSE(status("inbox").contains("usage"));
}

TEST_F(ControllerTest, MissingTypeAndMissingKeyKeepItPending) {
  createInstance("inbox");
  auto c = makeController();
  c->reconcile(kKey);
  auto r = c->reconcile(kKey);
  EXPECT_TRUE(r.retryWithBackoff);
  EXPECT_EQ(status("inbox")["phase"], "Pending");
  EXPECT_EQ(condition("inbox", "Ready", "reason"), "TypeNotFound");

  createType();
  createInstance("keyed", {{"keyRef", {{"name", "gmail-key"}}}});
  c->reconcile("alice/keyed");
  r = c->reconcile("alice/keyed");
  EXPECT_TRUE(r.retryWithBackoff);
  EXPECT_EQ(condition("keyed", "KeyAvailable", "reason"), "KeyNotFound");
  EXPECT_EQ(condition("keyed", "Ready", "reason"), "KeyNotFound");
  EXPECT_TRUE(table_.launches("alice/keyed").empty());
  EXPECT_EQ(eventsWithReason("KeyNotFound").size(), 1u);
}

TEST_F(ControllerTest, AdoptsALiveProcessRecordedInStatus) {
  createType();
  createInstance("inbox");
  const auto orphan = table_.addOrphan();
  host_->add(hostProcessOf("inbox", orphan.pid, orphan.startTime));
  // What an earlier mcpd left: finalizer, pid, start time, port.
  json obj = instance("inbox");
  obj["metadata"]["finalizers"] = {"minimcp.io/process"};
  obj["status"]["pid"] = orphan.pid;
  obj["status"]["processStartTime"] = std::to_string(orphan.startTime);
  obj["status"]["port"] = 41007;
  obj["status"]["node"] = "node-a";
  obj["status"]["phase"] = "Running";
  store_->update("mcpinstances", obj, 0);

  auto c = makeController();
  EXPECT_CALL(rt_, launch(_)).Times(0);
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] {
    return status("inbox")["phase"] == "Running" && condition("inbox", "Ready") == "True";
  }));
  EXPECT_EQ(status("inbox")["pid"], orphan.pid);
  EXPECT_EQ(status("inbox")["port"], 41007);
  EXPECT_EQ(eventsWithReason("Adopted").size(), 1u);
}

TEST_F(ControllerTest, HealthFailuresAndLimitsRestart) {
  createType();
  json type = *store_->get("mcptypes", "", "echo");
  type["spec"]["healthCheck"] = {
      {"periodSeconds", 1}, {"timeoutSeconds", 1}, {"failureThreshold", 1}};
  store_->update("mcptypes", type, 0);
  createInstance("inbox");
  auto c = makeController();
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  table_.exceedLimit(kKey, "memory", "RSS 300Mi over the limit 128Mi");
  c->reconcile(kKey);
  EXPECT_EQ(status("inbox")["lastTermination"]["reason"], "ResourceLimitExceeded");
  EXPECT_EQ(table_.launches(kKey).size(), 2u);
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));

  healthy_ = false;  // three failed probes (threshold 3) → HealthCheckFailed
  ASSERT_TRUE(reconcileUntil(
      *c, kKey,
      [&] {
        return status("inbox").value("lastTermination", json::object()).value("reason", "") ==
               "HealthCheckFailed";
      },
      20s));
}

TEST_F(ControllerTest, SuspendStopsAndResumeStarts) {
  createType();
  createInstance("inbox");
  auto c = makeController();
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  json obj = instance("inbox");
  obj["spec"]["suspend"] = true;
  store_->update("mcpinstances", obj, 0);
  c->reconcile(kKey);
  EXPECT_EQ(status("inbox")["phase"], "Suspended");
  EXPECT_FALSE(table_.live(kKey));
  EXPECT_FALSE(status("inbox").contains("pid"));
  EXPECT_FALSE(status("inbox").contains("port"));
  obj = instance("inbox");
  obj["spec"]["suspend"] = false;
  store_->update("mcpinstances", obj, 0);
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  EXPECT_EQ(table_.launches(kKey).size(), 2u);
  EXPECT_EQ(status("inbox")["restartCount"], 0);
}

TEST_F(ControllerTest, IdleAfterItsTimeoutWithoutTrafficThenOneStartWakesEveryWaiter) {
  createType();
  createInstance("inbox", {{"idleTimeout", "3s"}});
  auto c = makeController();
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] {
    return c->servingPort(kKey).has_value() && status("inbox")["phase"] == "Running";
  }));
  {
    auto lease = c->acquire(kKey);  // a request (an open stream) in flight for long
    ASSERT_TRUE(lease);
    clock_.advance(std::chrono::seconds(10));
    c->reconcile(kKey);
    EXPECT_EQ(status("inbox")["phase"], "Running");
  }  // it ends now: the quiet period counts from here
  clock_.advance(std::chrono::seconds(2));
  c->reconcile(kKey);
  EXPECT_EQ(status("inbox")["phase"], "Running");
  clock_.advance(std::chrono::seconds(2));
  c->reconcile(kKey);
  EXPECT_EQ(status("inbox")["phase"], "Idle");
  EXPECT_FALSE(table_.live(kKey));
  EXPECT_FALSE(status("inbox").contains("pid"));
  EXPECT_FALSE(status("inbox").contains("port"));
  EXPECT_TRUE(status("inbox").contains("idleSince"));
  EXPECT_EQ(condition("inbox", "Stalled"), "False");
  EXPECT_FALSE(c->servingPort(kKey));
  EXPECT_TRUE(c->sleeping(kKey));
  EXPECT_EQ(eventsWithReason("Idle").size(), 1u);
  c->reconcile(kKey);  // stays Idle
  EXPECT_EQ(status("inbox")["phase"], "Idle");
  EXPECT_EQ(table_.launches(kKey).size(), 1u);

  // Three requests ask at once: one start, and each hears once that it serves.
  std::mutex mu;
  std::vector<std::string> answers;
  for (int i = 0; i < 3; ++i) {
    c->wake(kKey, [&](const std::string& error) {
      std::lock_guard lock(mu);
      answers.push_back(error);
    });
  }
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] {
    std::lock_guard lock(mu);
    return answers.size() == 3u;
  }));
  EXPECT_EQ(answers, std::vector<std::string>(3, ""));
  EXPECT_TRUE(c->servingPort(kKey).has_value());
  EXPECT_FALSE(c->sleeping(kKey));
  EXPECT_EQ(table_.launches(kKey).size(), 2u);
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  EXPECT_EQ(status("inbox")["lastWake"].value("reason", ""), "Request");
  EXPECT_FALSE(status("inbox").contains("idleSince"));
  EXPECT_EQ(status("inbox")["restartCount"], 0);
  EXPECT_EQ(table_.launches(kKey).size(), 2u);
}

// Idleness counts from when the woken process serves: a start slower than idleTimeout does not
// put it back to sleep before the requests that woke it reach it.
TEST_F(ControllerTest, AWakeSlowerThanTheIdleTimeoutStaysAwakeForItsWaiters) {
  createType();
  createInstance("inbox", {{"idleTimeout", "3s"}});
  auto c = makeController();
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  clock_.advance(std::chrono::seconds(4));
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Idle"; }));

  healthy_ = false;  // the woken process takes its time
  std::atomic<int> answered{0};
  c->wake(kKey, [&](const std::string& error) {
    EXPECT_EQ(error, "");
    ++answered;
  });
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return table_.launches(kKey).size() == 2u; }));
  clock_.advance(std::chrono::seconds(10));
  healthy_ = true;
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return answered == 1; }));
  c->reconcile(kKey);
  c->reconcile(kKey);
  EXPECT_EQ(status("inbox")["phase"], "Running");
  EXPECT_TRUE(c->acquire(kKey)) << "the waiter finds it serving";
  clock_.advance(std::chrono::seconds(4));
  EXPECT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Idle"; }))
      << "and it sleeps again after a quiet idleTimeout";
}

TEST_F(ControllerTest, AWakeThatCannotStartAnswersItsWaitersWithWhy) {
  createType();
  createInstance("inbox", {{"idleTimeout", "1s"}});
  auto c = makeController();
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  clock_.advance(std::chrono::seconds(2));
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Idle"; }));
  json obj = instance("inbox");
  obj["spec"]["keyRef"] = {{"name", "missing"}};
  store_->update("mcpinstances", obj, 0);
  c->reconcile(kKey);
  EXPECT_EQ(status("inbox")["phase"], "Idle");  // a key change waits for the wake
  std::string answer = "(none)";
  c->wake(kKey, [&](const std::string& error) { answer = error; });
  c->reconcile(kKey);
  EXPECT_EQ(status("inbox")["phase"], "Pending");
  EXPECT_NE(answer.find("Pending"), std::string::npos) << answer;
  EXPECT_EQ(table_.launches(kKey).size(), 1u);
}

TEST_F(ControllerTest, WorkersDriveEverythingFromStoreEvents) {
  createType();
  auto c = makeController();
  c->start();
  createInstance("inbox");
  ASSERT_TRUE(eventually([&] {
    return status("inbox").value("phase", "") == "Running" && condition("inbox", "Ready") == "True";
  }));
  // A type change that alters the launch replaces the process.
  json type = *store_->get("mcptypes", "", "echo");
  type["spec"]["env"] = {{{"name", "TYPE_VAR"}, {"value", "changed"}}};
  store_->update("mcptypes", type, 0);
  ASSERT_TRUE(eventually([&] { return table_.launches(kKey).size() == 2u; }));
  EXPECT_EQ(envMap(table_.launches(kKey)[1])["TYPE_VAR"], "changed");
  // Make before break: the old process is stopped once the new one serves.
  EXPECT_TRUE(eventually([&] { return eventsWithReason("Replacing").size() == 1u; }));
  EXPECT_TRUE(eventually([&] { return eventsWithReason("OldProcessStopped").size() == 1u; }));
  EXPECT_TRUE(eventually([&] { return !table_.live(reconciler::previousKey(kKey)); }));
  c->stop();
  // stop() leaves the process running.
  EXPECT_TRUE(table_.live(kKey));
}

TEST_F(ControllerTest, ReplacementServesFromTheOldProcessUntilTheNewOneIsHealthyAndItsRequestsEnd) {
  createType();
  createInstance("inbox");
  auto c = makeController();
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] {
    return c->servingPort(kKey).has_value() && status("inbox")["phase"] == "Running";
  }));
  const uint16_t oldPort = *c->servingPort(kKey);
  const int oldPid = status("inbox")["pid"];
  auto lease = c->acquire(kKey);  // a request in flight on the old process
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->port, oldPort);

  healthy_ = false;  // the new process does not answer yet
  json type = *store_->get("mcptypes", "", "echo");
  type["spec"]["env"] = {{{"name", "TYPE_VAR"}, {"value", "changed"}}};
  store_->update("mcptypes", type, 0);
  c->reconcile(kKey);
  ASSERT_EQ(table_.launches(kKey).size(), 2u);
  json prev = status("inbox").value("previousProcess", json::object());
  EXPECT_EQ(prev.value("pid", 0), oldPid);
  EXPECT_EQ(prev.value("port", 0), oldPort);
  EXPECT_EQ(prev.value("reason", ""), "its MCPType's spec changed");
  EXPECT_NE(status("inbox")["pid"], oldPid);
  EXPECT_NE(status("inbox")["port"], oldPort);
  EXPECT_EQ(status("inbox")["phase"], "Running");
  EXPECT_EQ(condition("inbox", "Ready"), "True");
  EXPECT_EQ(condition("inbox", "Reconciling", "reason"), "Replacing");
  EXPECT_TRUE(table_.live(reconciler::previousKey(kKey)));
  EXPECT_EQ(c->servingPort(kKey), oldPort);  // the old one still serves

  healthy_ = true;
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] {
    return status("inbox").value("previousProcess", json::object()).contains("drainUntil");
  }));
  const uint16_t newPort = *c->servingPort(kKey);
  EXPECT_NE(newPort, oldPort);
  EXPECT_EQ(c->acquire(kKey)->port, newPort);  // new requests never go back to the old one
  EXPECT_EQ(eventsWithReason("Switched").size(), 1u);
  c->reconcile(kKey);
  EXPECT_TRUE(table_.live(reconciler::previousKey(kKey)));  // its request is still in flight

  lease.reset();  // the request ends
  ASSERT_TRUE(
      reconcileUntil(*c, kKey, [&] { return !table_.live(reconciler::previousKey(kKey)); }));
  EXPECT_FALSE(status("inbox").contains("previousProcess"));
  EXPECT_EQ(eventsWithReason("OldProcessStopped").size(), 1u);
  EXPECT_EQ(status("inbox")["restartCount"], 0);
  EXPECT_EQ(c->servingPort(kKey), newPort);
  EXPECT_TRUE(table_.live(kKey));
}

TEST_F(ControllerTest, ReplacementThatNeverGetsHealthyKeepsTheOldProcessServing) {
  json spec = {{"server", {{"command", "sh"}, {"args", {"echo/server.js"}}}},
               {"healthCheck", {{"periodSeconds", 5}, {"startupTimeoutSeconds", 1}}}};
  createType(spec);
  createInstance("inbox");
  auto c = makeController();
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] {
    return c->servingPort(kKey).has_value() && status("inbox")["phase"] == "Running";
  }));
  const uint16_t oldPort = *c->servingPort(kKey);
  healthy_ = false;
  json obj = instance("inbox");
  obj["spec"]["tokenGeneration"] = 1;
  store_->update("mcpinstances", obj, 0);
  c->reconcile(kKey);
  clock_.advance(std::chrono::seconds(2));  // past the new process's startup timeout
  ASSERT_TRUE(
      reconcileUntil(*c, kKey, [&] { return !eventsWithReason("ReplacementFailed").empty(); }));
  EXPECT_EQ(condition("inbox", "Ready"), "True");
  EXPECT_EQ(condition("inbox", "Stalled"), "True");
  EXPECT_EQ(condition("inbox", "Stalled", "reason"), "ReplacementFailed");
  EXPECT_EQ(c->servingPort(kKey), oldPort);
  EXPECT_TRUE(table_.live(reconciler::previousKey(kKey)));
}

}  // namespace
}  // namespace minimcp::test

namespace minimcp::test {
namespace {

TEST_F(ControllerTest, ExpiredInstanceIsCollectedWithItsEventsAfterItsRetention) {
  createType();
  createInstance("inbox", {{"ttl", "1m"}});
  auto o = options();
  o.expiredRetention = std::chrono::minutes(10);
  auto c = makeController(o);
  const std::string key = "alice/inbox";
  ASSERT_TRUE(reconcileUntil(*c, key, [&] { return table_.live(key).has_value(); }));
  clock_.advance(std::chrono::minutes(1));
  ASSERT_TRUE(reconcileUntil(*c, key, [&] { return status("inbox")["phase"] == "Expired"; }));
  EXPECT_FALSE(table_.live(key));
  EXPECT_FALSE(eventsWithReason("Expired").empty());
  // Still visible within the retention; the result says when to look again.
  auto r = c->reconcile(key);
  ASSERT_TRUE(r.requeueAfter);
  EXPECT_LE(*r.requeueAfter, std::chrono::minutes(10));
  EXPECT_FALSE(instance("inbox").is_null());
  clock_.advance(std::chrono::minutes(10));
  c->reconcile(key);
  EXPECT_TRUE(instance("inbox").is_null());
  EXPECT_TRUE(events().empty());
}

// DynamicUser: every instance its own uid/gid, kept across restarts, released with its files.
class IdsInRange : public reconciler::IdentityUsage {
 public:
  std::set<uint32_t> systemIds() override { return {}; }
  std::set<uint32_t> processIds() override { return {}; }
  std::map<std::string, uint32_t> instanceDirOwners() override { return {}; }
};

TEST_F(ControllerTest, DynamicUserGivesEachInstanceItsOwnIdKeptAcrossRestartsFreedOnDelete) {
  createType();
  createInstance("inbox");
  createInstance("other");
  auto o = options();
  o.uids = std::make_shared<reconciler::UidAllocator>(reconciler::IdRange{70000, 70001},
                                                      std::make_shared<IdsInRange>(), clock_);
  o.isolation.sandbox = "bwrap";
  auto c = makeController(o);
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  ASSERT_TRUE(
      reconcileUntil(*c, "alice/other", [&] { return status("other")["phase"] == "Running"; }));
  const auto first = table_.launches(kKey).at(0);
  const auto other = table_.launches("alice/other").at(0);
  ASSERT_TRUE(first.uid && first.gid && other.uid);
  EXPECT_EQ(*first.uid, *first.gid);
  EXPECT_NE(*first.uid, *other.uid);
  const json iso = status("inbox")["isolation"];
  EXPECT_EQ(iso["mode"], "DynamicUser");
  EXPECT_EQ(iso["uid"], *first.uid);
  EXPECT_EQ(iso["gid"], *first.gid);
  EXPECT_EQ(iso["sandbox"], "bwrap");
  EXPECT_NE(iso.value("message", ""), "");

  // A crash and restart: the same uid.
  table_.exit(kKey, 1);
  clock_.advance(1100ms);
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return table_.launches(kKey).size() == 2u; }));
  EXPECT_EQ(table_.launches(kKey).at(1).uid, first.uid);

  // Deleted: dir and logs removed, the uid free for a new instance.
  const auto instDir = dir_.path() / "data" / "instances" / "alice" / "inbox";
  const auto logDir = dir_.path() / "data" / "logs" / "alice" / "inbox";
  std::ofstream(instDir / "left-behind") << "x";
  std::filesystem::create_directories(instDir / "sub");
  std::filesystem::create_symlink(dir_.path() / "servers", instDir / "sub" / "link");
  json obj = instance("inbox");
  obj["metadata"]["deletionTimestamp"] = formatRfc3339(clock_.now());
  store_->update("mcpinstances", obj, store::parseResourceVersion(obj));
  c->reconcile(kKey);
  EXPECT_FALSE(store_->get("mcpinstances", "alice", "inbox"));
  EXPECT_FALSE(std::filesystem::exists(instDir));
  EXPECT_FALSE(std::filesystem::exists(logDir));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "servers" / "echo" / "server.js"))
      << "a symlink is removed, never followed";
  EXPECT_EQ(o.uids->idOf(kKey), std::nullopt);
  createInstance("third");
  ASSERT_TRUE(
      reconcileUntil(*c, "alice/third", [&] { return status("third")["phase"] == "Running"; }));
  EXPECT_EQ(table_.launches("alice/third").at(0).uid, first.uid) << "the only free id";
}

TEST_F(ControllerTest, DynamicUserRestoresTheRecordedIdAfterAnMcpdRestart) {
  createType();
  createInstance("inbox");
  json obj = instance("inbox");
  obj["status"]["isolation"] = {{"mode", "DynamicUser"}, {"uid", 70005}, {"gid", 70005}};
  store_->update("mcpinstances", obj, store::parseResourceVersion(obj));
  auto o = options();
  o.uids = std::make_shared<reconciler::UidAllocator>(reconciler::IdRange{70000, 70009},
                                                      std::make_shared<IdsInRange>(), clock_);
  auto c = makeController(o);
  ASSERT_TRUE(reconcileUntil(*c, kKey, [&] { return status("inbox")["phase"] == "Running"; }));
  EXPECT_EQ(table_.launches(kKey).at(0).uid, 70005u);
  EXPECT_EQ(status("inbox")["isolation"]["uid"], 70005);
}

}  // namespace
}  // namespace minimcp::test
