// Issue 10's acceptance end to end: a real mcpd as root (SQLite, real node MCP servers), alice
// and bob each with a keyed instance whose key is a unique marker. Bob, with nothing but his
// namespace token, tries every way a hostile tenant has reached another tenant's key, a host
// process or a loopback service of the host: loader and reserved env names, filesystem roots
// outside his instance's dir, writes to /status, dot segments in gateway paths, alice's
// namespace, and malformed requests. Each attempt must get its 4xx and have no effect, and after
// each case alice's marker appears in nothing bob could read (responses, tool results, gateway
// bodies, a watch over his namespace, his instances' logs and events) while alice's instance
// runs on, untouched, with the same process. NotificationSinks too: where mcpd may send, which
// key it signs with, whose status it is, whose sinks bob sees.
//
// One mcpd for the whole suite (when the binary runs all cases in one process); every case is
// self-contained, so a case run alone (ctest) sets up its own.
//
// MINIMCP_E2E_WARM_POOL=N runs the same suite with warm pools: the types the cases use keep N
// waiting processes, and alice's and bob's instances are claimed from them (ctest runs the
// suite both ways, the second under the prefix "warm_pool."). A claimed process got its key
// over its private channel: the key is then in no /proc/PID/environ at all.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "reconciler/runtime/proc_stat.h"
#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

namespace fs = std::filesystem;

constexpr auto kReadyTimeout = 40s;
constexpr const char* kAlice = "alice";
constexpr const char* kBob = "bob";
constexpr const char* kKeyedType = "echo-keyed";

int warmPoolSize() {
  const char* v = std::getenv("MINIMCP_E2E_WARM_POOL");
  return v ? std::atoi(v) : 0;
}

// The echo server with its key decrypted into API_KEY (the type's auth env).
constexpr const char* kKeyedTypeYaml = R"(apiVersion: minimcp.io/v1alpha1
kind: MCPType
metadata:
  name: echo-keyed
spec:
  displayName: Echo with a key
  server:
    command: node
    args: ["echo/server.js"]
    transport: streamable-http
  auth:
    type: api-key
    env: API_KEY
  healthCheck:
    path: /health
    periodSeconds: 5
    timeoutSeconds: 2
    failureThreshold: 3
    startupTimeoutSeconds: 15
  stopGracePeriodSeconds: 2
)";

std::string instancesPath(const std::string& ns) {
  return std::string(kApi) + "/namespaces/" + ns + "/mcpinstances";
}
std::string instancePath(const std::string& ns, const std::string& name) {
  return instancesPath(ns) + "/" + name;
}

// An MCPInstance of bob's (or `ns`'s) as JSON; `spec` is merged over type + ttl.
json instanceJson(const std::string& ns, const std::string& name, const json& spec) {
  json s = {{"type", kKeyedType}, {"ttl", "1h"}};
  s.merge_patch(spec);
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "MCPInstance"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", s}};
}

const std::map<std::string, std::string> kJson = {{"Content-Type", "application/json"}};
const std::map<std::string, std::string> kMergePatch = {
    {"Content-Type", "application/merge-patch+json"}};
const std::map<std::string, std::string> kJsonPatch = {
    {"Content-Type", "application/json-patch+json"}};

// A tenant's view of the API: every answer it got is kept, so that a case can say what the
// tenant was able to read. A dropped connection is an answer too (status 0).
class TenantClient {
 public:
  TenantClient(client::ConnectionConfig cfg, std::vector<std::string>& seen, std::mutex& mu)
      : cfg_(std::move(cfg)),
        http_(std::make_unique<client::HttpClient>(cfg_)),
        seen_(seen),
        mu_(mu) {}

  client::Response request(const std::string& method, const std::string& target,
                           const std::string& body = "",
                           const std::map<std::string, std::string>& headers = {}) {
    client::Response r;
    try {
      r = http_->request(method, target, body, headers, 15s);
    } catch (const std::exception& e) {
      r.status = 0;
      r.body = std::string("no answer: ") + e.what();
      http_ = std::make_unique<client::HttpClient>(cfg_);  // a fresh connection for the next one
    }
    record(method + " " + target.substr(0, 300) + " -> " + std::to_string(r.status), r.body);
    return r;
  }
  void record(const std::string& what, const std::string& content) {
    std::lock_guard lock(mu_);
    seen_.push_back(what + "\n" + content);
  }
  const client::ConnectionConfig& config() const { return cfg_; }

 private:
  client::ConnectionConfig cfg_;
  std::unique_ptr<client::HttpClient> http_;
  std::vector<std::string>& seen_;
  std::mutex& mu_;
};

// Watches of bob's namespace kept open (re-opened after idle periods) while a case runs.
class NamespaceWatch {
 public:
  NamespaceWatch(const client::ConnectionConfig& cfg, const std::vector<std::string>& targets) {
    for (const auto& target : targets) {
      threads_.emplace_back([this, cfg, target] {
        client::HttpClient http(cfg);
        while (!stop_) {
          try {
            int status = http.stream(
                "GET", target,
                [&](const std::string& line) {
                  std::lock_guard lock(mu_);
                  lines_ += line + "\n";
                  return !stop_.load();
                },
                {}, 1s);
            std::lock_guard lock(mu_);
            statuses_.insert(status);
          } catch (const std::exception& e) {
            std::lock_guard lock(mu_);
            lines_ += std::string("watch error: ") + e.what() + "\n";
          }
        }
      });
    }
  }
  ~NamespaceWatch() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  std::string lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }
  std::set<int> statuses() {
    std::lock_guard lock(mu_);
    return statuses_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string lines_;
  std::set<int> statuses_;
  std::vector<std::thread> threads_;
};

// The uid and gid a process runs as (/proc/PID/status), or -1.
std::pair<int, int> processOwner(int pid) {
  std::string status = testing::readFileOr("/proc/" + std::to_string(pid) + "/status");
  auto field = [&](const std::string& name) {
    auto at = status.find("\n" + name + ":");
    return at == std::string::npos ? -1 : std::atoi(status.c_str() + at + name.size() + 2);
  };
  return {field("Uid"), field("Gid")};
}

// Everything the suite shares: mcpd, the host's loopback service, alice's and bob's keys,
// tokens and keyed instances.
struct World {
  testing::TempDir tmp{"hostile"};
  std::unique_ptr<FakeUpstream> hostService;  // a loopback-only service of the host
  std::unique_ptr<Cluster> cluster;           // after the service: its clean-up runs first
  std::string aliceMarker = "ALICE-MARKER-" + randomHex(16);
  std::string bobMarker = "BOB-MARKER-" + randomHex(16);
  std::string aliceToken, bobToken;
  json alice;  // alice's instance a1 once Ready
  int alicePid = 0;
  std::string aliceStartTime;
  std::string aliceSecretFile;  // a file of alice's instance holding her marker
  std::string setupFailure;

  std::string dataDir() { return cluster->mcpd().dataDir(); }
  // What /proc/PID/environ of alice's process shows as API_KEY: her key when launched with it,
  // nothing when her process was claimed from a warm pool.
  std::string environKey() const { return warmPoolSize() > 0 ? "" : aliceMarker; }

  // The types the cases use keep warmPoolSize() waiting processes; waits for the keyed type's.
  void givePools() {
    Cluster& c = *cluster;
    for (const char* type : {kKeyedType, "echo", "filesystem"}) {
      auto r = c.api().request("PATCH", std::string(kApi) + "/mcptypes/" + type,
                               json{{"spec", {{"warmPool", {{"size", warmPoolSize()}}}}}}.dump(),
                               {{"Content-Type", "application/merge-patch+json"}}, 10s);
      if (r.status != 200) throw std::runtime_error("warm pool of " + std::string(type) + r.body);
    }
    const std::string series =
        std::string("minimcp_warm_pool_processes{state=\"ready\",type=\"") + kKeyedType + "\"}";
    if (!pollUntil([&] { return sample(scrape(c), series) == warmPoolSize(); }, 60s)) {
      throw std::runtime_error("the warm pool of " + std::string(kKeyedType) + " never filled");
    }
  }
  std::string instanceDir(const std::string& ns, const std::string& name) {
    return dataDir() + "/instances/" + ns + "/" + name;
  }
  client::ConnectionConfig tenant(const std::string& token) {
    client::ConnectionConfig cfg = cluster->api().config();
    cfg.token = token;
    return cfg;
  }

  void setUp() {
    hostService = std::make_unique<FakeUpstream>("slack", tmp.path());
    cluster = std::make_unique<Cluster>();
    hostService->awaitListening();
    Cluster& c = *cluster;
    auto r = c.mcpd().mcpctl({"apply", "-f", "-"}, kKeyedTypeYaml);
    if (r.exitCode != 0) throw std::runtime_error("apply type: " + r.err);
    if (warmPoolSize() > 0) givePools();
    for (const auto& [ns, marker] : {std::pair{kAlice, aliceMarker}, std::pair{kBob, bobMarker}}) {
      r = c.mcpd().mcpctl({"create", "apikey", "k", "-n", ns, "--type", kKeyedType, "--from-stdin"},
                          marker);
      if (r.exitCode != 0) throw std::runtime_error("create apikey: " + r.err);
    }
    aliceToken = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", kAlice}));
    bobToken = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", kBob}));
    // Each tenant creates its own instance with its own token.
    for (const auto& [ns, token, name] :
         {std::tuple{kAlice, aliceToken, "a1"}, std::tuple{kBob, bobToken, "b1"}}) {
      client::HttpClient http(tenant(token));
      auto created =
          http.request("POST", instancesPath(ns),
                       instanceJson(ns, name, {{"keyRef", {{"name", "k"}}}}).dump(), kJson, 15s);
      if (created.status != 201)
        throw std::runtime_error(std::string("create ") + name + ": " + created.body);
    }
    for (const auto& [ns, name] : {std::pair{kAlice, "a1"}, std::pair{kBob, "b1"}}) {
      json mi;
      if (!pollUntil(
              [&] {
                mi = c.instance(name, ns);
                return !mi.is_null() && isReady(mi);
              },
              kReadyTimeout)) {
        throw std::runtime_error(std::string(name) + " not Ready: " + mi.dump(2) + "\n" +
                                 c.mcpd().log());
      }
      if (std::string(ns) == kAlice) alice = mi;
    }
    alicePid = pidOf(alice);
    aliceStartTime = alice["status"].value("processStartTime", "");
    if (procEnviron(alicePid)["API_KEY"] != environKey()) {
      throw std::runtime_error(warmPoolSize() > 0
                                   ? "alice's claimed process shows her key in its environ"
                                   : "alice's process does not hold her key as API_KEY");
    }
    if (warmPoolSize() > 0) {
      const auto events = c.eventsFor(uidOf(alice), kAlice);
      if (std::none_of(events.begin(), events.end(),
                       [](const json& e) { return e.value("reason", "") == "ClaimedFromPool"; })) {
        throw std::runtime_error("alice's instance was not claimed from the warm pool");
      }
    }
    // A file alice's server wrote into its own dir, as it would: its owner, umask 022.
    aliceSecretFile = instanceDir(kAlice, "a1") + "/alice-notes.txt";
    { std::ofstream(aliceSecretFile) << "alice's notes: " << aliceMarker << "\n"; }
    auto [uid, gid] = processOwner(alicePid);
    if (::chown(aliceSecretFile.c_str(), uid, gid) != 0 ||
        ::chmod(aliceSecretFile.c_str(), 0644) != 0) {
      throw std::runtime_error("cannot give " + aliceSecretFile + " to alice's process");
    }
  }
};

World* world = nullptr;

class HostileTenant : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    world = new World();
    try {
      world->setUp();
    } catch (const std::exception& e) {
      world->setupFailure = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete world;
    world = nullptr;
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the hostile tenant test runs mcpd as root";
    ASSERT_NE(world, nullptr);
    ASSERT_TRUE(world->setupFailure.empty()) << world->setupFailure;
    w_ = world;
    bob_ = std::make_unique<TenantClient>(w_->tenant(w_->bobToken), seen_, seenMu_);
    const std::string ns = std::string(kApi) + "/namespaces/" + kBob;
    watch_ = std::make_unique<NamespaceWatch>(
        w_->tenant(w_->bobToken),
        std::vector<std::string>{ns + "/mcpinstances?watch=true", ns + "/events?watch=true",
                                 ns + "/apikeys?watch=true", ns + "/notificationsinks?watch=true"});
  }

  // What bob can read after the case, then the check that none of it holds alice's marker,
  // and that alice's instance runs on with the same process. Bob's instances other than b1
  // are removed, so that the next case starts from the same state.
  void TearDown() override {
    if (!w_) return;
    Cluster& c = *w_->cluster;
    watch_->stop();
    bob_->record("bob's watches", watch_->lines());
    for (int status : watch_->statuses()) EXPECT_EQ(status, 200) << watch_->lines();
    auto list = bob_->request("GET", instancesPath(kBob));
    EXPECT_EQ(list.status, 200) << list.body;
    std::vector<std::string> bobInstances;
    for (const auto& mi : json::parse(list.body, nullptr, false).value("items", json::array())) {
      bobInstances.push_back(mi["metadata"].value("name", ""));
    }
    for (const auto& name : bobInstances) {
      bob_->request("GET", instancePath(kBob, name) + "/log");
    }
    bob_->request("GET", std::string(kApi) + "/namespaces/bob/events");
    bob_->request("GET", std::string(kApi) + "/namespaces/bob/apikeys");
    bob_->request("GET", std::string(kApi) + "/namespaces/bob/notificationsinks");
    {
      std::lock_guard lock(seenMu_);
      for (const auto& answer : seen_) {
        EXPECT_EQ(answer.find(w_->aliceMarker), std::string::npos)
            << "alice's key reached bob through: " << answer.substr(0, 2000);
      }
    }

    json a1 = c.instance("a1", kAlice);
    ASSERT_FALSE(a1.is_null()) << "alice's instance is gone";
    EXPECT_EQ(phaseOf(a1), "Running") << a1.dump(2);
    EXPECT_TRUE(isReady(a1)) << a1.dump(2);
    EXPECT_EQ(pidOf(a1), w_->alicePid) << a1.dump(2);
    EXPECT_EQ(a1["status"].value("processStartTime", ""), w_->aliceStartTime);
    EXPECT_TRUE(processRunning(w_->alicePid));
    EXPECT_EQ(procEnviron(w_->alicePid)["API_KEY"], w_->environKey());
    EXPECT_NE(testing::readFileOr(w_->aliceSecretFile).find(w_->aliceMarker), std::string::npos)
        << "alice's file changed";

    for (const auto& name : bobInstances) {
      if (name != "b1") c.api().request("DELETE", instancePath(kBob, name), "", {}, 10s);
    }
    bool cleaned = pollUntil(
        [&] {
          auto r = c.api().request("GET", instancesPath(kBob), "", {}, 10s);
          return json::parse(r.body, nullptr, false).value("items", json::array()).size() <= 1;
        },
        30s);
    EXPECT_TRUE(cleaned) << "bob's instances of this case were not removed";
  }

  json createTarget(const std::string& name);

  // bob's instance `name`, read as admin (null when absent).
  json bobInstance(const std::string& name) { return w_->cluster->instance(name, kBob); }

  // Waits until bob's `name` is Ready (for attacks that main wrongly accepted: the leak they
  // cause shows only once the process runs).
  json awaitBobReady(const std::string& name) {
    json mi;
    pollUntil(
        [&] {
          mi = bobInstance(name);
          return mi.is_null() || isReady(mi);
        },
        kReadyTimeout);
    return mi;
  }

  // Tool calls through the gateway as bob; the output is kept with bob's answers.
  testing::CommandResult bobCallsTools(const std::string& name, const json& calls) {
    auto r = runToolCalls(*w_->cluster, w_->cluster->mcpd().url() + "/mcp/bob/" + name,
                          w_->bobToken, calls);
    bob_->record("tools of " + name, r.out + r.err);
    return r;
  }

  World* w_ = nullptr;
  std::vector<std::string> seen_;
  std::mutex seenMu_;
  std::unique_ptr<TenantClient> bob_;
  std::unique_ptr<NamespaceWatch> watch_;
};

// A refusal: one of `codes`, a Status whose message names `field` (when given).
::testing::AssertionResult refused(const client::Response& r, std::set<int> codes,
                                   const std::string& field = "") {
  if (!codes.count(r.status)) {
    return ::testing::AssertionFailure() << "answered " << r.status << ": " << r.body;
  }
  json st = json::parse(r.body, nullptr, false);
  if (st.is_discarded() || st.value("kind", "") != "Status") {
    return ::testing::AssertionFailure() << "not a Status: " << r.body;
  }
  if (!field.empty() && st.value("message", "").find(field) == std::string::npos) {
    return ::testing::AssertionFailure() << "the message does not name " << field << ": " << r.body;
  }
  return ::testing::AssertionSuccess();
}

// --- 1. spec.env: loader and reserved names --------------------------------------------------

// Reads every /proc/*/environ it may and prints what holds an API key: run inside an instance
// through NODE_OPTIONS, it would print every instance's key into bob's log.
const std::string kEnvironThief =
    "--import=data:text/javascript,import%20fs%20from%20'fs';for(const%20p%20of%20fs."
    "readdirSync('/proc'))try{const%20e=fs.readFileSync('/proc/'+p+'/environ','latin1');"
    "if(e.includes('API_KEY='))console.log('LEAK',p,e.split('\\0').join('%20'))}catch{}";

TEST_F(HostileTenant, EnvLoaderAndReservedNamesAreRefusedAndNothingIsStored) {
  struct Attempt {
    std::string name, value;
  };
  const std::vector<Attempt> attempts = {
      {"NODE_OPTIONS", kEnvironThief},
      {"NODE_OPTIONS", "--require=/proc/self/cwd/x.js"},
      {"LD_PRELOAD", "/proc/self/cwd/evil.so"},
      {"LD_LIBRARY_PATH", "/tmp"},
      {"LD_AUDIT", "/tmp/audit.so"},
      {"NODE_PATH", "/tmp"},
      {"HOME", "/"},
      {"PATH", "/tmp:/usr/bin:/bin"},
      {"PORT", "1"},
      {"MCP_ID", "somebody-else"},
      {"MCP_ACCESS_TOKEN", "chosen-by-bob"},
      {"MCP_CONFIG", "{}"},
      {"API_KEY", "bob-chooses-the-key"},  // the type's auth.env
      {"NOT_ALLOWED_BY_THE_TYPE_" + randomHex(4), "x"},
      {"ld_preload", "/tmp/evil.so"},
      {"NODE_EXTRA_CA_CERTS", "/tmp/ca.pem"},
  };
  for (size_t i = 0; i < attempts.size(); ++i) {
    const auto& a = attempts[i];
    SCOPED_TRACE(a.name);
    const std::string name = "env-" + std::to_string(i);
    // Alternately alone and behind an allowed name: the message names the right index.
    json env = json::array();
    if (i % 2) env.push_back({{"name", "LOG_LEVEL"}, {"value", "debug"}});
    env.push_back({{"name", a.name}, {"value", a.value}});
    const std::string field = "spec.env[" + std::to_string(env.size() - 1) + "].name";
    // Only the first runs if wrongly accepted (the thief); the others stay suspended.
    json spec = {{"keyRef", {{"name", "k"}}}, {"env", env}, {"suspend", i != 0}};
    auto r =
        bob_->request("POST", instancesPath(kBob), instanceJson(kBob, name, spec).dump(), kJson);
    EXPECT_TRUE(refused(r, {422}, field));
    EXPECT_TRUE(bobInstance(name).is_null()) << "stored";
  }
  // Server-side apply creates too.
  {
    json obj = instanceJson(kBob, "env-apply",
                            {{"env", {{{"name", "LD_PRELOAD"}, {"value", "/tmp/x.so"}}}}});
    auto r = bob_->request("PATCH", instancePath(kBob, "env-apply") + "?fieldManager=bob",
                           obj.dump(), {{"Content-Type", "application/apply-patch+yaml"}});
    EXPECT_TRUE(refused(r, {422}, "spec.env[0].name"));
    EXPECT_TRUE(bobInstance("env-apply").is_null()) << "stored";
  }
  // The same names on bob's running instance: merge patch, JSON patch, PUT. Nothing changes,
  // the process is not replaced.
  json before = bobInstance("b1");
  ASSERT_FALSE(before.is_null());
  auto r = bob_->request(
      "PATCH", instancePath(kBob, "b1"),
      json({{"spec", {{"env", {{{"name", "NODE_OPTIONS"}, {"value", kEnvironThief}}}}}}}).dump(),
      kMergePatch);
  EXPECT_TRUE(refused(r, {422}, "spec.env[0].name"));
  r = bob_->request("PATCH", instancePath(kBob, "b1"),
                    json::array({{{"op", "add"},
                                  {"path", "/spec/env"},
                                  {"value",
                                   {{{"name", "DEBUG"}, {"value", "1"}},
                                    {{"name", "MCP_ACCESS_TOKEN"}, {"value", "x"}}}}}})
                        .dump(),
                    kJsonPatch);
  EXPECT_TRUE(refused(r, {422}, "spec.env[1].name"));
  json put = before;
  put["metadata"].erase("resourceVersion");
  put["spec"]["env"] = {{{"name", "HOME"}, {"value", "/root"}}};
  r = bob_->request("PUT", instancePath(kBob, "b1"), put.dump(), kJson);
  EXPECT_TRUE(refused(r, {422}, "spec.env[0].name"));
  json after = bobInstance("b1");
  EXPECT_EQ(after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);
  EXPECT_EQ(after["spec"], before["spec"]);
  EXPECT_EQ(pidOf(after), pidOf(before));

  // The names every type allows are still accepted (the policy is not "refuse everything").
  json ok = instanceJson(
      kBob, "env-allowed",
      {{"suspend", true},
       {"env",
        {{{"name", "LOG_LEVEL"}, {"value", "debug"}}, {{"name", "DEBUG"}, {"value", "1"}}}}});
  r = bob_->request("POST", instancesPath(kBob), ok.dump(), kJson);
  EXPECT_EQ(r.status, 201) << r.body;

  // Had the thief been admitted, its output is in bob's log once it runs: let it run.
  if (!bobInstance("env-0").is_null()) awaitBobReady("env-0");
}

// --- 2. filesystem type: config.root outside the instance's own dir --------------------------

TEST_F(HostileTenant, FilesystemRootOutsideItsOwnDirIsRefused) {
  const std::string bobDir = w_->instanceDir(kBob, "fs-own");
  const std::string aliceDir = w_->instanceDir(kAlice, "a1");
  // A symlink out of what would be the instance's own dir, there before the instance is:
  // admission (or launch) must follow it.
  const std::string planted = w_->instanceDir(kBob, "fs-link");
  fs::create_directories(planted);
  fs::create_symlink("/", planted + "/escape");
  const std::set<std::string> runnable = {"fs-root", "fs-link", "fs-link-rel"};
  const std::vector<std::pair<std::string, std::string>> roots = {
      {"fs-root", "/"},
      {"fs-proc", "/proc"},
      {"fs-proc-alice", "/proc/" + std::to_string(w_->alicePid)},
      {"fs-etc", "/etc"},
      {"fs-alice", aliceDir},
      {"fs-data", w_->dataDir()},
      {"fs-dotdot", ".."},
      {"fs-dotdot2", "../.."},
      {"fs-sibling", "../a1"},
      {"fs-dot-dotdot", "./.."},
      {"fs-sub-dotdot", "sub/../../.."},
      {"fs-own", bobDir + "/../../alice/a1"},
      {"fs-prefix", w_->instanceDir(kBob, "fs-prefix") + "x"},
      {"fs-link", planted + "/escape"},
      {"fs-link-rel", "escape"},
  };
  std::vector<std::string> running;  // admitted and launched: what bob then asks for files
  for (const auto& [name, root] : roots) {
    SCOPED_TRACE(name + " root " + root);
    if (name == "fs-link-rel") {
      fs::create_directories(w_->instanceDir(kBob, name));
      fs::create_symlink("/", w_->instanceDir(kBob, name) + "/escape");
    }
    json obj = instanceJson(kBob, name, {{"type", "filesystem"}, {"config", {{"root", root}}}});
    // Those that would get to run are not suspended: if admitted, the launch must refuse them.
    obj["spec"]["suspend"] = !runnable.count(name);
    auto r = bob_->request("POST", instancesPath(kBob), obj.dump(), kJson);
    if (r.status == 201 && (name == "fs-link" || name == "fs-link-rel")) {
      // Admitted while the path was unresolvable: the launch must refuse it, with a condition.
      json mi;
      bool told = pollUntil(
          [&] {
            mi = bobInstance(name);
            for (const auto& cond :
                 mi.value("status", json::object()).value("conditions", json::array())) {
              if (cond.value("message", "").find("config.root") != std::string::npos) return true;
            }
            return isReady(mi);
          },
          kReadyTimeout);
      EXPECT_TRUE(told && !isReady(mi)) << "launched with a root out of its dir: " << mi.dump(2);
      if (isReady(mi)) running.push_back(name);
    } else {
      EXPECT_TRUE(refused(r, {422}, "spec.config.root"));
      EXPECT_TRUE(bobInstance(name).is_null()) << "stored";
      if (r.status == 201 && runnable.count(name)) running.push_back(name);
    }
  }
  // Whatever got to run: bob asks it for alice's key and files, and the host's.
  for (const auto& name : running) {
    if (!isReady(awaitBobReady(name))) continue;
    json calls = json::array();
    for (const std::string& path :
         {"/proc/" + std::to_string(w_->alicePid) + "/environ", w_->aliceSecretFile,
          std::string("/etc/passwd"), std::string("/proc/self/environ")}) {
      calls.push_back({{"name", "read_text_file"}, {"arguments", {{"path", path}}}});
    }
    auto out = bobCallsTools(name, calls);
    EXPECT_EQ(out.out.find("root:x:0:0"), std::string::npos) << "the host's /etc/passwd";
    EXPECT_EQ(out.out.find("MCP_ACCESS_TOKEN="), std::string::npos) << "a process environment";
  }
}

// A symlink bob's own process plants inside his root after the instance was admitted (and once
// more, in place of the root itself): the server does not follow it out, and a launch over it
// is refused with a condition naming config.root.
TEST_F(HostileTenant, FilesystemSymlinkPlantedLaterLeadsNowhere) {
  const std::string dir = w_->instanceDir(kBob, "fs-later");
  auto r = bob_->request(
      "POST", instancesPath(kBob),
      instanceJson(kBob, "fs-later", {{"type", "filesystem"}, {"config", {{"root", "."}}}}).dump(),
      kJson);
  ASSERT_EQ(r.status, 201) << r.body;
  json mi = awaitBobReady("fs-later");
  ASSERT_TRUE(isReady(mi)) << mi.dump(2);
  const std::string alicesEnviron = "/proc/" + std::to_string(w_->alicePid) + "/environ";
  // What bob's server may do in its own dir: a docs directory, which becomes the root.
  auto out = bobCallsTools(
      "fs-later",
      json::array({{{"name", "create_directory"}, {"arguments", {{"path", dir + "/docs"}}}}}));
  ASSERT_EQ(out.exitCode, 0) << out.out << out.err;
  r = bob_->request("PATCH", instancePath(kBob, "fs-later"),
                    R"({"spec":{"config":{"root":"docs"}}})", kMergePatch);
  ASSERT_EQ(r.status, 200) << r.body;
  const int64_t generation = json::parse(r.body)["metadata"].value("generation", int64_t{0});
  ASSERT_TRUE(pollUntil(
      [&] {
        mi = bobInstance("fs-later");
        return isReady(mi) && mi["status"].value("observedGeneration", int64_t{0}) >= generation;
      },
      kReadyTimeout))
      << mi.dump(2);
  const int pid = pidOf(mi);
  auto [uid, gid] = processOwner(pid);

  // Planted as bob's process would: owned by its uid, inside its root, and then the root.
  const std::string escape = dir + "/docs/escape";
  fs::create_symlink("/", escape);
  ASSERT_EQ(::lchown(escape.c_str(), uid, gid), 0);
  out = bobCallsTools(
      "fs-later",
      json::array(
          {{{"name", "read_text_file"}, {"arguments", {{"path", escape + alicesEnviron}}}},
           {{"name", "read_text_file"}, {"arguments", {{"path", escape + "/etc/passwd"}}}},
           {{"name", "read_text_file"}, {"arguments", {{"path", escape + w_->aliceSecretFile}}}},
           {{"name", "list_directory"}, {"arguments", {{"path", escape + "/proc"}}}}}));
  EXPECT_EQ(out.out.find("root:x:0:0"), std::string::npos) << "the host's /etc/passwd";
  fs::rename(dir + "/docs", dir + "/docs.real");
  fs::create_symlink("/", dir + "/docs");
  ASSERT_EQ(::lchown((dir + "/docs").c_str(), uid, gid), 0);

  // bob's server goes away; the next launch resolves the root again.
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  bool refusedAtLaunch = false;
  ASSERT_TRUE(pollUntil(
      [&] {
        mi = bobInstance("fs-later");
        refusedAtLaunch =
            conditionOf(mi, "Ready").value("message", "").find("config.root") != std::string::npos;
        return refusedAtLaunch || (isReady(mi) && pidOf(mi) != pid);
      },
      kReadyTimeout))
      << mi.dump(2);
  EXPECT_TRUE(refusedAtLaunch) << "launched over a root that leads out: " << mi.dump(2);
  if (!refusedAtLaunch) {
    out = bobCallsTools(
        "fs-later",
        json::array({{{"name", "read_text_file"}, {"arguments", {{"path", alicesEnviron}}}}}));
  }
}

// --- 3. /status belongs to the control plane ---------------------------------------------------

TEST_F(HostileTenant, StatusWritesAreForbiddenAndNoHostProcessIsSignalled) {
  Cluster& c = *w_->cluster;
  // A process of the host that bob would like mcpd to adopt and then kill: its own group.
  static const std::string setsid = findExecutable("setsid");
  static const std::string sleepBin = findExecutable("sleep");
  ASSERT_FALSE(setsid.empty() || sleepBin.empty());
  const pid_t victimPid = testing::spawnProcess({setsid, sleepBin, "600"}, -1, -1, -1);
  struct Reap {
    pid_t pid;
    ~Reap() { testing::terminatePid(pid, 2s); }
  } reap{victimPid};
  std::optional<runtime::ProcStat> victim;
  ASSERT_TRUE(pollUntil(
      [&] {
        victim = runtime::readProcStat(victimPid);
        return victim && victim->pgrp == victimPid &&
               testing::readFileOr("/proc/" + std::to_string(victimPid) + "/comm") == "sleep\n";
      },
      5s));
  const std::string victimStart = std::to_string(victim->startTime);
  const int hostPort = w_->hostService->port();

  // A running instance of bob's to write status on.
  auto r = bob_->request("POST", instancesPath(kBob),
                         instanceJson(kBob, "st", {{"keyRef", {{"name", "k"}}}}).dump(), kJson);
  ASSERT_EQ(r.status, 201) << r.body;
  json before = awaitBobReady("st");
  ASSERT_TRUE(isReady(before)) << before.dump(2);
  const int stPid = pidOf(before);

  const std::string status = instancePath(kBob, "st") + "/status";
  json put = before;
  put["status"]["pid"] = victimPid;
  put["status"]["processStartTime"] = victimStart;
  put["status"]["port"] = hostPort;
  EXPECT_TRUE(refused(bob_->request("PUT", status, put.dump(), kJson), {403}));
  for (const json& patch :
       {json{{"status", {{"pid", victimPid}, {"processStartTime", victimStart}}}},
        json{{"status", {{"pid", victimPid}}}}, json{{"status", {{"processStartTime", "1"}}}},
        json{{"status", {{"port", hostPort}}}},
        json{{"status", {{"phase", "Running"}, {"port", hostPort}}}}}) {
    SCOPED_TRACE(patch.dump());
    EXPECT_TRUE(refused(bob_->request("PATCH", status, patch.dump(), kMergePatch), {403}));
  }
  EXPECT_TRUE(refused(
      bob_->request(
          "PATCH", status,
          json::array({{{"op", "replace"}, {"path", "/status/pid"}, {"value", victimPid}}}).dump(),
          kJsonPatch),
      {403}));
  // Status through the main resource is dropped there, whatever the answer.
  bob_->request("PATCH", instancePath(kBob, "st"),
                json({{"status", {{"pid", victimPid}, {"port", hostPort}}}}).dump(), kMergePatch);
  bob_->request("PUT", instancePath(kBob, "st"), put.dump(), kJson);
  // And alice's status: not even there for bob.
  EXPECT_TRUE(refused(bob_->request("PATCH", instancePath(kAlice, "a1") + "/status",
                                    json({{"status", {{"pid", victimPid}}}}).dump(), kMergePatch),
                      {403, 404}));

  json after = bobInstance("st");
  EXPECT_EQ(pidOf(after), stPid) << after.dump(2);
  EXPECT_EQ(after["status"].value("processStartTime", ""),
            before["status"].value("processStartTime", ""));
  EXPECT_EQ(portOf(after), portOf(before));

  // The gateway still takes bob to his own server, not to the host's service, even right
  // after a port write.
  bob_->request("PATCH", status, json({{"status", {{"port", hostPort}}}}).dump(), kMergePatch);
  bob_->request("POST", "/mcp/bob/st", "{}", kJson);
  auto call = c.mcpCall(c.mcpd().url() + "/mcp/bob/st", w_->bobToken, "echo", R"({"text":"hi"})");
  bob_->record("echo through st", call.out + call.err);
  EXPECT_EQ(w_->hostService->requests(), json::array()) << "the host's loopback service answered";

  // Deleting the instance right after a pid write stops its own process, and only that one.
  bob_->request("PATCH", status,
                json({{"status", {{"pid", victimPid}, {"processStartTime", victimStart}}}}).dump(),
                kMergePatch);
  r = bob_->request("DELETE", instancePath(kBob, "st"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(pollUntil([&] { return bobInstance("st").is_null(); }, 30s));
  EXPECT_TRUE(pollUntil([&] { return !processRunning(stPid); }, 10s)) << "st's process lives";
  EXPECT_TRUE(processRunning(victimPid)) << "mcpd signalled a host process bob named";
}

// --- 4. gateway paths with dot segments --------------------------------------------------------

TEST_F(HostileTenant, GatewayRefusesDotSegmentsAndReachesNoOtherService) {
  Cluster& c = *w_->cluster;
  // The way in works: bob's own instance answers through the gateway.
  auto call = c.mcpCall(c.mcpd().url() + "/mcp/bob/b1", w_->bobToken, "echo", R"({"text":"ok"})");
  bob_->record("echo through b1", call.out + call.err);
  ASSERT_EQ(call.exitCode, 0) << call.out << call.err;

  const std::string init =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26",)"
      R"("capabilities":{},"clientInfo":{"name":"bob","version":"1"}}})";
  const std::map<std::string, std::string> mcpHeaders = {
      {"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}};
  for (const std::string path : {
           "/mcp/bob/b1/../x",
           "/mcp/bob/b1/..",
           "/mcp/bob/b1/x/..",
           "/mcp/bob/b1/../../alice/a1",
           "/mcp/bob/b1/%2e%2e/x",
           "/mcp/bob/b1/%2E%2e/x",
           "/mcp/bob/b1/%2E%2E",
           "/mcp/bob/b1/.%2e/x",
           "/mcp/bob/b1/%2e./x",
           "/mcp/bob/b1/%2e%2e/%2e%2e/alice/a1",
           "/mcp/bob/b1/./x",
           "/mcp/bob/b1/%2e/x",
           "/mcp/bob/b1/x/.",
           "/mcp/bob/./b1",
           "/mcp/./bob/b1",
           "/mcp/bob/../alice/a1",
           "/mcp/bob/%2e%2e/alice/a1",
           "/mcp/bob/b1/..?x=1",
           "/mcp/bob/b1/%2f",
           "/mcp/bob/b1/x%2f..%2f..%2fy",
           "/mcp/bob/b1/x%2F%2E%2E%2Fy",
           "/mcp/bob/b1%2f..%2f..%2falice%2fa1",
           "/mcp/bob%2fb1",
       }) {
    SCOPED_TRACE(path);
    for (const std::string method : {"POST", "GET"}) {
      auto r = bob_->request(method, path, method == "POST" ? init : "", mcpHeaders);
      EXPECT_EQ(r.status, 400) << method << " " << r.body;
    }
  }
  EXPECT_EQ(w_->hostService->requests(), json::array()) << "the host's loopback service answered";
}

// An Idle instance of alice's: bob's token neither reaches nor wakes it (the gateway authorises
// before it wakes anything).
TEST_F(HostileTenant, BobCannotWakeAlicesIdleInstance) {
  Cluster& c = *w_->cluster;
  json spec = {{"type", "echo"}, {"ttl", "1h"}, {"idleTimeout", "2s"}};
  json mi = {{"apiVersion", "minimcp.io/v1alpha1"},
             {"kind", "MCPInstance"},
             {"metadata", {{"name", "a-idle"}, {"namespace", kAlice}}},
             {"spec", spec}};
  auto created = c.api().request("POST", instancesPath(kAlice), mi.dump(), kJson, 15s);
  ASSERT_EQ(created.status, 201) << created.body;
  json idle;
  ASSERT_TRUE(pollUntil(
      [&] {
        idle = c.instance("a-idle", kAlice);
        return !idle.is_null() && phaseOf(idle) == "Idle";
      },
      kReadyTimeout))
      << idle.dump(2);
  const std::string uid = uidOf(idle);
  ASSERT_TRUE(pollUntil([&] { return pidsWithMcpId(uid).empty(); }, 10s));

  const std::string init =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26",)"
      R"("capabilities":{},"clientInfo":{"name":"bob","version":"1"}}})";
  auto r = bob_->request(
      "POST", "/mcp/alice/a-idle", init,
      {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}});
  EXPECT_EQ(r.status, 404) << r.body;
  auto call = runToolCalls(c, c.mcpd().url() + "/mcp/alice/a-idle", w_->bobToken,
                           json::array({{{"name", "echo"}, {"arguments", {{"text", "x"}}}}}));
  bob_->record("tools of alice's a-idle", call.out + call.err);
  EXPECT_NE(call.exitCode, 0) << call.out;

  json after = c.instance("a-idle", kAlice);
  EXPECT_EQ(phaseOf(after), "Idle") << after.dump(2);
  EXPECT_FALSE(after["status"].contains("lastWake")) << after.dump(2);
  EXPECT_TRUE(pidsWithMcpId(uid).empty()) << "bob's call started alice's instance";
  // Alice's own token wakes it: the refusal above was bob's, not the instance's.
  auto own = runToolCalls(c, c.mcpd().url() + "/mcp/alice/a-idle", w_->aliceToken,
                          json::array({{{"name", "echo"}, {"arguments", {{"text", "mine"}}}}}));
  EXPECT_EQ(own.exitCode, 0) << own.out << own.err;
  EXPECT_NE(own.out.find("mine"), std::string::npos) << own.out;
  c.api().request("DELETE", instancePath(kAlice, "a-idle"), "", {}, 10s);
  EXPECT_TRUE(pollUntil([&] { return c.instance("a-idle", kAlice).is_null(); }, 30s));
}

// --- 5. alice's namespace: neither the API nor the gateway ------------------------------------

TEST_F(HostileTenant, AlicesNamespaceIsNeitherReadableNorWritableByBob) {
  Cluster& c = *w_->cluster;
  const json a1Before = c.instance("a1", kAlice);
  const std::string a1 = instancePath(kAlice, "a1");
  const std::string aliceNs = std::string(kApi) + "/namespaces/alice";
  struct Attempt {
    std::string method, target, body;
    std::map<std::string, std::string> headers;
    std::set<int> codes;
  };
  json steal = instanceJson(kAlice, "stolen", {{"keyRef", {{"name", "k"}}}});
  json mine = a1Before;
  mine["spec"]["suspend"] = true;
  const std::vector<Attempt> attempts = {
      {"GET", a1, "", {}, {403, 404}},
      {"GET", a1 + "/log", "", {}, {403, 404}},
      {"GET", a1 + "/log?follow=true", "", {}, {403, 404}},
      {"GET", a1 + "/token", "", {}, {403, 404}},
      {"GET", a1 + "/status", "", {}, {403, 404}},
      {"PUT", a1, mine.dump(), kJson, {403, 404}},
      {"PATCH", a1, R"({"spec":{"suspend":true}})", kMergePatch, {403, 404}},
      {"PATCH", a1 + "/status", R"({"status":{"port":1}})", kMergePatch, {403, 404}},
      {"DELETE", a1, "", {}, {403, 404}},
      {"GET", aliceNs + "/mcpinstances", "", {}, {403}},
      {"GET", aliceNs + "/mcpinstances?watch=true", "", {}, {403}},
      {"GET", aliceNs + "/apikeys", "", {}, {403}},
      {"GET", aliceNs + "/apikeys/k", "", {}, {403, 404}},
      {"GET", aliceNs + "/events", "", {}, {403}},
      {"GET", aliceNs + "/events?watch=true", "", {}, {403}},
      {"POST", aliceNs + "/mcpinstances", steal.dump(), kJson, {403, 404}},
      {"GET", std::string(kApi) + "/mcpinstances", "", {}, {403}},
      {"GET", std::string(kApi) + "/apikeys", "", {}, {403}},
      {"GET", std::string(kApi) + "/events", "", {}, {403}},
      {"POST", std::string(kApi) + "/tokens", R"({"namespace":"alice"})", kJson, {403}},
      {"GET", std::string(kApi) + "/tokens", "", {}, {403}},
      {"POST",
       std::string(kApi) + "/mcptypes",
       json({{"apiVersion", "minimcp.io/v1alpha1"},
             {"kind", "MCPType"},
             {"metadata", {{"name", "bobs-type"}}},
             {"spec",
              {{"server", {{"command", "node"}, {"args", {"echo/server.js"}}}},
               {"env", {{{"name", "NODE_OPTIONS"}, {"value", kEnvironThief}}}}}}})
           .dump(),
       kJson,
       {403}},
      {"PATCH",
       std::string(kApi) + "/mcptypes/" + kKeyedType,
       R"({"spec":{"env":[{"name":"LD_PRELOAD","value":"/tmp/x.so"}]}})",
       kMergePatch,
       {403}},
      {"POST", "/mcp/alice/a1", "{}", kJson, {403, 404}},
      {"GET", "/mcp/alice/a1", "", {}, {403, 404}},
      {"DELETE", "/mcp/alice/a1", "", {}, {403, 404}},
      // Routes of the GitOps API: server-side apply with force, a gzipped list, bookmarks and
      // initial events.
      {"PATCH",
       a1 + "?fieldManager=bob&force=true",
       "spec:\n  suspend: true\n",
       {{"Content-Type", "application/apply-patch+yaml"}},
       {403, 404}},
      {"PATCH",
       aliceNs + "/mcpinstances/fresh?fieldManager=bob",
       "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata: {name: fresh}\n",
       {{"Content-Type", "application/apply-patch+yaml"}},
       {403, 404}},
      {"GET", aliceNs + "/mcpinstances", "", {{"Accept-Encoding", "gzip"}}, {403}},
      {"GET",
       aliceNs + "/mcpinstances?watch=true&allowWatchBookmarks=true&sendInitialEvents=true"
                 "&resourceVersionMatch=NotOlderThan",
       "",
       {},
       {403}},
  };
  for (const auto& a : attempts) {
    SCOPED_TRACE(a.method + " " + a.target);
    auto r = bob_->request(a.method, a.target, a.body, a.headers);
    EXPECT_TRUE(a.codes.count(r.status)) << r.status << " " << r.body;
  }
  EXPECT_TRUE(c.instance("stolen", kAlice).is_null());
  EXPECT_TRUE(c.instance("fresh", kAlice).is_null());
  // An access review answers for the caller only: bob may not read alice's instances.
  json review = {{"apiVersion", "authorization.k8s.io/v1"},
                 {"kind", "SelfSubjectAccessReview"},
                 {"spec",
                  {{"resourceAttributes",
                    {{"namespace", kAlice},
                     {"verb", "get"},
                     {"group", "minimcp.io"},
                     {"resource", "mcpinstances"}}}}}};
  auto rev = bob_->request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                           review.dump(), kJson);
  ASSERT_EQ(rev.status, 201) << rev.body;
  EXPECT_EQ(json::parse(rev.body)["status"].value("allowed", true), false) << rev.body;
  auto types = c.api().request("GET", std::string(kApi) + "/mcptypes/bobs-type", "", {}, 10s);
  EXPECT_EQ(types.status, 404);
  json a1After = c.instance("a1", kAlice);
  EXPECT_EQ(a1After["metadata"]["resourceVersion"], a1Before["metadata"]["resourceVersion"]);
  EXPECT_EQ(a1After["spec"], a1Before["spec"]);
}

// A rules review lists what the caller may do: asked about alice's namespace with bob's token,
// it names none of alice's resources, while alice's own token asking the same gets them.
TEST_F(HostileTenant, RulesReviewOfAlicesNamespaceListsNothingOfHersForBob) {
  const json review = {{"apiVersion", "authorization.k8s.io/v1"},
                       {"kind", "SelfSubjectRulesReview"},
                       {"spec", {{"namespace", kAlice}}}};
  const std::string path = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";
  const std::set<std::string> namespaced = {"mcpinstances", "apikeys", "notificationsinks",
                                            "events"};
  auto namespacedRules = [&](const json& rules) {
    std::vector<std::string> found;
    for (const auto& rule : rules) {
      for (const auto& res : rule.value("resources", json::array())) {
        const std::string r = res.get<std::string>();
        if (namespaced.count(r.substr(0, r.find('/')))) found.push_back(r);
      }
      for (const auto& name : rule.value("resourceNames", json::array())) {
        if (name == kAlice) found.push_back("resourceNames: " + name.get<std::string>());
      }
    }
    return found;
  };
  auto bobs = bob_->request("POST", path, review.dump(), kJson);
  ASSERT_EQ(bobs.status, 201) << bobs.body;
  const json bobStatus = json::parse(bobs.body)["status"];
  EXPECT_EQ(namespacedRules(bobStatus["resourceRules"]), std::vector<std::string>{})
      << bobStatus.dump(2);
  EXPECT_EQ(bobStatus["nonResourceRules"].dump().find("/metrics"), std::string::npos)
      << bobStatus.dump(2);
  client::HttpClient alice(w_->tenant(w_->aliceToken));
  auto hers = alice.request("POST", path, review.dump(), kJson, 10s);
  ASSERT_EQ(hers.status, 201) << hers.body;
  const auto aliceRules = namespacedRules(json::parse(hers.body)["status"]["resourceRules"]);
  EXPECT_NE(std::find(aliceRules.begin(), aliceRules.end(), "mcpinstances"), aliceRules.end())
      << hers.body;
}

// --- 6. malformed requests -------------------------------------------------------------------

// A suspended instance of bob's (no process; it has its events) for writes to aim at.
json HostileTenant::createTarget(const std::string& name) {
  auto r = bob_->request("POST", instancesPath(kBob),
                         instanceJson(kBob, name, {{"suspend", true}}).dump(), kJson);
  EXPECT_EQ(r.status, 201) << r.body;
  json mi;
  EXPECT_TRUE(pollUntil(
      [&] {
        mi = bobInstance(name);
        return phaseOf(mi) == "Suspended";
      },
      20s))
      << mi.dump(2);
  return mi;
}

TEST_F(HostileTenant, DryRunOtherThanAllIsRefusedAndWritesNothing) {
  const std::vector<std::string> values = {"true", "1", "all", "None", "yes"};
  for (size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE("dryRun=" + values[i]);
    const std::string name = "dry-" + std::to_string(i);
    auto r = bob_->request("POST", instancesPath(kBob) + "?dryRun=" + values[i],
                           instanceJson(kBob, name, {{"suspend", true}}).dump(), kJson);
    EXPECT_TRUE(refused(r, {400}, "dryRun"));
    EXPECT_TRUE(bobInstance(name).is_null()) << "stored";
  }
  auto r = bob_->request("POST", instancesPath(kBob) + "?dryRun=All",
                         instanceJson(kBob, "dry-all", {{"suspend", true}}).dump(), kJson);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(bobInstance("dry-all").is_null()) << "dryRun=All stored it";

  const json target = createTarget("dry-target");
  const std::string path = instancePath(kBob, "dry-target");
  r = bob_->request("PATCH", path + "?dryRun=true", R"({"spec":{"ttl":"2h"}})", kMergePatch);
  EXPECT_TRUE(refused(r, {400}, "dryRun"));
  json put = target;
  put["metadata"].erase("resourceVersion");
  put["spec"]["ttl"] = "3h";
  r = bob_->request("PUT", path + "?dryRun=1", put.dump(), kJson);
  EXPECT_TRUE(refused(r, {400}, "dryRun"));
  r = bob_->request("DELETE", path + "?dryRun=true");
  EXPECT_TRUE(refused(r, {400}, "dryRun"));
  r = bob_->request("DELETE", path, R"({"dryRun":["true"]})", kJson);
  EXPECT_TRUE(refused(r, {400}, "dryRun"));
  json now = bobInstance("dry-target");
  ASSERT_FALSE(now.is_null()) << "a dry run deleted it";
  EXPECT_EQ(now["metadata"]["resourceVersion"], target["metadata"]["resourceVersion"]);
  EXPECT_FALSE(now["metadata"].contains("deletionTimestamp")) << now.dump(2);
}

// An APIKey's OAuth 2.0 token URL is fetched by an instance: aimed at the cloud's metadata
// service, another scheme or a host reached with credentials, it is refused and nothing is stored.
TEST_F(HostileTenant, OAuth2TokenUrlsAimedElsewhereAreRefusedAndNothingIsStored) {
  const std::string keys = std::string(kApi) + "/namespaces/bob/apikeys";
  const std::string hostPort = std::to_string(w_->hostService->port());
  const std::vector<std::string> urls = {
      "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
      "http://metadata.google.internal/computeMetadata/v1/token",
      "http://10.0.0.1/token",
      "https://user:pw@oauth2.example.com/token",
      "https://oauth2.example.com/token#frag",
      "file:///proc/self/environ",
      "gopher://127.0.0.1:6379/_FLUSHALL",
      "ftp://127.0.0.1/token",
      "not a url",
      // The host's own loopback service, over https or plain http, in every spelling a URL
      // parser reads as loopback (mcpd runs without --oauth2-allow-private-token-urls).
      "https://127.0.0.1:" + hostPort + "/token",
      "http://127.0.0.1:" + hostPort + "/token",
      "https://localhost:" + hostPort + "/token",
      "https://evil.localhost:" + hostPort + "/token",
      "https://[::1]:" + hostPort + "/token",
      "https://[::ffff:127.0.0.1]:" + hostPort + "/token",
      "https://2130706433:" + hostPort + "/token",
      "https://0x7f.1:" + hostPort + "/token",
      "https://%31%32%37.0.0.1:" + hostPort + "/token",
      "https://0.0.0.0:" + hostPort + "/token",
      // Link-local (the metadata services) and private networks over https.
      "https://169.254.169.254/latest/api/token",
      "https://[fe80::a9fe:a9fe]/token",
      "https://[fd00:ec2::254]/token",
      "https://10.0.0.1/token",
      "https://172.16.0.1/token",
      "https://192.168.0.1/token",
  };
  for (size_t i = 0; i < urls.size(); ++i) {
    SCOPED_TRACE(urls[i]);
    const std::string name = "oauth-" + std::to_string(i);
    const json key = {{"apiVersion", "minimcp.io/v1alpha1"},
                      {"kind", "APIKey"},
                      {"metadata", {{"name", name}, {"namespace", kBob}}},
                      {"spec",
                       {{"type", "gmail"},
                        {"oauth2",
                         {{"tokenURL", urls[i]},
                          {"clientID", "bob-client"},
                          {"refreshToken", "bob-refresh-token"}}}}}};
    auto r = bob_->request("POST", keys, key.dump(), kJson);
    EXPECT_TRUE(refused(r, {422}, "spec.oauth2.tokenURL"));
    EXPECT_EQ(r.body.find("bob-refresh-token"), std::string::npos) << r.body;
    EXPECT_EQ(bob_->request("GET", keys + "/" + name).status, 404) << "stored";
  }
  EXPECT_EQ(w_->hostService->requests(), json::array()) << "the host's loopback service answered";
}

// This machine's name when every address it resolves to is a loopback one (through /etc/hosts,
// as on most hosts), else "".
std::string loopbackHostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host, nullptr, &hints, &found) != 0) return "";
  bool loopback = found != nullptr;
  for (addrinfo* a = found; a; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      loopback = loopback && (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (a->ai_family == AF_INET6) {
      loopback = loopback && IN6_IS_ADDR_LOOPBACK(
                                 &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr);
    } else {
      loopback = false;
    }
  }
  ::freeaddrinfo(found);
  return loopback ? host : "";
}

// A TCP port on 127.0.0.1 that never accepts: a connection made to it waits in its backlog, so
// connected() tells whether anything connected at all (a TLS client that gave up included).
class LoopbackListener {
 public:
  LoopbackListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_, 16) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(a.sin_port);
  }
  ~LoopbackListener() { ::close(fd_); }
  int port() const { return port_; }
  bool connected() {
    const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c >= 0) ::close(c);
    return c >= 0;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A token URL is checked as written at admission; a name is not resolved there. The instance
// that fetches it resolves the name and checks every address as it connects: a name of this
// machine (resolving to loopback) ends in KeyAvailable=False, TokenURLAddressRefused, and no
// connection to the port it names.
TEST_F(HostileTenant, OAuth2TokenUrlNamingAHostThatResolvesToLoopbackIsNeverConnectedTo) {
  Cluster& c = *w_->cluster;
  const std::string host = loopbackHostName();
  if (host.empty()) GTEST_SKIP() << "this machine's name does not resolve to loopback only";
  LoopbackListener endpoint;
  const std::string refreshToken = "bob-refresh-" + randomHex(12);
  // The admin probes gmail instances every second (the refusal shows at the next probe).
  auto patched =
      c.api().request("PATCH", std::string(kApi) + "/mcptypes/gmail",
                      R"({"spec":{"healthCheck":{"periodSeconds":1}}})", kMergePatch, 10s);
  ASSERT_EQ(patched.status, 200) << patched.body;
  const json key = {
      {"apiVersion", "minimcp.io/v1alpha1"},
      {"kind", "APIKey"},
      {"metadata", {{"name", "oauth-named"}, {"namespace", kBob}}},
      {"spec",
       {{"type", "gmail"},
        {"oauth2",
         {{"tokenURL", "https://" + host + ":" + std::to_string(endpoint.port()) + "/token"},
          {"clientID", "bob-client"},
          {"clientSecret", "bob-secret-" + randomHex(8)},
          {"refreshToken", refreshToken}}}}}};
  const std::string keys = std::string(kApi) + "/namespaces/bob/apikeys";
  auto r = bob_->request("POST", keys, key.dump(), kJson);
  ASSERT_EQ(r.status, 201) << "a name is not resolved at admission: " << r.body;
  struct Cleanup {
    Cluster& c;
    std::string keys;
    ~Cleanup() { c.api().request("DELETE", keys + "/oauth-named", "", {}, 10s); }
  } cleanup{c, keys};
  r = bob_->request("POST", instancesPath(kBob),
                    instanceJson(kBob, "named-token-url",
                                 {{"type", "gmail"}, {"keyRef", {{"name", "oauth-named"}}}})
                        .dump(),
                    kJson);
  ASSERT_EQ(r.status, 201) << r.body;
  json mi;
  ASSERT_TRUE(pollUntil(
      [&] {
        mi = bobInstance("named-token-url");
        return conditionOf(mi, "KeyAvailable").value("reason", "") == "TokenURLAddressRefused";
      },
      kReadyTimeout))
      << mi.dump(2) << "\n"
      << bob_->request("GET", instancePath(kBob, "named-token-url") + "/log").body;
  EXPECT_EQ(conditionOf(mi, "KeyAvailable").value("status", ""), "False");
  EXPECT_NE(conditionOf(mi, "KeyAvailable").value("message", "").find("resolves to an address"),
            std::string::npos)
      << mi.dump(2);
  EXPECT_FALSE(endpoint.connected()) << "the instance connected to the token URL's port";
  // What bob reads in his instance's log: which name resolved to what, and no credential.
  const std::string log = bob_->request("GET", instancePath(kBob, "named-token-url") + "/log").body;
  EXPECT_NE(log.find(host + " resolves to 127."), std::string::npos) << log;
  EXPECT_EQ(log.find(refreshToken), std::string::npos) << log;
}

TEST_F(HostileTenant, FarDatesAndHugeNumbersAreRefusedAndDeleteNothing) {
  Cluster& c = *w_->cluster;
  const json target = createTarget("far-target");
  const std::string path = instancePath(kBob, "far-target");
  const std::string uid = uidOf(target);
  // The controller's events are recorded after the status write that made it Suspended.
  size_t eventsBefore = 0;
  ASSERT_TRUE(pollUntil(
      [&] {
        eventsBefore = c.eventsFor(uid, kBob).size();
        return eventsBefore > 0;
      },
      20s))
      << "no event for the target";

  // Beyond the namespace's maximum TTL (403), or beyond what a clock represents (422).
  const std::vector<std::string> dates = {"3000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                                          "2262-04-12T00:00:00Z", "+275760-09-13T00:00:00Z"};
  for (size_t i = 0; i < dates.size(); ++i) {
    SCOPED_TRACE("expiresAt " + dates[i]);
    const std::string name = "far-" + std::to_string(i);
    json obj = instanceJson(kBob, name, {{"suspend", true}});
    obj["spec"].erase("ttl");
    obj["spec"]["expiresAt"] = dates[i];
    auto r = bob_->request("POST", instancesPath(kBob), obj.dump(), kJson);
    EXPECT_TRUE(refused(r, {403, 422}, "spec.expiresAt"));
    EXPECT_TRUE(bobInstance(name).is_null()) << "stored";
    r = bob_->request("PATCH", path,
                      json({{"spec", {{"ttl", nullptr}, {"expiresAt", dates[i]}}}}).dump(),
                      kMergePatch);
    EXPECT_TRUE(refused(r, {403, 422}, "spec.expiresAt"));
  }
  const std::vector<std::string> ttls = {"1000000000h", "9223372036854775807s", "2562048h"};
  for (size_t i = 0; i < ttls.size(); ++i) {
    SCOPED_TRACE("ttl " + ttls[i]);
    const std::string name = "long-" + std::to_string(i);
    auto r = bob_->request("POST", instancesPath(kBob),
                           instanceJson(kBob, name, {{"suspend", true}, {"ttl", ttls[i]}}).dump(),
                           kJson);
    EXPECT_TRUE(refused(r, {403, 422}, "spec.ttl"));
    EXPECT_TRUE(bobInstance(name).is_null()) << "stored";
  }
  // Numbers no double holds.
  const std::vector<std::string> numbers = {"1e400", "-1e400", "1E999"};
  for (size_t i = 0; i < numbers.size(); ++i) {
    SCOPED_TRACE(numbers[i]);
    const std::string name = "big-" + std::to_string(i);
    std::string body = instanceJson(kBob, name, {{"suspend", true}}).dump();
    body.insert(body.rfind('}') - 1, R"(,"config":{"n":)" + numbers[i] + "}");
    auto r = bob_->request("POST", instancesPath(kBob), body, kJson);
    EXPECT_TRUE(refused(r, {400}));
    EXPECT_TRUE(bobInstance(name).is_null()) << "stored";
    r = bob_->request("PATCH", path, R"({"spec":{"config":{"n":)" + numbers[i] + "}}}",
                      kMergePatch);
    EXPECT_TRUE(refused(r, {400}));
  }

  // The target is unchanged, and still there with its events once the controller has caught
  // up with a later, valid change.
  json now = bobInstance("far-target");
  ASSERT_FALSE(now.is_null()) << "the target was deleted";
  EXPECT_EQ(now["spec"], target["spec"]);
  auto r = bob_->request("PATCH", path, R"({"spec":{"ttl":"2h"}})", kMergePatch);
  ASSERT_EQ(r.status, 200) << r.body;
  const int64_t generation = json::parse(r.body)["metadata"].value("generation", int64_t{0});
  json seen;
  EXPECT_TRUE(pollUntil(
      [&] {
        seen = bobInstance("far-target");
        return seen.is_null() ||
               seen["status"].value("observedGeneration", int64_t{0}) >= generation;
      },
      20s));
  EXPECT_FALSE(seen.is_null()) << "the target was deleted";
  EXPECT_EQ(phaseOf(seen), "Suspended") << seen.dump(2);
  EXPECT_GE(c.eventsFor(uid, kBob).size(), eventsBefore) << "its events were deleted";
}

TEST_F(HostileTenant, ForeignContentTypesAndHugeHeadersAreAnsweredAndWriteNothing) {
  const json target = createTarget("ct-target");
  const std::string path = instancePath(kBob, "ct-target");
  const std::vector<std::string> types = {"text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x",
                                          "application/octet-stream"};
  for (size_t i = 0; i < types.size(); ++i) {
    SCOPED_TRACE(types[i]);
    const std::string name = "typed-" + std::to_string(i);
    auto r = bob_->request("POST", instancesPath(kBob),
                           instanceJson(kBob, name, {{"suspend", true}}).dump(),
                           {{"Content-Type", types[i]}});
    EXPECT_TRUE(refused(r, {415}));
    EXPECT_TRUE(bobInstance(name).is_null()) << "stored";
    json put = target;
    put["metadata"].erase("resourceVersion");
    put["spec"]["ttl"] = "3h";
    r = bob_->request("PUT", path, put.dump(), {{"Content-Type", types[i]}});
    EXPECT_TRUE(refused(r, {415}));
  }
  // About 1 MB of headers (a single field is capped at 64 kB by the client), answered 431.
  std::map<std::string, std::string> huge = {{"Content-Type", "application/json"}};
  for (int i = 0; i < 17; ++i) huge["X-Filler-" + std::to_string(i)] = std::string(62000, 'a');
  auto r = bob_->request("GET", instancesPath(kBob), "", huge);
  EXPECT_EQ(r.status, 431) << r.body.substr(0, 300);
  r = bob_->request("POST", instancesPath(kBob),
                    instanceJson(kBob, "huge", {{"suspend", true}}).dump(), huge);
  EXPECT_EQ(r.status, 431) << r.body.substr(0, 300);
  EXPECT_TRUE(bobInstance("huge").is_null()) << "stored";
  r = bob_->request("POST", "/mcp/bob/b1", "{}", huge);
  EXPECT_EQ(r.status, 431) << r.body.substr(0, 300);

  json now = bobInstance("ct-target");
  ASSERT_FALSE(now.is_null());
  EXPECT_EQ(now["metadata"]["resourceVersion"], target["metadata"]["resourceVersion"]);
}

// --- 7. NotificationSinks: a URL mcpd sends to, a key it signs with, a status it writes -----

std::string sinksPath(const std::string& ns) {
  return std::string(kApi) + "/namespaces/" + ns + "/notificationsinks";
}
std::string sinkPath(const std::string& ns, const std::string& name) {
  return sinksPath(ns) + "/" + name;
}

// A NotificationSink as JSON; `spec` is merged over url + events.
json sinkJson(const std::string& ns, const std::string& name, const json& spec) {
  json s = {{"url", "https://hooks.bob.invalid/" + name}, {"events", {"InstanceFailed"}}};
  if (spec.is_object()) s.merge_patch(spec);
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "NotificationSink"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", s}};
}

// The sink as stored (read as admin), or null.
json storedSink(Cluster& c, const std::string& ns, const std::string& name) {
  auto r = c.api().request("GET", sinkPath(ns, name), "", {}, 10s);
  if (r.status == 404) return nullptr;
  if (r.status != 200) throw std::runtime_error("GET sink " + name + ": " + r.body);
  return json::parse(r.body);
}

void deleteSinks(Cluster& c, const std::string& ns, const std::vector<std::string>& names) {
  for (const auto& name : names) c.api().request("DELETE", sinkPath(ns, name), "", {}, 10s);
}

// The audit log's records (DATA_DIR/audit.log, one JSON object a line).
std::vector<json> auditRecords(World& w) {
  std::vector<json> out;
  std::istringstream in(testing::readFileOr(w.dataDir() + "/audit.log"));
  for (std::string line; std::getline(in, line);) {
    json record = json::parse(line, nullptr, false);
    if (!record.is_discarded()) out.push_back(std::move(record));
  }
  return out;
}

// A sink is the tenant's way to make mcpd send requests: aimed at mcpd's own host, a network
// beside it or the cloud's metadata service, in every spelling an HTTP client reads as such an
// address, it is refused on create, on apply and on update, and nothing is stored or sent.
TEST_F(HostileTenant, NotificationSinkUrlsAimedAtTheHostOrItsNetworksAreRefusedAndNothingIsStored) {
  Cluster& c = *w_->cluster;
  const std::string port = std::to_string(w_->hostService->port());
  std::vector<std::string> urls = {
      // The host's loopback service (mcpd runs without --notification-allow-loopback).
      "https://127.0.0.1:" + port + "/hook",
      "http://127.0.0.1:" + port + "/hook",
      "https://127.0.0.2:" + port + "/hook",
      "https://localhost:" + port + "/hook",
      "https://evil.localhost:" + port + "/hook",
      "https://localhost.:" + port + "/hook",
      "https://127.0.0.1.:" + port + "/hook",
      "https://[::1]:" + port + "/hook",
      "https://0.0.0.0:" + port + "/hook",
      "https://[::]:" + port + "/hook",
      // IPv4-mapped, -compatible, NAT64 and 6to4 spellings of loopback and metadata addresses.
      "https://[::ffff:127.0.0.1]:" + port + "/hook",
      "https://[::ffff:7f00:1]:" + port + "/hook",
      "https://[::127.0.0.1]:" + port + "/hook",
      "https://[::ffff:169.254.169.254]/latest/meta-data/",
      "https://[::ffff:a9fe:a9fe]/latest/meta-data/",
      "https://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
      "https://[2002:7f00:1::]:" + port + "/hook",
      // Decimal, octal, hexadecimal, short and percent-encoded forms of 127.0.0.1.
      "https://2130706433:" + port + "/hook",
      "https://017700000001:" + port + "/hook",
      "https://0x7f000001:" + port + "/hook",
      "https://0x7f.1:" + port + "/hook",
      "https://0177.0.0.1:" + port + "/hook",
      "https://127.1:" + port + "/hook",
      "https://%31%32%37.0.0.1:" + port + "/hook",
      // Cloud metadata services and private networks.
      "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
      "https://169.254.169.254/latest/api/token",
      "https://metadata.google.internal/computeMetadata/v1/",
      "https://[fe80::a9fe:a9fe]/hook",
      "https://[fd00:ec2::254]/latest/meta-data/",
      "https://10.0.0.1/hook",
      "https://172.16.0.1/hook",
      "https://192.168.1.1/hook",
      "https://100.64.0.1/hook",
      "https://printer.local/hook",
      // Other schemes, credentials in the URL, plain http to a public host.
      "gopher://127.0.0.1:6379/_FLUSHALL",
      "file:///proc/self/environ",
      "https://user:pw@hooks.example.com/hook",
      "http://hooks.example.com/hook",
  };
  // The machine's own name, when it is a single label (it resolves to loopback through
  // /etc/hosts here): not a fully qualified public name.
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 &&
      std::string(host).find('.') == std::string::npos && host[0] != '\0') {
    urls.push_back("https://" + std::string(host) + ":" + port + "/hook");
  }
  for (size_t i = 0; i < urls.size(); ++i) {
    SCOPED_TRACE(urls[i]);
    const std::string name = "url-" + std::to_string(i);
    // Subscribed to what happens now (b1 expires within 2h): had it been stored, it would send.
    const json sink = sinkJson(kBob, name,
                               {{"url", urls[i]},
                                {"events", {"InstanceExpiring", "InstanceFailed"}},
                                {"notifyBefore", "2h"}});
    auto r = bob_->request("POST", sinksPath(kBob), sink.dump(), kJson);
    EXPECT_TRUE(refused(r, {422}, "spec.url"));
    EXPECT_TRUE(storedSink(c, kBob, name).is_null()) << "stored";
    r = bob_->request("PATCH", sinkPath(kBob, name) + "?fieldManager=bob", sink.dump(),
                      {{"Content-Type", "application/apply-patch+yaml"}});
    EXPECT_TRUE(refused(r, {422}, "spec.url")) << "server-side apply";
    EXPECT_TRUE(storedSink(c, kBob, name).is_null()) << "stored by apply";
  }

  // A sink of bob's with a public URL is accepted; moving it to the host is not, by any verb.
  auto r = bob_->request("POST", sinksPath(kBob), sinkJson(kBob, "moving", {}).dump(), kJson);
  ASSERT_EQ(r.status, 201) << r.body;
  const json before = storedSink(c, kBob, "moving");
  const std::string loopback = "https://127.0.0.1:" + port + "/hook";
  EXPECT_TRUE(refused(bob_->request("PATCH", sinkPath(kBob, "moving"),
                                    json({{"spec", {{"url", loopback}}}}).dump(), kMergePatch),
                      {422}, "spec.url"));
  EXPECT_TRUE(refused(
      bob_->request("PATCH", sinkPath(kBob, "moving"),
                    json::array({{{"op", "replace"},
                                  {"path", "/spec/url"},
                                  {"value", "https://[::ffff:169.254.169.254]/latest/meta-data/"}}})
                        .dump(),
                    kJsonPatch),
      {422}, "spec.url"));
  json put = before;
  put["metadata"].erase("resourceVersion");
  put["spec"]["url"] = "https://2130706433:" + port + "/hook";
  EXPECT_TRUE(refused(bob_->request("PUT", sinkPath(kBob, "moving"), put.dump(), kJson), {422},
                      "spec.url"));
  // (The notifier writes the sink's status meanwhile: its generation tells spec changes.)
  const json after = storedSink(c, kBob, "moving");
  EXPECT_EQ(after["metadata"]["generation"], before["metadata"]["generation"]);
  EXPECT_EQ(after["spec"], before["spec"]);
  deleteSinks(c, kBob, {"moving"});
  EXPECT_EQ(w_->hostService->requests(), json::array()) << "the host's loopback service answered";
}

// spec.signingKeyRef names an APIKey in the sink's own namespace and nowhere else: a namespace
// beside the name is dropped (or, with fieldValidation=Strict, refused), a name with a path in it
// is refused, and the name of alice's key resolves in bob's namespace, where it does not exist.
// mcpd decrypts bob's keys only for bob's sinks (its audit log says which key it opened for
// which sink), and none of alice's.
TEST_F(HostileTenant, NotificationSinkSigningKeyRefResolvesOnlyInTheSinksNamespace) {
  Cluster& c = *w_->cluster;
  // A key only alice has, with her marker in it.
  auto created = c.mcpd().mcpctl(
      {"create", "apikey", "alice-hook", "-n", kAlice, "--type", "webhook", "--from-stdin"},
      "hook-" + w_->aliceMarker);
  ASSERT_EQ(created.exitCode, 0) << created.err;
  struct Cleanup {
    Cluster& c;
    ~Cleanup() {
      deleteSinks(c, kBob, {"sig-foreign", "sig-ns"});
      c.api().request("DELETE", std::string(kApi) + "/namespaces/alice/apikeys/alice-hook", "", {},
                      10s);
    }
  } cleanup{c};

  // Names that try to leave bob's namespace: refused, naming the field.
  for (const char* name : {"alice/alice-hook", "../alice/alice-hook", "alice:alice-hook",
                           "alice%2Falice-hook", "ALICE-HOOK", ""}) {
    SCOPED_TRACE(name);
    const json sink = sinkJson(kBob, "sig-path", {{"signingKeyRef", {{"name", name}}}});
    auto r = bob_->request("POST", sinksPath(kBob), sink.dump(), kJson);
    EXPECT_TRUE(refused(r, {422}, "spec.signingKeyRef.name"));
    EXPECT_TRUE(storedSink(c, kBob, "sig-path").is_null()) << "stored";
  }
  // A namespace (or uid) beside the name: Strict refuses it, naming it; nothing is stored.
  const json foreignRef = {{"name", "k"}, {"namespace", kAlice}, {"uid", "alice-k"}};
  auto r = bob_->request("POST", sinksPath(kBob) + "?fieldValidation=Strict",
                         sinkJson(kBob, "sig-ns", {{"signingKeyRef", foreignRef}}).dump(), kJson);
  EXPECT_TRUE(refused(r, {400}, "spec.signingKeyRef.namespace"));
  EXPECT_TRUE(storedSink(c, kBob, "sig-ns").is_null()) << "stored";

  // By default (Warn) the namespace is dropped with a warning: the sink signs with bob's own k.
  // Both sinks hear of b1 expiring within their lead (distinct leads: one occurrence each).
  r = bob_->request(
      "POST", sinksPath(kBob),
      sinkJson(
          kBob, "sig-ns",
          {{"signingKeyRef", foreignRef}, {"events", {"InstanceExpiring"}}, {"notifyBefore", "3h"}})
          .dump(),
      kJson);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_NE(r.headers["warning"].find("spec.signingKeyRef.namespace"), std::string::npos)
      << "no warning for the dropped namespace";
  EXPECT_EQ(storedSink(c, kBob, "sig-ns")["spec"]["signingKeyRef"], json({{"name", "k"}}));
  // The name of alice's key is a name in bob's namespace.
  r = bob_->request("POST", sinksPath(kBob),
                    sinkJson(kBob, "sig-foreign",
                             {{"signingKeyRef", {{"name", "alice-hook"}}},
                              {"events", {"InstanceExpiring"}},
                              {"notifyBefore", "2h"}})
                        .dump(),
                    kJson);
  ASSERT_EQ(r.status, 201) << r.body;

  // What bob reads of his sinks: the foreign one cannot sign (its key is not in his namespace).
  json foreign;
  ASSERT_TRUE(pollUntil(
      [&] {
        auto got = bob_->request("GET", sinkPath(kBob, "sig-foreign"));
        foreign = json::parse(got.body, nullptr, false);
        return !foreign.is_discarded() &&
               !foreign.value("status", json::object()).value("lastError", json::object()).empty();
      },
      40s))
      << foreign.dump(2) << "\n"
      << c.mcpd().log();
  const std::string error = foreign["status"]["lastError"].value("message", "");
  EXPECT_NE(error.find("signing key"), std::string::npos) << error;
  EXPECT_NE(error.find("not found in namespace \"bob\""), std::string::npos) << error;
  // mcpd opened bob's k for sig-ns, and never one of alice's keys for a sink of bob's.
  std::vector<json> records;
  EXPECT_TRUE(pollUntil(
      [&] {
        records = auditRecords(*w_);
        return std::any_of(records.begin(), records.end(), [](const json& a) {
          return a.value("sink", "") == "bob/sig-ns" && a.value("apikey", "") == "bob/k";
        });
      },
      40s))
      << json(records).dump(2);
  for (const json& a : records) {
    const std::string sink = a.value("sink", "");
    const std::string key = a.value("apikey", "");
    EXPECT_FALSE(sink.starts_with("bob/") && !key.starts_with("bob/")) << a.dump();
    EXPECT_NE(key, "alice/alice-hook") << a.dump();
  }
  bob_->request("GET", sinkPath(kBob, "sig-ns"));
}

// A sink's status is the notifier's: bob writes none of it (its last delivery, its last error,
// what is pending), by any verb; through the main resource it is dropped.
TEST_F(HostileTenant, NotificationSinkStatusWritesAreForbidden) {
  Cluster& c = *w_->cluster;
  auto r = bob_->request("POST", sinksPath(kBob), sinkJson(kBob, "st-sink", {}).dump(), kJson);
  ASSERT_EQ(r.status, 201) << r.body;
  struct Cleanup {
    Cluster& c;
    ~Cleanup() { deleteSinks(c, kBob, {"st-sink"}); }
  } cleanup{c};
  const json forged = {{"lastDelivery",
                        {{"time", "2030-01-01T00:00:00Z"},
                         {"id", "forged"},
                         {"type", "io.minimcp.instance.failed"},
                         {"attempts", 1},
                         {"statusCode", 204}}},
                       {"lastError", {{"message", "forged by bob"}}},
                       {"pending", 0}};
  const std::string status = sinkPath(kBob, "st-sink") + "/status";
  json before = storedSink(c, kBob, "st-sink");
  json put = before;
  put["status"] = forged;
  EXPECT_TRUE(refused(bob_->request("PUT", status, put.dump(), kJson), {403}));
  EXPECT_TRUE(refused(
      bob_->request("PATCH", status, json({{"status", forged}}).dump(), kMergePatch), {403}));
  EXPECT_TRUE(refused(bob_->request("PATCH", status,
                                    json::array({{{"op", "add"},
                                                  {"path", "/status/lastDelivery"},
                                                  {"value", forged["lastDelivery"]}}})
                                        .dump(),
                                    kJsonPatch),
                      {403}));
  EXPECT_TRUE(refused(bob_->request("PATCH", status + "?fieldManager=bob",
                                    json({{"apiVersion", "minimcp.io/v1alpha1"},
                                          {"kind", "NotificationSink"},
                                          {"metadata", {{"name", "st-sink"}}},
                                          {"status", forged}})
                                        .dump(),
                                    {{"Content-Type", "application/apply-patch+yaml"}}),
                      {403}));
  // Status through the main resource is dropped there, whatever the answer.
  bob_->request("PATCH", sinkPath(kBob, "st-sink"), json({{"status", forged}}).dump(), kMergePatch);
  bob_->request("PUT", sinkPath(kBob, "st-sink"), put.dump(), kJson);
  const json after = storedSink(c, kBob, "st-sink");
  const json st = after.value("status", json::object());
  EXPECT_FALSE(st.contains("lastDelivery")) << after.dump(2);
  EXPECT_EQ(st.dump().find("forged"), std::string::npos) << after.dump(2);
}

// Alice's sinks (whose URL may be a secret: a Slack webhook URL is one) are not bob's to list,
// read, watch, change or delete, and bob cannot put a sink into alice's namespace, where it
// would hear of alice's instances.
TEST_F(HostileTenant, AlicesNotificationSinksAreNeitherReadableNorWritableByBob) {
  Cluster& c = *w_->cluster;
  client::HttpClient alice(w_->tenant(w_->aliceToken));
  const json aliceSink =
      sinkJson(kAlice, "alice-hooks",
               {{"url", "https://hooks.example.com/services/T0/B0/" + w_->aliceMarker},
                {"events", {"InstanceFailed"}}});
  auto created = alice.request("POST", sinksPath(kAlice), aliceSink.dump(), kJson, 10s);
  ASSERT_EQ(created.status, 201) << created.body;
  struct Cleanup {
    Cluster& c;
    ~Cleanup() { deleteSinks(c, kAlice, {"alice-hooks", "bobs-ear", "bobs-apply"}); }
  } cleanup{c};
  const json before = storedSink(c, kAlice, "alice-hooks");
  const std::string mine = sinkPath(kAlice, "alice-hooks");
  json put = before;
  put["spec"]["url"] = "https://hooks.bob.invalid/stolen";
  struct Attempt {
    std::string method, target, body;
    std::map<std::string, std::string> headers;
    std::set<int> codes;
  };
  const std::vector<Attempt> attempts = {
      {"GET", sinksPath(kAlice), "", {}, {403}},
      {"GET", sinksPath(kAlice) + "?watch=true", "", {}, {403}},
      {"GET",
       sinksPath(kAlice),
       "",
       {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}},
       {403}},
      {"GET", std::string(kApi) + "/notificationsinks", "", {}, {403}},
      {"GET", std::string(kApi) + "/notificationsinks?watch=true", "", {}, {403}},
      {"GET", mine, "", {}, {403, 404}},
      {"GET", mine + "/status", "", {}, {403, 404}},
      {"PUT", mine, put.dump(), kJson, {403, 404}},
      {"PATCH",
       mine,
       R"({"spec":{"url":"https://hooks.bob.invalid/stolen"}})",
       kMergePatch,
       {403, 404}},
      {"PATCH",
       mine + "/status",
       R"({"status":{"lastError":{"message":"x"}}})",
       kMergePatch,
       {403, 404}},
      {"DELETE", mine, "", {}, {403, 404}},
      {"DELETE", sinksPath(kAlice), "", {}, {403, 404, 405}},
      {"POST", sinksPath(kAlice), sinkJson(kAlice, "bobs-ear", {}).dump(), kJson, {403, 404}},
      {"PATCH",
       sinkPath(kAlice, "bobs-apply") + "?fieldManager=bob",
       sinkJson(kAlice, "bobs-apply", {}).dump(),
       {{"Content-Type", "application/apply-patch+yaml"}},
       {403, 404}},
      // Bob's own path with alice's namespace in the body.
      {"POST", sinksPath(kBob), sinkJson(kAlice, "bobs-ear", {}).dump(), kJson, {400, 403, 422}},
  };
  for (const auto& a : attempts) {
    SCOPED_TRACE(a.method + " " + a.target);
    auto r = bob_->request(a.method, a.target, a.body, a.headers);
    EXPECT_TRUE(a.codes.count(r.status)) << r.status << " " << r.body;
  }
  EXPECT_TRUE(storedSink(c, kAlice, "bobs-ear").is_null());
  EXPECT_TRUE(storedSink(c, kAlice, "bobs-apply").is_null());
  EXPECT_TRUE(storedSink(c, kBob, "bobs-ear").is_null());
  json review = {{"apiVersion", "authorization.k8s.io/v1"},
                 {"kind", "SelfSubjectAccessReview"},
                 {"spec",
                  {{"resourceAttributes",
                    {{"namespace", kAlice},
                     {"verb", "list"},
                     {"group", "minimcp.io"},
                     {"resource", "notificationsinks"}}}}}};
  auto rev = bob_->request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                           review.dump(), kJson);
  ASSERT_EQ(rev.status, 201) << rev.body;
  EXPECT_EQ(json::parse(rev.body)["status"].value("allowed", true), false) << rev.body;
  const json after = storedSink(c, kAlice, "alice-hooks");
  EXPECT_EQ(after["metadata"]["generation"], before["metadata"]["generation"]);
  EXPECT_EQ(after["spec"], before["spec"]);
  EXPECT_EQ(after["metadata"]["uid"], before["metadata"]["uid"]) << "deleted and created again";
}

}  // namespace
}  // namespace minimcp::e2e
