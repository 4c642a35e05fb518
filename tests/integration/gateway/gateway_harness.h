// What the gateway tests share: a real echo MCP server process (mcp-servers/echo), the SDK
// client runner (mcp_client.mjs), MCPInstance documents and the controller's record of where
// instances serve.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/client/http_client.h"
#include "api/client/kubeconfig.h"
#include "api/crypto/instance_token.h"
#include "api/crypto/master_key.h"
#include "api/gateway/gateway.h"
#include "api/server/api_server.h"
#include "api/util/ascii.h"
#include "tests/e2e/cli/mcpd_process.h"

namespace minimcp::gwtest {

inline const std::string kSourceDir = MINIMCP_SOURCE_DIR;
inline const std::string kClientScript = kSourceDir + "/tests/integration/gateway/mcp_client.mjs";

inline std::string findOnPath(const std::string& exe) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t end = p.find(':', pos);
    if (end == std::string::npos) end = p.size();
    std::string candidate = p.substr(pos, end - pos) + "/" + exe;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    pos = end + 1;
  }
  throw std::runtime_error(exe + " not found on PATH");
}

// A socket bound to an ephemeral loopback port, listening with `backlog` when it is > 0;
// `port` receives the port. Throws when it cannot.
inline int bindLoopback(uint16_t& port, int backlog = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      (backlog > 0 && ::listen(fd, backlog) != 0) ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot bind a loopback port");
  }
  port = ntohs(addr.sin_port);
  return fd;
}

// A loopback port nobody listens on (right now).
inline uint16_t freePort() {
  uint16_t port = 0;
  ::close(bindLoopback(port));
  return port;
}

// What a controller records about the instances it runs (key "ns/name" → port): the gateway's
// upstreams, whatever the stored status says.
class RecordedUpstreams : public gateway::LocalUpstreams {
 public:
  std::optional<uint16_t> port(const std::string& key) const override {
    std::lock_guard lock(mu_);
    auto it = ports_.find(key);
    if (it == ports_.end()) return std::nullopt;
    return it->second;
  }
  void set(const std::string& key, uint16_t port) {
    std::lock_guard lock(mu_);
    ports_[key] = port;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint16_t> ports_;
};

// An in-process API server (HTTPS, any free port, a store in a temporary directory named after
// `tmpName`) whose /mcp/ route is a gateway in front of `upstreams`, and tokens for the
// namespaces alice and bob. The server stops before the gateway goes (its exchanges run on the
// server's threads).
template <class Upstreams>
struct GatewayHost {
  explicit GatewayHost(const std::string& tmpName, const gateway::GatewayOptions& options = {})
      : tmp(tmpName) {
    server::ApiServerOptions o;
    o.dataDir = tmp.path() + "/data";
    o.port = 0;
    o.node = "test";
    server = std::make_unique<server::ApiServer>(o);
    server->addRoute(
        "/mcp/",
        [this](const server::Request& req, const server::Identity*) {
          auto* g = gwPtr.load();
          if (!g) return server::Response::json(503, {{"kind", "Status"}, {"code", 503}});
          return g->handle(req);
        },
        false, &gateway::jsonRpcRefusal);
    server->start();
    tokens = std::make_unique<crypto::InstanceTokens>(crypto::MasterKey::generate());
    gw = std::make_unique<gateway::Gateway>(server->store(), server->authenticator(), *tokens,
                                            upstreams, options);
    gwPtr = gw.get();
    conn = client::loadKubeconfig(server->kubeconfigPath());
    auto& auth = server->authenticator();
    aliceToken = auth.issueToken(
        "alice", server::Identity{server::Identity::Role::Namespace, "alice", "alice"});
    bobToken =
        auth.issueToken("bob", server::Identity{server::Identity::Role::Namespace, "bob", "bob"});
  }
  ~GatewayHost() {
    server->stop();
    gwPtr = nullptr;
    gw.reset();
    server.reset();
  }
  GatewayHost(const GatewayHost&) = delete;
  GatewayHost& operator=(const GatewayHost&) = delete;

  // The server's connection settings with `token`.
  client::ConnectionConfig as(const std::string& token) const {
    auto c = conn;
    c.token = token;
    return c;
  }

  testing::TempDir tmp;
  Upstreams upstreams;
  std::unique_ptr<server::ApiServer> server;
  std::unique_ptr<crypto::InstanceTokens> tokens;
  std::unique_ptr<gateway::Gateway> gw;
  std::atomic<gateway::Gateway*> gwPtr{nullptr};
  client::ConnectionConfig conn;  // the admin's
  std::string aliceToken, bobToken;
};

// An MCPInstance of type echo: Ready on `readyPort`, else Starting. `node`: its status.node.
inline nlohmann::json instance(const std::string& ns, const std::string& name,
                               const std::string& uid, std::optional<uint16_t> readyPort,
                               const std::string& phase = "Running", const std::string& node = "") {
  nlohmann::json status = {{"phase", phase}};
  if (readyPort) {
    status["port"] = *readyPort;
    status["conditions"] =
        nlohmann::json::array({{{"type", "Ready"}, {"status", "True"}, {"reason", "Healthy"}}});
  } else {
    status["conditions"] =
        nlohmann::json::array({{{"type", "Ready"}, {"status", "False"}, {"reason", "Starting"}}});
  }
  if (!node.empty()) status["node"] = node;
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "MCPInstance"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"uid", uid}}},
          {"spec", {{"type", "echo"}, {"tokenGeneration", 0}}},
          {"status", status}};
}

// The echo MCP server (with its test hooks) on a free loopback port, demanding `token`;
// started by the constructor (throws unless /health answers), stopped by its pid. `script`:
// another server with the same contract (PORT, MCP_ACCESS_TOKEN, GET /health).
class EchoServer {
 public:
  EchoServer(const std::string& node, const std::string& logFile, const std::string& token,
             const std::string& script = kSourceDir + "/mcp-servers/echo/server.js")
      : port_(freePort()), log_(logFile) {
    int logFd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_ = testing::spawnProcess({node, script}, -1, logFd, logFd,
                                 {"PORT=" + std::to_string(port_), "MCP_ACCESS_TOKEN=" + token,
                                  R"(MCP_CONFIG={"testHooks":true})"});
    ::close(logFd);
    client::ConnectionConfig direct;
    direct.server = "http://127.0.0.1:" + std::to_string(port_);
    client::HttpClient probe(direct);
    bool up = testing::waitUntil(
        [&] {
          try {
            return probe.request("GET", "/health", "", {}, std::chrono::seconds(2)).status == 200;
          } catch (const std::exception&) {
            return false;
          }
        },
        std::chrono::seconds(15));
    if (!up) {
      stop();
      throw std::runtime_error("echo server did not start: " + testing::readFileOr(log_));
    }
  }
  ~EchoServer() { stop(); }
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  void stop() {
    if (pid_ > 0) testing::terminatePid(pid_, std::chrono::seconds(5));
    pid_ = -1;
  }

  uint16_t port_;
  std::string log_;
  pid_t pid_ = -1;
};

// The SDK client in node (mcp_client.mjs URL ACTION); the token goes through the environment,
// never argv. `caFile`: what the client trusts besides the system roots.
inline nlohmann::json runMcpClient(const std::string& node, const std::string& url,
                                   const std::string& action, const std::string& token,
                                   const std::string& caFile, const std::string& origin = "") {
  std::vector<std::string> env = {"MCP_TOKEN=" + token, "NODE_EXTRA_CA_CERTS=" + caFile};
  if (!origin.empty()) env.push_back("MCP_ORIGIN=" + origin);
  testing::CommandResult r =
      testing::runCommand({node, kClientScript, url, action}, "", std::chrono::seconds(30), env);
  auto nl = r.out.find('\n');
  if (nl == std::string::npos) return {{"ok", false}, {"error", "no output: " + r.err}};
  try {
    return nlohmann::json::parse(r.out.substr(0, nl));
  } catch (const std::exception&) {
    return {{"ok", false}, {"error", r.out + r.err}};
  }
}

}  // namespace minimcp::gwtest
