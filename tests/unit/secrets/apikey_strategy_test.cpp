// The APIKey strategy: values sealed on write and never stored or served in clear.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "api/crypto/aead.h"
#include "api/model/apikey.h"
#include "api/util/api_error.h"
#include "tests/unit/secrets/secrets_fixture.h"

namespace minimcp::secrets::test {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kValue = "sk-live-0123456789abcdef";
constexpr const char* kOtherValue = "sk-live-fedcba9876543210";

class APIKeyStrategyTest : public SecretsTest {};

TEST_F(APIKeyStrategyTest, IsRegisteredUnderEveryName) {
  for (const char* n : {"apikeys", "apikey", "APIKey", "ak"}) {
    ASSERT_EQ(model::Registry::instance().find(n), &strategy()) << n;
  }
  const auto& info = strategy().info();
  EXPECT_TRUE(info.namespaced);
  EXPECT_TRUE(info.hasStatus);
  EXPECT_THAT(info.categories, ElementsAre("minimcp"));
  std::vector<std::string> names;
  for (const auto& c : info.columns) names.push_back(c.name);
  EXPECT_THAT(names, ElementsAre("Type", "Hint", "Version", "Rotate-By", "Age"));
}

TEST_F(APIKeyStrategyTest, CreateSealsTheValueAndNeverStoresIt) {
  json stored = create(apiKeyManifest("alice", "gmail-key", "gmail", kValue, "2160h"));

  EXPECT_THAT(stored.dump(), Not(HasSubstr(kValue)));
  EXPECT_FALSE(stored["spec"].contains("value"));
  EXPECT_EQ(stored["status"]["version"], 1);
  EXPECT_EQ(stored["status"]["hint"], crypto::hint(kValue));
  EXPECT_EQ(stored["status"]["hint"], "…cdef");
  EXPECT_EQ(stored["status"]["rotatedAt"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(stored["status"]["rotateBy"], "2026-04-01T00:00:00Z");  // + 90 days
  const json* due = model::findCondition(stored, model::kConditionRotationDue);
  ASSERT_NE(due, nullptr);
  EXPECT_EQ((*due)["status"], "False");
  EXPECT_EQ((*due)["reason"], "WithinRotationPeriod");
  EXPECT_EQ((*due)["observedGeneration"], 1);

  const std::string sealed = stored["sealed"]["value"];
  EXPECT_EQ(sealed.rfind("v1:" + ring_.primary().id() + ":", 0), 0u) << sealed;
  EXPECT_EQ(crypto::open(ring_, sealed, "alice/gmail-key/1"), kValue);
  EXPECT_THROW(crypto::open(ring_, sealed, "alice/gmail-key/2"), crypto::DecryptFailed);
  // Nor in any file the store wrote.
  EXPECT_THAT(storeFileBytes(), Not(HasSubstr(kValue)));
}

TEST_F(APIKeyStrategyTest, TwoSealsOfTheSameValueDiffer) {
  json a = create(apiKeyManifest("alice", "a", "gmail", kValue));
  json b = create(apiKeyManifest("alice", "b", "gmail", kValue));
  EXPECT_NE(a["sealed"]["value"], b["sealed"]["value"]);
  // The digest is bound to the key's name too: equal values are not linkable.
  EXPECT_NE(a["sealed"]["digest"], b["sealed"]["digest"]);
}

TEST_F(APIKeyStrategyTest, SanitizeForReadRemovesEverySecretPart) {
  json obj = apiKeyManifest("alice", "gmail-key", "gmail", kValue);
  obj["metadata"]["annotations"] = {
      {"kubectl.kubernetes.io/last-applied-configuration", obj.dump()}};
  json stored = create(obj);
  // kubectl's copy of the manifest is kept, without the value.
  const std::string applied =
      stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"];
  EXPECT_THAT(applied, Not(HasSubstr(kValue)));
  EXPECT_EQ(json::parse(applied)["spec"]["type"], "gmail");

  json served = stored;
  served["spec"]["value"] = kValue;  // as a dryRun echo before storing would carry it
  strategy().sanitizeForRead(served);
  EXPECT_FALSE(served.contains("sealed"));
  EXPECT_FALSE(served["spec"].contains("value"));
  EXPECT_EQ(served["status"]["hint"], "…cdef");
  EXPECT_THAT(served.dump(), Not(HasSubstr(kValue)));
}

TEST_F(APIKeyStrategyTest, McpctlDigestInLastAppliedIsKeptByteForByte) {
  json obj = apiKeyManifest("alice", "gmail-key", "gmail", kValue);
  json recorded = obj;
  recorded["spec"]["value"] = "sha256:" + std::string(64, 'a');
  const std::string annotation = recorded.dump() + "\n";
  obj["metadata"]["annotations"] = {
      {"kubectl.kubernetes.io/last-applied-configuration", annotation}};
  json stored = create(obj);
  EXPECT_EQ(stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            annotation);
}

TEST_F(APIKeyStrategyTest, UnparsableLastAppliedAnnotationIsDropped) {
  json obj = apiKeyManifest("alice", "gmail-key", "gmail", kValue);
  obj["metadata"]["annotations"] = {
      {"kubectl.kubernetes.io/last-applied-configuration", std::string("{value: ") + kValue},
      {"team", "a"}};
  json stored = create(obj);
  EXPECT_EQ(stored["metadata"]["annotations"], json({{"team", "a"}}));
}

TEST_F(APIKeyStrategyTest, TableShowsTypeHintVersionRotateByAge) {
  json stored = create(apiKeyManifest("alice", "gmail-key", "gmail", kValue, "48h"));
  json cells = strategy().tableCells(stored, clock_.now() + 24h);
  EXPECT_EQ(cells, json::array({"gmail", "…cdef", 1, "1d", "1d"}));
  cells = strategy().tableCells(stored, clock_.now() + 49h);
  EXPECT_EQ(cells[3], "due");
}

TEST_F(APIKeyStrategyTest, NewValueMakesANewVersion) {
  create(apiKeyManifest("alice", "gmail-key", "gmail", kValue, "1h"));
  clock_.advance(10min);
  json stored = update(apiKeyManifest("alice", "gmail-key", "gmail", kOtherValue, "1h"));
  EXPECT_EQ(stored["status"]["version"], 2);
  EXPECT_EQ(stored["status"]["hint"], "…3210");
  EXPECT_EQ(stored["status"]["rotatedAt"], "2026-01-01T00:10:00Z");
  EXPECT_EQ(stored["status"]["rotateBy"], "2026-01-01T01:10:00Z");
  EXPECT_EQ(crypto::open(ring_, stored["sealed"]["value"].get<std::string>(), "alice/gmail-key/2"),
            kOtherValue);
  EXPECT_THAT(stored.dump(), Not(HasSubstr(kOtherValue)));
  EXPECT_THAT(storeFileBytes(), Not(HasSubstr(kOtherValue)));
  EXPECT_THAT(storeFileBytes(), Not(HasSubstr(kValue)));
}

TEST_F(APIKeyStrategyTest, ReapplyingTheSameValueChangesNothing) {
  json first = create(apiKeyManifest("alice", "gmail-key", "gmail", kValue));
  clock_.advance(1h);
  json again = update(apiKeyManifest("alice", "gmail-key", "gmail", kValue));
  EXPECT_EQ(again, first);  // no write at all: the same resourceVersion
}

TEST_F(APIKeyStrategyTest, UpdateWithoutValueKeepsTheSealedValue) {
  json first = create(apiKeyManifest("alice", "gmail-key", "gmail", kValue));
  clock_.advance(1h);
  json stored = update(apiKeyManifest("alice", "gmail-key", "gmail", "", "720h"));
  EXPECT_EQ(stored["sealed"], first["sealed"]);
  EXPECT_EQ(stored["status"]["version"], 1);
  EXPECT_EQ(stored["status"]["rotatedAt"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(stored["status"]["rotateBy"], "2026-01-31T00:00:00Z");
  EXPECT_EQ(stored["metadata"]["generation"], 2);
  EXPECT_EQ((*model::findCondition(stored, model::kConditionRotationDue))["observedGeneration"], 2);
}

TEST_F(APIKeyStrategyTest, ClientsCannotWriteTheSealedFieldOrTheVersion) {
  json a = create(apiKeyManifest("alice", "a", "gmail", kValue));
  json forged = apiKeyManifest("alice", "b", "gmail", kOtherValue);
  forged["sealed"] = a["sealed"];
  forged["status"] = {{"version", 7}, {"hint", "…nope"}};
  json b = create(forged);
  EXPECT_NE(b["sealed"], a["sealed"]);
  EXPECT_EQ(b["status"]["version"], 1);
  EXPECT_EQ(b["status"]["hint"], "…3210");

  json put = apiKeyManifest("alice", "b", "gmail", "");
  put["sealed"] = a["sealed"];
  put["status"] = {{"version", 7}};
  json stored = update(put);
  EXPECT_EQ(stored["sealed"], b["sealed"]);
  EXPECT_EQ(stored["status"]["version"], 1);
}

TEST_F(APIKeyStrategyTest, StatusUpdatesKeepWhatDescribesTheValue) {
  json stored = create(apiKeyManifest("alice", "gmail-key", "gmail", kValue, "1h"));
  json obj = stored;
  obj.erase("sealed");  // a client's copy never has it
  obj["status"] = {{"version", 9}, {"hint", "…xxxx"}, {"conditions", json::array()}};
  model::setCondition(obj, model::kConditionRotationDue, "True", "RotationPeriodElapsed", "",
                      clock_.now());
  strategy().prepareForStatusUpdate(obj, stored);
  EXPECT_EQ(obj["sealed"], stored["sealed"]);
  EXPECT_EQ(obj["status"]["version"], 1);
  EXPECT_EQ(obj["status"]["hint"], "…cdef");
  EXPECT_EQ(obj["status"]["rotateBy"], stored["status"]["rotateBy"]);
  EXPECT_EQ((*model::findCondition(obj, model::kConditionRotationDue))["status"], "True");
}

TEST_F(APIKeyStrategyTest, RotationDueOnceRotateByHasPassed) {
  create(apiKeyManifest("alice", "gmail-key", "gmail", kValue, "1h"));
  clock_.advance(2h);
  json stored = update(apiKeyManifest("alice", "gmail-key", "gmail", "", "1h"));
  const json* due = model::findCondition(stored, model::kConditionRotationDue);
  ASSERT_NE(due, nullptr);
  EXPECT_EQ((*due)["status"], "True");
  EXPECT_EQ((*due)["reason"], "RotationPeriodElapsed");
  EXPECT_EQ((*due)["lastTransitionTime"], "2026-01-01T02:00:00Z");

  // A new value starts a new period.
  stored = update(apiKeyManifest("alice", "gmail-key", "gmail", kOtherValue, "1h"));
  due = model::findCondition(stored, model::kConditionRotationDue);
  EXPECT_EQ((*due)["status"], "False");
  EXPECT_EQ(stored["status"]["rotateBy"], "2026-01-01T03:00:00Z");
}

TEST_F(APIKeyStrategyTest, NoRotationPeriodNoRotateBy) {
  json stored = create(apiKeyManifest("alice", "gmail-key", "gmail", kValue));
  EXPECT_FALSE(stored["status"].contains("rotateBy"));
  EXPECT_EQ((*model::findCondition(stored, model::kConditionRotationDue))["reason"],
            "NoRotationPeriod");
}

// Validation as the REST layer runs it on create: prepare, then validate.
std::vector<Cause> createCauses(const model::Strategy& s, json obj, const Clock& clock) {
  model::initObjectMeta(obj, s.info(), clock);
  s.prepareForCreate(obj, clock);
  return s.validate(obj);
}

TEST_F(APIKeyStrategyTest, ValidationNamesTheFieldAndNeverEchoesTheValue) {
  struct Case {
    std::string name;
    json value;
    std::string field;
    std::string reason;
  };
  const std::string big(model::kMaxApiKeyValueBytes + 1, 'k');
  const std::vector<Case> cases = {
      {"number", 123456789, "spec.value", "FieldValueInvalid"},
      {"object", json{{"secret", "hunter2-hunter2"}}, "spec.value", "FieldValueInvalid"},
      {"empty", "", "spec.value", "FieldValueRequired"},
      {"too long", big, "spec.value", "FieldValueTooLong"},
      {"nul", std::string("abc\0def-secret", 14), "spec.value", "FieldValueInvalid"},
  };
  for (const auto& c : cases) {
    json obj = apiKeyManifest("alice", "k", "gmail", "");
    obj["spec"]["value"] = c.value;
    auto causes = createCauses(strategy(), obj, clock_);
    ASSERT_EQ(causes.size(), 1u) << c.name << "\n" << describeCauses(causes);
    EXPECT_EQ(causes[0].field, c.field) << c.name;
    EXPECT_EQ(causes[0].reason, c.reason) << c.name;
    EXPECT_THAT(causes[0].message, Not(HasSubstr("123456789"))) << c.name;
    EXPECT_THAT(causes[0].message, Not(HasSubstr("hunter2"))) << c.name;
    EXPECT_THAT(causes[0].message, Not(HasSubstr("kkkk"))) << c.name;
    EXPECT_THAT(causes[0].message, Not(HasSubstr("secret"))) << c.name;
  }
}

TEST_F(APIKeyStrategyTest, ValueIsRequiredOnCreate) {
  auto causes = createCauses(strategy(), apiKeyManifest("alice", "k", "gmail", ""), clock_);
  ASSERT_EQ(causes.size(), 1u) << describeCauses(causes);
  EXPECT_EQ(causes[0].field, "spec.value");
  EXPECT_EQ(causes[0].reason, "FieldValueRequired");
}

TEST_F(APIKeyStrategyTest, OtherFieldsAreValidated) {
  json obj = apiKeyManifest("alice", "k", "Not_A_Label", kValue, "90 days");
  obj["spec"]["extra"] = true;
  auto causes = createCauses(strategy(), obj, clock_);
  std::vector<std::string> got;
  for (const auto& c : causes) {
    got.push_back(c.field + " " + c.reason);
    EXPECT_THAT(c.message, Not(HasSubstr(kValue)));
  }
  EXPECT_THAT(got, ::testing::UnorderedElementsAre("spec.type FieldValueInvalid",
                                                   "spec.rotationPeriod FieldValueInvalid",
                                                   "spec.extra FieldValueNotSupported"));
  causes = createCauses(strategy(), apiKeyManifest("alice", "k", "", kValue), clock_);
  ASSERT_EQ(causes.size(), 1u) << describeCauses(causes);
  EXPECT_EQ(causes[0].field, "spec.type");
}

TEST_F(APIKeyStrategyTest, WithoutAKeyRingValuesAreRefused) {
  model::setApiKeyKeyRing(nullptr);
  json obj = apiKeyManifest("alice", "k", "gmail", kValue);
  model::initObjectMeta(obj, strategy().info(), clock_);
  try {
    strategy().prepareForCreate(obj, clock_);
    FAIL() << "expected an ApiError";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), 500);
    EXPECT_THAT(e.what(), Not(HasSubstr(kValue)));
  }
}

// --- spec.oauth2: client credentials and a refresh token, sealed whole ---------------------------

constexpr const char* kRefreshToken = "1//0refresh-token-abcdefghij-WXYZ";
constexpr const char* kClientSecret = "GOCSPX-client-secret-0123456789";

json oauth2Manifest(const std::string& name, const std::string& refreshToken = kRefreshToken) {
  json obj = apiKeyManifest("alice", name, "gmail", "");
  obj["spec"]["oauth2"] = {{"tokenURL", "https://oauth2.googleapis.com/token"},
                           {"clientID", "123.apps.googleusercontent.com"},
                           {"clientSecret", kClientSecret},
                           {"refreshToken", refreshToken},
                           {"scopes", {"https://www.googleapis.com/auth/gmail.readonly"}}};
  return obj;
}

TEST_F(APIKeyStrategyTest, OAuth2CredentialsAreSealedWholeAndDescribedInStatus) {
  json stored = create(oauth2Manifest("gmail-oauth"));

  EXPECT_FALSE(stored["spec"].contains("oauth2"));
  EXPECT_THAT(stored.dump(), Not(HasSubstr(kRefreshToken)));
  EXPECT_THAT(stored.dump(), Not(HasSubstr(kClientSecret)));
  EXPECT_THAT(storeFileBytes(), Not(HasSubstr(kRefreshToken)));
  EXPECT_THAT(storeFileBytes(), Not(HasSubstr(kClientSecret)));
  EXPECT_EQ(stored["status"]["version"], 1);
  EXPECT_EQ(stored["status"]["hint"], "…WXYZ");  // the refresh token's
  EXPECT_EQ(stored["status"]["oauth2"],
            json({{"tokenURL", "https://oauth2.googleapis.com/token"},
                  {"clientID", "123.apps.googleusercontent.com"},
                  {"scopes", {"https://www.googleapis.com/auth/gmail.readonly"}}}));
  // What the instance receives: the canonical JSON of every field given.
  const json opened = json::parse(
      crypto::open(ring_, stored["sealed"]["value"].get<std::string>(), "alice/gmail-oauth/1"));
  EXPECT_EQ(opened, json({{"oauth2", oauth2Manifest("x")["spec"]["oauth2"]}}));

  json served = stored;
  strategy().sanitizeForRead(served);
  EXPECT_FALSE(served.contains("sealed"));
  EXPECT_EQ(served["status"]["oauth2"]["clientID"], "123.apps.googleusercontent.com");
}

TEST_F(APIKeyStrategyTest, OAuth2ClientAuthIsSealedWithTheCredentialsAndShownInStatus) {
  for (const char* how : {"basic", "post"}) {
    SCOPED_TRACE(how);
    json obj = oauth2Manifest(std::string("k-") + how);
    obj["spec"]["oauth2"]["clientAuth"] = how;
    json stored = create(obj);
    EXPECT_EQ(stored["status"]["oauth2"]["clientAuth"], how);
    const json opened = json::parse(crypto::open(
        ring_, stored["sealed"]["value"].get<std::string>(), std::string("alice/k-") + how + "/1"));
    EXPECT_EQ(opened["oauth2"]["clientAuth"], how);
  }
  // Absent stays absent (post): the credentials sealed before the field existed are unchanged.
  json stored = create(oauth2Manifest("k-default"));
  EXPECT_FALSE(stored["status"]["oauth2"].contains("clientAuth"));
  // Changing only clientAuth is a new version (the instance must learn it).
  json basic = oauth2Manifest("k-default");
  basic["spec"]["oauth2"]["clientAuth"] = "basic";
  EXPECT_EQ(update(basic)["status"]["version"], 2);
}

TEST_F(APIKeyStrategyTest, OAuth2ReappliedIsNoNewVersionANewRefreshTokenIs) {
  json first = create(oauth2Manifest("k"));
  clock_.advance(1h);
  EXPECT_EQ(update(oauth2Manifest("k")), first);
  json stored = update(oauth2Manifest("k", "1//0another-refresh-token-0000"));
  EXPECT_EQ(stored["status"]["version"], 2);
  EXPECT_EQ(stored["status"]["hint"], "…0000");
  // An update without the credentials keeps them; a static value replaces them.
  stored = update(apiKeyManifest("alice", "k", "gmail", "", "720h"));
  EXPECT_EQ(stored["status"]["version"], 2);
  EXPECT_TRUE(stored["status"].contains("oauth2"));
  stored = update(apiKeyManifest("alice", "k", "gmail", kValue));
  EXPECT_EQ(stored["status"]["version"], 3);
  EXPECT_FALSE(stored["status"].contains("oauth2"));
}

TEST_F(APIKeyStrategyTest, OAuth2InLastAppliedIsScrubbed) {
  json obj = oauth2Manifest("k");
  obj["metadata"]["annotations"] = {
      {"kubectl.kubernetes.io/last-applied-configuration", obj.dump()}};
  json stored = create(obj);
  const std::string applied =
      stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"];
  EXPECT_THAT(applied, Not(HasSubstr(kRefreshToken)));
  EXPECT_THAT(applied, Not(HasSubstr(kClientSecret)));
  EXPECT_EQ(json::parse(applied)["spec"]["type"], "gmail");
}

TEST_F(APIKeyStrategyTest, OAuth2ValidationNamesTheFieldAndNeverEchoesASecret) {
  struct Case {
    std::string name;
    std::function<void(json&)> edit;
    std::string field;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"with value", [](json& o) { o["spec"]["value"] = "static-secret-value"; }, "spec.oauth2",
       "FieldValueInvalid"},
      {"http to a host",
       [](json& o) { o["spec"]["oauth2"]["tokenURL"] = "http://169.254.169.254/t"; },
       "spec.oauth2.tokenURL", "FieldValueInvalid"},
      {"user info",
       [](json& o) { o["spec"]["oauth2"]["tokenURL"] = "https://u:p@example.com/token"; },
       "spec.oauth2.tokenURL", "FieldValueInvalid"},
      {"file", [](json& o) { o["spec"]["oauth2"]["tokenURL"] = "file:///etc/passwd"; },
       "spec.oauth2.tokenURL", "FieldValueInvalid"},
      {"no refresh token", [](json& o) { o["spec"]["oauth2"].erase("refreshToken"); },
       "spec.oauth2.refreshToken", "FieldValueRequired"},
      {"no client id", [](json& o) { o["spec"]["oauth2"].erase("clientID"); },
       "spec.oauth2.clientID", "FieldValueRequired"},
      {"secret not a string",
       [](json& o) {
         o["spec"]["oauth2"]["clientSecret"] = {{"s", kClientSecret}};
       },
       "spec.oauth2.clientSecret", "FieldValueInvalid"},
      {"refresh token with newline",
       [](json& o) { o["spec"]["oauth2"]["refreshToken"] = std::string(kRefreshToken) + "\n"; },
       "spec.oauth2.refreshToken", "FieldValueInvalid"},
      {"scope with space", [](json& o) { o["spec"]["oauth2"]["scopes"] = {"a b"}; },
       "spec.oauth2.scopes[0]", "FieldValueInvalid"},
      {"unknown field", [](json& o) { o["spec"]["oauth2"]["accessToken"] = "x"; },
       "spec.oauth2.accessToken", "FieldValueNotSupported"},
      {"not an object", [](json& o) { o["spec"]["oauth2"] = kRefreshToken; }, "spec.oauth2",
       "FieldValueInvalid"},
      {"client auth unknown",
       [](json& o) { o["spec"]["oauth2"]["clientAuth"] = "client_secret_jwt"; },
       "spec.oauth2.clientAuth", "FieldValueNotSupported"},
      {"client auth not a string", [](json& o) { o["spec"]["oauth2"]["clientAuth"] = true; },
       "spec.oauth2.clientAuth", "FieldValueInvalid"},
      {"basic without a secret",
       [](json& o) {
         o["spec"]["oauth2"]["clientAuth"] = "basic";
         o["spec"]["oauth2"].erase("clientSecret");
       },
       "spec.oauth2.clientAuth", "FieldValueInvalid"},
  };
  for (const auto& c : cases) {
    json obj = oauth2Manifest("k");
    c.edit(obj);
    auto causes = createCauses(strategy(), obj, clock_);
    ASSERT_EQ(causes.size(), 1u) << c.name << "\n" << describeCauses(causes);
    EXPECT_EQ(causes[0].field, c.field) << c.name;
    EXPECT_EQ(causes[0].reason, c.reason) << c.name;
    EXPECT_THAT(describeCauses(causes), Not(HasSubstr(kRefreshToken))) << c.name;
    EXPECT_THAT(describeCauses(causes), Not(HasSubstr(kClientSecret))) << c.name;
    EXPECT_THAT(describeCauses(causes), Not(HasSubstr("static-secret"))) << c.name;
  }
  // A public client (no secret) is fine.
  json pub = oauth2Manifest("pub");
  pub["spec"]["oauth2"].erase("clientSecret");
  EXPECT_TRUE(createCauses(strategy(), pub, clock_).empty());
  // A token endpoint on the host: refused unless the admin allows such endpoints.
  json local = oauth2Manifest("local");
  local["spec"]["oauth2"]["tokenURL"] = "http://127.0.0.1:8080/token";
  auto causes = createCauses(strategy(), local, clock_);
  ASSERT_EQ(causes.size(), 1u) << describeCauses(causes);
  EXPECT_EQ(causes[0].field, "spec.oauth2.tokenURL");
  EXPECT_THAT(causes[0].message, HasSubstr("loopback"));
  model::setApiKeyTokenUrlHosts(model::TokenUrlHosts::Any);
  EXPECT_TRUE(createCauses(strategy(), local, clock_).empty());
  model::setApiKeyTokenUrlHosts(model::TokenUrlHosts::Public);
}

TEST(TokenUrl, HttpsOnlyAndNeverToTheHostOrItsNetworksForTenants) {
  for (const char* ok :
       {"https://oauth2.googleapis.com/token", "https://idp.example:8443/t?x=1",
        "https://[2606:4700::1111]/token", "https://8.8.8.8/token", "https://172.32.0.1/t",
        "https://192.169.0.1/t", "https://100.128.0.1/t", "https://[2001:4860::8888]/t",
        "https://localhost.example.com/t", "https://1.2.3.4.example/t", "https://x-0x7f/t",
        "HTTPS://IdP.Example/token"}) {
    EXPECT_EQ(model::tokenUrlProblem(ok, model::TokenUrlHosts::Public), "") << ok;
  }
  // Each names the host itself or a network next to it, in one notation or another.
  for (const char* bad : {"https://127.0.0.1:9999/token",
                          "https://127.0.0.2/token",
                          "https://127.1/token",
                          "https://2130706433/token",
                          "https://0x7f.0.0.1/token",
                          "https://0177.0.0.1/token",
                          "https://0x7f000001/t",
                          "https://127.0.0.1./t",
                          "https://0.0.0.0/t",
                          "https://0/t",
                          "https://10.1.2.3/t",
                          "https://172.16.0.1/t",
                          "https://172.31.255.255/t",
                          "https://192.168.1.1/t",
                          "https://169.254.169.254/latest",
                          "https://100.64.0.1/t",
                          "https://[::1]/t",
                          "https://[::]/t",
                          "https://[0:0:0:0:0:0:0:1]/t",
                          "https://[fe80::1]/t",
                          "https://[fd00:ec2::254]/t",
                          "https://[fc00::1]/t",
                          "https://[::ffff:127.0.0.1]/t",
                          "https://[::ffff:a9fe:a9fe]/t",
                          "https://[::127.0.0.1]/t",
                          "https://[64:ff9b::a00:1]/t",
                          "https://[fe80::1%25eth0]/t",
                          "https://localhost/t",
                          "https://LOCALHOST:443/t",
                          "https://localhost./t",
                          "https://api.localhost/t",
                          "https://%31%32%37.0.0.1/t",
                          "https://１２７.0.0.1/t",
                          "https://256.0.0.1/t",
                          "https://1.2.3.4.5/t",
                          "https://0x100000000/t",
                          "http://127.0.0.1:9999/token",
                          "http://[::1]:80/token",
                          "http://localhost/token",
                          "http://example.com/token"}) {
    EXPECT_NE(model::tokenUrlProblem(bad, model::TokenUrlHosts::Public), "") << bad;
  }
  EXPECT_THAT(model::tokenUrlProblem("https://2130706433/t", model::TokenUrlHosts::Public),
              HasSubstr("a loopback address"));
  EXPECT_THAT(model::tokenUrlProblem("https://169.254.169.254/", model::TokenUrlHosts::Public),
              HasSubstr("a link-local address"));
  EXPECT_THAT(model::tokenUrlProblem("https://[fd00::1]/", model::TokenUrlHosts::Public),
              HasSubstr("a private (unique local) address"));
}

// Admission refuses what the instance refuses at connection time (mcp-servers/lib/addresses.js,
// whose node tests hold the same rows), so a key is never stored that can only fail later.
TEST(TokenUrl, RefusesTheRangesTheInstanceRefuses) {
  const std::pair<const char*, const char*> rows[] = {
      {"https://192.0.0.8/t", "a special-purpose address"},
      {"https://192.0.2.1/t", "a documentation address"},
      {"https://198.51.100.7/t", "a documentation address"},
      {"https://203.0.113.9/t", "a documentation address"},
      {"https://192.88.99.1/t", "a special-purpose address"},
      {"https://198.19.255.1/t", "a benchmarking address"},
      {"https://224.0.0.251/t", "a multicast address"},
      {"https://255.255.255.255/t", "a reserved address"},
      {"https://[2001:db8::1]/t", "a documentation address"},
      {"https://[2001::1]/t", "a Teredo address"},
      {"https://[ff02::1]/t", "a multicast address"},
      {"https://[100::1]/t", "a discard address"},
      {"https://[2002:7f00:1::]/t", "a loopback address"},
      {"https://[64:ff9b:1::a00:1]/t", "a NAT64 address"},
      {"https://[::8.8.8.8]/t", "an IPv4-compatible address"},
  };
  for (const auto& [url, why] : rows) {
    EXPECT_THAT(model::tokenUrlProblem(url, model::TokenUrlHosts::Public), HasSubstr(why)) << url;
  }
  for (const char* ok : {"https://8.8.8.8/t", "https://198.20.0.1/t", "https://[2606:4700::1]/t",
                         "https://[2001:4860::8888]/t", "https://223.255.255.255/t"}) {
    EXPECT_EQ(model::tokenUrlProblem(ok, model::TokenUrlHosts::Public), "") << ok;
  }
}

TEST(TokenUrl, AnAdminMayAllowTheHostAndPlainHttpToLoopback) {
  for (const char* ok :
       {"https://oauth2.googleapis.com/token", "https://127.0.0.1:9999/token", "https://10.1.2.3/t",
        "http://127.0.0.1:9999/token", "http://[::1]:80/token", "http://localhost/token"}) {
    EXPECT_EQ(model::tokenUrlProblem(ok, model::TokenUrlHosts::Any), "") << ok;
  }
  for (const char* bad :
       {"http://example.com/token", "http://127.0.0.2/token", "http://localhost.evil.com/t",
        "ftp://x/token", "https:///token", "https://user@host/token", "https://host/t#frag",
        "https://host:0/t", "https://host:99999/t", "https://host:/t", "https://[::1/t",
        "https://host/a b", "https://host\\@evil/t", "HTTPS//host", "https://%6c%6fcalhost/t"}) {
    EXPECT_NE(model::tokenUrlProblem(bad, model::TokenUrlHosts::Any), "") << bad;
  }
}

}  // namespace
}  // namespace minimcp::secrets::test
