// POST .../mcpinstances/{name}/oauth2token against a real mcpd: an instance reports the refresh
// token its OAuth 2.0 provider rotated, and mcpd re-seals it into the APIKey of its keyRef. Only
// the instance's own token may (a namespace token, the admin's, another instance's: 403), the
// `previous` hash is a compare-and-swap (409, nothing stored), a bad body is 422 naming the
// field, no answer or event carries a token, and the sealed value read from the store decrypts
// to the new token with nothing else changed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/client/http_client.h"
#include "api/crypto/aead.h"
#include "api/crypto/master_key.h"
#include "api/model/apikey.h"
#include "api/store/store.h"
#include "api/util/random.h"
#include "tests/e2e/cli/mcpd_process.h"

namespace minimcp {
namespace {

using client::HttpClient;
using client::Response;
using nlohmann::json;
using testing::McpdProcess;

constexpr const char* kApi = "/apis/minimcp.io/v1alpha1";
constexpr const char* kRefresh = "1//initial-refresh-token-0123456789";
constexpr const char* kSecret = "client-secret-0123456789";

std::string nsPath(const std::string& ns, const std::string& plural) {
  return std::string(kApi) + "/namespaces/" + ns + "/" + plural;
}
std::string reportPath(const std::string& ns, const std::string& name) {
  return nsPath(ns, "mcpinstances") + "/" + name + "/oauth2token";
}
json report(const std::string& token, const std::string& previous) {
  return {{"refreshToken", token}, {"previous", sha256Hex(previous)}};
}

class OAuth2TokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    McpdProcess::Options o;
    o.extraArgs = {"--disable-reconciler"};
    mcpd_ = new McpdProcess(o);
    admin_ = new HttpClient(mcpd_->connection());
    aliceToken_ = new std::string(issue(R"({"namespace":"alice"})")["token"]);
    for (const auto& [ns, plural, body] : {
             std::tuple{"alice", "apikeys", apiKey("alice", "gmail-key")},
             std::tuple{"alice", "apikeys", apiKey("alice", "other-key")},
             std::tuple{"alice", "mcpinstances", instance("alice", "inbox", "gmail-key")},
             std::tuple{"alice", "mcpinstances", instance("alice", "outbox", "other-key")},
             std::tuple{"bob", "apikeys", apiKey("bob", "gmail-key")},
             std::tuple{"bob", "mcpinstances", instance("bob", "inbox", "gmail-key")},
         }) {
      auto r = admin_->request("POST", nsPath(ns, plural), body.dump(),
                               {{"Content-Type", "application/json"}});
      if (r.status != 201) throw std::runtime_error("set-up: " + r.body);
    }
  }
  static void TearDownTestSuite() {
    delete admin_;
    delete aliceToken_;
    delete mcpd_;
  }

  static json apiKey(const std::string& ns, const std::string& name) {
    return {{"apiVersion", "minimcp.io/v1alpha1"},
            {"kind", "APIKey"},
            {"metadata", {{"name", name}, {"namespace", ns}}},
            {"spec",
             {{"type", "gmail"},
              {"rotationPeriod", "2160h"},
              {"oauth2",
               {{"tokenURL", "https://oauth2.googleapis.com/token"},
                {"clientID", "client-1"},
                {"clientSecret", kSecret},
                {"refreshToken", kRefresh},
                {"scopes", {"https://www.googleapis.com/auth/gmail.readonly"}}}}}}};
  }
  static json instance(const std::string& ns, const std::string& name, const std::string& key) {
    return {{"apiVersion", "minimcp.io/v1alpha1"},
            {"kind", "MCPInstance"},
            {"metadata", {{"name", name}, {"namespace", ns}}},
            {"spec", {{"type", "gmail"}, {"ttl", "2h"}, {"keyRef", {{"name", key}}}}}};
  }
  static json issue(const std::string& body) {
    auto r = admin_->request("POST", std::string(kApi) + "/tokens", body,
                             {{"Content-Type", "application/json"}});
    if (r.status != 201) throw std::runtime_error("cannot issue a token: " + r.body);
    return json::parse(r.body);
  }
  // The instance's own access token, as its process gets it.
  static std::string instanceToken(const std::string& ns, const std::string& name) {
    auto r = admin_->request("GET", nsPath(ns, "mcpinstances") + "/" + name + "/token");
    if (r.status != 200) throw std::runtime_error("instance token: " + r.body);
    return json::parse(r.body)["token"];
  }
  static Response post(const std::string& bearer, const std::string& target, const json& body) {
    auto cfg = mcpd_->connection();
    cfg.token = bearer;
    return HttpClient(cfg).request("POST", target, body.dump(),
                                   {{"Content-Type", "application/json"}});
  }
  // The APIKey as stored (its sealed value included), straight from the store.
  static json stored(const std::string& ns, const std::string& name) {
    auto store = store::openStore("sqlite:" + mcpd_->dataDir() + "/minimcp.db");
    auto obj = store->get(model::kApiKeyPlural, ns, name);
    if (!obj) throw std::runtime_error("no stored APIKey " + ns + "/" + name);
    return *obj;
  }
  // Its sealed credentials, decrypted with the server's master key.
  static json opened(const json& obj) {
    crypto::KeyRing ring(crypto::MasterKey::load(mcpd_->dataDir() + "/master.key"));
    const auto key = model::StoredApiKey::fromJson(obj);
    return json::parse(crypto::open(ring, key.sealedValue,
                                    model::apiKeyAad(key.ns, key.name, key.version)))["oauth2"];
  }

  static McpdProcess* mcpd_;
  static HttpClient* admin_;
  static std::string* aliceToken_;
};

McpdProcess* OAuth2TokenTest::mcpd_ = nullptr;
HttpClient* OAuth2TokenTest::admin_ = nullptr;
std::string* OAuth2TokenTest::aliceToken_ = nullptr;

TEST_F(OAuth2TokenTest, OnlyTheInstancesOwnTokenMayReport) {
  const json before = stored("alice", "gmail-key");
  const json body = report("1//rotated-by-someone-else", kRefresh);
  struct Caller {
    const char* who;
    std::string token;
    int status;
  };
  for (const auto& c : {
           Caller{"the namespace's own token", *aliceToken_, 403},
           Caller{"the admin token", mcpd_->connection().token, 403},
           Caller{"another instance's token, same namespace", instanceToken("alice", "outbox"),
                  403},
           Caller{"another namespace's instance token", instanceToken("bob", "inbox"), 403},
           Caller{"a made-up instance token", "mcpi_" + std::string(43, 'A'), 401},
       }) {
    auto r = post(c.token, reportPath("alice", "inbox"), body);
    EXPECT_EQ(r.status, c.status) << c.who << ": " << r.body;
    EXPECT_EQ(r.body.find("rotated-by-someone-else"), std::string::npos) << c.who;
  }
  EXPECT_EQ(stored("alice", "gmail-key"), before) << "nothing stored";
  // The instance token reaches nothing else of the API.
  auto cfg = mcpd_->connection();
  cfg.token = instanceToken("alice", "inbox");
  EXPECT_EQ(HttpClient(cfg).request("GET", nsPath("alice", "apikeys") + "/gmail-key").status, 403);
  EXPECT_EQ(HttpClient(cfg).request("GET", nsPath("alice", "mcpinstances") + "/inbox").status, 403);
  // A view's verb is not this subresource's, nor this one's a view's.
  EXPECT_EQ(admin_->request("GET", reportPath("alice", "inbox")).status, 405);
}

TEST_F(OAuth2TokenTest, BadBodyIs422NamingTheFieldAndEchoesNothing) {
  const std::string self = instanceToken("bob", "inbox");
  const std::string secret = "1//never-echoed-0123456789";
  struct Case {
    json body;
    const char* field;
  };
  for (const auto& c : {
           Case{{{"previous", sha256Hex(kRefresh)}}, "refreshToken"},
           Case{{{"refreshToken", secret}}, "previous"},
           Case{{{"refreshToken", secret}, {"previous", "abc"}}, "previous"},
           Case{{{"refreshToken", secret + "\n"}, {"previous", sha256Hex(kRefresh)}},
                "refreshToken"},
           Case{{{"refreshToken", 42}, {"previous", sha256Hex(kRefresh)}}, "refreshToken"},
           Case{{{"refreshToken", secret}, {"previous", sha256Hex(kRefresh)}, {"extra", 1}},
                "extra"},
       }) {
    auto r = post(self, reportPath("bob", "inbox"), c.body);
    ASSERT_EQ(r.status, 422) << c.body.dump() << ": " << r.body;
    const json status = json::parse(r.body);
    bool named = false;
    for (const auto& cause : status["details"]["causes"]) named |= cause["field"] == c.field;
    EXPECT_TRUE(named) << c.field << " in " << r.body;
    EXPECT_EQ(r.body.find("never-echoed"), std::string::npos) << r.body;
  }
  auto notJson = post(self, reportPath("bob", "inbox"), json("just a string"));
  EXPECT_EQ(notJson.status, 400) << notJson.body;
  EXPECT_EQ(opened(stored("bob", "gmail-key"))["refreshToken"], kRefresh) << "nothing stored";
}

TEST_F(OAuth2TokenTest, StoresTheRotatedTokenAndRefusesAStalePrevious) {
  const std::string self = instanceToken("alice", "inbox");
  const json before = stored("alice", "gmail-key");
  const std::string rotated = "1//rotated-once-0123456789";

  auto r = post(self, reportPath("alice", "inbox"), report(rotated, kRefresh));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find(rotated), std::string::npos) << "the answer never echoes the token";
  EXPECT_EQ(r.body.find(kRefresh), std::string::npos);
  const json answer = json::parse(r.body);
  EXPECT_EQ(answer["apiKey"], "gmail-key");
  EXPECT_EQ(answer["version"], 2);

  // The sealed value changed and opens to the new token; every other credential is as it was.
  const json after = stored("alice", "gmail-key");
  EXPECT_NE(after["sealed"]["value"], before["sealed"]["value"]);
  json want = opened(before);
  want["refreshToken"] = rotated;
  EXPECT_EQ(opened(after), want);
  const json inbox =
      json::parse(admin_->request("GET", nsPath("alice", "mcpinstances") + "/inbox").body);
  EXPECT_EQ(after["sealed"]["reportedBy"]["uid"], inbox["metadata"]["uid"]);
  EXPECT_EQ(after["sealed"]["reportedBy"]["fromVersion"], 1);
  EXPECT_EQ(after["spec"], before["spec"]);
  EXPECT_EQ(after["metadata"]["generation"], before["metadata"]["generation"]);
  EXPECT_EQ(after["status"]["version"], 2);
  EXPECT_EQ(after["status"]["hint"], "…6789");
  EXPECT_EQ(after["status"]["rotatedAt"], before["status"]["rotatedAt"])
      << "the user's rotation clock does not move";
  EXPECT_EQ(after["status"]["oauth2"], before["status"]["oauth2"]);
  // Its writer is named.
  bool managed = false;
  for (const auto& m : after["metadata"]["managedFields"]) {
    managed |= m["manager"] == "mcpd-oauth2token";
  }
  EXPECT_TRUE(managed) << after["metadata"]["managedFields"].dump();

  // The same report again (an answer lost on the way): 200, nothing written.
  auto again = post(self, reportPath("alice", "inbox"), report(rotated, kRefresh));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["unchanged"], true);
  EXPECT_EQ(stored("alice", "gmail-key")["metadata"]["resourceVersion"],
            after["metadata"]["resourceVersion"]);

  // `previous` names a token that is no longer stored: 409, nothing stored.
  const json settled = stored("alice", "gmail-key");
  auto stale = post(self, reportPath("alice", "inbox"), report("1//rotated-late-0123", kRefresh));
  EXPECT_EQ(stale.status, 409) << stale.body;
  EXPECT_EQ(stale.body.find("rotated-late"), std::string::npos);
  EXPECT_EQ(stored("alice", "gmail-key"), settled);
  EXPECT_EQ(opened(stored("alice", "gmail-key"))["refreshToken"], rotated);

  // The next rotation chains on the stored one.
  auto next = post(self, reportPath("alice", "inbox"), report("1//rotated-twice-0123", rotated));
  ASSERT_EQ(next.status, 200) << next.body;
  EXPECT_EQ(json::parse(next.body)["version"], 3);

  // Recorded as an event on the APIKey, without a token; and nowhere in mcpd's log.
  auto events = admin_->request("GET", nsPath("alice", "events"));
  ASSERT_EQ(events.status, 200);
  int rotations = 0;
  const json listed = json::parse(events.body);
  for (const auto& e : listed["items"]) {
    if (e["reason"] != "RefreshTokenRotated") continue;
    ++rotations;
    EXPECT_EQ(e["involvedObject"]["kind"], "APIKey");
    EXPECT_EQ(e["involvedObject"]["name"], "gmail-key");
    EXPECT_NE(e["message"].get<std::string>().find("inbox"), std::string::npos);
  }
  EXPECT_EQ(rotations, 2) << events.body;
  for (const std::string& secret : {std::string(kRefresh), rotated, std::string(kSecret),
                                    std::string("1//rotated-twice-0123")}) {
    EXPECT_EQ(events.body.find(secret), std::string::npos);
    EXPECT_EQ(mcpd_->log().find(secret), std::string::npos);
  }
}

}  // namespace
}  // namespace minimcp
