// The gateway as an OAuth 2.1 protected resource, against a real mcpd: the 401 challenge
// (error="invalid_token", resource_metadata when --oidc-issuer is set), the RFC 9728 metadata
// (the same answer for any name that could exist; resource built from a name mcpd is served at,
// never from whatever Host a client sends), 404 on every discovery path when no authorization
// server is configured, and a JSON-RPC error body with the HTTP status kept for every refusal
// on an MCP path, the API server's own included.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "api/client/http_client.h"
#include "tests/e2e/cli/mcpd_process.h"

namespace minimcp {
namespace {

using client::HttpClient;
using nlohmann::json;
using testing::McpdProcess;

constexpr const char* kIssuer = "https://idp.example.com/realms/acme";
constexpr const char* kInitialize =
    R"({"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
    R"("capabilities":{},"clientInfo":{"name":"raw","version":"0"}}})";

json instanceBody(const std::string& ns, const std::string& name) {
  // Suspended: stored, never started, so never Ready.
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "MCPInstance"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"type", "echo"}, {"ttl", "1h"}, {"suspend", true}}}};
}

// A real mcpd (its catalog loaded, so instances of type echo can be stored) with alice's
// suspended instance "inbox" and tokens for alice and bob.
struct Mcpd {
  std::unique_ptr<McpdProcess> mcpd;
  std::string aliceToken, bobToken;

  explicit Mcpd(std::vector<std::string> extraArgs) {
    McpdProcess::Options o;
    o.extraArgs = {"--mcp-servers-dir", std::string(MINIMCP_SOURCE_DIR) + "/mcp-servers"};
    o.extraArgs.insert(o.extraArgs.end(), extraArgs.begin(), extraArgs.end());
    mcpd = std::make_unique<McpdProcess>(o);
    HttpClient admin(mcpd->connection());
    auto issue = [&](const std::string& ns) {
      auto r =
          admin.request("POST", "/apis/minimcp.io/v1alpha1/tokens", json{{"namespace", ns}}.dump(),
                        {{"Content-Type", "application/json"}});
      if (r.status != 201) throw std::runtime_error("token: " + r.body);
      return json::parse(r.body)["token"].get<std::string>();
    };
    aliceToken = issue("alice");
    bobToken = issue("bob");
    auto r = admin.request("POST", "/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances",
                           instanceBody("alice", "inbox").dump(),
                           {{"Content-Type", "application/json"}});
    if (r.status != 201) throw std::runtime_error("instance: " + r.body);
  }

  std::string url() const { return mcpd->url(); }

  client::Response request(const std::string& method, const std::string& path,
                           const std::string& token,
                           std::map<std::string, std::string> headers = {},
                           const std::string& body = "") const {
    auto c = mcpd->connection();
    c.token = token;
    HttpClient http(c);
    return http.request(method, path, body, headers, std::chrono::seconds(10));
  }

  // A raw MCP POST (initialize, id 7).
  client::Response post(const std::string& path, const std::string& token,
                        std::map<std::string, std::string> headers = {},
                        const std::string& body = kInitialize) const {
    headers.emplace("Content-Type", "application/json");
    headers.emplace("Accept", "application/json, text/event-stream");
    return request("POST", path, token, headers, body);
  }
};

// A JSON-RPC error body answering request `id`, or what is wrong with it.
::testing::AssertionResult isJsonRpcError(const client::Response& r, const json& id = 7) {
  json b = json::parse(r.body, nullptr, false);
  if (!b.is_object() || b.size() != 3 || b.value("jsonrpc", "") != "2.0" || b["id"] != id ||
      !b["error"].is_object() || !b["error"]["code"].is_number_integer() ||
      !b["error"]["message"].is_string() || b["error"]["message"].get<std::string>().empty()) {
    return ::testing::AssertionFailure() << "HTTP " << r.status << " body " << r.body;
  }
  if (r.headers.count("content-type") == 0 ||
      r.headers.at("content-type").rfind("application/json", 0) != 0) {
    return ::testing::AssertionFailure() << "content-type " << r.headers.count("content-type");
  }
  return ::testing::AssertionSuccess();
}

std::string port(const std::string& url) { return url.substr(url.rfind(':') + 1); }

class WithIssuer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { env_ = new Mcpd({"--oidc-issuer", kIssuer}); }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  static Mcpd* env_;
};
Mcpd* WithIssuer::env_ = nullptr;

class WithoutIssuer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { env_ = new Mcpd({}); }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  static Mcpd* env_;
};
Mcpd* WithoutIssuer::env_ = nullptr;

TEST_F(WithIssuer, AWrongTokenIs401InvalidTokenNamingTheMetadata) {
  const std::string metadata =
      env_->url() + "/.well-known/oauth-protected-resource/mcp/alice/inbox";
  auto r = env_->post("/mcp/alice/inbox", "wrong");
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(isJsonRpcError(r));
  EXPECT_EQ(
      r.headers["www-authenticate"],
      R"(Bearer realm="minimcp", error="invalid_token", error_description="invalid bearer token", resource_metadata=")" +
          metadata + "\"");
  // The same for an instance that does not exist: a 401 tells nothing about what exists.
  auto absent = env_->post("/mcp/alice/nothing", "wrong");
  EXPECT_EQ(absent.status, 401);
  EXPECT_EQ(absent.body, r.body);
}

TEST_F(WithIssuer, NoTokenIs401WithoutAnErrorCodeButWithTheMetadata) {
  auto r = env_->post("/mcp/alice/inbox", "");
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(isJsonRpcError(r));
  EXPECT_EQ(r.headers["www-authenticate"],
            R"(Bearer realm="minimcp", resource_metadata=")" + env_->url() +
                "/.well-known/oauth-protected-resource/mcp/alice/inbox\"");
}

TEST_F(WithIssuer, ProtectedResourceMetadataNamesTheIssuerForAnyPossibleName) {
  auto r = env_->request("GET", "/.well-known/oauth-protected-resource/mcp/alice/inbox", "");
  ASSERT_EQ(r.status, 200) << r.body;
  json m = json::parse(r.body);
  EXPECT_EQ(m["resource"], env_->url() + "/mcp/alice/inbox");
  EXPECT_EQ(m["authorization_servers"], json::array({kIssuer}));
  EXPECT_EQ(m["bearer_methods_supported"], json::array({"header"}));
  EXPECT_EQ(r.headers["access-control-allow-origin"], "*");
  // An instance that does not exist, a namespace nobody uses: the same document for its own
  // resource, so the metadata enumerates nothing.
  for (const std::string path : {"/mcp/alice/nothing", "/mcp/zz/top-secret"}) {
    auto other = env_->request("GET", "/.well-known/oauth-protected-resource" + path, "");
    ASSERT_EQ(other.status, 200) << path << " " << other.body;
    json expected = m;
    expected["resource"] = env_->url() + path;
    EXPECT_EQ(json::parse(other.body), expected) << path;
  }
  // Only an instance endpoint has metadata; nothing here is an authorization server.
  for (const char* path :
       {"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp/alice",
        "/.well-known/oauth-protected-resource/mcp/alice/inbox/x",
        "/.well-known/oauth-protected-resource/mcp/Alice/inbox",
        "/.well-known/oauth-protected-resource/apis", "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/mcp/alice/inbox",
        "/.well-known/openid-configuration", "/.well-known/openid-configuration/mcp/alice/inbox",
        "/mcp/alice/inbox/.well-known/openid-configuration"}) {
    auto nf = env_->request("GET", path, "");
    EXPECT_EQ(nf.status, std::string(path).rfind("/mcp/", 0) == 0 ? 401 : 404)
        << path << " " << nf.body;
  }
  auto post = env_->request("POST", "/.well-known/oauth-protected-resource/mcp/alice/inbox", "",
                            {{"Content-Type", "application/json"}}, "{}");
  EXPECT_EQ(post.status, 405) << post.body;
}

TEST_F(WithIssuer, TheResourceComesFromANameMcpdIsServedAtNotFromAnyHost) {
  const std::string p = port(env_->url());
  const std::string path = "/.well-known/oauth-protected-resource/mcp/alice/inbox";
  auto viaLocalhost = env_->request("GET", path, "", {{"Host", "LocalHost:" + p}});
  ASSERT_EQ(viaLocalhost.status, 200) << viaLocalhost.body;
  EXPECT_EQ(json::parse(viaLocalhost.body)["resource"],
            "https://localhost:" + p + "/mcp/alice/inbox");
  for (const std::string& host :
       std::vector<std::string>{"evil.example", "evil.example:" + p, "127.0.0.1:1"}) {
    auto r = env_->request("GET", path, "", {{"Host", host}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["resource"], env_->url() + "/mcp/alice/inbox") << host;
    auto challenge = env_->post("/mcp/alice/inbox", "wrong", {{"Host", host}});
    EXPECT_NE(challenge.headers["www-authenticate"].find("resource_metadata=\"" + env_->url() +
                                                         "/.well-known/"),
              std::string::npos)
        << host << ": " << challenge.headers["www-authenticate"];
  }
}

TEST_F(WithoutIssuer, EveryDiscoveryPathIs404AndNo401NamesMetadata) {
  for (const char* path :
       {"/.well-known/oauth-protected-resource/mcp/alice/inbox",
        "/.well-known/oauth-protected-resource", "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/mcp/alice/inbox",
        "/.well-known/openid-configuration", "/.well-known/openid-configuration/mcp/alice/inbox",
        "/authorize", "/token"}) {
    auto r = env_->request("GET", path, "");
    EXPECT_EQ(r.status, 404) << path << " " << r.body;
  }
  // The registration endpoint clients fall back to: 404, not a 401 that reads as "sign in".
  auto reg = env_->request("POST", "/register", "", {{"Content-Type", "application/json"}},
                           R"({"redirect_uris":["http://127.0.0.1:1/cb"]})");
  EXPECT_EQ(reg.status, 404) << reg.body;
  EXPECT_EQ(reg.body.find("Unauthorized"), std::string::npos) << reg.body;
  auto wrong = env_->post("/mcp/alice/inbox", "wrong");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_TRUE(isJsonRpcError(wrong));
  EXPECT_EQ(
      wrong.headers["www-authenticate"],
      R"(Bearer realm="minimcp", error="invalid_token", error_description="invalid bearer token")");
  auto none = env_->post("/mcp/alice/inbox", "");
  EXPECT_EQ(none.headers["www-authenticate"], R"(Bearer realm="minimcp")");
}

TEST_F(WithoutIssuer, EveryRefusalOnAnMcpPathIsAJsonRpcErrorWithItsStatus) {
  struct Row {
    const char* what;
    int status;
    client::Response r;
    json id = 7;
  };
  std::vector<Row> rows;
  rows.push_back({"no token", 401, env_->post("/mcp/alice/inbox", "")});
  rows.push_back({"wrong token", 401, env_->post("/mcp/alice/inbox", "wrong")});
  rows.push_back(
      {"foreign origin", 403,
       env_->post("/mcp/alice/inbox", env_->aliceToken, {{"Origin", "https://evil.example"}})});
  rows.push_back(
      {"another namespace's instance", 404, env_->post("/mcp/alice/inbox", env_->bobToken)});
  rows.push_back({"no such instance", 404, env_->post("/mcp/alice/nothing", env_->aliceToken)});
  rows.push_back({"no instance name", 404, env_->post("/mcp/alice", env_->aliceToken)});
  rows.push_back({"not ready", 503, env_->post("/mcp/alice/inbox", env_->aliceToken)});
  // Refused by the API server before the gateway runs: a path that reads two ways (the body
  // is read, so the id is answered) and a body over its limit (never read: id null).
  rows.push_back({"dot segment", 400, env_->post("/mcp/alice/x/../inbox", env_->aliceToken)});
  rows.push_back({"body over the server's limit", 413,
                  env_->post("/mcp/alice/inbox", env_->aliceToken, {}, std::string(2 << 20, ' ')),
                  nullptr});
  // A notification or a batch has no single id to answer.
  rows.push_back({"batch", 401,
                  env_->post("/mcp/alice/inbox", "", {}, std::string("[") + kInitialize + "]"),
                  nullptr});
  for (const auto& row : rows) {
    SCOPED_TRACE(row.what);
    EXPECT_EQ(row.r.status, row.status) << row.r.body;
    EXPECT_TRUE(isJsonRpcError(row.r, row.id));
    EXPECT_EQ(row.r.body.find("\"kind\""), std::string::npos) << row.r.body;
  }
  // The 503 still says when to come back.
  EXPECT_FALSE(rows[6].r.headers["retry-after"].empty());
  // Another namespace's instance and a missing one: the same answer but for the name.
  std::string foreign = rows[3].r.body, absent = rows[4].r.body;
  ASSERT_NE(absent.find("alice/nothing"), std::string::npos) << absent;
  absent.replace(absent.find("alice/nothing"), 13, "alice/inbox");
  EXPECT_EQ(foreign, absent);
  auto headers = [](client::Response r) {
    r.headers.erase("date");
    r.headers.erase("content-length");
    return r.headers;
  };
  EXPECT_EQ(headers(rows[3].r), headers(rows[4].r));
}

}  // namespace
}  // namespace minimcp
