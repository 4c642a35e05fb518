// The gateway across nodes: two API servers in this process, node "a" and node "b",
// each with its own HTTPS listener, TLS CA and Gateway, both gateways on one store (A's: what a
// shared PostgreSQL store is to two mcpd). The echo instance runs "on b" (status.node = "b");
// a real MCP client talks to A, which authorises and forwards to B, which proxies to the
// instance. Each server's /mcp/ route counts what it receives, so the tests see which node
// served a request and that refusals never reach B.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "api/client/http_client.h"
#include "api/client/kubeconfig.h"
#include "api/crypto/instance_token.h"
#include "api/crypto/master_key.h"
#include "api/gateway/gateway.h"
#include "api/server/api_server.h"
#include "tests/e2e/cli/mcpd_process.h"
#include "tests/integration/gateway/gateway_harness.h"
#include "tests/mocks/scripted_resolver.h"

namespace minimcp {
namespace {

using nlohmann::json;
using testing::TempDir;
using namespace gwtest;  // NOLINT: the harness is this test's vocabulary

constexpr const char* kInitialize =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
    R"("capabilities":{},"clientInfo":{"name":"raw","version":"0"}}})";

// Looks names up as the system does, unless a test scripts the answers.
class SwitchableResolver : public client::HostResolver {
 public:
  void lookup(const std::string& host, Done done) override {
    std::shared_ptr<client::HostResolver> scripted;
    {
      std::lock_guard lock(mu_);
      scripted = scripted_;
    }
    (scripted ? *scripted : *client::systemHostResolver()).lookup(host, std::move(done));
  }
  void script(std::shared_ptr<client::HostResolver> r) {
    std::lock_guard lock(mu_);
    scripted_ = std::move(r);
  }

 private:
  std::mutex mu_;
  std::shared_ptr<client::HostResolver> scripted_;
};

// One mcpd's HTTP side: an API server with a gateway route that counts its requests.
struct NodeServer {
  std::unique_ptr<server::ApiServer> server;
  std::shared_ptr<SwitchableResolver> resolver = std::make_shared<SwitchableResolver>();
  RecordedUpstreams upstreams;  // the instances this node runs
  std::unique_ptr<gateway::Gateway> gw;
  std::atomic<gateway::Gateway*> gwPtr{nullptr};
  std::atomic<int> requests{0};   // /mcp/ requests received
  std::atomic<int> forwarded{0};  // ... of them with X-MiniMCP-Forwarded-By
  mutable std::mutex mu;
  std::string lastForwardedBy;  // guarded by mu
  bool lastHadCallerToken = false;
  std::string caPem;

  explicit NodeServer(const std::string& dataDir) {
    server::ApiServerOptions o;
    o.dataDir = dataDir;
    o.port = 0;
    server = std::make_unique<server::ApiServer>(o);
    server->addRoute(
        "/mcp/",
        [this](const server::Request& req, const server::Identity*) {
          ++requests;
          std::string by = req.header(asciiLower(gateway::kForwardedByHeader));
          if (!by.empty()) {
            ++forwarded;
            std::lock_guard lock(mu);
            lastForwardedBy = by;
            lastHadCallerToken = !server::bearerToken(req.header("authorization")).empty();
          }
          auto* g = gwPtr.load();
          if (!g) return server::Response::json(503, {{"kind", "Status"}, {"code", 503}});
          return g->handle(req);
        },
        false);
    server->start();
    caPem = client::loadKubeconfig(server->kubeconfigPath()).caPem;
  }

  void startGateway(store::Store& store, const server::Authenticator& auth,
                    const crypto::InstanceTokens& tokens, const std::string& node) {
    gateway::GatewayOptions go;
    go.node = node;
    go.resolver = resolver;
    gw = std::make_unique<gateway::Gateway>(store, auth, tokens, upstreams, go);
    gwPtr = gw.get();
  }

  void stop() {
    server->stop();
    gwPtr = nullptr;
    gw.reset();
  }

  std::string forwardedBy() const {
    std::lock_guard lock(mu);
    return lastForwardedBy;
  }
};

json nodeObject(const std::string& name, const std::string& address, const std::string& caPem,
                const std::string& phase) {
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}}},
          {"spec", {{"address", address}, {"caBundle", caPem}, {"capacity", 50}}},
          {"status",
           {{"phase", phase},
            {"leaseGeneration", 1},
            {"renewTime", "2026-11-24T01:02:03.456Z"},
            {"leaseDurationSeconds", 10},
            {"instances", 1}}}};
}

// A TCP relay in front of a port that counts the connections it accepts (TLS passes through
// untouched), so a test sees whether the gateway reuses its connections to a peer.
class CountingRelay {
 public:
  explicit CountingRelay(uint16_t target) : target_(target) {
    fd_ = bindLoopback(port_, 16);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~CountingRelay() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : pumps_) t.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  void acceptLoop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int in = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (in < 0) continue;
      ++accepted_;
      pumps_.emplace_back([this, in] { pump(in); });
    }
  }

  void pump(int in) {
    int out = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(target_);
    if (::connect(out, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      char buf[16 << 10];
      pollfd p[2] = {{in, POLLIN, 0}, {out, POLLIN, 0}};
      while (!stop_) {
        if (::poll(p, 2, 50) <= 0) continue;
        bool closed = false;
        for (int k = 0; k < 2 && !closed; ++k) {
          if (!p[k].revents) continue;
          ssize_t n = ::read(p[k].fd, buf, sizeof buf);
          closed = n <= 0 || ::send(p[1 - k].fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n;
        }
        if (closed) break;
      }
    }
    ::close(out);
    ::close(in);
  }

  uint16_t target_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::vector<std::thread> pumps_;  // touched by the acceptor thread only, until it is joined
};

struct Env {
  TempDir tmp{"minimcp-gwfwd"};
  std::string node, caFile, bothCaFile, adminToken, aliceToken, bobToken, instanceToken;
  std::unique_ptr<crypto::InstanceTokens> tokens;
  std::unique_ptr<NodeServer> a, b;
  std::unique_ptr<EchoServer> echo;
  client::ConnectionConfig connA;

  Env() {
    node = findOnPath("node");
    a = std::make_unique<NodeServer>(tmp.path() + "/a");
    b = std::make_unique<NodeServer>(tmp.path() + "/b");
    // Every node holds the same master key, so either can issue and check instance tokens.
    tokens = std::make_unique<crypto::InstanceTokens>(crypto::MasterKey::generate());
    auto& st = a->server->store();
    auto& auth = a->server->authenticator();
    a->startGateway(st, auth, *tokens, "a");
    b->startGateway(st, auth, *tokens, "b");

    connA = client::loadKubeconfig(a->server->kubeconfigPath());
    adminToken = connA.token;
    caFile = tmp.path() + "/ca-a.pem";
    std::ofstream(caFile) << a->caPem;
    bothCaFile = tmp.path() + "/ca-ab.pem";
    std::ofstream(bothCaFile) << a->caPem << b->caPem;
    aliceToken = auth.issueToken(
        "alice", server::Identity{server::Identity::Role::Namespace, "alice", "alice"});
    bobToken =
        auth.issueToken("bob", server::Identity{server::Identity::Role::Namespace, "bob", "bob"});
    instanceToken = tokens->issue("uid-inbox", 0);
    echo = std::make_unique<EchoServer>(node, tmp.path() + "/echo.log", instanceToken);

    // Both "inbox" (on b) and "here" (on a) are served by the one echo process, so they share
    // its uid (the token it demands).
    st.create("mcpinstances",
              instance("alice", "inbox", "uid-inbox", echo->port(), "Running", "b"));
    st.create("mcpinstances", instance("alice", "here", "uid-inbox", echo->port(), "Running", "a"));
    // Each node's controller records the instances it runs.
    b->upstreams.set("alice/inbox", echo->port());
    a->upstreams.set("alice/here", echo->port());
    // Ready on b by its status, but b's controller runs no such process.
    st.create("mcpinstances",
              instance("alice", "unrecorded", "uid-inbox", echo->port(), "Running", "b"));
    st.create("nodes", nodeObject("b", b->server->url(), b->caPem, "Ready"));
    st.create("nodes", nodeObject("a", a->server->url(), a->caPem, "Ready"));
    // Nodes that fail: lease lapsed; serving another CA's certificate; not listening.
    st.create("nodes", nodeObject("lost", b->server->url(), b->caPem, "Lost"));
    st.create("nodes", nodeObject("wrongca", b->server->url(), a->caPem, "Ready"));
    st.create("nodes", nodeObject("down", "https://127.0.0.1:" + std::to_string(freePort()),
                                  b->caPem, "Ready"));
    for (const char* n : {"lost", "wrongca", "down", "ghost"}) {
      st.create("mcpinstances", instance("alice", std::string("on-") + n, "uid-" + std::string(n),
                                         echo->port(), "Running", n));
    }
  }

  ~Env() {
    echo.reset();
    a->stop();
    b->stop();
  }

  // One raw request to A (or `to`), an initialize POST unless told otherwise.
  client::Response post(const std::string& path, const std::string& token,
                        std::map<std::string, std::string> headers = {},
                        const std::string& body = kInitialize, NodeServer* to = nullptr) const {
    auto c = connA;
    c.token = token;
    if (to) {
      c.server = to->server->url();
      c.caPem = to->caPem;
    }
    client::HttpClient http(c);
    headers.emplace("Content-Type", "application/json");
    headers.emplace("Accept", "application/json, text/event-stream");
    return http.request("POST", path, body, headers);
  }
};

Env* env = nullptr;

// Node b's spec.address is `address` while this lives (then B's own URL again).
class AddressOfB {
 public:
  explicit AddressOfB(const std::string& address) { set(address); }
  ~AddressOfB() { set(env->b->server->url()); }
  AddressOfB(const AddressOfB&) = delete;
  AddressOfB& operator=(const AddressOfB&) = delete;

 private:
  static void set(const std::string& address) {
    auto& st = env->a->server->store();
    auto node = *st.get("nodes", "", "b");
    node["spec"]["address"] = address;
    st.update("nodes", node, 0);
  }
};

class GatewayForwardingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { env = new Env(); }
  static void TearDownTestSuite() {
    delete env;
    env = nullptr;
  }
  static json body(const client::Response& r) {
    try {
      return json::parse(r.body);
    } catch (const std::exception&) {
      return {{"reason", "(not JSON) " + r.body}};
    }
  }
};

TEST_F(GatewayForwardingTest, SdkClientThroughNodeAReachesTheInstanceOnNodeB) {
  int atA = env->a->requests, atB = env->b->requests, fwdB = env->b->forwarded;
  auto out = runMcpClient(env->node, env->a->server->url() + "/mcp/alice/inbox", "basic",
                          env->aliceToken, env->caFile);
  ASSERT_TRUE(out.value("ok", false)) << out.dump();
  EXPECT_EQ(out["server"], "echo");
  EXPECT_EQ(out["echo"], "hello through the gateway");
  EXPECT_TRUE(out["sessionId"].is_string()) << out.dump();
  // initialize, initialized, tools/list, tools/call (and the session's close): every one went
  // A → B, marked as forwarded by a, with the caller's own token.
  int viaA = env->a->requests - atA;
  EXPECT_GE(viaA, 4);
  EXPECT_EQ(env->b->requests - atB, viaA);
  EXPECT_EQ(env->b->forwarded - fwdB, viaA);
  EXPECT_EQ(env->b->forwardedBy(), "a");
  std::lock_guard lock(env->b->mu);
  EXPECT_TRUE(env->b->lastHadCallerToken);
}

TEST_F(GatewayForwardingTest, InstanceTokenWorksThroughTwoHops) {
  auto out = runMcpClient(env->node, env->a->server->url() + "/mcp/alice/inbox", "basic",
                          env->instanceToken, env->caFile);
  ASSERT_TRUE(out.value("ok", false)) << out.dump();
  EXPECT_EQ(out["echo"], "hello through the gateway");
}

TEST_F(GatewayForwardingTest, StreamedNotificationsArriveBeforeTheResultThroughTwoHops) {
  int atB = env->b->requests;
  auto out = runMcpClient(env->node, env->a->server->url() + "/mcp/alice/inbox", "stream",
                          env->aliceToken, env->caFile);
  ASSERT_TRUE(out.value("ok", false)) << out.dump();
  EXPECT_GT(env->b->requests, atB);
  EXPECT_EQ(out["result"], "streamed 5");
  auto messages = out["messages"].get<std::vector<int>>();
  int resultAt = out["resultAt"];
  ASSERT_EQ(messages.size(), 5u) << out.dump();
  for (int t : messages) EXPECT_LE(t, resultAt);
  // 5 notifications 150 ms apart: buffered at either hop, all would land with the result.
  EXPECT_GE(resultAt - messages.front(), 400) << out.dump();
}

TEST_F(GatewayForwardingTest, TheHostingNodeAndTheLocalInstanceAreServedWithoutAHop) {
  // Straight to B: B runs the instance and proxies it itself.
  int atA = env->a->requests;
  auto out = runMcpClient(env->node, env->b->server->url() + "/mcp/alice/inbox", "basic",
                          env->aliceToken, env->bothCaFile);
  ASSERT_TRUE(out.value("ok", false)) << out.dump();
  EXPECT_EQ(env->a->requests, atA);
  // An instance on a, asked of A: never reaches B.
  int atB = env->b->requests;
  out = runMcpClient(env->node, env->a->server->url() + "/mcp/alice/here", "basic", env->aliceToken,
                     env->caFile);
  ASSERT_TRUE(out.value("ok", false)) << out.dump();
  EXPECT_EQ(env->b->requests, atB);
}

TEST_F(GatewayForwardingTest, RawCallsKeepSessionHeadersAcrossTheHop) {
  auto init = env->post("/mcp/alice/inbox", env->aliceToken);
  ASSERT_EQ(init.status, 200) << init.body;
  EXPECT_NE(init.headers["content-type"].find("text/event-stream"), std::string::npos);
  std::string sid = init.headers["mcp-session-id"];
  ASSERT_FALSE(sid.empty());
  std::map<std::string, std::string> h = {{"Mcp-Session-Id", sid},
                                          {"MCP-Protocol-Version", "2025-06-18"}};
  auto note = env->post("/mcp/alice/inbox", env->aliceToken, h,
                        R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  EXPECT_EQ(note.status, 202) << note.body;
  // Through a relay that counts A's connections to B.
  CountingRelay relay(env->b->server->port());
  std::optional<AddressOfB> relayed(std::in_place,
                                    "https://127.0.0.1:" + std::to_string(relay.port()));
  for (int i = 0; i < 10; ++i) {
    auto call = env->post(
        "/mcp/alice/inbox", env->aliceToken, h,
        R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x)" +
            std::to_string(i) + R"("}}})");
    ASSERT_EQ(call.status, 200) << call.body;
    EXPECT_NE(call.body.find("\"text\":\"x" + std::to_string(i) + "\""), std::string::npos)
        << call.body;
  }
  relayed.reset();
  // A kept its connections to B: ten calls, not ten TLS handshakes; one connection per I/O
  // thread of A at most (each thread keeps its own).
  EXPECT_GE(relay.accepted(), 1);
  EXPECT_LE(relay.accepted(), server::ApiServerOptions{}.threads);
}

TEST_F(GatewayForwardingTest, PeerAddressByNameIsResolvedAndCheckedAgainstItsCertificate) {
  // B's certificate names localhost too; A resolves the name and checks it (not the IP).
  AddressOfB byName("https://localhost:" + std::to_string(env->b->server->port()));
  int atB = env->b->requests;
  auto r = env->post("/mcp/alice/inbox", env->aliceToken);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(env->b->requests, atB + 1);
}

// A peer's name is looked up by the gateway's resolver, within the connect timeout: a DNS that
// never answers costs that request a 502, not a wait without end, and its late answer is
// dropped; once the name resolves, requests go through.
TEST_F(GatewayForwardingTest, APeerNameThatNeverResolvesIs502WithinTheConnectTimeout) {
  // Another spelling than the test above: no connection it left in the pool matches.
  AddressOfB byName("https://LocalHost:" + std::to_string(env->b->server->port()));
  auto dns = std::make_shared<test::ScriptedResolver>();
  env->a->resolver->script(dns);
  int atB = env->b->requests;
  const auto t0 = std::chrono::steady_clock::now();
  auto unanswered = env->post("/mcp/alice/inbox", env->aliceToken);
  const auto took = std::chrono::steady_clock::now() - t0;
  dns->answerPending({{"127.0.0.1"}, ""});  // too late: nothing waits for it any more
  dns->answerAtOnce({{"127.0.0.1"}, ""});
  auto resolved = env->post("/mcp/alice/inbox", env->aliceToken);
  env->a->resolver->script(nullptr);

  EXPECT_EQ(unanswered.status, 502) << unanswered.body;
  EXPECT_NE(unanswered.body.find("node b is unreachable (looking up its address timed out)"),
            std::string::npos)
      << unanswered.body;
  EXPECT_EQ(unanswered.body.find("LocalHost"), std::string::npos);  // no peer address to callers
  EXPECT_LT(took, std::chrono::seconds(15));
  EXPECT_EQ(resolved.status, 200) << resolved.body;
  EXPECT_EQ(env->b->requests, atB + 1);  // only the second
  EXPECT_EQ(dns->hosts(), (std::vector<std::string>{"LocalHost", "LocalHost"}));
}

TEST_F(GatewayForwardingTest, APeerNameThatDoesNotResolveIs502) {
  AddressOfB byName("https://no-such-peer.invalid:" + std::to_string(freePort()));
  auto dns = std::make_shared<test::ScriptedResolver>();
  dns->answerAtOnce({{}, "Name or service not known"});
  env->a->resolver->script(dns);
  int atB = env->b->requests;
  auto r = env->post("/mcp/alice/inbox", env->aliceToken);
  env->a->resolver->script(nullptr);
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("node b is unreachable (its address does not resolve)"), std::string::npos)
      << r.body;
  EXPECT_EQ(env->b->requests, atB);
}

TEST_F(GatewayForwardingTest, AForwardedRequestIsNeverForwardedAgain) {
  int atB = env->b->requests;
  auto r = env->post("/mcp/alice/inbox", env->aliceToken, {{gateway::kForwardedByHeader, "c"}});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(body(r)["error"]["code"], -32000) << r.body;  // a JSON-RPC error
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_NE(r.body.find("node b"), std::string::npos) << r.body;
  EXPECT_EQ(env->b->requests, atB);
  // On the node that runs it, the header changes nothing.
  auto onB = env->post("/mcp/alice/inbox", env->aliceToken, {{gateway::kForwardedByHeader, "a"}},
                       kInitialize, env->b.get());
  EXPECT_EQ(onB.status, 200) << onB.body;
}

TEST_F(GatewayForwardingTest, LostOrUnknownNodeIs503RetryAfter1) {
  int atB = env->b->requests;
  auto lost = env->post("/mcp/alice/on-lost", env->aliceToken);
  EXPECT_EQ(lost.status, 503) << lost.body;
  EXPECT_EQ(lost.headers["retry-after"], "1");
  EXPECT_NE(lost.body.find("node lost, which is Lost"), std::string::npos) << lost.body;
  auto ghost = env->post("/mcp/alice/on-ghost", env->aliceToken);
  EXPECT_EQ(ghost.status, 503) << ghost.body;
  EXPECT_EQ(ghost.headers["retry-after"], "1");
  EXPECT_NE(ghost.body.find("not registered"), std::string::npos) << ghost.body;
  EXPECT_EQ(env->b->requests, atB);
}

TEST_F(GatewayForwardingTest, NodeLostAfterwardsStopsForwardingAtOnce) {
  auto& st = env->a->server->store();
  ASSERT_EQ(env->post("/mcp/alice/inbox", env->aliceToken).status, 200);
  auto nodeB = st.get("nodes", "", "b");
  ASSERT_TRUE(nodeB);
  auto lost = *nodeB;
  lost["status"]["phase"] = "Lost";
  st.update("nodes", lost, 0);
  int atB = env->b->requests;
  auto r = env->post("/mcp/alice/inbox", env->aliceToken);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_EQ(env->b->requests, atB);
  auto back = *st.get("nodes", "", "b");
  back["status"]["phase"] = "Ready";
  st.update("nodes", back, 0);
  EXPECT_EQ(env->post("/mcp/alice/inbox", env->aliceToken).status, 200);
}

TEST_F(GatewayForwardingTest, RefusalsAreDecidedOnTheReceivingNode) {
  int atB = env->b->requests;
  auto none = env->post("/mcp/alice/inbox", "");
  EXPECT_EQ(none.status, 401) << none.body;
  auto bad = env->post("/mcp/alice/inbox", "not-a-token");
  EXPECT_EQ(bad.status, 401) << bad.body;
  EXPECT_EQ(body(bad)["error"]["message"], "invalid bearer token") << bad.body;
  EXPECT_EQ(env->post("/mcp/alice/nothing", "not-a-token").status, 401);
  auto other = env->post("/mcp/alice/inbox", env->bobToken);
  EXPECT_EQ(other.status, 404) << other.body;
  EXPECT_NE(body(other)["error"]["message"].dump().find("not found"), std::string::npos)
      << other.body;
  EXPECT_EQ(env->post("/mcp/alice/inbox", env->tokens->issue("uid-inbox", 1)).status, 401);
  EXPECT_EQ(
      env->post("/mcp/alice/inbox", env->aliceToken, {{"Origin", "https://evil.example"}}).status,
      403);
  EXPECT_EQ(env->b->requests, atB);
  // No refusal names the token.
  EXPECT_EQ(bad.body.find("not-a-token"), std::string::npos);
}

TEST_F(GatewayForwardingTest, TheReceivingNodeResolvesTheUpstreamFromItsOwnRecord) {
  // Ready on b by its status (which names the echo's port), but b's controller runs no such
  // process: b answers 503, never the port the status names.
  int atB = env->b->requests;
  auto r = env->post("/mcp/alice/unrecorded", env->aliceToken);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(body(r)["error"]["code"], -32000) << r.body;
  EXPECT_NE(r.body.find("not ready"), std::string::npos) << r.body;
  EXPECT_EQ(env->b->requests, atB + 1);
  // A's record does not answer for b's instances either.
  env->a->upstreams.set("alice/unrecorded", env->echo->port());
  EXPECT_EQ(env->post("/mcp/alice/unrecorded", env->aliceToken).status, 503);
}

TEST_F(GatewayForwardingTest, DotSegmentsAreRefusedBeforeAnyHop) {
  int atB = env->b->requests;
  for (const char* path : {"/mcp/alice/inbox/../x", "/mcp/alice/inbox/%2e%2e/x",
                           "/mcp/alice/inbox/a%2fb", "/mcp/alice/x/../inbox"}) {
    SCOPED_TRACE(path);
    auto r = env->post(path, env->aliceToken);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(body(r)["reason"], "BadRequest");
  }
  EXPECT_EQ(env->b->requests, atB);
}

TEST_F(GatewayForwardingTest, PeerWithAnotherCasCertificateIs502AndGetsNothing) {
  int atB = env->b->requests;
  auto r = env->post("/mcp/alice/on-wrongca", env->aliceToken);
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("node wrongca"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("certificate verification failed"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find(env->aliceToken), std::string::npos);
  EXPECT_EQ(env->b->requests, atB);
}

TEST_F(GatewayForwardingTest, UnreachablePeerIs502) {
  auto r = env->post("/mcp/alice/on-down", env->aliceToken);
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("node down is unreachable"), std::string::npos) << r.body;
}

// Added latency of one hop: tools/bench/gateway.mjs with "direct" = B's gateway (B → instance)
// and "gateway" = A's (A → B → instance). Not part of the normal test run:
//   integration_gateway --gtest_also_run_disabled_tests --gtest_filter='*Forwarding*Benchmark'
TEST_F(GatewayForwardingTest, DISABLED_Benchmark) {
  std::vector<std::string> benchEnv = {
      "GW_URL=" + env->a->server->url() + "/mcp/alice/inbox", "GW_TOKEN=" + env->aliceToken,
      "DIRECT_URL=" + env->b->server->url() + "/mcp/alice/inbox", "DIRECT_TOKEN=" + env->aliceToken,
      "NODE_EXTRA_CA_CERTS=" + env->bothCaFile};
  auto r = testing::runCommand({env->node, kSourceDir + "/tools/bench/gateway.mjs"}, "",
                               std::chrono::minutes(10), benchEnv);
  std::cout << r.out << r.err << std::flush;
  EXPECT_EQ(r.exitCode, 0);
}

}  // namespace
}  // namespace minimcp
