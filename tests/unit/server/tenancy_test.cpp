// Per-namespace limits (quota and maximum TTL, enforced by admission on MCPInstance writes)
// and the admin's token management, against a real SQLite store and the real kinds.
#include <gtest/gtest.h>

#include "api/server/limits.h"
#include "api/server/rest_handler.h"
#include "api/server/token_api.h"
#include "tests/unit/server/fake_kinds.h"

namespace minimcp::server {
namespace {

using nlohmann::json;
using testing::TempDir;

constexpr const char* kAlice = "/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances";
const Identity kAdmin{};
const Identity kAliceToken{Identity::Role::Namespace, "alice", "alice-1"};

Request makeRequest(const std::string& method, const std::string& target,
                    const std::string& body = "", std::map<std::string, std::string> headers = {}) {
  Request r;
  r.method = method;
  r.target = target;
  parseTarget(target, r.path, r.query);
  r.headers.assign(headers.begin(), headers.end());
  r.body = body;
  return r;
}

json parse(const Response& r) { return json::parse(r.body); }

json instance(const std::string& name, json spec) {
  spec["type"] = "echo";
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "MCPInstance"},
          {"metadata", {{"name", name}, {"namespace", "alice"}}},
          {"spec", spec}};
}

TEST(FormatDuration, ShortestSpellingThatParsesBack) {
  using std::chrono::milliseconds;
  EXPECT_EQ(formatDuration(std::chrono::hours(48)), "48h");
  EXPECT_EQ(formatDuration(std::chrono::minutes(90)), "1h30m");
  EXPECT_EQ(formatDuration(milliseconds(1500)), "1s500ms");
  EXPECT_EQ(formatDuration(milliseconds(0)), "0s");
  for (auto d : {milliseconds(1), milliseconds(3723004), milliseconds(86400000)}) {
    EXPECT_EQ(parseDuration(formatDuration(d)), d);
  }
}

class LimitsTest : public ::testing::Test {
 protected:
  LimitsTest() {
    store_ = store::openStore("sqlite:" + dir_.path() + "/test.db", 100);
    NamespaceLimits defaults;
    defaults.maxInstances = 3;
    defaults.maxTTL = std::chrono::hours(24);
    limits_ = std::make_unique<Limits>(*store_, defaults, clock_);
    rest_ = std::make_unique<RestHandler>(*store_, model::Registry::instance(), clock_);
    rest_->addAdmission("mcpinstances", limits_->instanceAdmission());
  }

  Response call(const std::string& method, const std::string& target, const std::string& body = "",
                const Identity& who = kAdmin, std::string contentType = "application/json") {
    auto r = makeRequest(method, target, body, {{"content-type", contentType}});
    if (r.path.rfind(kLimitsPath, 0) == 0) {
      try {
        return limits_->handle(r, who, Authorizer());
      } catch (const ApiError& e) {
        return Response::json(e.code(), e.toStatus());
      }
    }
    return rest_->handle(r, *parseResourcePath(r.path), who);
  }
  size_t count() { return store_->list("mcpinstances", {.ns = "alice"}).items.size(); }

  TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Limits> limits_;
  std::unique_ptr<RestHandler> rest_;
};

TEST_F(LimitsTest, TheInstanceAfterTheQuotaIsRefusedAndNotStored) {
  for (int i = 0; i < 3; ++i) {
    auto r = call("POST", kAlice, instance("i" + std::to_string(i), {{"ttl", "1h"}}).dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  for (std::string target : {std::string(kAlice), std::string(kAlice) + "?dryRun=All"}) {
    auto r = call("POST", target, instance("i3", {{"ttl", "1h"}}).dump(), kAliceToken);
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(parse(r)["reason"], "Forbidden");
    EXPECT_EQ(parse(r)["message"],
              "exceeded quota: namespace \"alice\" allows at most 3 MCPInstances");
  }
  EXPECT_EQ(count(), 3u);
  // Another namespace has its own count.
  auto bob = instance("b", {{"ttl", "1h"}});
  bob["metadata"]["namespace"] = "bob";
  EXPECT_EQ(
      call("POST", "/apis/minimcp.io/v1alpha1/namespaces/bob/mcpinstances", bob.dump()).status,
      201);
  // Updates of existing instances are not creates.
  auto upd = call("PATCH", std::string(kAlice) + "/i0", R"({"spec":{"suspend":true}})", kAdmin,
                  "application/merge-patch+json");
  EXPECT_EQ(upd.status, 200) << upd.body;
}

TEST_F(LimitsTest, ATtlBeyondTheMaximumIsRefusedOnCreateAndUpdate) {
  auto r = call("POST", kAlice, instance("long", {{"ttl", "48h"}}).dump());
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(parse(r)["message"], "spec.ttl 48h exceeds the maximum TTL 24h of namespace \"alice\"");
  EXPECT_EQ(count(), 0u);
  auto at = formatRfc3339(clock_.now() + std::chrono::hours(30));
  auto r2 = call("POST", kAlice, instance("late", {{"expiresAt", at}}).dump());
  EXPECT_EQ(r2.status, 403);
  EXPECT_NE(parse(r2)["message"].get<std::string>().find("maximum TTL 24h"), std::string::npos);
  ASSERT_EQ(call("POST", kAlice, instance("ok", {{"ttl", "24h"}}).dump()).status, 201);
  auto ext = call("PATCH", std::string(kAlice) + "/ok", R"({"spec":{"ttl":"25h"}})", kAdmin,
                  "application/merge-patch+json");
  EXPECT_EQ(ext.status, 403);
  EXPECT_EQ((*store_->get("mcpinstances", "alice", "ok"))["spec"]["ttl"], "24h");
  // No TTL at all gets the maximum, so the limit cannot be sidestepped.
  auto none = call("POST", kAlice, instance("none", json::object()).dump());
  ASSERT_EQ(none.status, 201) << none.body;
  EXPECT_EQ(parse(none)["spec"]["ttl"], "24h");
}

TEST_F(LimitsTest, TheAdminOverridesLimitsPerNamespace) {
  auto get = call("GET", std::string(kLimitsPath) + "/alice");
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(parse(get)["maxInstances"], 3);
  EXPECT_EQ(parse(get)["maxTTL"], "24h");
  auto put =
      call("PUT", std::string(kLimitsPath) + "/alice", R"({"maxInstances":1,"maxTTL":"48h"})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(parse(put)["maxInstances"], 1);
  EXPECT_EQ(parse(put)["maxTTL"], "48h");
  EXPECT_EQ(call("POST", kAlice, instance("a", {{"ttl", "48h"}}).dump()).status, 201);
  EXPECT_EQ(call("POST", kAlice, instance("b", {{"ttl", "1h"}}).dump()).status, 403);
  // A namespace token reads its own limits only and never writes them.
  EXPECT_EQ(call("GET", std::string(kLimitsPath) + "/alice", "", kAliceToken).status, 200);
  EXPECT_EQ(call("GET", std::string(kLimitsPath) + "/bob", "", kAliceToken).status, 403);
  EXPECT_EQ(
      call("PUT", std::string(kLimitsPath) + "/alice", R"({"maxInstances":9})", kAliceToken).status,
      403);
  auto bad = call("PUT", std::string(kLimitsPath) + "/alice",
                  R"({"maxInstances":-1,"maxTTL":"soon","x":1})");
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(parse(bad)["details"]["causes"].size(), 3u);
  EXPECT_EQ(parse(call("GET", std::string(kLimitsPath) + "/alice"))["maxInstances"], 1);
  auto del = call("DELETE", std::string(kLimitsPath) + "/alice");
  EXPECT_EQ(parse(del)["maxInstances"], 3);
  auto unlimited = call("PUT", std::string(kLimitsPath) + "/alice", R"({"maxTTL":"0"})");
  EXPECT_EQ(parse(unlimited)["maxTTL"], "0s");
  EXPECT_EQ(call("POST", kAlice, instance("c", {{"ttl", "1000h"}}).dump()).status, 201);
}

class TokenApiTest : public ::testing::Test {
 protected:
  TokenApiTest() {
    store_ = store::openStore("sqlite:" + dir_.path() + "/test.db", 100);
    auth_ = std::make_unique<StoreTokenAuthenticator>(*store_);
    adminToken_ = auth_->issueToken("admin", Identity{});
  }
  Response call(const std::string& method, const std::string& path, const std::string& body = "",
                const Identity& who = kAdmin) {
    try {
      return handleTokens(makeRequest(method, path, body), who, Authorizer(), *auth_);
    } catch (const ApiError& e) {
      return Response::json(e.code(), e.toStatus());
    }
  }

  TempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<StoreTokenAuthenticator> auth_;
  std::string adminToken_;
};

TEST_F(TokenApiTest, CreateListRevoke) {
  auto created = call("POST", kTokensPath, R"({"namespace":"alice"})");
  ASSERT_EQ(created.status, 201) << created.body;
  json t = parse(created);
  EXPECT_EQ(t["kind"], "Token");
  EXPECT_EQ(t["namespace"], "alice");
  EXPECT_EQ(t["name"].get<std::string>().rfind("alice-", 0), 0u);
  auto who = auth_->authenticate(t["token"]);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->ns, "alice");
  EXPECT_FALSE(who->isAdmin());
  // Stored only as a hash.
  auto record = store_->get(kTokensResource, "", t["name"]);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->dump().find(t["token"].get<std::string>()), std::string::npos);

  auto list = parse(call("GET", kTokensPath));
  EXPECT_EQ(list["kind"], "TokenList");
  ASSERT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(list["items"][0]["name"], "admin");
  EXPECT_EQ(list["items"][0]["admin"], true);
  EXPECT_EQ(list.dump().find("sha256"), std::string::npos);

  EXPECT_EQ(call("DELETE", std::string(kTokensPath) + "/" + t["name"].get<std::string>()).status,
            200);
  EXPECT_FALSE(auth_->authenticate(t["token"]));
  EXPECT_EQ(call("DELETE", std::string(kTokensPath) + "/nope").status, 404);
}

TEST_F(TokenApiTest, NamedAdminTokensAndTheLastAdminIsKept) {
  EXPECT_EQ(call("DELETE", std::string(kTokensPath) + "/admin").status, 409);
  auto second = call("POST", kTokensPath, R"({"admin":true,"name":"ops"})");
  ASSERT_EQ(second.status, 201) << second.body;
  EXPECT_EQ(parse(second)["admin"], true);
  EXPECT_EQ(call("POST", kTokensPath, R"({"admin":true,"name":"ops"})").status, 409);
  EXPECT_EQ(call("DELETE", std::string(kTokensPath) + "/admin").status, 200);
  EXPECT_FALSE(auth_->authenticate(adminToken_));
  EXPECT_EQ(call("DELETE", std::string(kTokensPath) + "/ops").status, 409);
}

TEST_F(TokenApiTest, BadBodiesAndNonAdminsAreRefused) {
  EXPECT_EQ(call("POST", kTokensPath, R"({})").status, 422);
  EXPECT_EQ(call("POST", kTokensPath, R"({"namespace":"Not_A_Label"})").status, 422);
  EXPECT_EQ(call("POST", kTokensPath, R"({"namespace":"a","admin":true})").status, 422);
  EXPECT_EQ(call("POST", kTokensPath, R"({"namespace":"alice"})", kAliceToken).status, 403);
  EXPECT_EQ(call("GET", kTokensPath, "", kAliceToken).status, 403);
  EXPECT_EQ(call("DELETE", std::string(kTokensPath) + "/admin", "", kAliceToken).status, 403);
  EXPECT_EQ(parse(call("GET", kTokensPath))["items"].size(), 1u);
}

}  // namespace
}  // namespace minimcp::server
