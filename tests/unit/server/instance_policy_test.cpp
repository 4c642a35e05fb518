// MCPInstance env and config policy at the API (api/server/instance_policy.h with the kinds'
// own checks): every write verb, dry runs included, is refused with 422 naming the field, and
// nothing is stored. Real SQLite store, real kinds, real files for the symlink cases.
#include "api/server/instance_policy.h"

#include <gtest/gtest.h>

#include "api/server/rest_handler.h"
#include "tests/unit/server/fake_kinds.h"

namespace minimcp::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

constexpr const char* kTypes = "/apis/minimcp.io/v1alpha1/mcptypes";
constexpr const char* kAlice = "/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances";
const Identity kAdmin{};
const Identity kAlice_{Identity::Role::Namespace, "alice", "alice-1"};

json instance(const std::string& name, const std::string& type, json spec = json::object()) {
  spec["type"] = type;
  spec["ttl"] = "1h";
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "MCPInstance"},
          {"metadata", {{"name", name}, {"namespace", "alice"}}},
          {"spec", spec}};
}

json typeObject(const std::string& name, json spec) {
  spec["server"] = {{"command", "node"}, {"args", {name + "/server.js"}}};
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "MCPType"},
          {"metadata", {{"name", name}}},
          {"spec", spec}};
}

class InstancePolicyTest : public ::testing::Test {
 protected:
  InstancePolicyTest() {
    store_ = store::openStore("sqlite:" + dir_.path() + "/test.db", 100);
    rest_ = std::make_unique<RestHandler>(*store_, model::Registry::instance(), clock_);
    rest_->addAdmission("mcpinstances", instancePolicyAdmission(*store_, dataDir()));
    fs::create_directories(shared() / "docs");
    fs::create_directory_symlink("/", shared() / "escape");
    createType("slack", {{"auth", {{"type", "bearer-token"}, {"env", "API_KEY"}}},
                         {"instanceEnv", {"SLACK_TEAM"}}});
    createType("filesystem", {{"configConstraints",
                               {{{"field", "root"}, {"allowedRoots", {shared().string()}}}}}});
  }

  fs::path dataDir() const { return fs::path(dir_.path()) / "data"; }
  fs::path shared() const { return fs::canonical(dir_.path()) / "shared"; }

  void createType(const std::string& name, json spec) {
    auto r = call("POST", kTypes, typeObject(name, std::move(spec)).dump(), kAdmin);
    ASSERT_EQ(r.status, 201) << r.body;
  }

  Response call(const std::string& method, const std::string& target, const std::string& body,
                const Identity& who = kAlice_,
                const std::string& contentType = "application/json") {
    Request r;
    r.method = method;
    r.target = target;
    parseTarget(target, r.path, r.query);
    r.headers = {{"content-type", contentType}};
    r.body = body;
    return rest_->handle(r, *parseResourcePath(r.path), who);
  }

  // 422 Invalid whose causes are exactly `fields` (and the message names the first).
  static void expectInvalid(const Response& r, const std::vector<std::string>& fields,
                            const std::string& what) {
    EXPECT_EQ(r.status, 422) << what << ": " << r.body;
    json status = json::parse(r.body, nullptr, false);
    EXPECT_EQ(status.value("reason", ""), "Invalid") << what;
    std::vector<std::string> got;
    for (const auto& c : status["details"].value("causes", json::array())) {
      got.push_back(c.value("field", ""));
    }
    EXPECT_EQ(got, fields) << what << ": " << r.body;
    if (!fields.empty()) {
      EXPECT_NE(status.value("message", "").find(fields[0] + ": "), std::string::npos) << what;
    }
  }

  size_t count() { return store_->list("mcpinstances", {.ns = "alice"}).items.size(); }
  json stored(const std::string& name) {
    auto o = store_->get("mcpinstances", "alice", name);
    return o ? (*o)["spec"] : json();
  }

  TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<RestHandler> rest_;
};

// Every way of writing an instance, each given the same spec.
struct Verb {
  std::string name;
  std::function<Response(json obj)> write;
};

TEST_F(InstancePolicyTest, EveryWriteVerbRefusesWhatThePolicyRefusesAndStoresNothing) {
  const std::string path = std::string(kAlice) + "/x";
  // `x` exists for the verbs that change an instance; creates use `y`.
  ASSERT_EQ(call("POST", kAlice, instance("x", "slack").dump()).status, 201);
  const json before = stored("x");
  const std::vector<Verb> verbs = {
      {"create",
       [&](json obj) {
         obj["metadata"]["name"] = "y";
         return call("POST", kAlice, obj.dump());
       }},
      {"create dry run",
       [&](json obj) {
         obj["metadata"]["name"] = "y";
         return call("POST", std::string(kAlice) + "?dryRun=All", obj.dump());
       }},
      {"update", [&](json obj) { return call("PUT", path, obj.dump()); }},
      {"update dry run", [&](json obj) { return call("PUT", path + "?dryRun=All", obj.dump()); }},
      {"merge patch",
       [&](json obj) {
         return call("PATCH", path, json({{"spec", obj["spec"]}}).dump(), kAlice_,
                     "application/merge-patch+json");
       }},
      {"json patch",
       [&](json obj) {
         json ops = json::array();
         for (const auto& [k, v] : obj["spec"].items()) {
           ops.push_back({{"op", "add"}, {"path", "/spec/" + k}, {"value", v}});
         }
         return call("PATCH", path, ops.dump(), kAlice_, "application/json-patch+json");
       }},
      {"apply",
       [&](json obj) {
         return call("PATCH", path + "?fieldManager=test&force=true", obj.dump(), kAlice_,
                     "application/apply-patch+yaml");
       }},
      {"apply creates",
       [&](json obj) {
         obj["metadata"]["name"] = "y";
         return call("PATCH", std::string(kAlice) + "/y?fieldManager=test", obj.dump(), kAlice_,
                     "application/apply-patch+yaml");
       }},
  };
  struct Case {
    std::string name;
    json obj;
    std::vector<std::string> fields;
  };
  auto env = [](std::vector<std::string> names) {
    json list = json::array();
    for (const auto& n : names) list.push_back({{"name", n}, {"value", "v"}});
    return json{{"env", list}};
  };
  const std::vector<Case> cases = {
      {"loader names",
       instance("x", "slack", env({"LOG_LEVEL", "NODE_OPTIONS", "LD_PRELOAD", "PATH", "HOME"})),
       {"spec.env[1].name", "spec.env[2].name", "spec.env[3].name", "spec.env[4].name"}},
      {"reserved names",
       instance("x", "slack", env({"PORT", "MCP_ID", "DEBUG"})),
       {"spec.env[0].name", "spec.env[1].name"}},
      {"the type's key variable",
       instance("x", "slack", env({"SLACK_TEAM", "API_KEY"})),
       {"spec.env[1].name"}},
      {"not in the type's instanceEnv",
       instance("x", "slack", env({"SLACK_API_URL"})),
       {"spec.env[0].name"}},
      {"root /", instance("x", "filesystem", {{"config", {{"root", "/"}}}}), {"spec.config.root"}},
      {"root ..",
       instance("x", "filesystem", {{"config", {{"root", "../../.."}}}}),
       {"spec.config.root"}},
      {"root symlink out",
       instance("x", "filesystem", {{"config", {{"root", (shared() / "escape").string()}}}}),
       {"spec.config.root"}},
      {"root list",
       instance("x", "filesystem", {{"config", {{"root", {"docs", "/etc"}}}}}),
       {"spec.config.root[1]"}},
  };
  for (const auto& c : cases) {
    for (const auto& v : verbs) {
      expectInvalid(v.write(c.obj), c.fields, c.name + " / " + v.name);
      EXPECT_EQ(count(), 1u) << c.name << " / " << v.name;
      EXPECT_EQ(stored("x"), before) << c.name << " / " << v.name;
    }
  }
}

TEST_F(InstancePolicyTest, WhatThePolicyAllowsIsStored) {
  auto ok = [&](const json& obj) {
    auto r = call("POST", kAlice, obj.dump());
    EXPECT_EQ(r.status, 201) << r.body;
  };
  ok(instance("a", "slack",
              {{"env",
                {{{"name", "LOG_LEVEL"}, {"value", "debug"}},
                 {{"name", "DEBUG"}, {"value", "*"}},
                 {{"name", "SLACK_TEAM"}, {"value", "T1"}}}}}));
  ok(instance("b", "filesystem", {{"config", {{"root", "docs"}}}}));
  ok(instance("c", "filesystem", {{"config", {{"root", "."}}}}));
  ok(instance("d", "filesystem", {{"config", {{"root", (shared() / "docs").string()}}}}));
  ok(instance("e", "filesystem", {{"config", {{"maxSessions", 2}}}}));
  EXPECT_EQ(count(), 5u);
}

TEST_F(InstancePolicyTest, WithoutItsTypeOnlyTheChecksThatNeedNoTypeApply) {
  auto r = call(
      "POST", kAlice,
      instance("a", "later",
               {{"env", {{{"name", "ANYTHING"}, {"value", "1"}}}}, {"config", {{"root", "/"}}}})
          .dump());
  EXPECT_EQ(r.status, 201) << r.body << " (checked at launch, once the type exists)";
  expectInvalid(
      call("POST", kAlice,
           instance("b", "later", {{"env", {{{"name", "LD_PRELOAD"}, {"value", "x"}}}}}).dump()),
      {"spec.env[0].name"}, "loader name");
}

TEST_F(InstancePolicyTest, WhatWasStoredBeforeTheTypeNarrowedIsNotCheckedAgainOnUpdate) {
  ASSERT_EQ(
      call("POST", kAlice,
           instance("a", "slack", {{"env", {{{"name", "SLACK_TEAM"}, {"value", "T1"}}}}}).dump())
          .status,
      201);
  ASSERT_EQ(call("POST", kAlice,
                 instance("b", "filesystem", {{"config", {{"root", (shared() / "docs").string()}}}})
                     .dump())
                .status,
            201);
  // The admin narrows both types.
  auto narrow = [&](const std::string& name, const json& patch) {
    auto r = call("PATCH", std::string(kTypes) + "/" + name, patch.dump(), kAdmin,
                  "application/merge-patch+json");
    ASSERT_EQ(r.status, 200) << r.body;
  };
  narrow("slack", {{"spec", {{"instanceEnv", nullptr}}}});
  narrow("filesystem", {{"spec", {{"configConstraints", {{{"field", "root"}}}}}}});
  // Suspending (or re-applying) what is stored still works: the launch applies the new policy.
  for (const char* name : {"a", "b"}) {
    auto r = call("PATCH", std::string(kAlice) + "/" + name, R"({"spec":{"suspend":true}})",
                  kAlice_, "application/merge-patch+json");
    EXPECT_EQ(r.status, 200) << r.body;
  }
  // Anything new is checked against the type as it is now.
  expectInvalid(call("PATCH", std::string(kAlice) + "/a",
                     R"({"spec":{"env":[{"name":"SLACK_TEAM","value":"T1"},)"
                     R"({"name":"GREETING","value":"x"}]}})",
                     kAlice_, "application/merge-patch+json"),
                {"spec.env[1].name"}, "new name");
  expectInvalid(call("PATCH", std::string(kAlice) + "/b", R"({"spec":{"config":{"root":"/tmp"}}})",
                     kAlice_, "application/merge-patch+json"),
                {"spec.config.root"}, "new root");
}

TEST_F(InstancePolicyTest, ATypeMayNotListALoaderOrReservedName) {
  auto r = call("POST", kTypes,
                typeObject("bad", {{"auth", {{"type", "api-key"}, {"env", "API_KEY"}}},
                                   {"instanceEnv", {"OK_NAME", "NODE_OPTIONS", "API_KEY", "PORT"}}})
                    .dump(),
                kAdmin);
  expectInvalid(r, {"spec.instanceEnv[1]", "spec.instanceEnv[2]", "spec.instanceEnv[3]"}, "type");
  EXPECT_FALSE(store_->get("mcptypes", "", "bad"));
}

}  // namespace
}  // namespace minimcp::server
