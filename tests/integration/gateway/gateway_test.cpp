// The gateway end to end: an in-process ApiServer (HTTPS, port 0) with the /mcp/ route, a real
// echo MCP server process, and a real MCP client (the SDK's Client over Streamable HTTP, in
// node) talking to /mcp/alice/inbox with the admin, namespace and instance tokens. The refusals
// (401, 403, 404, 413, 503), each a JSON-RPC error body, are checked with the plain HTTP client.
#include "api/gateway/gateway.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
// clang-format off
#include <utility>  // before Boost 1.74's asio (std::exchange)
// clang-format on
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/client/http_client.h"
#include "api/client/kubeconfig.h"
#include "api/crypto/instance_token.h"
#include "api/crypto/master_key.h"
#include "api/server/api_server.h"
#include "tests/e2e/cli/mcpd_process.h"
#include "tests/integration/gateway/gateway_harness.h"

namespace minimcp {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::runCommand;
using testing::TempDir;
using namespace gwtest;  // NOLINT: the harness is this test's vocabulary

constexpr const char* kInitialize =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
    R"("capabilities":{},"clientInfo":{"name":"raw","version":"0"}}})";

gateway::GatewayOptions suiteOptions() {
  gateway::GatewayOptions go;
  go.allowedOrigins = {"https://app.example.com"};
  go.maxBody = 64 << 10;
  // tools/bench/gateway.sh --coalesce-ms N
  if (const char* w = std::getenv("BENCH_COALESCE_MS")) {
    go.coalesceWindow = std::chrono::milliseconds(std::atoi(w));
  }
  return go;
}

// Everything the suite shares: started once, stopped (every process by its pid) at the end.
struct Env : GatewayHost<RecordedUpstreams> {
  std::string node, caFile, adminToken, instanceToken;
  std::unique_ptr<EchoServer> echo;
  uint16_t echoPort = 0;

  Env() : GatewayHost("minimcp-gateway", suiteOptions()) {
    node = findOnPath("node");
    adminToken = conn.token;
    caFile = tmp.path() + "/ca.pem";
    std::ofstream(caFile) << conn.caPem;
    instanceToken = tokens->issue("uid-inbox", 0);

    echo = std::make_unique<EchoServer>(node, tmp.path() + "/echo.log", instanceToken);
    echoPort = echo->port();

    auto& st = server->store();
    st.create("mcpinstances", instance("alice", "inbox", "uid-inbox", echoPort));
    st.create("mcpinstances",
              instance("alice", "starting", "uid-starting", std::nullopt, "Starting"));
    const uint16_t deadPort = freePort();
    st.create("mcpinstances", instance("alice", "dead", "uid-dead", deadPort));
    st.create("mcpinstances", instance("bob", "other", "uid-other", echoPort));
    upstreams.set("alice/inbox", echoPort);
    upstreams.set("alice/dead", deadPort);
    upstreams.set("bob/other", echoPort);
  }

  ~Env() { echo.reset(); }

  std::string url(const std::string& path) const { return server->url() + path; }

  json mcp(const std::string& path, const std::string& action, const std::string& token,
           const std::string& origin = "") const {
    return runMcpClient(node, url(path), action, token, caFile, origin);
  }

  // One raw POST of an initialize request.
  client::Response post(const std::string& path, const std::string& token,
                        std::map<std::string, std::string> headers = {},
                        const std::string& body = kInitialize) const {
    auto c = conn;
    c.token = token;
    client::HttpClient http(c);
    headers.emplace("Content-Type", "application/json");
    headers.emplace("Accept", "application/json, text/event-stream");
    return http.request("POST", path, body, headers);
  }
};

Env* env = nullptr;

// Writes `raw` as it is on a new TLS connection to the server (no certificate check: the test
// talks to its own server) and reads one response; nullopt when none came within 5 s.
std::optional<client::Response> rawTlsExchange(uint16_t port, const std::string& raw) {
  namespace net = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  net::io_context ioc;
  net::ssl::context ctx(net::ssl::context::tls_client);
  ctx.set_verify_mode(net::ssl::verify_none);
  beast::ssl_stream<beast::tcp_stream> s(ioc, ctx);
  try {
    beast::get_lowest_layer(s).connect(
        net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    s.handshake(net::ssl::stream_base::client);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  bool answered = false;
  beast::get_lowest_layer(s).expires_after(std::chrono::seconds(5));
  net::async_write(s, net::buffer(raw), [&](beast::error_code ec, size_t) {
    if (ec) return;
    http::async_read(s, buffer, res, [&](beast::error_code e, size_t) {
      answered = !e;
      beast::get_lowest_layer(s).expires_never();
    });
  });
  ioc.run();
  if (!answered) return std::nullopt;
  client::Response out;
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  return out;
}

class GatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { env = new Env(); }
  static void TearDownTestSuite() {
    delete env;
    env = nullptr;
  }
  // The message of a JSON-RPC error body with id null (the raw requests' id is 1: they are
  // refused before the body is looked at, or the id is echoed); what else the body is, otherwise.
  static std::string rpcError(const client::Response& r) {
    json b = json::parse(r.body, nullptr, false);
    if (!b.is_object() || b.value("jsonrpc", "") != "2.0" || !b.contains("error") ||
        !b["error"].is_object() || !b["error"]["code"].is_number_integer() ||
        !b["error"]["message"].is_string() || !(b["id"].is_null() || b["id"] == 1)) {
      return "(not a JSON-RPC error) " + r.body;
    }
    return b["error"]["message"];
  }
  static bool has(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
  }
  // alice/{name}, served by whatever listens on `port` on loopback.
  static void serveAliceFrom(const std::string& name, uint16_t port) {
    env->server->store().create("mcpinstances", instance("alice", name, "uid-" + name, port));
    env->upstreams.set("alice/" + name, port);
  }
  // A client that holds alice's namespace token.
  static client::HttpClient aliceClient() {
    auto c = env->conn;
    c.token = env->aliceToken;
    return client::HttpClient(c);
  }
};

void expectBasic(const json& out) {
  ASSERT_TRUE(out.value("ok", false)) << out.dump();
  EXPECT_EQ(out["server"], "echo");
  EXPECT_EQ(out["echo"], "hello through the gateway");
  EXPECT_NE(std::find(out["tools"].begin(), out["tools"].end(), "echo"), out["tools"].end());
  // Mcp-Session-Id and MCP-Protocol-Version made the round trip.
  EXPECT_TRUE(out["sessionId"].is_string()) << out.dump();
  EXPECT_TRUE(out["protocolVersion"].is_string()) << out.dump();
}

TEST_F(GatewayTest, SdkClientWithAdminToken) {
  expectBasic(env->mcp("/mcp/alice/inbox", "basic", env->adminToken));
}

TEST_F(GatewayTest, SdkClientWithNamespaceToken) {
  expectBasic(env->mcp("/mcp/alice/inbox", "basic", env->aliceToken));
}

TEST_F(GatewayTest, SdkClientWithInstanceToken) {
  expectBasic(env->mcp("/mcp/alice/inbox", "basic", env->instanceToken));
}

TEST_F(GatewayTest, SdkClientFromAnAllowedOrigin) {
  expectBasic(env->mcp("/mcp/alice/inbox", "basic", env->aliceToken, "https://app.example.com"));
  expectBasic(env->mcp("/mcp/alice/inbox", "basic", env->aliceToken, "http://localhost:3000"));
}

TEST_F(GatewayTest, StreamedResponseArrivesAsProduced) {
  auto out = env->mcp("/mcp/alice/inbox", "stream", env->aliceToken);
  ASSERT_TRUE(out.value("ok", false)) << out.dump();
  EXPECT_EQ(out["result"], "streamed 5");
  auto messages = out["messages"].get<std::vector<int>>();
  auto progress = out["progress"].get<std::vector<int>>();
  int resultAt = out["resultAt"];
  ASSERT_EQ(messages.size(), 5u) << out.dump();
  ASSERT_EQ(progress.size(), 5u) << out.dump();
  for (int t : messages) EXPECT_LE(t, resultAt);
  // 5 notifications 150 ms apart: had the gateway buffered the response, all would land with
  // the result; relayed, the first is ~600 ms ahead of it.
  EXPECT_GE(resultAt - messages.front(), 400) << out.dump();
}

TEST_F(GatewayTest, WithoutATokenIs401) {
  auto r = env->post("/mcp/alice/inbox", "");
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_TRUE(has(rpcError(r), "a bearer token is required")) << r.body;
  // No token, no error code (RFC 6750 §3.1); no authorization server, no resource_metadata.
  EXPECT_EQ(r.headers["www-authenticate"], "Bearer realm=\"minimcp\"");
  auto out = env->mcp("/mcp/alice/inbox", "basic", "");
  EXPECT_FALSE(out.value("ok", true));
  EXPECT_EQ(out["status"], 401) << out.dump();
}

TEST_F(GatewayTest, UnknownTokenIs401WhetherOrNotTheInstanceExists) {
  auto r = env->post("/mcp/alice/inbox", "not-a-token");
  auto absent = env->post("/mcp/alice/nothing", "not-a-token");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(absent.status, 401);
  EXPECT_EQ(r.body, absent.body);
  EXPECT_EQ(r.body,
            R"({"error":{"code":-32000,"message":"invalid bearer token"},"id":1,"jsonrpc":"2.0"})");
  EXPECT_EQ(
      r.headers["www-authenticate"],
      R"(Bearer realm="minimcp", error="invalid_token", error_description="invalid bearer token")");
}

TEST_F(GatewayTest, AnotherNamespacesTokenIs404) {
  auto r = env->post("/mcp/alice/inbox", env->bobToken);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_TRUE(has(rpcError(r), "not found")) << r.body;
  // Exactly what an absent instance answers (its name aside): nothing leaks.
  auto absent = env->post("/mcp/alice/nothing", env->bobToken);
  EXPECT_EQ(absent.status, 404);
  auto same = absent.body;
  ASSERT_NE(same.find("alice/nothing"), std::string::npos) << same;
  same.replace(same.find("alice/nothing"), 13, "alice/inbox");
  EXPECT_EQ(r.body, same);
  auto out = env->mcp("/mcp/alice/inbox", "basic", env->bobToken);
  EXPECT_EQ(out["status"], 404) << out.dump();
}

TEST_F(GatewayTest, InstanceTokenOpensOnlyItsInstance) {
  // Anywhere else it is an invalid token, whether or not the instance there exists.
  auto other = env->post("/mcp/bob/other", env->instanceToken);
  auto absent = env->post("/mcp/alice/nothing", env->instanceToken);
  // A forged or revoked token (another generation) opens nothing either.
  auto revoked = env->post("/mcp/alice/inbox", env->tokens->issue("uid-inbox", 1));
  auto forged = env->post("/mcp/alice/inbox", "mcpi_forged");
  for (const auto* r : {&other, &absent, &revoked, &forged}) {
    EXPECT_EQ(r->status, 401) << r->body;
    EXPECT_EQ(r->body, other.body);
    EXPECT_NE(r->headers.at("www-authenticate").find(R"(error="invalid_token")"),
              std::string::npos);
  }
}

TEST_F(GatewayTest, UnknownInstanceIs404) {
  auto r = env->post("/mcp/alice/nothing", env->adminToken);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_TRUE(has(rpcError(r), "not found")) << r.body;
  auto bare = env->post("/mcp/alice", env->adminToken);
  EXPECT_EQ(bare.status, 404);
  EXPECT_TRUE(has(rpcError(bare), "expected /mcp/{namespace}/{name}")) << bare.body;
}

TEST_F(GatewayTest, ForeignOriginIs403) {
  auto r = env->post("/mcp/alice/inbox", env->aliceToken, {{"Origin", "https://evil.example"}});
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_TRUE(has(rpcError(r), "origin https://evil.example is not allowed")) << r.body;
  auto out = env->mcp("/mcp/alice/inbox", "basic", env->aliceToken, "https://evil.example");
  EXPECT_EQ(out["status"], 403) << out.dump();
}

TEST_F(GatewayTest, NotReadyIs503WithRetryAfter) {
  auto r = env->post("/mcp/alice/starting", env->aliceToken);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(has(rpcError(r), "is not ready (phase Starting)")) << r.body;
  EXPECT_FALSE(r.headers["retry-after"].empty());
}

TEST_F(GatewayTest, UnreachableInstanceIs503) {
  auto r = env->post("/mcp/alice/dead", env->aliceToken);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(has(rpcError(r), "mcpinstance alice/dead")) << r.body;
  EXPECT_FALSE(r.headers["retry-after"].empty());
}

TEST_F(GatewayTest, OversizedBodyIs413) {
  std::string big(100 << 10, ' ');
  auto r = env->post("/mcp/alice/inbox", env->aliceToken, {}, big);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_TRUE(has(rpcError(r), "request body too large")) << r.body;
  // Over the server's own limit: refused before the gateway runs, in the same shape.
  std::string huge(2 << 20, ' ');
  auto h = env->post("/mcp/alice/inbox", env->aliceToken, {}, huge);
  EXPECT_EQ(h.status, 413) << h.body;
  EXPECT_TRUE(has(rpcError(h), "request body too large")) << h.body;
}

// A head the server cannot take (too large: 431; malformed: 400) is refused before any
// handler runs, yet on an MCP path in the gateway's shape: the request line names the path.
// Elsewhere the same refusals stay Kubernetes Status bodies.
TEST_F(GatewayTest, MalformedHeadsOnMcpPathsAreJsonRpcErrors) {
  std::map<std::string, std::string> huge;
  for (int i = 0; i < 2; ++i) huge["X-Filler-" + std::to_string(i)] = std::string(62000, 'x');
  auto r = env->post("/mcp/alice/inbox", env->aliceToken, huge);
  EXPECT_EQ(r.status, 431) << r.body;
  EXPECT_TRUE(has(rpcError(r), "request header fields too large")) << r.body;
  auto status =
      json::parse(env->post("/api/v1/namespaces", env->aliceToken, huge).body, nullptr, false);
  EXPECT_EQ(status.value("kind", ""), "Status") << status.dump();
  EXPECT_EQ(status.value("reason", ""), "RequestHeaderFieldsTooLarge") << status.dump();

  // A field name with a space in it: Beast refuses the head (bad field).
  auto raw = [](const std::string& path) {
    return rawTlsExchange(env->server->port(),
                          "POST " + path +
                              " HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Field: x\r\n"
                              "Content-Length: 0\r\n\r\n");
  };
  auto bad = raw("/mcp/alice/inbox");
  ASSERT_TRUE(bad) << "no answer";
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_TRUE(has(rpcError(*bad), "malformed HTTP request")) << bad->body;
  auto elsewhere = raw("/api/v1/namespaces");
  ASSERT_TRUE(elsewhere) << "no answer";
  EXPECT_EQ(elsewhere->status, 400) << elsewhere->body;
  EXPECT_EQ(json::parse(elsewhere->body, nullptr, false).value("kind", ""), "Status")
      << elsewhere->body;
}

TEST_F(GatewayTest, TheInstancesOwnRefusalsReachTheClientAsJsonRpcErrors) {
  // Its JSON-RPC refusals pass unchanged (the status, the body, Allow).
  client::HttpClient http = aliceClient();
  auto r = http.request(
      "PUT", "/mcp/alice/inbox", kInitialize,
      {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}});
  EXPECT_EQ(r.status, 405) << r.body;
  EXPECT_TRUE(has(rpcError(r), "Method not allowed")) << r.body;
  EXPECT_FALSE(r.headers["allow"].empty());
  auto parse = env->post("/mcp/alice/inbox", env->aliceToken, {}, "{not json");
  EXPECT_EQ(parse.status, 400) << parse.body;
  EXPECT_EQ(json::parse(parse.body)["error"]["code"], -32700) << parse.body;
  // A path the instance does not serve answers JSON that is not JSON-RPC: it becomes one.
  auto other = env->post("/mcp/alice/inbox/elsewhere", env->aliceToken);
  EXPECT_EQ(other.status, 404) << other.body;
  EXPECT_TRUE(has(rpcError(other), "mcpinstance alice/inbox answered HTTP 404")) << other.body;
}

TEST_F(GatewayTest, RawRequestsKeepHeadersAndReuseUpstreamConnections) {
  // initialize, then a notification and a tools/call on the session: the session header goes
  // up and comes back; the upstream answers carry through (SSE body, 202 for notifications).
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
  for (int i = 0; i < 20; ++i) {
    auto call = env->post(
        "/mcp/alice/inbox", env->aliceToken, h,
        R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x)" +
            std::to_string(i) + R"("}}})");
    ASSERT_EQ(call.status, 200) << call.body;
    EXPECT_NE(call.body.find("\"text\":\"x" + std::to_string(i) + "\""), std::string::npos)
        << call.body;
  }
  // A session the instance does not know: its own 404 passes through.
  h["Mcp-Session-Id"] = "no-such-session";
  auto unknown = env->post("/mcp/alice/inbox", env->aliceToken, h,
                           R"({"jsonrpc":"2.0","id":8,"method":"tools/list"})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("Session not found"), std::string::npos) << unknown.body;
}

// The next connection to the listening `fd` (polled, so that `stop` is seen within 50 ms) once
// its request head has been read into `head`; -1 when stopped first or the accept failed.
int acceptRequest(int fd, const std::atomic<bool>& stop, std::string& head) {
  pollfd pl{fd, POLLIN, 0};
  while (!stop && ::poll(&pl, 1, 50) == 0) {
  }
  if (stop) return -1;
  int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return -1;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::read(c, buf, sizeof buf);
    if (n <= 0) break;
    head.append(buf, static_cast<size_t>(n));
  }
  return c;
}

// An upstream that answers one request with an endless chunked SSE body and notices when the
// gateway hangs up on it.
class EndlessUpstream {
 public:
  EndlessUpstream() {
    fd_ = bindLoopback(port_, 4);
    thread_ = std::thread([this] { serve(); });
  }
  ~EndlessUpstream() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  bool peerClosed() const { return peerClosed_; }
  std::string request() const {
    std::lock_guard lock(mu_);
    return request_;
  }

 private:
  void serve() {
    std::string req;
    int c = acceptRequest(fd_, stop_, req);
    if (c < 0) return;
    char buf[4096];
    {
      std::lock_guard lock(mu_);
      request_ = req;
    }
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    ::send(c, head.data(), head.size(), MSG_NOSIGNAL);
    const std::string chunk = "e\r\ndata: tick\n\n\r\n\r\n";
    // Every 50 ms a chunk; a readable socket that reads 0 bytes, or a failed send, is the
    // gateway hanging up.
    while (!stop_) {
      if (::send(c, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) break;
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0 && ::read(c, buf, sizeof buf) <= 0) break;
    }
    if (!stop_) peerClosed_ = true;
    ::close(c);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> peerClosed_{false};
  mutable std::mutex mu_;
  std::string request_;
  std::thread thread_;
};

TEST_F(GatewayTest, StreamRelaysAndClientDisconnectClosesTheUpstream) {
  EndlessUpstream upstream;
  serveAliceFrom("endless", upstream.port());
  client::HttpClient http = aliceClient();
  int lines = 0;
  int code = http.stream(
      "GET", "/mcp/alice/endless/sub?x=1",
      [&](const std::string& line) {
        if (line.rfind("data: tick", 0) != 0) return true;
        return ++lines < 3;  // then hang up
      },
      {{"Accept", "text/event-stream"}, {"Last-Event-ID", "41"}}, std::chrono::seconds(10));
  EXPECT_EQ(code, 200);
  EXPECT_EQ(lines, 3);
  EXPECT_TRUE(testing::waitUntil([&] { return upstream.peerClosed(); }, std::chrono::seconds(5)))
      << "the upstream connection outlived its client";
  // What the instance saw: the rewritten path, its own token (not the caller's), the resume
  // header.
  std::string req = upstream.request();
  EXPECT_EQ(req.rfind("GET /mcp/sub?x=1 HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("Bearer " + env->tokens->issue("uid-endless", 0)), std::string::npos);
  EXPECT_EQ(req.find(env->aliceToken), std::string::npos);
  EXPECT_NE(asciiLower(req).find("last-event-id: 41"), std::string::npos) << req;
}

// An upstream that answers every connection with `response` (whole, then closes).
class CannedUpstream {
 public:
  explicit CannedUpstream(std::string response) : response_(std::move(response)) {
    fd_ = bindLoopback(port_, 4);
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedUpstream() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      std::string req;
      int c = acceptRequest(fd_, stop_, req);
      if (c < 0) continue;
      ::send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  std::string response_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(GatewayTest, EveryProxiedResponseIsSandboxedAndNotSniffedWhateverTheInstanceSays) {
  // /ui/ shares the origin: an instance's page must not run there, with any headers it sends.
  const std::string page = "<html><script>alert(document.cookie)</script></html>";
  CannedUpstream upstream(
      "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
      "Content-Security-Policy: default-src * 'unsafe-inline'\r\n"
      "content-security-policy: script-src 'unsafe-inline'\r\n"
      "X-Content-Type-Options: none\r\nX-Kept: yes\r\nContent-Length: " +
      std::to_string(page.size()) + "\r\nConnection: close\r\n\r\n" + page);
  serveAliceFrom("page", upstream.port());
  client::HttpClient http = aliceClient();
  auto r = http.request("GET", "/mcp/alice/page", "", {{"Accept", "text/event-stream"}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, page);
  // One value each (the client joins repeated headers with ", "): the instance's are gone.
  EXPECT_EQ(r.headers["content-security-policy"], "sandbox");
  EXPECT_EQ(r.headers["x-content-type-options"], "nosniff");
  EXPECT_EQ(r.headers["x-kept"], "yes");

  // The same on a real instance's JSON-RPC answers, on its own refusals and on the gateway's
  // refusals of an exchange.
  std::vector<std::pair<std::string, client::Response>> answers;
  answers.emplace_back("initialize", env->post("/mcp/alice/inbox", env->aliceToken));
  answers.emplace_back("instance 404", env->post("/mcp/alice/inbox/elsewhere", env->aliceToken));
  answers.emplace_back("unreachable", env->post("/mcp/alice/dead", env->aliceToken));
  for (auto& [what, a] : answers) {
    SCOPED_TRACE(what + ": HTTP " + std::to_string(a.status));
    EXPECT_EQ(a.headers["content-security-policy"], "sandbox");
    EXPECT_EQ(a.headers["x-content-type-options"], "nosniff");
  }
  EXPECT_EQ(answers[0].second.status, 200);
  EXPECT_EQ(answers[1].second.status, 404);
  EXPECT_EQ(answers[2].second.status, 503);
}

TEST_F(GatewayTest, AnInstancesConnectionHeadersAndServerNameStayBehind) {
  // Known names (Keep-Alive, Upgrade, Server, in any case) and unknown ones (Trailers) alike;
  // what is not connection-level reaches the caller as the instance wrote it.
  const std::string body = R"({"jsonrpc":"2.0","id":1,"result":{}})";
  CannedUpstream upstream(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSERVER: instance/1.0\r\n"
      "Keep-Alive: timeout=5\r\nproxy-connection: keep-alive\r\nUpgrade: h2c\r\n"
      "Trailers: x-late\r\nMcp-Session-Id: s-1\r\nX-Kept: yes\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  serveAliceFrom("canned", upstream.port());
  client::HttpClient http = aliceClient();
  auto r = http.request("POST", "/mcp/alice/canned", R"({"jsonrpc":"2.0","id":1,"method":"ping"})",
                        {{"Accept", "application/json, text/event-stream"}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.headers["server"], "minimcp");
  for (const char* gone : {"keep-alive", "proxy-connection", "upgrade", "trailers"}) {
    EXPECT_EQ(r.headers.count(gone), 0u) << gone;
  }
  EXPECT_EQ(r.headers["mcp-session-id"], "s-1");
  EXPECT_EQ(r.headers["x-kept"], "yes");
  EXPECT_EQ(r.headers["content-type"], "application/json");
}

TEST_F(GatewayTest, AChunkedAnswerThatCameWithItsHeadIsRelayedWhole) {
  // Head and every chunk in one write, so the gateway finds them buffered with the head: more
  // than its 16 KiB read chunk in all, and once more than it answers in one piece (1 MiB).
  auto chunked = [](const std::vector<std::string>& parts) {
    std::string wire =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    for (const auto& p : parts) {
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", p.size());
      wire += size + p + "\r\n";
    }
    return wire + "0\r\n\r\n";
  };
  auto event = [](char fill, size_t n) { return "data: " + std::string(n, fill) + "\n\n"; };
  struct Case {
    std::string name;
    std::vector<std::string> parts;
    bool onePiece;
  };
  const std::vector<Case> cases = {
      {"small", {event('a', 10), event('b', 20)}, true},
      {"beyond the read chunk", {event('a', 10000), event('b', 10000), event('c', 10000)}, true},
      {"beyond one piece", {event('a', 700000), event('b', 700000)}, false},
  };
  client::HttpClient http = aliceClient();
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    CannedUpstream upstream(chunked(tc.parts));
    const std::string name = "canned-" + std::to_string(&tc - cases.data());
    serveAliceFrom(name, upstream.port());
    auto r = http.request("POST", "/mcp/alice/" + name,
                          R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})",
                          {{"Accept", "application/json, text/event-stream"}});
    std::string whole;
    for (const auto& p : tc.parts) whole += p;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.size(), whole.size());
    EXPECT_TRUE(r.body == whole);
    EXPECT_EQ(r.headers["content-type"], "text/event-stream");
    // One piece: a plain response with its length; beyond that, relayed as it streams.
    EXPECT_EQ(r.headers.count("content-length") == 1, tc.onePiece);
  }
}

// What SIGTERM does to mcpd's server (ApiServer::stop): an open gateway stream ends with the
// last chunk of its body, so the client reads a complete response, not a cut connection.
TEST(GatewayShutdown, StoppingTheServerEndsAnOpenStreamWithItsLastChunk) {
  GatewayHost<RecordedUpstreams> host("minimcp-gateway-stop");
  auto& server = *host.server;
  auto& upstreams = host.upstreams;
  auto& tmp = host.tmp;
  EndlessUpstream upstream;
  server.store().create("mcpinstances",
                        instance("alice", "endless", "uid-endless", upstream.port()));
  upstreams.set("alice/endless", upstream.port());
  testing::CurlStream sse(host.as(host.aliceToken), tmp.path(), "sse", "/mcp/alice/endless/sub",
                          {"Accept: text/event-stream"});
  ASSERT_TRUE(testing::waitUntil([&] { return sse.body().find("data: tick") != std::string::npos; },
                                 std::chrono::seconds(10)))
      << sse.body() << sse.errors();
  server.stop();
  EXPECT_EQ(sse.exitCode(std::chrono::seconds(10)), 0) << sse.errors();  // 18: cut, 56: reset
  const std::string body = sse.body();
  ASSERT_GE(body.size(), 5u);
  EXPECT_EQ(body.substr(body.size() - 5), "0\r\n\r\n") << body;
}

// A loopback port something listens on that must never be connected to: a connection the
// gateway made would wait in its accept queue.
class Tripwire {
 public:
  Tripwire() { fd_ = bindLoopback(port_, 8); }
  ~Tripwire() { ::close(fd_); }
  uint16_t port() const { return port_; }
  bool tripped() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST_F(GatewayTest, StatusPortNeverChoosesTheUpstream) {
  Tripwire other;      // "a loopback-only service of the host"
  auto c = env->conn;  // the admin's
  client::HttpClient admin(c);
  const std::string status = "/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances/inbox/status";
  const std::string patch = R"({"status":{"port":)" + std::to_string(other.port()) + "}}";
  auto w =
      admin.request("PATCH", status, patch, {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(w.status, 200) << w.body;
  ASSERT_EQ(json::parse(w.body)["status"]["port"], other.port());
  // The gateway still goes where the controller's record says: the echo server.
  auto r = env->post("/mcp/alice/inbox", env->aliceToken);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(other.tripped());
  // Ready by its status, on a port something listens on, but no process of it runs here.
  env->server->store().create("mcpinstances",
                              instance("alice", "phantom", "uid-phantom", other.port()));
  auto phantom = env->post("/mcp/alice/phantom", env->aliceToken);
  EXPECT_EQ(phantom.status, 503) << phantom.body;
  EXPECT_TRUE(has(rpcError(phantom), "is not ready")) << phantom.body;
  EXPECT_FALSE(other.tripped());
  auto back =
      admin.request("PATCH", status, R"({"status":{"port":)" + std::to_string(env->echoPort) + "}}",
                    {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(back.status, 200) << back.body;
}

TEST_F(GatewayTest, DotSegmentsAndEncodedSlashesAre400AndReachNothing) {
  Tripwire upstream;
  serveAliceFrom("trap", upstream.port());
  client::HttpClient http = aliceClient();
  for (const char* path :
       {"/mcp/alice/trap/../x", "/mcp/alice/trap/./x", "/mcp/alice/trap/..", "/mcp/alice/trap/.",
        "/mcp/alice/trap/%2e%2e/x", "/mcp/alice/trap/%2E./x", "/mcp/alice/trap/.%2e/x",
        "/mcp/alice/trap/%2e/x", "/mcp/alice/trap/a%2fb", "/mcp/alice/trap/a%2Fb",
        "/mcp/alice/trap/a%5cb", "/mcp/alice/trap/a\\b", "/mcp/alice/x/../trap",
        "/mcp/alice/trap/x/..?q=1"}) {
    SCOPED_TRACE(path);
    auto r = http.request(
        "POST", path, kInitialize,
        {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}},
        std::chrono::seconds(10));
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(json::parse(r.body, nullptr, false)["error"]["code"], -32600) << r.body;
    EXPECT_NE(r.body.find("the request path must not contain"), std::string::npos) << r.body;
    // The gateway refuses by itself too, whoever routes to it.
    server::Request direct;
    direct.method = "POST";
    direct.target = path;
    server::parseTarget(direct.target, direct.path, direct.query);
    direct.headers = {{"authorization", "Bearer " + env->aliceToken}};
    EXPECT_EQ(env->gw->handle(direct).status, 400);
  }
  EXPECT_FALSE(upstream.tripped());
  // Dots inside a segment, and in the query, are just characters.
  server::Request fine;
  fine.method = "GET";
  fine.target = "/mcp/alice/starting/a..b/.well-known?next=../x";
  server::parseTarget(fine.target, fine.path, fine.query);
  fine.headers = {{"authorization", "Bearer " + env->aliceToken}};
  EXPECT_EQ(env->gw->handle(fine).status, 503);
}

// An upstream that reads one request, then sends `steps` (each after its pause) and holds the
// connection open, silent, until it is closed by the gateway or the upstream is destroyed.
class ScriptedUpstream {
 public:
  struct Step {
    std::chrono::milliseconds pause;
    std::string bytes;
  };
  explicit ScriptedUpstream(std::vector<Step> steps) : steps_(std::move(steps)) {
    fd_ = bindLoopback(port_, 4);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedUpstream() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  bool peerClosed() const { return peerClosed_; }

 private:
  void serve() {
    std::string req;
    int c = acceptRequest(fd_, stop_, req);
    if (c < 0) return;
    char buf[4096];
    for (const auto& step : steps_) {
      // The pause is the script (how slowly this instance answers), not a synchronisation.
      std::this_thread::sleep_for(step.pause);
      ::send(c, step.bytes.data(), step.bytes.size(), MSG_NOSIGNAL);
    }
    pollfd p{c, POLLIN, 0};
    while (!stop_) {
      if (::poll(&p, 1, 50) > 0) {
        if (::read(c, buf, sizeof buf) <= 0) {
          peerClosed_ = true;
          break;
        }
      }
    }
    ::close(c);
  }

  std::vector<Step> steps_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> peerClosed_{false};
  std::thread thread_;
};

// A gateway whose instances may be silent for kSilence at most (GatewayOptions::idleTimeout).
class GatewaySilence : public ::testing::Test {
 protected:
  static constexpr std::chrono::milliseconds kSilence{600};
  static gateway::GatewayOptions options() {
    gateway::GatewayOptions go;
    go.idleTimeout = kSilence;
    return go;
  }
  GatewayHost<RecordedUpstreams> host{"minimcp-gateway-silence", options()};

  void serve(const std::string& name, uint16_t port) {
    host.server->store().create("mcpinstances", instance("alice", name, "uid-" + name, port));
    host.upstreams.set("alice/" + name, port);
  }
  // The `data: tick` lines of the SSE stream GET /mcp/alice/{name}, and how long it lasted.
  std::pair<int, std::chrono::milliseconds> ticks(const std::string& name) {
    client::HttpClient http(host.as(host.aliceToken));
    int n = 0;
    const auto start = std::chrono::steady_clock::now();
    int code = http.stream(
        "GET", "/mcp/alice/" + name,
        [&](const std::string& line) {
          if (line.rfind("data: tick", 0) == 0) ++n;
          return true;
        },
        {{"Accept", "text/event-stream"}}, std::chrono::seconds(20));
    EXPECT_EQ(code, 200);
    return {n, std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)};
  }
};

constexpr const char* kSseHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
constexpr const char* kTick = "c\r\ndata: tick\n\n\r\n";

TEST_F(GatewaySilence, AStreamSlowerInTotalThanTheLimitButNeverSilentThatLongIsRelayedWhole) {
  // 12 events 150 ms apart: 1.8 s in all, three times the limit; no pause reaches it.
  std::vector<ScriptedUpstream::Step> steps = {{std::chrono::milliseconds(0), kSseHead}};
  for (int i = 0; i < 12; ++i) steps.push_back({std::chrono::milliseconds(150), kTick});
  steps.push_back({std::chrono::milliseconds(150), "0\r\n\r\n"});
  ScriptedUpstream upstream(steps);
  serve("steady", upstream.port());
  auto [n, took] = ticks("steady");
  EXPECT_EQ(n, 12) << "cut after " << took.count() << " ms";
}

TEST_F(GatewaySilence, AStreamSilentForLongerThanTheLimitIsEndedAndItsConnectionClosed) {
  ScriptedUpstream upstream({{std::chrono::milliseconds(0), kSseHead},
                             {std::chrono::milliseconds(300), kTick},
                             {std::chrono::milliseconds(300), kTick}});
  serve("stalls", upstream.port());
  auto [n, took] = ticks("stalls");
  EXPECT_EQ(n, 2);
  // The client's own limit is 20 s: the gateway ended the stream about kSilence after the last
  // event (600 ms in).
  EXPECT_GE(took, std::chrono::milliseconds(600) + kSilence);
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_TRUE(testing::waitUntil([&] { return upstream.peerClosed(); }, std::chrono::seconds(5)));
}

TEST_F(GatewaySilence, AnInstanceSilentBeforeItsResponseHeadIs504) {
  ScriptedUpstream upstream({});
  serve("mute", upstream.port());
  client::HttpClient http(host.as(host.aliceToken));
  const auto start = std::chrono::steady_clock::now();
  auto r = http.request(
      "POST", "/mcp/alice/mute", kInitialize,
      {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}},
      std::chrono::seconds(20));
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_NE(r.body.find("did not answer in time"), std::string::npos) << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(testing::waitUntil([&] { return upstream.peerClosed(); }, std::chrono::seconds(5)));
}

// The server's threads never wait for an instance: with more calls outstanding to instances
// that do not answer than the server has threads, the API still answers at once.
TEST_F(GatewayTest, InstancesThatDoNotAnswerHoldNoServerThread) {
  uint16_t port = 0;
  const int listener = bindLoopback(port, 16);  // accepts, reads nothing, never answers
  serveAliceFrom("silent", port);
  constexpr int kCalls = 4;  // twice the server's threads
  std::vector<std::thread> callers;
  std::atomic<int> finished{0};
  for (int i = 0; i < kCalls; ++i) {
    callers.emplace_back([&] {
      auto c = env->conn;
      c.token = env->aliceToken;
      try {
        client::HttpClient(c).request("POST", "/mcp/alice/silent", kInitialize,
                                      {{"Content-Type", "application/json"},
                                       {"Accept", "application/json, text/event-stream"}},
                                      std::chrono::seconds(4));
      } catch (const std::exception&) {
        // the client's own timeout: the instance never answers
      }
      ++finished;
    });
  }
  std::vector<int> upstreamConns;
  ASSERT_TRUE(testing::waitUntil(
      [&] {
        pollfd p{listener, POLLIN, 0};
        if (::poll(&p, 1, 0) > 0) upstreamConns.push_back(::accept(listener, nullptr, nullptr));
        return upstreamConns.size() == kCalls;
      },
      std::chrono::seconds(5)));
  client::HttpClient admin(env->conn);
  auto t0 = std::chrono::steady_clock::now();
  auto r = admin.request("GET", "/healthz", "", {}, std::chrono::seconds(3));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(finished.load(), 0);  // every call was still outstanding
  for (auto& t : callers) t.join();
  for (int fd : upstreamConns) ::close(fd);
  ::close(listener);
}

// The gateway keeps what it computed for a token (the digest of an API token, the instance
// token of a uid and generation) between requests; a revoked token still stops working at the
// very next request: an API token deleted or replaced, an instance token whose generation moved.
TEST_F(GatewayTest, RevokedTokensStopAtTheNextRequest) {
  auto& auth = env->server->authenticator();
  const std::string carol = auth.issueToken(
      "carol", server::Identity{server::Identity::Role::Namespace, "alice", "carol"});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(env->post("/mcp/alice/inbox", carol).status, 200);
  ASSERT_EQ(auth.revokeToken("carol"), server::StoreTokenAuthenticator::RevokeResult::Revoked);
  auto revoked = env->post("/mcp/alice/inbox", carol);
  EXPECT_EQ(revoked.status, 401) << revoked.body;
  // Replaced by a new value: the old one is refused at once, the new one opens.
  const std::string dave =
      auth.issueToken("dave", server::Identity{server::Identity::Role::Namespace, "alice", "dave"});
  EXPECT_EQ(env->post("/mcp/alice/inbox", dave).status, 200);
  const std::string dave2 =
      auth.issueToken("dave", server::Identity{server::Identity::Role::Namespace, "alice", "dave"});
  EXPECT_EQ(env->post("/mcp/alice/inbox", dave).status, 401);
  EXPECT_EQ(env->post("/mcp/alice/inbox", dave2).status, 200);
  auth.revokeToken("dave");

  // An instance of its own (the echo server's uid, so its token opens the echo server too).
  auto& st = env->server->store();
  st.create("mcpinstances", instance("alice", "rotating", "uid-inbox", env->echoPort));
  env->upstreams.set("alice/rotating", env->echoPort);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(env->post("/mcp/alice/rotating", env->instanceToken).status, 200);
    EXPECT_EQ(env->post("/mcp/alice/rotating", env->adminToken).status, 200);
  }
  auto obj = *st.get("mcpinstances", "alice", "rotating");
  obj["spec"]["tokenGeneration"] = 1;
  st.update("mcpinstances", obj, 0);
  // The old generation's token no longer opens it...
  auto stale = env->post("/mcp/alice/rotating", env->instanceToken);
  EXPECT_EQ(stale.status, 401) << stale.body;
  EXPECT_EQ(rpcError(stale), "invalid bearer token") << stale.body;
  // ...the new one does, and the instance is sent the new generation's token (which this echo
  // server, started with generation 0's, refuses: its own 401, relayed).
  auto fresh = env->post("/mcp/alice/rotating", env->tokens->issue("uid-inbox", 1));
  EXPECT_EQ(fresh.status, 401) << fresh.body;
  EXPECT_TRUE(has(rpcError(fresh), "Unauthorized: missing or invalid bearer token")) << fresh.body;
  st.remove("mcpinstances", "alice", "rotating", 0);
}

// The benchmark of tools/bench/gateway.sh (gateway vs direct, same run), here because this
// harness already has a gateway and an instance. For protocol 2026-07-28 it adds the bench's
// own SDK v2 echo server as instance alice/modern (the bench uses it only while the echo type
// does not speak that revision). Not part of the normal test run.
TEST_F(GatewayTest, DISABLED_Benchmark) {
  EchoServer modern(env->node, env->tmp.path() + "/echo-v2.log", env->instanceToken,
                    kSourceDir + "/tools/bench/gateway_echo_v2.mjs");
  env->server->store().create("mcpinstances",
                              instance("alice", "modern", "uid-inbox", modern.port()));
  env->upstreams.set("alice/modern", modern.port());
  // TLS_DIR: the server's certificate and key, for the bench's reference proxy (BENCH_NGINX).
  std::vector<std::string> benchEnv = {
      "GW_URL=" + env->url("/mcp/alice/inbox"),
      "GW_URL_V2=" + env->url("/mcp/alice/modern"),
      "GW_TOKEN=" + env->aliceToken,
      "GW_PID=" + std::to_string(::getpid()),
      "DIRECT_URL=http://127.0.0.1:" + std::to_string(env->echoPort) + "/mcp",
      "DIRECT_URL_V2=http://127.0.0.1:" + std::to_string(modern.port()) + "/mcp",
      "DIRECT_TOKEN=" + env->instanceToken,
      "DIRECT_PID=" + std::to_string(env->echo->pid()),
      "DIRECT_PID_V2=" + std::to_string(modern.pid()),
      "NODE_EXTRA_CA_CERTS=" + env->caFile,
      "TLS_DIR=" + env->tmp.path() + "/data/tls"};
  // tools/bench/gateway_profile.sh runs its own client instead (an absolute path).
  const char* script = std::getenv("BENCH_SCRIPT");
  auto r = runCommand({env->node, script ? script : kSourceDir + "/tools/bench/gateway.mjs"}, "",
                      std::chrono::minutes(30), benchEnv);
  std::cout << r.out << r.err << std::flush;
  EXPECT_EQ(r.exitCode, 0);
}

}  // namespace
}  // namespace minimcp
