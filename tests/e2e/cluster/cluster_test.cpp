// Three mcpd nodes on one real PostgreSQL (issue 6): instances spread over the
// nodes, a write through one node is seen by a watch on another, a node's death moves its
// instances to the others within the lease + 5 s, no instance ever has two live processes, and
// the dead node, restarted, stops nothing that moved and takes new work.
#include <dirent.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

using testing::CommandResult;
using testing::runCommand;
using testing::TempDir;

constexpr int kLeaseSeconds = 3;

// A PostgreSQL server of this test's own (initdb + pg_ctl in a temp dir, on a free port).
class PgServer {
 public:
  PgServer() : dir_("minimcp-pg") {
    CommandResult r = runCommand({script(), "start", dir_.path() + "/pg"}, "", 120s);
    if (r.exitCode != 0) throw std::runtime_error("cannot start PostgreSQL: " + r.err);
    url_ = testing::readFileOr(dir_.path() + "/pg/url");
    while (!url_.empty() && (url_.back() == '\n' || url_.back() == ' ')) url_.pop_back();
  }
  ~PgServer() { runCommand({script(), "stop", dir_.path() + "/pg"}, "", 60s); }
  const std::string& url() const { return url_; }

 private:
  static std::string script() { return MINIMCP_SOURCE_DIR "/tools/pg-test-server.sh"; }
  TempDir dir_;
  std::string url_;
};

// MCP_ID (the instance's uid) → live processes carrying it, from one pass over /proc.
std::map<std::string, int> processesPerInstance() {
  std::map<std::string, int> count;
  DIR* dir = opendir("/proc");
  if (!dir) return count;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const int pid = std::atoi(e->d_name);
    auto env = procEnviron(pid);
    auto it = env.find("MCP_ID");
    if (it != env.end() && processRunning(pid)) ++count[it->second];
  }
  closedir(dir);
  return count;
}

// Samples every instance process on the machine until stopped; remembers the worst moment.
class DoubleRunWatch {
 public:
  explicit DoubleRunWatch(std::set<std::string> uids) : uids_(std::move(uids)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        for (const auto& [uid, n] : processesPerInstance()) {
          if (uids_.count(uid) && n > 1) {
            std::lock_guard lock(mu_);
            doubles_.insert(uid + " ×" + std::to_string(n));
          }
        }
        ++samples_;
        // Pacing, not synchronisation: a /proc pass every 50 ms leaves the CPUs to the nodes.
        std::this_thread::sleep_for(50ms);
      }
    });
  }
  ~DoubleRunWatch() { finish(); }
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int samples() const { return samples_; }
  std::set<std::string> doubles() {
    std::lock_guard lock(mu_);
    return doubles_;
  }

 private:
  std::set<std::string> uids_;
  std::atomic<bool> stop_{false};
  std::atomic<int> samples_{0};
  std::mutex mu_;
  std::set<std::string> doubles_;
  std::thread thread_;
};

class Node {
 public:
  Node(const std::string& name, const std::string& storeUrl, const std::string& keyFile,
       const std::string& portRange, int capacity) {
    McpdProcess::Options o;
    o.extraArgs = {"--store",
                   storeUrl,
                   "--node",
                   name,
                   "--master-key-file",
                   keyFile,
                   "--port-range",
                   portRange,
                   "--capacity",
                   std::to_string(capacity),
                   "--lease-duration",
                   std::to_string(kLeaseSeconds) + "s"};
    mcpd_ = std::make_unique<McpdProcess>(o);
  }
  McpdProcess& mcpd() { return *mcpd_; }
  client::HttpClient& api() {
    if (!api_ || api_->config().server != mcpd_->url()) {
      api_ = std::make_unique<client::HttpClient>(mcpd_->currentConnection());
    }
    return *api_;
  }
  json get(const std::string& path) {
    auto r = api().request("GET", path, "", {}, 10s);
    if (r.status != 200) throw std::runtime_error("GET " + path + ": " + std::to_string(r.status));
    return json::parse(r.body);
  }
  json instances() {
    return get(std::string(kApi) + "/mcpinstances").value("items", json::array());
  }

 private:
  std::unique_ptr<McpdProcess> mcpd_;
  std::unique_ptr<client::HttpClient> api_;
};

json instanceObject(const std::string& name, const json& specExtra = json::object()) {
  json spec = {{"type", "echo"}, {"ttl", "1h"}};
  spec.merge_patch(specExtra);
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "MCPInstance"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", spec}};
}

std::string nodeOf(const json& mi) { return mi.value("status", json::object()).value("node", ""); }

// Port ranges of the three nodes: disjoint, and apart from other test processes'.
std::string portRange(int node) {
  const int lo = 50000 + (getpid() % 100) * 120 + node * 40;
  return std::to_string(lo) + "-" + std::to_string(lo + 39);
}

class ClusterE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    keyFile_ = keys_.path() + "/master.key";
    for (int i = 0; i < 3; ++i) startNode(i);
  }
  void startNode(int i) {
    nodes_[i] = std::make_unique<Node>(names_[i], pg_.url(), keyFile_, portRange(i), 20);
  }
  Node& node(int i) { return *nodes_[i]; }

  // Creates `names` through node `via`.
  void create(int via, const std::vector<std::string>& names,
              const json& specExtra = json::object()) {
    const std::string path = std::string(kApi) + "/namespaces/default/mcpinstances";
    for (const auto& n : names) {
      auto r = node(via).api().request("POST", path, instanceObject(n, specExtra).dump(),
                                       {{"Content-Type", "application/json"}}, 10s);
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }

  // Waits until every instance in `names` is Ready on a node other than `avoid`; returns
  // name → instance.
  std::map<std::string, json> awaitReady(int via, const std::set<std::string>& names,
                                         std::chrono::milliseconds timeout,
                                         const std::string& avoid = "") {
    std::map<std::string, json> ready;
    pollUntil(
        [&] {
          ready.clear();
          for (const auto& mi : node(via).instances()) {
            const std::string name = mi["metadata"]["name"];
            if (names.count(name) && isReady(mi) && nodeOf(mi) != avoid) ready[name] = mi;
          }
          return ready.size() == names.size();
        },
        timeout);
    return ready;
  }

  PgServer pg_;
  TempDir keys_{"minimcp-keys"};
  std::string keyFile_;
  const std::vector<std::string> names_ = {"host-a", "host-b", "host-c"};
  std::unique_ptr<Node> nodes_[3];
};

TEST_F(ClusterE2E, SpreadWatchFailoverWithoutDoubleRunsAndRejoin) {
  // Every node registered itself, live.
  ASSERT_TRUE(pollUntil(
      [&] {
        json items = node(2).get(std::string(kApi) + "/nodes").value("items", json::array());
        int ready = 0;
        for (const auto& n : items) ready += n["status"].value("phase", "") == "Ready";
        return ready == 3;
      },
      10s));

  // A watch on node C sees what is written through node A.
  const std::string rv =
      node(2).get(std::string(kApi) + "/namespaces/default/mcpinstances")["metadata"].value(
          "resourceVersion", "0");
  std::vector<std::string> names;
  for (int i = 0; i < 30; ++i) names.push_back("mi-" + std::to_string(i));
  create(0, names);
  {
    auto r = node(2).api().request(
        "GET",
        std::string(kApi) + "/namespaces/default/mcpinstances?watch=true&resourceVersion=" + rv +
            "&timeoutSeconds=2",
        "", {}, 15s);
    ASSERT_EQ(r.status, 200);
    std::set<std::string> added;
    std::istringstream lines(r.body);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      json ev = json::parse(line);
      if (ev["type"] == "ADDED") added.insert(ev["object"]["metadata"]["name"]);
    }
    EXPECT_EQ(added.size(), 30u) << "watch on node C saw " << added.size() << " of 30 creations";
  }

  const std::set<std::string> all(names.begin(), names.end());
  auto ready = awaitReady(0, all, 90s);
  ASSERT_EQ(ready.size(), 30u) << node(0).mcpd().log().substr(0, 4000);
  std::map<std::string, int> perNode;
  std::set<std::string> uids;
  for (const auto& [name, mi] : ready) {
    ++perNode[nodeOf(mi)];
    uids.insert(uidOf(mi));
  }
  EXPECT_EQ(perNode.size(), 3u) << "instances on " << perNode.size() << " nodes";
  for (const auto& [n, count] : perNode) EXPECT_GE(count, 5) << n;
  DoubleRunWatch watch(uids);

  // An instance on node C answers an MCP call made through node A's gateway.
  for (const auto& [name, mi] : ready) {
    if (nodeOf(mi) != "host-c") continue;
    static const std::string nodeBin = findExecutable("node");
    const std::string url = node(0).mcpd().url() + "/mcp/default/" + name;
    CommandResult call = runCommand(
        {nodeBin, MINIMCP_SOURCE_DIR "/tools/mcp-call.mjs", url, "echo", R"({"text":"hop"})"}, "",
        30s,
        {"NODE_EXTRA_CA_CERTS=" + node(0).mcpd().dataDir() + "/tls/ca.crt",
         "MCP_TOKEN=" + node(0).api().config().token});
    EXPECT_EQ(call.exitCode, 0) << call.err;
    EXPECT_NE(call.out.find("hop"), std::string::npos) << call.out;
    break;
  }

  // Node B dies with its host.
  std::set<std::string> onB;
  std::map<std::string, int> pidsElsewhere;
  for (const auto& [name, mi] : ready) {
    if (nodeOf(mi) == "host-b") {
      onB.insert(name);
    } else {
      pidsElsewhere[name] = pidOf(mi);
    }
  }
  const auto killedAt = std::chrono::steady_clock::now();
  node(1).mcpd().crash();
  const auto deadline = std::chrono::seconds(kLeaseSeconds + 5);
  auto moved = awaitReady(0, onB, deadline + 30s, "host-b");
  const auto took = std::chrono::steady_clock::now() - killedAt;
  ASSERT_EQ(moved.size(), onB.size());
  for (const auto& [name, mi] : moved) EXPECT_NE(nodeOf(mi), "host-b") << name;
  EXPECT_LE(took, deadline) << "failover of " << onB.size() << " instances took "
                            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                            << " ms";
  std::cout << "failover of " << onB.size()
            << " instances: " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms\n";

  // B comes back (same data dir): it rejoins with a new lease generation, stops nothing that
  // moved...
  node(1).mcpd().start();
  ASSERT_TRUE(pollUntil(
      [&] {
        json b = node(0).get(std::string(kApi) + "/nodes/host-b");
        return b["status"].value("phase", "") == "Ready" &&
               b["status"].value("leaseGeneration", 0) >= 2;
      },
      10s));
  // ...and takes new work (it is the emptiest node).
  create(0, {"late-1", "late-2"});
  auto late = awaitReady(0, {"late-1", "late-2"}, 60s);
  ASSERT_EQ(late.size(), 2u);
  for (const auto& [name, mi] : late) EXPECT_EQ(nodeOf(mi), "host-b") << name;
  for (const auto& mi : node(0).instances()) {
    const std::string name = mi["metadata"]["name"];
    if (pidsElsewhere.count(name)) {
      EXPECT_EQ(pidOf(mi), pidsElsewhere[name])
          << name << " has a new process: restarts " << restartsOf(mi) << ", status "
          << mi["status"].dump();
    }
  }

  watch.finish();
  EXPECT_GT(watch.samples(), 10);
  EXPECT_TRUE(watch.doubles().empty()) << "instances with two live processes: " << [&] {
    std::string s;
    for (const auto& d : watch.doubles()) s += d + " ";
    return s;
  }();
}

TEST_F(ClusterE2E, NodeBackAfterItsInstancesMovedStopsItsStaleProcessesOnly) {
  std::vector<std::string> names;
  for (int i = 0; i < 6; ++i) names.push_back("st-" + std::to_string(i));
  create(0, names);
  auto ready = awaitReady(0, std::set<std::string>(names.begin(), names.end()), 60s);
  ASSERT_EQ(ready.size(), 6u);
  std::set<std::string> onB;
  std::map<std::string, int> stalePids, otherPids;
  for (const auto& [name, mi] : ready) {
    if (nodeOf(mi) == "host-b") {
      onB.insert(name);
      stalePids[name] = pidOf(mi);
    } else {
      otherPids[name] = pidOf(mi);
    }
  }
  ASSERT_FALSE(onB.empty());

  // Only B's mcpd dies: its instance processes run on, unreachable for the cluster (as behind
  // a network partition). Its instances are restored on A and C once its lease lapses.
  node(1).mcpd().kill9();
  auto moved = awaitReady(0, onB, std::chrono::seconds(kLeaseSeconds + 30), "host-b");
  ASSERT_EQ(moved.size(), onB.size());
  for (const auto& [name, pid] : stalePids) EXPECT_TRUE(processRunning(pid)) << name;

  // B comes back with a new lease generation and stops exactly the processes it left behind.
  node(1).mcpd().start();
  for (const auto& [name, pid] : stalePids) {
    EXPECT_TRUE(pollUntil([&] { return !processRunning(pid); }, 15s))
        << name << ": stale pid " << pid << " still runs";
  }
  for (const auto& mi : node(0).instances()) {
    const std::string name = mi["metadata"]["name"];
    EXPECT_TRUE(isReady(mi)) << name;
    EXPECT_NE(nodeOf(mi), "host-b") << name;
    if (otherPids.count(name)) {
      EXPECT_EQ(pidOf(mi), otherPids[name]) << name;
    }
    if (moved.count(name)) {
      EXPECT_EQ(pidOf(mi), pidOf(moved[name])) << name;
    }
  }
  int fenced = 0;
  std::string reasons;
  const json events = node(0).get(std::string(kApi) + "/namespaces/default/events");
  for (const auto& e : events["items"]) {
    fenced += e.value("reason", "") == "Fenced";
    reasons += e.value("reason", "") + " ";
  }
  EXPECT_EQ(fenced, static_cast<int>(onB.size())) << reasons << [&] {
    std::string lines, log = node(1).mcpd().log();
    std::istringstream in(log);
    for (std::string l; std::getline(in, l);) {
      if (l.find("stopped pid") != std::string::npos || l.find("vent") != std::string::npos) {
        lines += l + "\n";
      }
    }
    return lines;
  }();
}

// Wake on request across nodes: a call through node A's gateway to an Idle instance bound to
// node C is forwarded there (not refused because it is not ready), and node C wakes it.
TEST_F(ClusterE2E, ACallThroughNodeAWakesAnIdleInstanceBoundToNodeC) {
  std::vector<std::string> names;
  for (int i = 0; i < 9; ++i) names.push_back("nap-" + std::to_string(i));
  create(0, names, {{"idleTimeout", "2s"}});
  const std::set<std::string> all(names.begin(), names.end());
  // Every instance served once, then went Idle where it is bound.
  std::map<std::string, json> idle;
  ASSERT_TRUE(pollUntil(
      [&] {
        idle.clear();
        for (const auto& mi : node(0).instances()) {
          const std::string name = mi["metadata"]["name"];
          if (all.count(name) && phaseOf(mi) == "Idle") idle[name] = mi;
        }
        return idle.size() == all.size();
      },
      90s))
      << idle.size() << " of " << all.size() << " Idle";
  std::string onC;
  for (const auto& [name, mi] : idle) {
    if (nodeOf(mi) == "host-c") onC = name;
  }
  ASSERT_FALSE(onC.empty()) << "no instance is bound to host-c";
  const std::string uid = uidOf(idle[onC]);
  EXPECT_TRUE(pidsWithMcpId(uid).empty());

  static const std::string nodeBin = findExecutable("node");
  const std::string url = node(0).mcpd().url() + "/mcp/default/" + onC;
  CommandResult call = runCommand(
      {nodeBin, MINIMCP_SOURCE_DIR "/tools/mcp-call.mjs", url, "echo", R"({"text":"wake up"})"}, "",
      60s,
      {"NODE_EXTRA_CA_CERTS=" + node(0).mcpd().dataDir() + "/tls/ca.crt",
       "MCP_TOKEN=" + node(0).api().config().token});
  EXPECT_EQ(call.exitCode, 0) << call.out << call.err;
  EXPECT_NE(call.out.find("wake up"), std::string::npos) << call.out;
  json woken = node(0).get(std::string(kApi) + "/namespaces/default/mcpinstances/" + onC);
  EXPECT_EQ(nodeOf(woken), "host-c") << woken.dump(2);
  EXPECT_TRUE(woken["status"].contains("lastWake")) << woken.dump(2);
  EXPECT_EQ(pidsWithMcpId(uid).size(), 1u) << "one process, on node C";
}

}  // namespace
}  // namespace minimcp::e2e
