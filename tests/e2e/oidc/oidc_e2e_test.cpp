// Issue 12's "OIDC end to end": the real `oidc-provider` (npm) on loopback HTTPS as the
// company's identity provider, mcpd trusting it (--oidc-issuer, --oidc-ca-file for the test CA,
// --oidc-audience for the API), one echo instance in namespace alice.
// - An SDK v2 client with its OAuth provider discovers the authorization server from the
//   gateway's 401 and protected resource metadata, signs in with PKCE and a resource indicator
//   (the provider's sign-in and consent followed as a browser would), and calls the echo tool
//   with the audience-bound token it got.
// - Tokens the provider signs with the same key but for another audience, from another issuer,
//   expired, not yet valid or for another namespace are refused; mcpd's own tokens still work.
// - The API accepts a token only for the configured audience, as a tenant of its namespaces.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "api/server/tls.h"
#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

constexpr const char* kScripts = MINIMCP_SOURCE_DIR "/tests/e2e/oidc";
constexpr const char* kApiAudience = "minimcp-api";

// tests/e2e/oidc/idp.mjs: the provider, on a certificate of its own test CA.
class IdentityProvider {
 public:
  explicit IdentityProvider(const std::string& dir)
      : out_(dir + "/idp.out"), err_(dir + "/idp.err") {
    auto tls = server::ensureTlsFiles(dir + "/idp", {"127.0.0.1"});
    caFile_ = dir + "/idp/tls/ca.crt";
    int out = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_ = testing::spawnProcess(
        {nodeBinary(), std::string(kScripts) + "/idp.mjs", tls.certFile, tls.keyFile}, -1, out,
        err);
    close(out);
    close(err);
    bool up = pollUntil(
        [&] {
          std::string text = testing::readFileOr(out_);
          auto nl = text.find('\n');
          if (nl == std::string::npos) return !processRunning(pid_);
          json line = json::parse(text.substr(0, nl), nullptr, false);
          if (line.is_object()) issuer_ = line.value("issuer", "");
          return true;
        },
        30s);
    if (!up || issuer_.empty()) {
      throw std::runtime_error("the identity provider did not start: " + testing::readFileOr(err_));
    }
  }
  ~IdentityProvider() {
    if (pid_ > 0) testing::terminatePid(pid_, 5s);
  }
  IdentityProvider(const IdentityProvider&) = delete;
  IdentityProvider& operator=(const IdentityProvider&) = delete;

  const std::string& issuer() const { return issuer_; }
  const std::string& caFile() const { return caFile_; }

  // A JWT with `claims`, signed with the provider's access-token key.
  std::string sign(const json& claims) const {
    client::ConnectionConfig cfg;
    cfg.server = issuer_;
    cfg.caPem = testing::readFileOr(caFile_);
    client::HttpClient http(cfg);
    auto r = http.request("POST", "/test/sign", claims.dump(),
                          {{"Content-Type", "application/json"}}, 10s);
    if (r.status != 200) throw std::runtime_error("sign: HTTP " + std::to_string(r.status));
    return r.body;
  }

 private:
  std::string out_, err_, caFile_, issuer_;
  pid_t pid_ = -1;
};

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class OidcE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("minimcp-oidc");
    idp_ = new IdentityProvider(dir_->path());
    cluster_ = new Cluster({"--oidc-issuer", idp_->issuer(), "--oidc-ca-file", idp_->caFile(),
                            "--oidc-audience", kApiAudience});
    auto r = cluster_->mcpd().mcpctl(
        {"apply", "-f", "-"},
        "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: echo\n"
        "  namespace: alice\nspec:\n  type: echo\n  ttl: 1h\n");
    ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
    json mi;
    ASSERT_TRUE(pollUntil(
        [&] {
          mi = cluster_->instance("echo", "alice");
          return !mi.is_null() && isReady(mi);
        },
        60s))
        << mi.dump(2) << cluster_->mcpd().log();
    // Node trusts mcpd's CA and the provider's.
    cas_ = dir_->path() + "/cas.pem";
    std::ofstream(cas_) << testing::readFileOr(cluster_->caFile())
                        << testing::readFileOr(idp_->caFile());
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete idp_;
    delete dir_;
  }

  static std::string resource() { return cluster_->mcpd().url() + "/mcp/alice/echo"; }

  static json claims() {
    return {{"iss", idp_->issuer()},     {"sub", "alice"},
            {"aud", resource()},         {"iat", nowSeconds()},
            {"exp", nowSeconds() + 300}, {"groups", {"minimcp:alice", "staff"}}};
  }

  // An MCP initialize through the gateway with `token`.
  static client::Response callGateway(const std::string& token) {
    client::ConnectionConfig cfg;
    cfg.server = cluster_->mcpd().url();
    cfg.caPem = testing::readFileOr(cluster_->caFile());
    cfg.token = token;
    client::HttpClient http(cfg);
    json init = {{"jsonrpc", "2.0"},
                 {"id", 1},
                 {"method", "initialize"},
                 {"params",
                  {{"protocolVersion", "2025-11-25"},
                   {"capabilities", json::object()},
                   {"clientInfo", {{"name", "e2e-oidc"}, {"version", "0"}}}}}};
    return http.request(
        "POST", "/mcp/alice/echo", init.dump(),
        {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}},
        20s);
  }

  static testing::TempDir* dir_;
  static IdentityProvider* idp_;
  static Cluster* cluster_;
  static std::string cas_;
};

testing::TempDir* OidcE2E::dir_ = nullptr;
IdentityProvider* OidcE2E::idp_ = nullptr;
Cluster* OidcE2E::cluster_ = nullptr;
std::string OidcE2E::cas_;

TEST_F(OidcE2E, ClientDiscoversSignsInWithPkceAndCallsATool) {
  auto r = testing::runCommand({nodeBinary(), std::string(kScripts) + "/signin_call.mjs",
                                resource(), "echo", R"({"text":"hello through OIDC"})"},
                               "", 60s, {"NODE_EXTRA_CA_CERTS=" + cas_});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err << cluster_->mcpd().log();
  json out = json::parse(r.out);
  EXPECT_FALSE(out.value("isError", true)) << r.out;
  EXPECT_NE(out.value("text", "").find("hello through OIDC"), std::string::npos) << r.out;
  const json& c = out["claims"];
  EXPECT_EQ(c.value("iss", ""), idp_->issuer());
  EXPECT_EQ(c.value("aud", json()), json(resource())) << "audience-bound (RFC 8707)";
  EXPECT_EQ(c.value("groups", json()), json({"minimcp:alice", "staff"}));
}

TEST_F(OidcE2E, GatewayRefusesTokensNotForThisInstance) {
  ASSERT_EQ(callGateway(idp_->sign(claims())).status, 200) << "the control token works";
  json viaApiAudience = claims();
  viaApiAudience["aud"] = {"someone-else", kApiAudience};
  EXPECT_EQ(callGateway(idp_->sign(viaApiAudience)).status, 200);

  struct Case {
    const char* name;
    std::function<void(json&)> change;
    int status;
  };
  const std::vector<Case> cases = {
      {"another audience", [](json& c) { c["aud"] = cluster_->mcpd().url() + "/mcp/alice/other"; },
       401},
      {"the audience under another host",
       [](json& c) { c["aud"] = "https://evil.example.com/mcp/alice/echo"; }, 401},
      {"another issuer", [](json& c) { c["iss"] = "https://127.0.0.1:1"; }, 401},
      {"expired", [](json& c) { c["exp"] = nowSeconds() - 120; }, 401},
      {"not yet valid", [](json& c) { c["nbf"] = nowSeconds() + 600; }, 401},
      {"another namespace", [](json& c) { c["groups"] = {"minimcp:bob"}; }, 404},
      {"no namespace", [](json& c) { c["groups"] = {"staff"}; }, 401},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    json c = claims();
    tc.change(c);
    auto r = callGateway(idp_->sign(c));
    EXPECT_EQ(r.status, tc.status) << r.body;
    json body = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(body.is_object() && body.value("jsonrpc", "") == "2.0" && body.contains("error"))
        << "a JSON-RPC error body: " << r.body;
    if (tc.status == 401) {
      EXPECT_NE(r.headers["www-authenticate"].find("error=\"invalid_token\""), std::string::npos)
          << r.headers["www-authenticate"];
    }
    EXPECT_EQ(r.body.find("bob"), std::string::npos) << r.body;
  }
  // A token that is not a JWT at all, and mcpd's own admin token beside OIDC.
  EXPECT_EQ(callGateway("not.a.jwt").status, 401);
  EXPECT_EQ(callGateway(cluster_->adminToken()).status, 200);
}

TEST_F(OidcE2E, ApiAcceptsOnlyTheConfiguredAudienceAsATenant) {
  auto get = [](const std::string& token, const std::string& path) {
    client::ConnectionConfig cfg;
    cfg.server = cluster_->mcpd().url();
    cfg.caPem = testing::readFileOr(cluster_->caFile());
    cfg.token = token;
    client::HttpClient http(cfg);
    return http.request("GET", path, "", {}, 10s);
  };
  std::string alice = std::string(kApi) + "/namespaces/alice/mcpinstances";
  json api = claims();
  api["aud"] = kApiAudience;
  std::string token = idp_->sign(api);
  auto r = get(token, alice);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"echo\""), std::string::npos);
  EXPECT_EQ(get(token, std::string(kApi) + "/namespaces/bob/mcpinstances").status, 403);
  EXPECT_EQ(get(token, std::string(kApi) + "/mcpinstances").status, 403);
  EXPECT_EQ(get(token, std::string(kApi) + "/tokens").status, 403) << "never admin";
  EXPECT_EQ(get(idp_->sign(claims()), alice).status, 401)
      << "a token bound to an instance does not open the API";
}

}  // namespace
}  // namespace minimcp::e2e
