// Helpers of the reconciler end-to-end tests: the real mcpd (McpdProcess) seen through its
// admin API, /proc inspection of instance processes, and a sweeper that kills, by pid, every
// instance process a test leaves behind (they outlive mcpd by design).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/client/http_client.h"
#include "api/crypto/encoding.h"
#include "tests/e2e/cli/mcpd_process.h"

namespace minimcp::e2e {

using nlohmann::json;
using testing::McpdProcess;
using namespace std::chrono_literals;

inline constexpr const char* kApi = "/apis/minimcp.io/v1alpha1";

// Polls `done` every 25 ms until it holds or `timeout` passes.
inline bool pollUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(25ms);
  }
}

// True when `pid` exists and has not exited (a zombie has exited: only its reaping is pending).
inline bool processRunning(int pid) {
  if (pid <= 0) return false;
  std::string stat = testing::readFileOr("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

// /proc/PID/environ as a map; empty when the process is gone or not readable.
inline std::map<std::string, std::string> procEnviron(int pid) {
  std::map<std::string, std::string> env;
  std::string raw = testing::readFileOr("/proc/" + std::to_string(pid) + "/environ");
  size_t at = 0;
  while (at < raw.size()) {
    size_t end = raw.find('\0', at);
    if (end == std::string::npos) end = raw.size();
    std::string entry = raw.substr(at, end - at);
    auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    at = end + 1;
  }
  return env;
}

// Live processes whose environment says MCP_ID=uid: the processes of that instance, whoever
// their parent is (adopted processes are not mcpd's children).
inline std::vector<int> pidsWithMcpId(const std::string& uid) {
  std::vector<int> pids;
  const std::string needle = std::string("MCP_ID=") + uid + '\0';
  DIR* dir = opendir("/proc");
  if (!dir) return pids;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::string raw = testing::readFileOr(std::string("/proc/") + e->d_name + "/environ");
    if (raw.find(needle) != std::string::npos && processRunning(static_cast<int>(pid))) {
      pids.push_back(static_cast<int>(pid));
    }
  }
  closedir(dir);
  return pids;
}

// Live processes whose working directory is `dir` or below it (e.g. an instance dir, or
// DATA_DIR/pool: warm-pool processes, which carry no MCP_ID once claimed either).
inline std::vector<int> pidsUnder(const std::string& dir) {
  std::vector<int> pids;
  DIR* d = opendir("/proc");
  if (!d) return pids;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    char buf[4096];
    const ssize_t n =
        readlink((std::string("/proc/") + e->d_name + "/cwd").c_str(), buf, sizeof buf - 1);
    if (n <= 0) continue;
    const std::string cwd(buf, static_cast<size_t>(n));
    if ((cwd == dir || cwd.rfind(dir + "/", 0) == 0) && processRunning(static_cast<int>(pid))) {
      pids.push_back(static_cast<int>(pid));
    }
  }
  closedir(d);
  return pids;
}

// True when a server could listen on 127.0.0.1:port now. SO_REUSEADDR as every server (node,
// mcpd's port checker) sets it: connections the old server closed linger in TIME_WAIT.
inline bool portBindable(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && listen(fd, 1) == 0;
  close(fd);
  return ok;
}

// The absolute path of `name` on $PATH (execv does not search), or "".
inline std::string findExecutable(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t at = 0;
  while (at <= dirs.size()) {
    size_t end = dirs.find(':', at);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(at, end - at) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    at = end + 1;
  }
  return "";
}

// `bytes` random bytes as hex: markers and keys no other test (or run) shares.
inline std::string randomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return crypto::hexEncode(raw);
}

inline const std::string& nodeBinary() {
  static const std::string node = findExecutable("node");
  return node;
}

// --port-range for this test process: ctest runs every test in its own process, possibly in
// parallel, so each takes a different 40-port slice (the allocator still checks by binding).
inline std::string portRangeForThisProcess() {
  int lo = 40000 + (getpid() % 500) * 40;
  return std::to_string(lo) + "-" + std::to_string(lo + 39);
}

// Status accessors (absent fields read as empty/0).
inline int pidOf(const json& mi) { return mi.value("status", json::object()).value("pid", 0); }
inline int portOf(const json& mi) { return mi.value("status", json::object()).value("port", 0); }
inline std::string phaseOf(const json& mi) {
  return mi.value("status", json::object()).value("phase", "");
}
inline int restartsOf(const json& mi) {
  return mi.value("status", json::object()).value("restartCount", 0);
}
inline std::string uidOf(const json& mi) {
  return mi.value("metadata", json::object()).value("uid", "");
}
inline json conditionOf(const json& mi, const std::string& type) {
  for (const auto& c : mi.value("status", json::object()).value("conditions", json::array())) {
    if (c.value("type", "") == type) return c;
  }
  return json::object();
}
inline bool isReady(const json& mi) {
  return conditionOf(mi, "Ready").value("status", "") == "True";
}

// One instance's YAML in namespace default; `specExtra` is indented spec lines.
inline std::string instanceYaml(const std::string& name, const std::string& specExtra = "") {
  return "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: " + name +
         "\n  namespace: default\nspec:\n  type: echo\n  ttl: 1h\n" + specExtra;
}

// A running mcpd (own port range, plus `extraArgs`), its admin API, and clean-up of every
// process it started.
class Cluster {
 public:
  explicit Cluster(const std::vector<std::string>& extraArgs = {}) {
    McpdProcess::Options o;
    o.extraArgs = {"--port-range", portRangeForThisProcess()};
    o.extraArgs.insert(o.extraArgs.end(), extraArgs.begin(), extraArgs.end());
    mcpd_ = std::make_unique<McpdProcess>(o);
  }
  ~Cluster() { cleanUp(); }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  McpdProcess& mcpd() { return *mcpd_; }

  // The admin client for the current mcpd (a restart may move it to another port).
  client::HttpClient& api() {
    if (!api_ || api_->config().server != mcpd_->url()) {
      api_ = std::make_unique<client::HttpClient>(mcpd_->currentConnection());
    }
    return *api_;
  }
  std::string adminToken() { return api().config().token; }
  std::string caFile() const { return mcpd_->dataDir() + "/tls/ca.crt"; }

  static std::string instancePath(const std::string& name, const std::string& ns = "default") {
    return std::string(kApi) + "/namespaces/" + ns + "/mcpinstances/" + name;
  }

  // The stored instance, or null when it does not exist. Remembers its uid for the sweep.
  json instance(const std::string& name, const std::string& ns = "default") {
    auto r = api().request("GET", instancePath(name, ns), "", {}, 10s);
    if (r.status == 404) return nullptr;
    if (r.status != 200) throw std::runtime_error("GET " + name + ": " + r.body);
    json mi = json::parse(r.body);
    if (!uidOf(mi).empty()) uids_.insert(uidOf(mi));
    return mi;
  }

  json instances() {
    auto r = api().request("GET", std::string(kApi) + "/mcpinstances", "", {}, 10s);
    if (r.status != 200) throw std::runtime_error("LIST: " + r.body);
    json items = json::parse(r.body).value("items", json::array());
    for (const auto& mi : items) uids_.insert(uidOf(mi));
    return items;
  }

  // Events about one object (by uid), in namespace default.
  std::vector<json> eventsFor(const std::string& uid, const std::string& ns = "default") {
    auto r = api().request("GET", std::string(kApi) + "/namespaces/" + ns + "/events", "", {}, 10s);
    std::vector<json> out;
    if (r.status != 200) return out;
    for (const auto& e : json::parse(r.body).value("items", json::array())) {
      if (e.value("involvedObject", json::object()).value("uid", "") == uid) out.push_back(e);
    }
    return out;
  }
  // The event with `reason` about uid, or null.
  json event(const std::string& uid, const std::string& reason) {
    for (const auto& e : eventsFor(uid)) {
      if (e.value("reason", "") == reason) return e;
    }
    return nullptr;
  }

  client::Response mergePatch(const std::string& name, const json& patch) {
    return api().request("PATCH", instancePath(name), patch.dump(),
                         {{"Content-Type", "application/merge-patch+json"}}, 10s);
  }

  // Polls the instance until `pred` holds (null: it is gone); the last state seen is kept
  // in lastSeen() for failure messages.
  bool await(const std::string& name, const std::function<bool(const json&)>& pred,
             std::chrono::milliseconds timeout) {
    return pollUntil(
        [&] {
          lastSeen_ = instance(name);
          return pred(lastSeen_);
        },
        timeout);
  }
  std::string lastSeen() const { return lastSeen_.dump(2); }

  // `node tools/mcp-call.mjs URL TOOL ARGS` with the token in the environment (never argv).
  testing::CommandResult mcpCall(const std::string& url, const std::string& token,
                                 const std::string& tool, const std::string& args) {
    std::vector<std::string> env = {"NODE_EXTRA_CA_CERTS=" + caFile()};
    if (!token.empty()) env.push_back("MCP_TOKEN=" + token);
    return testing::runCommand(
        {nodeBinary(), MINIMCP_SOURCE_DIR "/tools/mcp-call.mjs", url, tool, args}, "", 30s, env);
  }

  // Deletes every instance (the controller stops their processes), stops mcpd, then kills by
  // pid whatever instance process is left (those outlive mcpd by design).
  void cleanUp() {
    if (!mcpd_) return;
    try {
      if (mcpd_->pid() > 0) {
        for (const auto& mi : instances()) {
          const auto& md = mi["metadata"];
          api().request("DELETE", instancePath(md["name"], md["namespace"]), "", {}, 10s);
        }
        pollUntil([&] { return instances().empty(); }, 20s);
      }
    } catch (const std::exception&) {
      // mcpd unreachable: the sweep below still finds the processes.
    }
    api_.reset();
    mcpd_->stop();
    sweep();
    mcpd_.reset();
  }

  // SIGKILL, by pid, to every live process of an instance this cluster has seen.
  void sweep() {
    std::vector<int> left;
    for (const auto& uid : uids_) {
      for (int pid : pidsWithMcpId(uid)) {
        kill(pid, SIGKILL);
        left.push_back(pid);
      }
    }
    // Processes claimed from a warm pool carry no MCP_ID: they are found by their directory.
    for (const char* dir : {"/instances", "/pool"}) {
      for (int pid : pidsUnder(mcpd_->dataDir() + dir)) {
        kill(pid, SIGKILL);
        left.push_back(pid);
      }
    }
    pollUntil(
        [&] {
          for (int pid : left) {
            if (processRunning(pid)) return false;
          }
          return true;
        },
        5s);
  }

 private:
  std::unique_ptr<McpdProcess> mcpd_;
  std::unique_ptr<client::HttpClient> api_;
  std::set<std::string> uids_;
  json lastSeen_;
};

// `mcpctl apply -f -` of `yaml` succeeds.
inline void applyOk(Cluster& c, const std::string& yaml) {
  auto r = c.mcpd().mcpctl({"apply", "-f", "-"}, yaml);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
}

// The token a `mcpctl token ...` command printed (its only line).
inline std::string tokenLine(const testing::CommandResult& r) {
  EXPECT_EQ(r.exitCode, 0) << r.err;
  std::string t = r.out;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  EXPECT_FALSE(t.empty());
  return t;
}

// The text of mcpd's /metrics, as the admin reads it.
inline std::string scrape(Cluster& c) {
  auto r = c.api().request("GET", "/metrics", "", {}, 10s);
  EXPECT_EQ(r.status, 200) << r.body;
  return r.body;
}

// The value of the sample `series` (the name with its labels, as exposed) in a scrape, or -1.
inline double sample(const std::string& text, const std::string& series) {
  const std::string at = "\n" + series + " ";
  const auto pos = text.find(at);
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + at.size()));
}

inline const std::string kE2eScripts = MINIMCP_SOURCE_DIR "/tests/e2e/types";

// tests/e2e/types/fake_upstream_server.mjs KIND as its own process: it prints its URL once it
// listens and answers GET /__fake/requests with what it recorded. Stopped by pid.
class FakeUpstream {
 public:
  FakeUpstream(const std::string& kind, const std::string& dir)
      : kind_(kind), outPath_(dir + "/fake-" + kind + ".out") {
    int fd = open(outPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot open " + outPath_);
    pid_ = testing::spawnProcess({nodeBinary(), kE2eScripts + "/fake_upstream_server.mjs", kind},
                                 -1, fd, fd);
    close(fd);
  }
  ~FakeUpstream() {
    if (pid_ > 0) testing::terminatePid(pid_, 5s);
  }
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  // Waits for the "{"url": ...}" line; throws with the process output when it does not come.
  void awaitListening(std::chrono::milliseconds timeout = 15s) {
    bool up = pollUntil(
        [&] {
          std::string out = testing::readFileOr(outPath_);
          auto nl = out.find('\n');
          if (nl == std::string::npos) return !processRunning(pid_);
          url_ = json::parse(out.substr(0, nl), nullptr, false).value("url", "");
          return true;
        },
        timeout);
    if (!up || url_.empty()) {
      throw std::runtime_error("fake " + kind_ +
                               " did not start: " + testing::readFileOr(outPath_));
    }
  }

  const std::string& url() const { return url_; }
  int port() const { return std::stoi(url_.substr(url_.rfind(':') + 1)); }

  // Every request the fake has answered, in arrival order.
  json requests() const { return control("GET", "/__fake/requests"); }

  // A control route of the fake (/__fake/...): its JSON answer; throws unless 200.
  json control(const std::string& method, const std::string& path) const {
    client::ConnectionConfig cfg;
    cfg.server = url_;
    client::HttpClient http(cfg);
    auto r = http.request(method, path, "", {}, 10s);
    if (r.status != 200) throw std::runtime_error("fake " + kind_ + ": " + r.body);
    return json::parse(r.body);
  }

 private:
  std::string kind_;
  std::string outPath_;
  std::string url_;
  pid_t pid_ = -1;
};

// One SDK Client connection through `url` that lists the tools and runs `calls` in order
// (tests/e2e/types/call_tools.mjs); on success it prints {client, era, protocolVersion, tools,
// results} as one JSON line. `client`: sdk1 (SDK 1.32, 2025 handshake), v2-pinned (SDK v2 pinned
// to 2026-07-28) or v2-auto (SDK v2 negotiating).
inline testing::CommandResult runToolCalls(Cluster& c, const std::string& url,
                                           const std::string& token, const json& calls,
                                           const std::string& client = "sdk1") {
  return testing::runCommand({nodeBinary(), kE2eScripts + "/call_tools.mjs", url, client},
                             calls.dump(), 30s,
                             {"NODE_EXTRA_CA_CERTS=" + c.caFile(), "MCP_TOKEN=" + token});
}

// runToolCalls that must succeed: {tools, results, ...}; null (with a failure) on error.
inline json callTools(Cluster& c, const std::string& url, const std::string& token,
                      const json& calls, const std::string& client = "sdk1") {
  auto r = runToolCalls(c, url, token, calls, client);
  EXPECT_EQ(r.exitCode, 0) << url << "\n" << r.out << r.err;
  json out = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(out.is_discarded()) << r.out << r.err;
  if (r.exitCode != 0 || out.is_discarded()) return nullptr;
  return out;
}

}  // namespace minimcp::e2e
