// Tenancy against a real mcpd: Bob's token on Alice's
// objects for every verb and kind (404 for named objects, 403 for her collections, nothing
// changed — read back with the admin token), Alice's token on her own, token management,
// per-namespace limits, instance tokens and logs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/client/http_client.h"
#include "tests/e2e/cli/mcpd_process.h"

namespace minimcp {
namespace {

using client::HttpClient;
using client::Response;
using nlohmann::json;
using testing::McpdProcess;

constexpr const char* kApi = "/apis/minimcp.io/v1alpha1";
constexpr const char* kSecretValue = "sk-live-tenancy-secret-0123456789";

std::string nsPath(const std::string& ns, const std::string& plural) {
  return std::string(kApi) + "/namespaces/" + ns + "/" + plural;
}

json instanceBody(const std::string& ns, const std::string& name, const std::string& ttl = "2h") {
  // Suspended: the reconciler keeps it without starting a process.
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "MCPInstance"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"type", "echo"}, {"ttl", ttl}, {"suspend", true}}}};
}

json apiKeyBody(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "APIKey"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"type", "echo"}, {"value", kSecretValue}}}};
}

json eventBody(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "Event"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"involvedObject", {{"kind", "MCPInstance"}, {"name", "inbox"}, {"namespace", ns}}},
          {"type", "Normal"},
          {"reason", "TenancyTest"},
          {"message", "written by the tenancy test"}};
}

json j(const Response& r) { return json::parse(r.body, nullptr, false); }

class TenancyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    McpdProcess::Options o;
    o.extraArgs = {"--mcp-servers-dir", std::string(MINIMCP_SOURCE_DIR) + "/mcp-servers"};
    mcpd_ = new McpdProcess(o);
    admin_ = new HttpClient(mcpd_->connection());
    aliceToken_ = new std::string(issue(R"({"namespace":"alice"})")["token"]);
    bobToken_ = new std::string(issue(R"({"namespace":"bob"})")["token"]);
    for (auto [plural, body] : {std::pair{"mcpinstances", instanceBody("alice", "inbox")},
                                std::pair{"mcpinstances", instanceBody("alice", "logger")},
                                std::pair{"apikeys", apiKeyBody("alice", "gmail-key")},
                                std::pair{"events", eventBody("alice", "inbox.1")}}) {
      auto r = admin_->request("POST", nsPath("alice", plural), body.dump(),
                               {{"Content-Type", "application/json"}});
      if (r.status != 201) throw std::runtime_error("set-up: " + r.body);
    }
    // The controller adds its finalizer to each instance: wait for it, so that the tests' view
    // of "what nobody may change" is taken after the controller's own write.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (const char* name : {"inbox", "logger"}) {
      for (;;) {
        auto r = admin_->request("GET", nsPath("alice", "mcpinstances") + "/" + name);
        if (r.status == 200 && j(r)["metadata"].contains("finalizers")) break;
        if (std::chrono::steady_clock::now() > deadline) {
          throw std::runtime_error(std::string("set-up: no finalizer on ") + name + ": " + r.body);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval
      }
    }
  }
  static void TearDownTestSuite() {
    delete admin_;
    delete aliceToken_;
    delete bobToken_;
    delete mcpd_;
  }

  static json issue(const std::string& body) {
    auto r = admin_->request("POST", std::string(kApi) + "/tokens", body,
                             {{"Content-Type", "application/json"}});
    if (r.status != 201) throw std::runtime_error("cannot issue a token: " + r.body);
    return j(r);
  }
  static std::unique_ptr<HttpClient> as(const std::string& token) {
    auto cfg = mcpd_->connection();
    cfg.token = token;
    return std::make_unique<HttpClient>(cfg);
  }
  static Response send(HttpClient& c, const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::string& contentType = "application/json") {
    std::map<std::string, std::string> headers;
    if (!body.empty()) headers["Content-Type"] = contentType;
    return c.request(method, target, body, headers);
  }
  // What a write must never change: everything but the controller's status and the
  // resourceVersion it bumps.
  static json userFields(const std::string& path) {
    auto r = admin_->request("GET", path);
    if (r.status != 200) return nullptr;
    json o = j(r);
    o.erase("status");
    o["metadata"].erase("resourceVersion");
    o["metadata"].erase("managedFields");
    return o;
  }

  static McpdProcess* mcpd_;
  static HttpClient* admin_;
  static std::string* aliceToken_;
  static std::string* bobToken_;
};

McpdProcess* TenancyTest::mcpd_ = nullptr;
HttpClient* TenancyTest::admin_ = nullptr;
std::string* TenancyTest::aliceToken_ = nullptr;
std::string* TenancyTest::bobToken_ = nullptr;

TEST_F(TenancyTest, BobCannotSeeOrTouchAnythingOfAlice) {
  auto bob = as(*bobToken_);
  struct Kind {
    std::string plural, name;
    json body;
    bool hasStatus;
  };
  std::vector<Kind> kinds = {{"mcpinstances", "inbox", instanceBody("alice", "inbox", "9h"), true},
                             {"apikeys", "gmail-key", apiKeyBody("alice", "gmail-key"), true},
                             {"events", "inbox.1", eventBody("alice", "inbox.1"), false}};
  for (const auto& k : kinds) {
    SCOPED_TRACE(k.plural);
    const std::string coll = nsPath("alice", k.plural), obj = coll + "/" + k.name;
    const json before = userFields(obj);
    ASSERT_FALSE(before.is_null());
    json fresh = k.body;
    fresh["metadata"]["name"] = "planted";

    // Named objects: 404, exactly as if they did not exist.
    auto get = send(*bob, "GET", obj);
    EXPECT_EQ(get.status, 404);
    EXPECT_EQ(j(get)["reason"], "NotFound");
    EXPECT_EQ(send(*bob, "PUT", obj, k.body.dump()).status, 404);
    EXPECT_EQ(send(*bob, "PATCH", obj, R"({"metadata":{"labels":{"owned":"bob"}}})",
                   "application/merge-patch+json")
                  .status,
              404);
    EXPECT_EQ(send(*bob, "PATCH", obj, R"([{"op":"add","path":"/metadata/labels","value":{}}])",
                   "application/json-patch+json")
                  .status,
              404);
    EXPECT_EQ(send(*bob, "DELETE", obj).status, 404);
    EXPECT_EQ(send(*bob, "GET", obj + "/status").status, 404);
    EXPECT_EQ(send(*bob, "PUT", obj + "/status", k.body.dump()).status, 404);
    EXPECT_EQ(send(*bob, "PATCH", obj + "/status", R"({"status":{"phase":"Failed"}})",
                   "application/merge-patch+json")
                  .status,
              404);
    EXPECT_EQ(send(*bob, "GET", obj + "/log").status, 404);
    EXPECT_EQ(send(*bob, "GET", obj + "/log?follow=true").status, 404);
    EXPECT_EQ(send(*bob, "GET", obj + "/token").status, 404);
    EXPECT_EQ(send(*bob, "GET", nsPath("alice", k.plural) + "/absent").status, 404);

    // Her collections: 403.
    EXPECT_EQ(send(*bob, "GET", coll).status, 403);
    EXPECT_EQ(send(*bob, "GET", coll + "?watch=true").status, 403);
    EXPECT_EQ(send(*bob, "GET", coll + "?watch=true&resourceVersion=0").status, 403);
    EXPECT_EQ(send(*bob, "POST", coll, fresh.dump()).status, 403);
    EXPECT_EQ(send(*bob, "POST", coll + "?dryRun=All", fresh.dump()).status, 403);
    // Every namespace at once is the admin's view.
    EXPECT_EQ(send(*bob, "GET", std::string(kApi) + "/" + k.plural).status, 403);
    EXPECT_EQ(send(*bob, "GET", std::string(kApi) + "/" + k.plural + "?watch=true").status, 403);

    // Nothing changed and nothing was planted.
    EXPECT_EQ(userFields(obj), before);
    EXPECT_TRUE(userFields(coll + "/planted").is_null());
  }
  // The core path of events is the same API.
  EXPECT_EQ(send(*bob, "GET", "/api/v1/namespaces/alice/events/inbox.1").status, 404);
  EXPECT_EQ(send(*bob, "GET", "/api/v1/namespaces/alice/events").status, 403);
  // Bob's own namespace is fine, and empty.
  auto own = send(*bob, "GET", nsPath("bob", "mcpinstances"));
  ASSERT_EQ(own.status, 200);
  EXPECT_TRUE(j(own)["items"].empty());
}

TEST_F(TenancyTest, AliceWorksOnHerOwnObjects) {
  auto alice = as(*aliceToken_);
  auto list = send(*alice, "GET", nsPath("alice", "mcpinstances"));
  ASSERT_EQ(list.status, 200);
  EXPECT_GE(j(list)["items"].size(), 2u);
  EXPECT_EQ(send(*alice, "GET", nsPath("alice", "mcpinstances") + "/inbox").status, 200);
  EXPECT_EQ(send(*alice, "GET", nsPath("alice", "events") + "/inbox.1").status, 200);
  auto created =
      send(*alice, "POST", nsPath("alice", "mcpinstances"), instanceBody("alice", "mine").dump());
  ASSERT_EQ(created.status, 201) << created.body;
  auto patched = send(*alice, "PATCH", nsPath("alice", "mcpinstances") + "/mine",
                      R"({"metadata":{"labels":{"team":"a"}}})", "application/merge-patch+json");
  EXPECT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(send(*alice, "DELETE", nsPath("alice", "mcpinstances") + "/mine").status, 200);
  // Status and events are the control plane's: she reads them, never writes them.
  const std::string inbox = nsPath("alice", "mcpinstances") + "/inbox";
  const json before = userFields(inbox);
  const json statusBefore = j(admin_->request("GET", inbox))["status"];
  EXPECT_EQ(send(*alice, "GET", inbox + "/status").status, 200);
  for (const char* method : {"PUT", "PATCH"}) {
    auto r =
        send(*alice, method, inbox + "/status",
             R"({"status":{"pid":1,"processStartTime":"1","port":22}})",
             std::string(method) == "PATCH" ? "application/merge-patch+json" : "application/json");
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_NE(j(r)["message"].get<std::string>().find("mcpinstances/status"), std::string::npos);
  }
  EXPECT_EQ(j(admin_->request("GET", inbox))["status"]["pid"], statusBefore.value("pid", json()));
  EXPECT_EQ(userFields(inbox), before);
  auto forged =
      send(*alice, "POST", nsPath("alice", "events"), eventBody("alice", "forged").dump());
  EXPECT_EQ(forged.status, 403) << forged.body;
  EXPECT_EQ(send(*alice, "DELETE", nsPath("alice", "events") + "/inbox.1").status, 403);
  EXPECT_TRUE(userFields(nsPath("alice", "events") + "/forged").is_null());
  // Namespace tokens cannot manage tokens or limits.
  EXPECT_EQ(send(*alice, "GET", std::string(kApi) + "/tokens").status, 403);
  EXPECT_EQ(
      send(*alice, "PUT", std::string(kApi) + "/limits/alice", R"({"maxInstances":999})").status,
      403);
  EXPECT_EQ(send(*alice, "GET", std::string(kApi) + "/limits/alice").status, 200);
  // Her API key never shows its value, neither in reads nor in a watch.
  auto key = send(*alice, "GET", nsPath("alice", "apikeys") + "/gmail-key");
  ASSERT_EQ(key.status, 200);
  EXPECT_EQ(key.body.find(kSecretValue), std::string::npos);
  EXPECT_EQ(key.body.find("sealed"), std::string::npos);
  std::string lines;
  int status = alice->stream(
      "GET", nsPath("alice", "apikeys") + "?watch=true&resourceVersion=0&timeoutSeconds=5",
      [&](const std::string& line) {
        lines += line;
        return false;  // the ADDED event of gmail-key is enough
      },
      {}, std::chrono::seconds(10));
  EXPECT_EQ(status, 200);
  EXPECT_NE(lines.find("gmail-key"), std::string::npos);
  EXPECT_EQ(lines.find(kSecretValue), std::string::npos);
  EXPECT_EQ(lines.find("sealed"), std::string::npos);
  // Selecting on a hidden field is refused rather than answered.
  auto probe = send(*alice, "GET", nsPath("alice", "apikeys") + "?fieldSelector=sealed.value%3Dx");
  EXPECT_EQ(probe.status, 400);
}

TEST_F(TenancyTest, TokensAreCreatedListedAndRevokedAtOnce) {
  json carol = issue(R"({"namespace":"carol","name":"carol-laptop"})");
  EXPECT_EQ(carol["name"], "carol-laptop");
  EXPECT_EQ(carol["namespace"], "carol");
  auto client = as(carol["token"]);
  EXPECT_EQ(send(*client, "GET", nsPath("carol", "mcpinstances")).status, 200);

  auto list = admin_->request("GET", std::string(kApi) + "/tokens");
  ASSERT_EQ(list.status, 200);
  bool found = false;
  const json items = j(list)["items"];
  for (const auto& t : items) {
    if (t["name"] == "carol-laptop") {
      found = true;
      EXPECT_EQ(t["namespace"], "carol");
      EXPECT_TRUE(t.contains("createdAt"));
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(list.body.find(carol["token"].get<std::string>()), std::string::npos);

  EXPECT_EQ(admin_->request("DELETE", std::string(kApi) + "/tokens/carol-laptop").status, 200);
  EXPECT_EQ(send(*client, "GET", nsPath("carol", "mcpinstances")).status, 401);
  EXPECT_EQ(admin_->request("DELETE", std::string(kApi) + "/tokens/carol-laptop").status, 404);
  // The kubeconfig's admin token is the only admin one: it stays.
  EXPECT_EQ(admin_->request("DELETE", std::string(kApi) + "/tokens/admin").status, 409);
  EXPECT_EQ(admin_->request("GET", nsPath("alice", "mcpinstances")).status, 200);
}

TEST_F(TenancyTest, TheInstanceAfterTheQuotaIsRefusedAndNothingIsStored) {
  auto put = send(*admin_, "PUT", std::string(kApi) + "/limits/quota", R"({"maxInstances":2})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(j(put)["maxInstances"], 2);
  auto quota = as(issue(R"({"namespace":"quota"})")["token"]);
  for (const char* name : {"q1", "q2"}) {
    EXPECT_EQ(
        send(*quota, "POST", nsPath("quota", "mcpinstances"), instanceBody("quota", name).dump())
            .status,
        201);
  }
  auto third =
      send(*quota, "POST", nsPath("quota", "mcpinstances"), instanceBody("quota", "q3").dump());
  EXPECT_EQ(third.status, 403);
  EXPECT_EQ(j(third)["reason"], "Forbidden");
  EXPECT_EQ(j(third)["message"],
            "exceeded quota: namespace \"quota\" allows at most 2 MCPInstances");
  EXPECT_TRUE(userFields(nsPath("quota", "mcpinstances") + "/q3").is_null());
  EXPECT_EQ(j(admin_->request("GET", nsPath("quota", "mcpinstances")))["items"].size(), 2u);
}

TEST_F(TenancyTest, AnOverLongTtlIsRefusedAndNothingIsStored) {
  ASSERT_EQ(send(*admin_, "PUT", std::string(kApi) + "/limits/ttl", R"({"maxTTL":"24h"})").status,
            200);
  auto r = send(*admin_, "POST", nsPath("ttl", "mcpinstances"),
                instanceBody("ttl", "long", "48h").dump());
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(j(r)["message"], "spec.ttl 48h exceeds the maximum TTL 24h of namespace \"ttl\"");
  EXPECT_TRUE(userFields(nsPath("ttl", "mcpinstances") + "/long").is_null());
  auto limits = admin_->request("GET", std::string(kApi) + "/limits/ttl");
  EXPECT_EQ(j(limits)["maxTTL"], "24h");
}

TEST_F(TenancyTest, EnvAndConfigThatWouldReachCodeLoadingOrTheHostAreRefused) {
  auto alice = as(*aliceToken_);
  struct Case {
    std::string name;
    std::string type;
    json spec;  // merged into the suspended instance's spec
    std::string field;
  };
  auto env = [](const std::string& name) {
    return json{
        {"env", {{{"name", "LOG_LEVEL"}, {"value", "debug"}}, {{"name", name}, {"value", "x"}}}}};
  };
  const std::vector<Case> cases = {
      {"NODE_OPTIONS", "echo", env("NODE_OPTIONS"), "spec.env[1].name"},
      {"LD_PRELOAD", "echo", env("LD_PRELOAD"), "spec.env[1].name"},
      {"NODE_PATH", "echo", env("NODE_PATH"), "spec.env[1].name"},
      {"PATH", "echo", env("PATH"), "spec.env[1].name"},
      {"HOME", "echo", env("HOME"), "spec.env[1].name"},
      {"PORT", "echo", env("PORT"), "spec.env[1].name"},
      {"MCP_ACCESS_TOKEN", "echo", env("MCP_ACCESS_TOKEN"), "spec.env[1].name"},
      {"auth.env", "gmail", env("API_KEY"), "spec.env[1].name"},
      {"upstream URL", "gmail", env("GMAIL_API_ENDPOINT"), "spec.env[1].name"},
      {"root /", "filesystem", {{"config", {{"root", "/"}}}}, "spec.config.root"},
      {"root ..", "filesystem", {{"config", {{"root", "../bob"}}}}, "spec.config.root"},
      {"root /proc", "filesystem", {{"config", {{"root", "/proc/1"}}}}, "spec.config.root"},
  };
  for (const auto& c : cases) {
    json body = instanceBody("alice", "hostile");
    body["spec"]["type"] = c.type;
    body["spec"].merge_patch(c.spec);
    for (const std::string query : {"", "?dryRun=All"}) {
      auto r = send(*alice, "POST", nsPath("alice", "mcpinstances") + query, body.dump());
      EXPECT_EQ(r.status, 422) << c.name << query << ": " << r.body;
      EXPECT_EQ(j(r)["reason"], "Invalid") << c.name;
      EXPECT_NE(j(r).value("message", "").find(c.field + ": "), std::string::npos)
          << c.name << ": " << r.body;
      EXPECT_EQ(j(r)["details"]["causes"][0]["field"], c.field) << c.name;
    }
    EXPECT_TRUE(userFields(nsPath("alice", "mcpinstances") + "/hostile").is_null()) << c.name;
  }
  // The same through an update of an instance she owns: refused, the stored spec unchanged.
  const std::string inbox = nsPath("alice", "mcpinstances") + "/inbox";
  const json before = userFields(inbox);
  auto patched = send(*alice, "PATCH", inbox, json{{"spec", env("NODE_OPTIONS")}}.dump(),
                      "application/merge-patch+json");
  EXPECT_EQ(patched.status, 422) << patched.body;
  EXPECT_EQ(userFields(inbox), before);
  // What the policy allows is stored: the debug variables, a root inside her own directory.
  json ok = instanceBody("alice", "allowed");
  ok["spec"]["type"] = "filesystem";
  ok["spec"]["config"] = {{"root", "."}};
  ok["spec"]["env"] = {{{"name", "DEBUG"}, {"value", "*"}}};
  auto created = send(*alice, "POST", nsPath("alice", "mcpinstances"), ok.dump());
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(send(*alice, "DELETE", nsPath("alice", "mcpinstances") + "/allowed").status, 200);
}

TEST_F(TenancyTest, InstanceTokensAreForTheOwnerAndRotate) {
  auto alice = as(*aliceToken_);
  const std::string path = nsPath("alice", "mcpinstances") + "/inbox/token";
  auto r = send(*alice, "GET", path);
  ASSERT_EQ(r.status, 200) << r.body;
  json t = j(r);
  EXPECT_EQ(t["kind"], "InstanceToken");
  EXPECT_EQ(t["tokenGeneration"], 0);
  std::string token = t["token"];
  EXPECT_EQ(token.rfind("mcpi_", 0), 0u);
  EXPECT_EQ(send(*admin_, "GET", path).status, 200);
  // An instance token opens the gateway and, of the API, only its own oauth2token report: it
  // is known to the API (so 403, not 401) and may read nothing.
  auto withInstanceToken = as(token);
  EXPECT_EQ(send(*withInstanceToken, "GET", nsPath("alice", "mcpinstances")).status, 403);
  EXPECT_EQ(send(*withInstanceToken, "GET", path).status, 403);
  // Rotation: the client bumps tokenGeneration.
  ASSERT_EQ(send(*alice, "PATCH", nsPath("alice", "mcpinstances") + "/inbox",
                 R"({"spec":{"tokenGeneration":1}})", "application/merge-patch+json")
                .status,
            200);
  json rotated = j(send(*alice, "GET", path));
  EXPECT_EQ(rotated["tokenGeneration"], 1);
  EXPECT_NE(rotated["token"], token);
}

TEST_F(TenancyTest, LogsTailAndFollow) {
  namespace fs = std::filesystem;
  auto alice = as(*aliceToken_);
  const std::string base = nsPath("alice", "mcpinstances");
  // Never ran: no log yet, an empty body.
  auto empty = send(*alice, "GET", base + "/inbox/log");
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body, "");
  EXPECT_EQ(send(*alice, "GET", base + "/absent/log").status, 404);

  fs::path dir = fs::path(mcpd_->dataDir()) / "logs" / "alice" / "logger";
  fs::create_directories(dir);
  auto append = [&](const std::string& file, const std::string& text) {
    std::ofstream(dir / file, std::ios::app) << text;
  };
  append("output.log.1", "old1\nold2\n");
  append("output.log", "line1\nline2\nline3\n");
  auto all = send(*alice, "GET", base + "/logger/log");
  EXPECT_EQ(all.body, "old1\nold2\nline1\nline2\nline3\n");
  EXPECT_EQ(all.headers["content-type"].rfind("text/plain", 0), 0u);
  EXPECT_EQ(send(*alice, "GET", base + "/logger/log?tailLines=4").body,
            "old2\nline1\nline2\nline3\n");

  std::vector<std::string> seen;
  int status = alice->stream(
      "GET", base + "/logger/log?follow=true&tailLines=1",
      [&](const std::string& line) {
        seen.push_back(line);
        if (line.find("line3") != std::string::npos) append("output.log", "line4\n");
        return line.find("line4") == std::string::npos;
      },
      {}, std::chrono::seconds(10));
  EXPECT_EQ(status, 200);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_NE(seen[0].find("line3"), std::string::npos);
  EXPECT_NE(seen[1].find("line4"), std::string::npos);
  // The client that went away does not break the next requests of the same connection.
  EXPECT_EQ(send(*alice, "GET", base + "/logger/log?tailLines=1").body, "line4\n");
}

}  // namespace
}  // namespace minimcp
