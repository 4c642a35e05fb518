// The gateway's protected-resource pieces that need no server: which base URLs an instance's
// resource identifier may start with, the Bearer challenge, the id a refusal answers.
#include "api/gateway/oauth_resource.h"

#include <gtest/gtest.h>

namespace minimcp::gateway {
namespace {

using Bases = std::vector<std::string>;

TEST(ServedBaseUrls, LoopbackNamesTheCertificateCoversAndTheAdvertisedUrlFirst) {
  EXPECT_EQ(servedBaseUrls("https://127.0.0.1:7443", ""),
            (Bases{"https://127.0.0.1:7443", "https://[::1]:7443", "https://localhost:7443"}));
  EXPECT_EQ(servedBaseUrls("https://[::1]:7443", ""),
            (Bases{"https://[::1]:7443", "https://127.0.0.1:7443", "https://localhost:7443"}));
  EXPECT_EQ(servedBaseUrls("https://10.0.0.5:7443", "https://mcp.example.com:7443/"),
            (Bases{"https://mcp.example.com:7443", "https://10.0.0.5:7443"}));
  EXPECT_EQ(servedBaseUrls("https://127.0.0.1:7443", "https://LOCALHOST:7443"),
            (Bases{"https://LOCALHOST:7443", "https://127.0.0.1:7443", "https://[::1]:7443"}));
  EXPECT_EQ(servedBaseUrls("http://[fd00::1]:80", ""), (Bases{"http://[fd00::1]:80"}));
}

TEST(ResourceUrls, TheHostChoosesOnlyAmongTheServedBases) {
  ResourceUrls urls({"https://mcp.example.com", "https://127.0.0.1:7443"});
  EXPECT_EQ(urls.base("127.0.0.1:7443"), "https://127.0.0.1:7443");
  EXPECT_EQ(urls.base("MCP.example.COM"), "https://mcp.example.com");
  for (const char* host :
       {"", "evil.example", "127.0.0.1", "127.0.0.1:7444", "mcp.example.com:443"}) {
    EXPECT_EQ(urls.base(host), "https://mcp.example.com") << host;
  }
  EXPECT_EQ(ResourceUrls().base("x"), "");
  EXPECT_EQ(ResourceUrls::resource("https://h:1", "alice", "inbox"), "https://h:1/mcp/alice/inbox");
  EXPECT_EQ(ResourceUrls::metadataUrl("https://h:1", "alice", "inbox"),
            "https://h:1/.well-known/oauth-protected-resource/mcp/alice/inbox");
}

TEST(BearerChallenge, ErrorOnlyForAGivenTokenAndValuesQuoted) {
  EXPECT_EQ(bearerChallenge("", "ignored without an error", ""), R"(Bearer realm="minimcp")");
  EXPECT_EQ(
      bearerChallenge("invalid_token", "bad \"x\"\\\n", "https://h/m"),
      R"(Bearer realm="minimcp", error="invalid_token", error_description="bad \"x\"\\ ", resource_metadata="https://h/m")");
}

TEST(JsonRpcRefusal, AnswersTheRequestsIdAndKeepsTheStatus) {
  struct Row {
    std::string body;
    nlohmann::json id;
  } rows[] = {{R"({"jsonrpc":"2.0","id":3,"method":"x"})", 3},
              {R"({"jsonrpc":"2.0","id":"a","method":"x"})", "a"},
              {R"({"jsonrpc":"2.0","method":"notifications/x"})", nullptr},
              {R"({"jsonrpc":"2.0","id":{"no":1},"method":"x"})", nullptr},
              {R"([{"jsonrpc":"2.0","id":1,"method":"x"}])", nullptr},
              {R"({"id":1, broken)", nullptr},
              {"", nullptr}};
  for (const auto& row : rows) {
    server::Request req;
    req.body = row.body;
    auto r = jsonRpcRefusal(req, ApiError::Forbidden("no"));
    EXPECT_EQ(r.status, 403);
    auto b = nlohmann::json::parse(r.body);
    EXPECT_EQ(b, (nlohmann::json{{"jsonrpc", "2.0"},
                                 {"id", row.id},
                                 {"error", {{"code", -32000}, {"message", "no"}}}}))
        << row.body;
  }
  server::Request req;
  req.body = R"({"jsonrpc":"2.0","id":3,"method":"x"})";
  EXPECT_EQ(
      nlohmann::json::parse(jsonRpcRefusal(req, ApiError::BadRequest("p")).body)["error"]["code"],
      -32600);
  EXPECT_EQ(
      nlohmann::json::parse(jsonRpcRefusal(req, ApiError::Internal("p")).body)["error"]["code"],
      -32603);
  req.body += std::string(2 << 20, ' ');
  EXPECT_TRUE(
      nlohmann::json::parse(jsonRpcRefusal(req, ApiError::Forbidden("p")).body)["id"].is_null());
}

}  // namespace
}  // namespace minimcp::gateway
