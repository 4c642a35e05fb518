// The authorizer: one table of roles × verbs × resources × subresources with the expected
// decision, a sweep over every combination checking the rules that must hold whatever the
// table misses, and the status subresource through the REST handler with the real kinds.
#include "api/server/authorizer.h"

#include <gtest/gtest.h>

#include "api/server/limits.h"
#include "api/server/rest_handler.h"
#include "tests/unit/server/fake_kinds.h"

namespace minimcp::server {
namespace {

using nlohmann::json;
using testing::TempDir;
using Effect = Decision::Effect;

const Identity kAdmin{Identity::Role::Admin, "", "admin"};
// A node's identity is its kubeconfig's admin token `admin-<node>` (authorizer.h).
const Identity kNode{Identity::Role::Admin, "", "admin-node-a"};
const Identity kAlice{Identity::Role::Namespace, "alice", "alice-1"};
const Identity kInbox{Identity::Role::Instance, "alice", "inbox"};

struct Row {
  const char* who;
  Attributes a;
  Effect expect;
  const char* reason = "";  // a part of the denial's message
};

const Identity& identity(const std::string& who) {
  if (who == "admin") return kAdmin;
  if (who == "node") return kNode;
  if (who == "alice") return kAlice;
  return kInbox;
}

std::string describe(const Row& r) {
  return std::string(r.who) + " " + r.a.verb + " " + r.a.resource +
         (r.a.subresource.empty() ? "" : "/" + r.a.subresource) + " ns=" + r.a.ns +
         " name=" + r.a.name;
}

const Row kTable[] = {
    // The admin and the nodes: everything, status writes included.
    {"admin", {"update", "mcpinstances", "status", "bob", "x"}, Effect::Allow},
    {"admin", {"patch", "mcpinstances", "status", "alice", "inbox"}, Effect::Allow},
    {"admin", {"create", "tokens", "", "", ""}, Effect::Allow},
    {"admin", {"update", "limits", "", "", "alice"}, Effect::Allow},
    {"admin", {"get", "metrics", "", "", ""}, Effect::Allow},
    {"admin", {"create", "mcptypes", "", "", ""}, Effect::Allow},
    {"admin", {"list", "mcpinstances", "", "", ""}, Effect::Allow},
    {"admin", {"connect", "mcpinstances", "", "bob", "x"}, Effect::Allow},
    {"node", {"patch", "mcpinstances", "status", "alice", "inbox"}, Effect::Allow},
    {"node", {"update", "nodes", "status", "", "node-a"}, Effect::Allow},
    {"node", {"create", "events", "", "alice", ""}, Effect::Allow},
    {"node", {"connect", "mcpinstances", "", "alice", "inbox"}, Effect::Allow},

    // A tenant in its own namespace: the kinds it owns, every verb.
    {"alice", {"get", "mcpinstances", "", "alice", "inbox"}, Effect::Allow},
    {"alice", {"list", "mcpinstances", "", "alice", ""}, Effect::Allow},
    {"alice", {"watch", "mcpinstances", "", "alice", ""}, Effect::Allow},
    {"alice", {"create", "mcpinstances", "", "alice", ""}, Effect::Allow},
    {"alice", {"update", "mcpinstances", "", "alice", "inbox"}, Effect::Allow},
    {"alice", {"patch", "mcpinstances", "", "alice", "inbox"}, Effect::Allow},
    {"alice", {"delete", "mcpinstances", "", "alice", "inbox"}, Effect::Allow},
    {"alice", {"create", "apikeys", "", "alice", ""}, Effect::Allow},
    {"alice", {"delete", "apikeys", "", "alice", "key"}, Effect::Allow},
    {"alice", {"create", "notificationsinks", "", "alice", ""}, Effect::Allow},
    {"alice", {"patch", "notificationsinks", "", "alice", "hooks"}, Effect::Allow},
    {"alice", {"delete", "notificationsinks", "", "alice", "hooks"}, Effect::Allow},
    {"alice",
     {"patch", "notificationsinks", "status", "alice", "hooks"},
     Effect::Forbid,
     "notificationsinks/status"},
    // ... /status is the control plane's: read, never written.
    {"alice", {"get", "mcpinstances", "status", "alice", "inbox"}, Effect::Allow},
    {"alice",
     {"update", "mcpinstances", "status", "alice", "inbox"},
     Effect::Forbid,
     "mcpinstances/status is written by the control plane"},
    {"alice",
     {"patch", "mcpinstances", "status", "alice", "inbox"},
     Effect::Forbid,
     "mcpinstances/status is written by the control plane"},
    {"alice", {"patch", "apikeys", "status", "alice", "key"}, Effect::Forbid, "apikeys/status"},
    // ... the views of an instance: read-only.
    {"alice", {"get", "mcpinstances", "log", "alice", "inbox"}, Effect::Allow},
    {"alice", {"get", "mcpinstances", "token", "alice", "inbox"}, Effect::Allow},
    {"alice", {"patch", "mcpinstances", "log", "alice", "inbox"}, Effect::Forbid, "read-only"},
    // ... events are the control plane's record.
    {"alice", {"get", "events", "", "alice", "inbox.1"}, Effect::Allow},
    {"alice", {"list", "events", "", "alice", ""}, Effect::Allow},
    {"alice", {"create", "events", "", "alice", ""}, Effect::Forbid, "events are written by"},
    {"alice", {"delete", "events", "", "alice", "inbox.1"}, Effect::Forbid, "events are written"},
    // ... the gateway.
    {"alice", {"connect", "mcpinstances", "", "alice", "inbox"}, Effect::Allow},
    {"alice", {"connect", "apikeys", "", "alice", "key"}, Effect::Forbid},

    // A tenant elsewhere: named objects hidden (404), collections and creates 403.
    {"alice", {"get", "mcpinstances", "", "bob", "x"}, Effect::Hide},
    {"alice", {"delete", "mcpinstances", "", "bob", "x"}, Effect::Hide},
    {"alice", {"get", "mcpinstances", "status", "bob", "x"}, Effect::Hide},
    {"alice", {"patch", "mcpinstances", "status", "bob", "x"}, Effect::Hide},
    {"alice", {"get", "mcpinstances", "log", "bob", "x"}, Effect::Hide},
    {"alice", {"get", "mcpinstances", "token", "bob", "x"}, Effect::Hide},
    {"alice", {"connect", "mcpinstances", "", "bob", "x"}, Effect::Hide},
    {"alice", {"get", "events", "", "bob", "x"}, Effect::Hide},
    {"alice", {"get", "notificationsinks", "", "bob", "hooks"}, Effect::Hide},
    {"alice", {"create", "notificationsinks", "", "bob", ""}, Effect::Forbid, "namespace \"bob\""},
    {"alice", {"list", "notificationsinks", "", "", ""}, Effect::Forbid, "across namespaces"},
    {"alice", {"list", "mcpinstances", "", "bob", ""}, Effect::Forbid, "namespace \"bob\""},
    {"alice", {"watch", "apikeys", "", "bob", ""}, Effect::Forbid, "namespace \"bob\""},
    {"alice", {"create", "mcpinstances", "", "bob", ""}, Effect::Forbid, "namespace \"bob\""},
    {"alice", {"list", "mcpinstances", "", "", ""}, Effect::Forbid, "across namespaces"},
    {"alice", {"watch", "events", "", "", ""}, Effect::Forbid, "across namespaces"},

    // A tenant on cluster-scoped kinds: read-only.
    {"alice", {"get", "mcptypes", "", "", "echo"}, Effect::Allow},
    {"alice", {"list", "nodes", "", "", ""}, Effect::Allow},
    {"alice", {"get", "nodes", "status", "", "node-a"}, Effect::Allow},
    {"alice", {"create", "mcptypes", "", "", ""}, Effect::Forbid, "read-only"},
    {"alice", {"patch", "nodes", "status", "", "node-a"}, Effect::Forbid, "read-only"},
    {"alice", {"delete", "mcptypes", "", "", "echo"}, Effect::Forbid, "read-only"},

    // A tenant and the non-resource actions.
    {"alice", {"create", "tokens", "", "", ""}, Effect::Forbid, "tokens are managed by the admin"},
    {"alice", {"list", "tokens", "", "", ""}, Effect::Forbid, "tokens are managed by the admin"},
    {"alice", {"delete", "tokens", "", "", "admin"}, Effect::Forbid, "tokens are managed"},
    {"alice", {"get", "limits", "", "", "alice"}, Effect::Allow},
    {"alice", {"get", "limits", "", "", "bob"}, Effect::Forbid, "of namespace \"bob\""},
    {"alice", {"list", "limits", "", "", ""}, Effect::Forbid, "limits are managed by the admin"},
    {"alice", {"update", "limits", "", "", "alice"}, Effect::Forbid, "managed by the admin"},
    {"alice", {"delete", "limits", "", "", "alice"}, Effect::Forbid, "managed by the admin"},
    {"alice", {"get", "metrics", "", "", ""}, Effect::Forbid, "metrics need the admin token"},
    {"alice", {"get", "namespaces", "", "", "bob"}, Effect::Allow},
    {"alice", {"delete", "namespaces", "", "", "bob"}, Effect::Forbid},
    {"alice", {"get", "widgets", "", "alice", "w"}, Effect::Forbid, "unknown resource"},
    {"alice", {"escalate", "mcpinstances", "", "alice", "x"}, Effect::Forbid, "escalate"},

    // An instance token: its own instance through the gateway, nothing else.
    {"inbox", {"connect", "mcpinstances", "", "alice", "inbox"}, Effect::Allow},
    {"inbox", {"connect", "mcpinstances", "", "alice", "other"}, Effect::Hide},
    {"inbox", {"connect", "mcpinstances", "", "bob", "inbox"}, Effect::Hide},
    {"inbox", {"get", "mcpinstances", "", "alice", "inbox"}, Effect::Forbid, "gateway only"},
    {"inbox", {"patch", "mcpinstances", "status", "alice", "inbox"}, Effect::Forbid},
    {"inbox", {"get", "mcpinstances", "token", "alice", "inbox"}, Effect::Forbid},
    {"inbox", {"get", "limits", "", "", "alice"}, Effect::Forbid},
};

TEST(Authorizer, TableOfRolesVerbsResourcesAndSubresources) {
  Authorizer authz;
  for (const auto& row : kTable) {
    SCOPED_TRACE(describe(row));
    Decision d = authz.authorize(identity(row.who), row.a);
    EXPECT_EQ(d.effect, row.expect) << d.reason;
    EXPECT_NE(d.reason.find(row.reason), std::string::npos) << d.reason;
    if (!d.allowed()) {
      EXPECT_FALSE(d.reason.empty());
    }
  }
}

// Every combination, against the rules the table must never contradict.
TEST(Authorizer, RulesHoldForEveryCombination) {
  Authorizer authz;
  const char* verbs[] = {"get",   "list",   "watch",   "create",  "update",
                         "patch", "delete", "connect", "escalate"};
  const char* resources[] = {"mcpinstances", "apikeys", "events",           "mcptypes",
                             "nodes",        "tokens",  "limits",           "metrics",
                             "namespaces",   "unknown", "notificationsinks"};
  const char* subresources[] = {"", "status", "log", "token"};
  const char* namespaces[] = {"", "alice", "bob"};
  const char* names[] = {"", "inbox", "alice"};
  const bool writes[] = {false, false, false, true, true, true, true, false, true};
  int checked = 0;
  for (const char* who : {"admin", "node", "alice", "inbox"}) {
    for (size_t v = 0; v < std::size(verbs); ++v) {
      for (const char* res : resources) {
        for (const char* sub : subresources) {
          for (const char* ns : namespaces) {
            for (const char* name : names) {
              Row row{who, {verbs[v], res, sub, ns, name}, Effect::Allow};
              SCOPED_TRACE(describe(row));
              Decision d = authz.authorize(identity(who), row.a);
              ++checked;
              std::string r = res, s = sub, n = ns;
              if (std::string(who) == "admin" || std::string(who) == "node") {
                EXPECT_TRUE(d.allowed());
                continue;
              }
              if (!d.allowed()) {
                EXPECT_FALSE(d.reason.empty());
              }
              if (std::string(who) == "inbox") {
                bool own = std::string(verbs[v]) == "connect" && r == "mcpinstances" && s.empty() &&
                           n == "alice" && std::string(name) == "inbox";
                EXPECT_EQ(d.allowed(), own);
                continue;
              }
              // The tenant alice.
              if (s == "status" && writes[v]) {
                EXPECT_FALSE(d.allowed());
              }
              if (r == "tokens" || r == "metrics" || r == "unknown") {
                EXPECT_FALSE(d.allowed());
              }
              if (r == "limits" && writes[v]) {
                EXPECT_FALSE(d.allowed());
              }
              if (r == "events" && writes[v]) {
                EXPECT_FALSE(d.allowed());
              }
              if (std::string(verbs[v]) == "escalate") {
                EXPECT_FALSE(d.allowed());
              }
              bool namespaced = r == "mcpinstances" || r == "apikeys" || r == "events" ||
                                r == "notificationsinks";
              if (namespaced && n != "alice") {
                EXPECT_FALSE(d.allowed());
                // 404 exactly when it names one object elsewhere (no existence leak).
                if (std::string(verbs[v]) != "escalate") {
                  EXPECT_EQ(d.effect, std::string(name).empty() ? Effect::Forbid : Effect::Hide);
                }
              }
              if ((r == "mcptypes" || r == "nodes") && writes[v]) {
                EXPECT_FALSE(d.allowed());
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 4 * 9 * 11 * 4 * 3 * 3);
}

TEST(Authorizer, DenialsAnswerTheirStatus) {
  Authorizer authz;
  Attributes elsewhere{"get", "mcpinstances", "", "bob", "x"};
  ApiError hidden = authz.authorize(kAlice, elsewhere).error(elsewhere);
  EXPECT_EQ(hidden.code(), 404);
  EXPECT_EQ(hidden.toStatus()["details"]["name"], "x");
  Attributes status{"patch", "mcpinstances", "status", "alice", "inbox"};
  ApiError forbidden = authz.authorize(kAlice, status).error(status);
  EXPECT_EQ(forbidden.code(), 403);
  EXPECT_EQ(forbidden.reason(), "Forbidden");
  EXPECT_THROW(authz.check(kAlice, status), ApiError);
  EXPECT_NO_THROW(authz.check(kNode, status));
}

TEST(ApiVerb, FromMethodAndPath) {
  EXPECT_EQ(apiVerb("GET", true, false), "list");
  EXPECT_EQ(apiVerb("GET", true, true), "watch");
  EXPECT_EQ(apiVerb("POST", true, false), "create");
  EXPECT_EQ(apiVerb("PUT", true, false), "");
  EXPECT_EQ(apiVerb("GET", false, true), "get");
  EXPECT_EQ(apiVerb("PUT", false, false), "update");
  EXPECT_EQ(apiVerb("PATCH", false, false), "patch");
  EXPECT_EQ(apiVerb("DELETE", false, false), "delete");
  EXPECT_EQ(apiVerb("POST", false, false), "");
  EXPECT_EQ(apiVerb("OPTIONS", false, false), "");
}

// The status subresource through the REST handler, with the real kinds and a real store.
class StatusSubresourceTest : public ::testing::Test {
 protected:
  static constexpr const char* kInstances =
      "/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances";

  StatusSubresourceTest() {
    store_ = store::openStore("sqlite:" + dir_.path() + "/test.db", 100);
    rest_ = std::make_unique<RestHandler>(*store_, model::Registry::instance(), clock_);
    json obj = {{"apiVersion", "minimcp.io/v1alpha1"},
                {"kind", "MCPInstance"},
                {"metadata", {{"name", "inbox"}, {"namespace", "alice"}}},
                {"spec", {{"type", "echo"}, {"ttl", "1h"}}},
                {"status", {{"phase", "Running"}, {"port", 1}}}};
    auto created = call("POST", kInstances, obj.dump(), kAlice);
    EXPECT_EQ(created.status, 201) << created.body;
    // The control plane's record.
    auto st = call("PATCH", std::string(kInstances) + "/inbox/status",
                   R"({"status":{"phase":"Running","port":20001,"pid":4242}})", kNode,
                   "application/merge-patch+json");
    EXPECT_EQ(st.status, 200) << st.body;
  }

  Response call(const std::string& method, const std::string& target, const std::string& body,
                const Identity& who, const std::string& contentType = "application/json") {
    Request r;
    r.method = method;
    r.target = target;
    parseTarget(target, r.path, r.query);
    r.headers = {{"content-type", contentType}};
    r.body = body;
    return rest_->handle(r, *parseResourcePath(r.path), who);
  }
  json stored() { return *store_->get("mcpinstances", "alice", "inbox"); }

  TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<RestHandler> rest_;
};

TEST_F(StatusSubresourceTest, CreateDropsTheStatusATenantWrote) {
  // The constructor's create carried status.port 1; only the node's patch is in the record.
  EXPECT_EQ(stored()["status"]["port"], 20001);
  EXPECT_EQ(stored()["status"]["pid"], 4242);
}

TEST_F(StatusSubresourceTest, ATenantReadsStatusButNeverWritesIt) {
  const std::string status = std::string(kInstances) + "/inbox/status";
  const json before = stored();
  auto get = call("GET", status, "", kAlice);
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(json::parse(get.body)["status"]["port"], 20001);

  const std::string patch = R"({"status":{"port":22,"pid":1,"processStartTime":"1"}})";
  auto merge = call("PATCH", status, patch, kAlice, "application/merge-patch+json");
  EXPECT_EQ(merge.status, 403);
  json s = json::parse(merge.body);
  EXPECT_EQ(s["reason"], "Forbidden");
  EXPECT_NE(s["message"].get<std::string>().find("mcpinstances/status"), std::string::npos);
  json whole = before;
  whole["status"]["port"] = 22;
  EXPECT_EQ(call("PUT", status, whole.dump(), kAlice).status, 403);
  EXPECT_EQ(call("PATCH", status, R"([{"op":"replace","path":"/status/port","value":22}])", kAlice,
                 "application/json-patch+json")
                .status,
            403);
  EXPECT_EQ(
      call("PATCH", status + "?dryRun=All", patch, kAlice, "application/merge-patch+json").status,
      403);
  EXPECT_EQ(stored(), before);

  // The admin and the nodes write it.
  auto admin =
      call("PATCH", status, R"({"status":{"port":20002}})", kAdmin, "application/merge-patch+json");
  EXPECT_EQ(admin.status, 200) << admin.body;
  EXPECT_EQ(stored()["status"]["port"], 20002);
}

TEST_F(StatusSubresourceTest, ATenantsWriteOfTheMainResourceLeavesStatusAlone) {
  const std::string obj = std::string(kInstances) + "/inbox";
  const json before = stored();
  json put = before;
  put["status"] = {{"port", 22}, {"pid", 1}, {"phase", "Failed"}};
  put["spec"]["suspend"] = true;
  auto r = call("PUT", obj, put.dump(), kAlice);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(stored()["spec"]["suspend"], true);
  EXPECT_EQ(stored()["status"], before["status"]);

  auto merge = call("PATCH", obj, R"({"spec":{"suspend":false},"status":{"port":22}})", kAlice,
                    "application/merge-patch+json");
  ASSERT_EQ(merge.status, 200) << merge.body;
  EXPECT_EQ(stored()["spec"]["suspend"], false);
  EXPECT_EQ(stored()["status"], before["status"]);

  auto jsonPatch = call("PATCH", obj, R"([{"op":"replace","path":"/status/port","value":22}])",
                        kAlice, "application/json-patch+json");
  ASSERT_EQ(jsonPatch.status, 200) << jsonPatch.body;
  EXPECT_EQ(stored()["status"], before["status"]);

  json apply = {{"apiVersion", "minimcp.io/v1alpha1"},
                {"kind", "MCPInstance"},
                {"metadata", {{"name", "inbox"}, {"namespace", "alice"}}},
                {"spec", {{"type", "echo"}, {"ttl", "1h"}}},
                {"status", {{"port", 22}}}};
  auto applied =
      call("PATCH", obj + "?fieldManager=t", apply.dump(), kAlice, "application/apply-patch+yaml");
  ASSERT_EQ(applied.status, 200) << applied.body;
  EXPECT_EQ(stored()["status"], before["status"]);
}

TEST_F(StatusSubresourceTest, AnotherTenantLearnsNothing) {
  const Identity bob{Identity::Role::Namespace, "bob", "bob-1"};
  const std::string status = std::string(kInstances) + "/inbox/status";
  auto r = call("PATCH", status, R"({"status":{"port":22}})", bob, "application/merge-patch+json");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(call("PATCH", std::string(kInstances) + "/absent/status", R"({"status":{}})", bob,
                 "application/merge-patch+json")
                .status,
            404);
  EXPECT_EQ(stored()["status"]["port"], 20001);
}

}  // namespace
}  // namespace minimcp::server
