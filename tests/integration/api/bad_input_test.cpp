// Bad input against a real mcpd: every malformed or out-of-range request gets a clear 4xx
// Status naming what is wrong, and nothing is written (each refusal is checked by reading the
// store back through the API). Also the TLS suites mcpd offers, checked with openssl s_client.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/client/http_client.h"
#include "api/util/clock.h"
#include "tests/e2e/cli/mcpd_process.h"

namespace minimcp {
namespace {

using client::HttpClient;
using client::Response;
using nlohmann::json;
using testing::McpdProcess;

constexpr const char* kApi = "/apis/minimcp.io/v1alpha1";

std::string instances(const std::string& ns) {
  return std::string(kApi) + "/namespaces/" + ns + "/mcpinstances";
}

json instance(const std::string& ns, const std::string& name,
              json spec = {{"type", "echo"}, {"ttl", "2h"}}) {
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "MCPInstance"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", std::move(spec)}};
}

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    McpdProcess::Options o;
    o.extraArgs = {"--disable-reconciler", "--max-ttl", "24h"};
    mcpd_ = new McpdProcess(o);
  }
  static void TearDownTestSuite() {
    delete mcpd_;
    mcpd_ = nullptr;
  }

  BadInputTest() : http_(mcpd_->connection()) {}

  Response req(const std::string& method, const std::string& target, const std::string& body = "",
               std::map<std::string, std::string> headers = {}) {
    if (!body.empty() && !headers.count("Content-Type")) {
      headers["Content-Type"] = "application/json";
    }
    return http_.request(method, target, body, headers);
  }
  static json j(const Response& r) { return json::parse(r.body); }
  json readBack(const std::string& path) {
    auto r = req("GET", path);
    return r.status == 200 ? j(r) : json();
  }
  json create(const std::string& ns, const std::string& name) {
    auto r = req("POST", instances(ns), instance(ns, name).dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return j(r);
  }
  // The Status of a refusal, with its code checked.
  static json refused(const Response& r, int code) {
    EXPECT_EQ(r.status, code) << r.body;
    json s = json::parse(r.body, nullptr, false);
    EXPECT_EQ(s.value("kind", ""), "Status") << r.body;
    EXPECT_EQ(s.value("code", 0), code) << r.body;
    return s;
  }
  static std::vector<std::string> causeFields(const json& status) {
    std::vector<std::string> out;
    for (const auto& c : status["details"].value("causes", json::array())) {
      out.push_back(c.value("field", ""));
    }
    return out;
  }

  static McpdProcess* mcpd_;
  HttpClient http_;
};

McpdProcess* BadInputTest::mcpd_ = nullptr;

TEST_F(BadInputTest, DryRunValuesOtherThanAllAre400AndWriteNothing) {
  auto a = create("dry", "a");
  const std::string obj = instances("dry") + "/a";
  auto changed = a;
  changed["spec"]["ttl"] = "3h";
  struct Case {
    std::string method, target, body, contentType;
  };
  std::vector<Case> cases = {
      {"POST", instances("dry") + "?dryRun=true", instance("dry", "b").dump(), ""},
      {"POST", instances("dry") + "?dryRun=", instance("dry", "b").dump(), ""},
      {"POST", instances("dry") + "?dryRun=All&dryRun=false", instance("dry", "b").dump(), ""},
      {"PUT", obj + "?dryRun=true", changed.dump(), ""},
      {"PATCH", obj + "?dryRun=1", R"({"spec":{"ttl":"3h"}})", "application/merge-patch+json"},
      {"DELETE", obj + "?dryRun=true", "", ""},
      {"DELETE", obj, R"({"kind":"DeleteOptions","dryRun":["true"]})", ""},
      {"DELETE", obj, R"({"dryRun":"Server"})", ""},
      {"POST", std::string(kApi) + "/tokens?dryRun=All", R"({"namespace":"dry"})", ""},
      {"PUT", std::string(kApi) + "/limits/dry?dryRun=All", R"({"maxInstances":1})", ""},
  };
  for (const auto& c : cases) {
    std::map<std::string, std::string> headers;
    if (!c.contentType.empty()) headers["Content-Type"] = c.contentType;
    auto s = refused(req(c.method, c.target, c.body, headers), 400);
    EXPECT_EQ(s.value("reason", ""), "BadRequest") << c.method << " " << c.target;
    EXPECT_NE(s.value("message", "").find("dryRun"), std::string::npos) << s.dump();
  }
  EXPECT_EQ(readBack(obj), a);
  EXPECT_TRUE(readBack(instances("dry") + "/b").is_null());
  EXPECT_EQ(j(req("GET", std::string(kApi) + "/limits/dry"))["maxInstances"], 50);
  EXPECT_EQ(j(req("GET", std::string(kApi) + "/tokens")).dump().find("\"dry\""), std::string::npos);
  // Repeated "All" is a dry run, as with kube-apiserver.
  auto dry = req("POST", instances("dry") + "?dryRun=All&dryRun=All", instance("dry", "b").dump());
  EXPECT_EQ(dry.status, 201) << dry.body;
  EXPECT_TRUE(readBack(instances("dry") + "/b").is_null());
}

TEST_F(BadInputTest, TimesBeyondTheMaxTtlAre403) {
  auto later = formatRfc3339(std::chrono::system_clock::now() + std::chrono::hours(48));
  auto at = refused(req("POST", instances("ttl"),
                        instance("ttl", "at", {{"type", "echo"}, {"expiresAt", later}}).dump()),
                    403);
  EXPECT_NE(at.value("message", "").find("spec.expiresAt"), std::string::npos) << at.dump();
  auto ttl = refused(req("POST", instances("ttl"),
                         instance("ttl", "d", {{"type", "echo"}, {"ttl", "48h"}}).dump()),
                     403);
  EXPECT_NE(ttl.value("message", "").find("spec.ttl"), std::string::npos) << ttl.dump();
  EXPECT_TRUE(readBack(instances("ttl") + "/at").is_null());
  EXPECT_TRUE(readBack(instances("ttl") + "/d").is_null());
}

// Also with no maximum TTL at all (the admin may lift it per namespace).
TEST_F(BadInputTest, TimesTheApiCannotHoldAre422NamingTheField) {
  auto lifted = req("PUT", std::string(kApi) + "/limits/far", R"({"maxTTL":"0"})");
  ASSERT_EQ(lifted.status, 200) << lifted.body;
  for (std::string ns : {"ttl", "far"}) {
    struct Case {
      json spec;
      std::string field;
    };
    std::vector<Case> cases = {
        {{{"type", "echo"}, {"expiresAt", "3000-01-01T00:00:00Z"}}, "spec.expiresAt"},
        {{{"type", "echo"}, {"expiresAt", "2262-04-12T00:00:00Z"}}, "spec.expiresAt"},
        {{{"type", "echo"}, {"expiresAt", "1677-09-21T00:00:00Z"}}, "spec.expiresAt"},
        {{{"type", "echo"}, {"expiresAt", "9999-12-31T23:59:59+23:59"}}, "spec.expiresAt"},
        {{{"type", "echo"}, {"ttl", "999999999h"}}, "spec.ttl"},
        {{{"type", "echo"}, {"ttl", "876001h"}}, "spec.ttl"},  // just over 100 years
        {{{"type", "echo"}, {"ttl", std::string(400, '9') + "s"}}, "spec.ttl"},
    };
    for (const auto& c : cases) {
      auto s = refused(req("POST", instances(ns), instance(ns, "x", c.spec).dump()), 422);
      EXPECT_EQ(causeFields(s), std::vector<std::string>{c.field}) << ns << " " << c.spec.dump();
      EXPECT_TRUE(readBack(instances(ns) + "/x").is_null()) << c.spec.dump();
    }
  }
  // An update cannot move an existing instance's expiry there either.
  auto a = create("far", "a");
  auto moved = a;
  moved["spec"].erase("ttl");
  moved["spec"]["expiresAt"] = "3000-01-01T00:00:00Z";
  refused(req("PUT", instances("far") + "/a", moved.dump()), 422);
  refused(req("PATCH", instances("far") + "/a", R"({"spec":{"ttl":"999999999h"}})",
              {{"Content-Type", "application/merge-patch+json"}}),
          422);
  EXPECT_EQ(readBack(instances("far") + "/a"), a);
  // Within the range and without a limit: accepted, and the expiry reads back as written.
  auto ok =
      req("POST", instances("far"),
          instance("far", "y", {{"type", "echo"}, {"expiresAt", "2199-12-31T23:59:59Z"}}).dump());
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(j(ok)["status"]["expiresAt"], "2199-12-31T23:59:59Z");
}

TEST_F(BadInputTest, NumbersOutOfRangeAre400) {
  auto a = create("num", "a");
  const std::string obj = instances("num") + "/a";
  const std::string head =
      R"({"apiVersion":"minimcp.io/v1alpha1","kind":"MCPInstance","metadata":{"name":"b"},)";
  for (std::string n :
       {"1e400", "-1e400", "99999999999999999999", "18446744073709551615", "9223372036854775808"}) {
    std::string body = head + R"("spec":{"type":"echo","ttl":"1h","tokenGeneration":)" + n + "}}";
    auto s = refused(req("POST", instances("num"), body), 400);
    EXPECT_NE(s.value("message", "").find(n), std::string::npos) << s.dump();
    refused(req("POST", instances("num"),
                "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: b\n"
                "spec:\n  type: echo\n  ttl: 1h\n  tokenGeneration: " +
                    n + "\n",
                {{"Content-Type", "application/yaml"}}),
            400);
    refused(req("PATCH", obj, R"({"spec":{"tokenGeneration":)" + n + "}}",
                {{"Content-Type", "application/merge-patch+json"}}),
            400);
    refused(req("PATCH", obj, R"([{"op":"add","path":"/spec/tokenGeneration","value":)" + n + "}]",
                {{"Content-Type", "application/json-patch+json"}}),
            400);
  }
  refused(req("POST", instances("num"),
              "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\n"
              "metadata:\n  name: b\nspec:\n  type: echo\n  x: .inf\n",
              {{"Content-Type", "application/yaml"}}),
          400);
  EXPECT_EQ(readBack(obj), a);
  EXPECT_TRUE(readBack(instances("num") + "/b").is_null());
}

TEST_F(BadInputTest, MediaTypesOtherThanJsonAndYamlAre415) {
  auto a = create("media", "a");
  const std::string obj = instances("media") + "/a";
  auto changed = a;
  changed["spec"]["ttl"] = "3h";
  const std::string b = instance("media", "b").dump();
  for (std::string type : {"text/plain", "application/x-www-form-urlencoded", "application/xml",
                           "application/json-patch+json"}) {
    auto s = refused(req("POST", instances("media"), b, {{"Content-Type", type}}), 415);
    EXPECT_EQ(s.value("reason", ""), "UnsupportedMediaType");
    EXPECT_NE(s.value("message", "").find(type), std::string::npos) << s.dump();
    refused(req("PUT", obj, changed.dump(), {{"Content-Type", type}}), 415);
    refused(req("DELETE", obj, R"({"kind":"DeleteOptions"})", {{"Content-Type", type}}), 415);
    refused(req("PUT", std::string(kApi) + "/limits/media", R"({"maxInstances":1})",
                {{"Content-Type", type}}),
            415);
    refused(req("POST", std::string(kApi) + "/tokens", R"({"namespace":"media"})",
                {{"Content-Type", type}}),
            415);
  }
  for (std::string type : {"text/plain", "application/json", "application/yaml"}) {
    refused(req("PATCH", obj, R"({"spec":{"ttl":"3h"}})", {{"Content-Type", type}}), 415);
  }
  EXPECT_EQ(readBack(obj), a);
  EXPECT_TRUE(readBack(instances("media") + "/b").is_null());
  EXPECT_EQ(j(req("GET", std::string(kApi) + "/limits/media"))["maxInstances"], 50);
  // Parameters and case do not matter; what kubectl sends keeps working.
  auto created =
      req("POST", instances("media"), b, {{"Content-Type", "Application/JSON; charset=utf-8"}});
  EXPECT_EQ(created.status, 201) << created.body;
  auto merged = req("PATCH", obj, R"({"spec":{"ttl":"3h"}})",
                    {{"Content-Type", "application/merge-patch+json; charset=utf-8"}});
  EXPECT_EQ(merged.status, 200) << merged.body;
  auto applied = req("PATCH", instances("media") + "/c?fieldManager=kubectl&force=true",
                     "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: c\n"
                     "spec:\n  type: echo\n  ttl: 1h\n",
                     {{"Content-Type", "application/apply-patch+yaml"}});
  EXPECT_EQ(applied.status, 201) << applied.body;
}

TEST_F(BadInputTest, AnOversizedHeaderIsAnswered431) {
  // About 1 MiB of headers; the client library refuses one field over 64 KiB, so 17 of 62 KB.
  std::map<std::string, std::string> filler;
  for (int i = 0; i < 17; ++i) filler["X-Filler-" + std::to_string(i)] = std::string(62000, 'x');
  auto r = req("GET", "/healthz", "", filler);
  auto s = refused(r, 431);
  EXPECT_EQ(s.value("reason", ""), "RequestHeaderFieldsTooLarge");
  EXPECT_EQ(req("GET", "/healthz").status, 200);
}

// openssl s_client against mcpd's port: on TLS 1.2 only ECDHE with AES-GCM or ChaCha20-Poly1305.
TEST_F(BadInputTest, Tls12OffersOnlyAeadSuites) {
  const std::string url = mcpd_->url();
  const std::string hostPort = url.substr(url.find("://") + 3);
  auto handshake = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/openssl", "s_client", "-connect", hostPort};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::runCommand(argv, "", std::chrono::seconds(15));
  };
  for (std::string cbc :
       {"ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA"}) {
    auto r = handshake({"-tls1_2", "-cipher", cbc});
    EXPECT_NE(r.exitCode, 0) << cbc << " was accepted:\n" << r.out;
    EXPECT_EQ(r.out.find("Cipher is " + cbc), std::string::npos) << r.out;
  }
  for (std::string aead : {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                           "ECDHE-ECDSA-CHACHA20-POLY1305"}) {
    auto r = handshake({"-tls1_2", "-cipher", aead});
    EXPECT_EQ(r.exitCode, 0) << aead << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find("Cipher is " + aead), std::string::npos) << r.out;
  }
  auto tls13 = handshake({"-tls1_3"});
  EXPECT_EQ(tls13.exitCode, 0) << tls13.out << tls13.err;
  EXPECT_NE(tls13.out.find("TLSv1.3"), std::string::npos) << tls13.out;
  EXPECT_NE(handshake({"-tls1_1"}).exitCode, 0);
}

}  // namespace
}  // namespace minimcp
