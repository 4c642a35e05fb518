#include "api/model/strategy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/model/kinds.h"
#include "api/model/quantity.h"
#include "api/model/yaml.h"

namespace minimcp::model {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using ::testing::UnorderedElementsAreArray;

class FakeClock : public Clock {
 public:
  TimePoint t = *parseRfc3339("2026-01-01T00:00:00Z");
  TimePoint now() const override { return t; }
  std::chrono::steady_clock::time_point steadyNow() const override {
    return std::chrono::steady_clock::time_point(t.time_since_epoch());
  }
};

json yaml(const std::string& text) { return parseJsonOrYaml(text); }

// "field reason" pairs, order-independent.
std::vector<std::string> fieldsAndReasons(const std::vector<Cause>& causes) {
  std::vector<std::string> out;
  for (const auto& c : causes) out.push_back(c.field + " " + c.reason);
  return out;
}

std::string dump(const std::vector<Cause>& causes) {
  std::string s;
  for (const auto& c : causes) s += c.field + ": " + c.reason + ": " + c.message + "\n";
  return s;
}

// What the REST layer does on create: metadata, then strategy defaults, then validation.
json created(const Strategy& s, json obj, const Clock& clock) {
  initObjectMeta(obj, s.info(), clock);
  s.prepareForCreate(obj, clock);
  return obj;
}

const json kInstance = json::parse(R"({
  "apiVersion": "minimcp.io/v1alpha1", "kind": "MCPInstance",
  "metadata": {"name": "inbox", "namespace": "alice", "labels": {"team": "a"}},
  "spec": {"type": "gmail", "ttl": "2h", "keyRef": {"name": "gmail-key"},
           "config": {"timeout_ms": 10000}, "env": [{"name": "LOG_LEVEL", "value": "debug"}]}
})");

const json kType = json::parse(R"({
  "apiVersion": "minimcp.io/v1alpha1", "kind": "MCPType",
  "metadata": {"name": "gmail"},
  "spec": {"displayName": "Gmail MCP", "description": "Read and send Gmail messages",
           "server": {"command": "node", "args": ["gmail/server.js"]},
           "auth": {"type": "oauth2", "env": "API_KEY", "scopes": ["https://x/gmail.readonly"]},
           "capabilities": ["list_messages", "send_message"],
           "config": {"api_version": "v1"},
           "env": [{"name": "GMAIL_API_ENDPOINT", "value": "https://gmail.googleapis.com"}],
           "resources": {"cpu": "500m", "memory": "512Mi"}}
})");

TEST(Registry, FindsEveryKindByAnyName) {
  const Registry& r = Registry::instance();
  for (const char* n : {"mcpinstances", "mcpinstance", "MCPInstance", "mi", "MI"}) {
    ASSERT_NE(r.find(n), nullptr) << n;
    EXPECT_EQ(r.find(n)->info().kind, "MCPInstance");
  }
  EXPECT_EQ(r.find("mt")->info().kind, "MCPType");
  EXPECT_EQ(r.find("ev")->info().plural, "events");
  EXPECT_EQ(r.find("pods"), nullptr);
  EXPECT_EQ(r.byPlural("mcptypes")->info().namespaced, false);
  EXPECT_EQ(r.byPlural("mi"), nullptr);
  EXPECT_FALSE(r.byPlural("events")->info().hasStatus);
  EXPECT_EQ(r.byPlural("mcpinstances")->info().apiVersion(), "minimcp.io/v1alpha1");
  for (const Strategy* s : r.all()) {
    // Cells line up with columns for an empty object and a full one.
    EXPECT_EQ(s->tableCells(json::object(), FakeClock().now()).size(), s->info().columns.size());
  }
}

TEST(ObjectMeta, InitSetsServerFields) {
  FakeClock clock;
  json obj = {{"metadata", {{"name", "x"}, {"resourceVersion", "5"}, {"uid", "mine"}}}};
  initObjectMeta(obj, mcpTypeStrategy().info(), clock);
  EXPECT_EQ(obj["apiVersion"], "minimcp.io/v1alpha1");
  EXPECT_EQ(obj["kind"], "MCPType");
  EXPECT_EQ(obj["metadata"]["creationTimestamp"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(obj["metadata"]["generation"], 1);
  EXPECT_NE(obj["metadata"]["uid"], "mine");
  EXPECT_FALSE(obj["metadata"].contains("resourceVersion"));
}

TEST(ObjectMeta, Rules) {
  const KindInfo& ns = mcpInstanceStrategy().info();
  const KindInfo& cluster = mcpTypeStrategy().info();
  struct Case {
    std::string name;
    json meta;
    const KindInfo* info;
    std::vector<std::string> want;
  };
  std::string longName(254, 'a');
  std::vector<Case> cases = {
      {"ok", {{"name", "a.b-c"}, {"namespace", "ns1"}}, &ns, {}},
      {"missing",
       json::object(),
       &ns,
       {"metadata.name FieldValueRequired", "metadata.namespace FieldValueRequired"}},
      {"bad name",
       {{"name", "Bad_Name"}, {"namespace", "ns"}},
       &ns,
       {"metadata.name FieldValueInvalid"}},
      {"long name", {{"name", longName}}, &cluster, {"metadata.name FieldValueTooLong"}},
      {"bad namespace",
       {{"name", "a"}, {"namespace", "a.b"}},
       &ns,
       {"metadata.namespace FieldValueInvalid"}},
      {"namespace on cluster kind",
       {{"name", "a"}, {"namespace", "x"}},
       &cluster,
       {"metadata.namespace FieldValueInvalid"}},
      {"labels",
       {{"name", "a"},
        {"labels",
         {{"ok/key", "v"},
          {"bad key!", "v"},
          {"k", "bad value!"},
          {"k2", std::string(64, 'v')},
          {"k3", 1}}}},
       &cluster,
       {"metadata.labels FieldValueInvalid", "metadata.labels[k] FieldValueInvalid",
        "metadata.labels[k2] FieldValueTooLong", "metadata.labels[k3] FieldValueInvalid"}},
      {"annotations too big",
       {{"name", "a"}, {"annotations", {{"a", std::string(256 * 1024, 'x')}}}},
       &cluster,
       {"metadata.annotations FieldValueTooLong"}},
      {"annotation values are free text",
       {{"name", "a"}, {"annotations", {{"example.com/note", "Any text: at all!"}}}},
       &cluster,
       {}},
      {"unknown metadata field",
       {{"name", "a"}, {"nmae", "b"}},
       &cluster,
       {"metadata.nmae FieldValueNotSupported"}},
      {"finalizers",
       {{"name", "a"}, {"finalizers", {"minimcp.io/process", "bad one"}}},
       &cluster,
       {"metadata.finalizers[1] FieldValueInvalid"}},
  };
  for (const auto& c : cases) {
    auto causes = validateObjectMeta({{"metadata", c.meta}}, *c.info);
    EXPECT_THAT(fieldsAndReasons(causes), UnorderedElementsAreArray(c.want)) << c.name << "\n"
                                                                             << dump(causes);
  }
  auto causes = validateObjectMeta(
      {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "a"}}}}, cluster);
  EXPECT_THAT(fieldsAndReasons(causes),
              UnorderedElementsAreArray(
                  {"apiVersion FieldValueNotSupported", "kind FieldValueNotSupported"}));
}

TEST(MCPInstance, ValidObjectGetsDefaultsStatusAndExpiry) {
  FakeClock clock;
  const Strategy& s = mcpInstanceStrategy();
  json obj = kInstance;
  obj["status"] = {{"phase", "Running"}, {"pid", 1}};  // users may not write status
  obj = created(s, obj, clock);
  EXPECT_TRUE(s.validate(obj).empty()) << dump(s.validate(obj));
  EXPECT_EQ(obj["spec"]["suspend"], false);
  EXPECT_EQ(obj["spec"]["restartPolicy"], "Always");
  EXPECT_EQ(obj["spec"]["tokenGeneration"], 0);
  EXPECT_EQ(obj["status"], json({{"phase", "Pending"},
                                 {"observedGeneration", 0},
                                 {"expiresAt", "2026-01-01T02:00:00Z"}}));

  auto spec = MCPInstanceSpec::fromJson(obj["spec"]);
  EXPECT_EQ(spec.type, "gmail");
  EXPECT_EQ(spec.ttl, std::chrono::milliseconds(2h));
  EXPECT_EQ(spec.keyRefName, "gmail-key");
  EXPECT_EQ(spec.env, std::vector<EnvVar>({{"LOG_LEVEL", "debug"}}));
  EXPECT_EQ(spec.restartPolicy, "Always");
  EXPECT_EQ(instanceExpiry(obj), *parseRfc3339("2026-01-01T02:00:00Z"));
}

TEST(MCPInstance, ExpiresAtFollowsTtlFromCreation) {
  FakeClock clock;
  const Strategy& s = mcpInstanceStrategy();
  json old = created(s, kInstance, clock);
  old["status"]["phase"] = "Running";

  // An hour later the same spec is applied again: expiry does not move, status is kept.
  clock.t += 1h;
  json same = kInstance;
  same["status"] = {{"phase", "Pending"}};
  s.prepareForUpdate(same, old, clock);
  EXPECT_EQ(same["status"]["expiresAt"], "2026-01-01T02:00:00Z");
  EXPECT_EQ(same["status"]["phase"], "Running");

  // A longer ttl extends it, counted from creation.
  json longer = kInstance;
  longer["spec"]["ttl"] = "5h";
  s.prepareForUpdate(longer, old, clock);
  EXPECT_EQ(longer["status"]["expiresAt"], "2026-01-01T05:00:00Z");

  // spec.expiresAt instead of ttl, and neither: no expiry.
  json at = kInstance;
  at["spec"].erase("ttl");
  at["spec"]["expiresAt"] = "2026-03-01T12:00:00+01:00";
  s.prepareForUpdate(at, old, clock);
  EXPECT_EQ(at["status"]["expiresAt"], "2026-03-01T11:00:00Z");
  json never = kInstance;
  never["spec"].erase("ttl");
  s.prepareForUpdate(never, old, clock);
  EXPECT_FALSE(never["status"].contains("expiresAt"));
  EXPECT_FALSE(instanceExpiry(never));
}

// creationTimestamp + ttl must stay a time the API holds: refused (naming spec.ttl), never
// wrapped around into the past.
TEST(MCPInstance, TtlWhoseExpiryWouldLeaveTheRangeIsInvalid) {
  FakeClock clock;
  clock.t = *parseRfc3339("2150-01-01T00:00:00Z");
  const Strategy& s = mcpInstanceStrategy();
  json obj = kInstance;
  obj["spec"]["ttl"] = "438300h";  // 50 years
  obj = created(s, obj, clock);
  EXPECT_THAT(fieldsAndReasons(s.validate(obj)),
              UnorderedElementsAreArray({"spec.ttl FieldValueInvalid"}));
  EXPECT_FALSE(instanceExpiry(obj));
  EXPECT_FALSE(obj["status"].contains("expiresAt"));
  obj["spec"]["ttl"] = "400000h";  // 45.6 years: 2195
  EXPECT_TRUE(s.validate(obj).empty()) << dump(s.validate(obj));
  ASSERT_TRUE(instanceExpiry(obj));
  EXPECT_GT(*instanceExpiry(obj), clock.t);
}

TEST(MCPInstance, StatusUpdateKeepsSpecAndMetadata) {
  FakeClock clock;
  const Strategy& s = mcpInstanceStrategy();
  json old = created(s, kInstance, clock);
  old["metadata"]["resourceVersion"] = "7";
  json upd = old;
  upd["spec"]["type"] = "other";
  upd["metadata"]["labels"]["sneaky"] = "yes";
  upd["metadata"]["resourceVersion"] = "6";
  upd["status"] = {{"phase", "Running"}, {"pid", 42}};
  s.prepareForStatusUpdate(upd, old);
  EXPECT_EQ(upd["spec"], old["spec"]);
  EXPECT_FALSE(upd["metadata"]["labels"].contains("sneaky"));
  EXPECT_EQ(upd["metadata"]["resourceVersion"], "6");  // the caller's precondition survives
  EXPECT_EQ(upd["status"]["pid"], 42);
}

TEST(MCPInstance, ValidationTable) {
  FakeClock clock;
  const Strategy& s = mcpInstanceStrategy();
  struct Case {
    std::string name;
    json patch;  // merged over kInstance
    std::vector<std::string> want;
  };
  std::vector<Case> cases = {
      {"valid", json::object(), {}},
      {"no spec", {{"spec", nullptr}}, {"spec FieldValueRequired"}},
      {"spec not an object", {{"spec", "x"}}, {"spec FieldValueInvalid"}},
      {"name must be a label",
       {{"metadata", {{"name", "a.b"}}}},
       {"metadata.name FieldValueInvalid"}},
      {"type missing", {{"spec", {{"type", nullptr}}}}, {"spec.type FieldValueRequired"}},
      {"type bad", {{"spec", {{"type", "Gmail"}}}}, {"spec.type FieldValueInvalid"}},
      {"ttl bad", {{"spec", {{"ttl", "abc"}}}}, {"spec.ttl FieldValueInvalid"}},
      {"ttl zero", {{"spec", {{"ttl", "0s"}}}}, {"spec.ttl FieldValueInvalid"}},
      {"ttl and expiresAt",
       {{"spec", {{"expiresAt", "2026-01-02T00:00:00Z"}}}},
       {"spec.expiresAt FieldValueInvalid"}},
      {"expiresAt bad",
       {{"spec", {{"ttl", nullptr}, {"expiresAt", "tomorrow"}}}},
       {"spec.expiresAt FieldValueInvalid"}},
      {"expiresAt beyond the times the API holds",
       {{"spec", {{"ttl", nullptr}, {"expiresAt", "3000-01-01T00:00:00Z"}}}},
       {"spec.expiresAt FieldValueInvalid"}},
      {"expiresAt before 1970",
       {{"spec", {{"ttl", nullptr}, {"expiresAt", "1900-01-01T00:00:00Z"}}}},
       {"spec.expiresAt FieldValueInvalid"}},
      {"ttl too long", {{"spec", {{"ttl", "999999999h"}}}}, {"spec.ttl FieldValueInvalid"}},
      {"keyRef without name",
       {{"spec", {{"keyRef", {{"name", nullptr}}}}}},
       {"spec.keyRef.name FieldValueRequired"}},
      {"config not object", {{"spec", {{"config", {1, 2}}}}}, {"spec.config FieldValueInvalid"}},
      {"env",
       {{"spec",
         {{"env",
           {{{"name", "1BAD"}},
            {{"name", "A"}, {"value", 3}},
            {{"name", "A"}},
            {{"value", "x"}},
            {{"name", "B"}, {"x", 1}}}}}}},
       {"spec.env[0].name FieldValueInvalid", "spec.env[1].value FieldValueInvalid",
        "spec.env[2].name FieldValueInvalid", "spec.env[3].name FieldValueRequired",
        "spec.env[4].x FieldValueNotSupported"}},
      {"env loader and reserved names",
       {{"spec",
         {{"env",
           {{{"name", "LD_PRELOAD"}},
            {{"name", "NODE_OPTIONS"}},
            {{"name", "PATH"}},
            {{"name", "HOME"}},
            {{"name", "PORT"}},
            {{"name", "MCP_ACCESS_TOKEN"}},
            {{"name", "LOG_LEVEL"}},
            {{"name", "DEBUG"}},
            {{"name", "SOMETHING_ELSE"}}}}}}},
       {"spec.env[0].name FieldValueInvalid", "spec.env[1].name FieldValueInvalid",
        "spec.env[2].name FieldValueInvalid", "spec.env[3].name FieldValueInvalid",
        "spec.env[4].name FieldValueInvalid", "spec.env[5].name FieldValueInvalid"}},
      {"suspend", {{"spec", {{"suspend", "yes"}}}}, {"spec.suspend FieldValueInvalid"}},
      {"restartPolicy",
       {{"spec", {{"restartPolicy", "Sometimes"}}}},
       {"spec.restartPolicy FieldValueNotSupported"}},
      {"tokenGeneration",
       {{"spec", {{"tokenGeneration", -1}}}},
       {"spec.tokenGeneration FieldValueInvalid"}},
      {"tokenGeneration float",
       {{"spec", {{"tokenGeneration", 1.5}}}},
       {"spec.tokenGeneration FieldValueInvalid"}},
      {"unknown spec field", {{"spec", {{"tll", "2h"}}}}, {"spec.tll FieldValueNotSupported"}},
      {"unknown top-level field", {{"sepc", 1}}, {"sepc FieldValueNotSupported"}},
      {"everything at once",
       {{"metadata", {{"name", "Bad"}}},
        {"spec", {{"type", 5}, {"ttl", "forever"}, {"restartPolicy", "x"}, {"foo", 1}}}},
       {"metadata.name FieldValueInvalid", "spec.type FieldValueInvalid",
        "spec.ttl FieldValueInvalid", "spec.restartPolicy FieldValueNotSupported",
        "spec.foo FieldValueNotSupported"}},
  };
  for (const auto& c : cases) {
    json obj = kInstance;
    obj.merge_patch(c.patch);
    obj = created(s, obj, clock);  // defaulting must cope with bad input
    auto causes = s.validate(obj);
    EXPECT_THAT(fieldsAndReasons(causes), UnorderedElementsAreArray(c.want)) << c.name << "\n"
                                                                             << dump(causes);
  }
}

TEST(MCPInstance, MessagesReadLikeKubernetes) {
  json obj = kInstance;
  obj["spec"]["ttl"] = "abc";
  obj["spec"]["restartPolicy"] = "Sometimes";
  obj["spec"]["bogus"] = true;
  auto causes = mcpInstanceStrategy().validate(obj);
  ASSERT_EQ(causes.size(), 3u) << dump(causes);
  ApiError e = ApiError::Invalid("MCPInstance", "inbox", causes);
  std::string msg = e.what();
  EXPECT_THAT(msg, ::testing::HasSubstr("MCPInstance.minimcp.io \"inbox\" is invalid: ["));
  EXPECT_THAT(msg, ::testing::HasSubstr(
                       "spec.ttl: Invalid value: \"abc\": must be a duration like 2h or 30m"));
  EXPECT_THAT(msg, ::testing::HasSubstr(
                       "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: "
                       "\"Always\", \"OnFailure\", \"Never\""));
  EXPECT_THAT(msg, ::testing::HasSubstr("spec.bogus: unknown field \"spec.bogus\""));
}

TEST(MCPInstance, UpdateMayNotRenameOrMove) {
  const Strategy& s = mcpInstanceStrategy();
  json old = kInstance;
  old["metadata"]["uid"] = "u1";
  json upd = kInstance;
  EXPECT_TRUE(s.validateUpdate(upd, old).empty());
  upd["metadata"]["namespace"] = "bob";
  upd["metadata"]["uid"] = "u2";
  EXPECT_THAT(fieldsAndReasons(s.validateUpdate(upd, old)),
              UnorderedElementsAreArray(
                  {"metadata.namespace FieldValueInvalid", "metadata.uid FieldValueInvalid"}));
}

TEST(MCPInstance, TableCells) {
  FakeClock clock;
  const Strategy& s = mcpInstanceStrategy();
  json obj = created(s, kInstance, clock);
  obj["status"]["gatewayURL"] = "https://127.0.0.1:7443/mcp/alice/inbox";
  obj["status"]["pid"] = 123;
  setCondition(obj, "Ready", "True", "Healthy", "", clock.now());
  json cells = s.tableCells(obj, clock.now() + 30min);
  EXPECT_EQ(cells,
            json::array({"gmail", "Pending", "True", "https://127.0.0.1:7443/mcp/alice/inbox", "1h",
                         "30m", nullptr, 123, nullptr, nullptr}));
  EXPECT_EQ(s.tableCells(obj, clock.now() + 3h)[4], "expired");
  obj["status"].erase("gatewayURL");
  obj["status"]["url"] = "http://127.0.0.1:20001/mcp";
  EXPECT_EQ(s.tableCells(obj, clock.now())[3], "http://127.0.0.1:20001/mcp");
}

TEST(Conditions, SetKeepsTransitionTimeWhenStatusUnchanged) {
  json obj = {{"metadata", {{"generation", 3}}}};
  TimePoint t0 = *parseRfc3339("2026-01-01T00:00:00Z");
  setCondition(obj, "Ready", "False", "Starting", "starting", t0);
  setCondition(obj, "Ready", "False", "Unhealthy", "probe failed", t0 + 1min);
  const json* c = findCondition(obj, "Ready");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["reason"], "Unhealthy");
  EXPECT_EQ((*c)["lastTransitionTime"], "2026-01-01T00:00:00Z");
  EXPECT_EQ((*c)["observedGeneration"], 3);
  setCondition(obj, "Ready", "True", "Healthy", "", t0 + 2min);
  EXPECT_EQ((*findCondition(obj, "Ready"))["lastTransitionTime"], "2026-01-01T00:02:00Z");
  setCondition(obj, "Expired", "False", "Active", "", t0);
  EXPECT_EQ(obj["status"]["conditions"].size(), 2u);
  EXPECT_EQ(findCondition(obj, "KeyAvailable"), nullptr);
  EXPECT_EQ(findCondition(json::object(), "Ready"), nullptr);
}

TEST(MCPType, DefaultsAndTypedSpec) {
  FakeClock clock;
  const Strategy& s = mcpTypeStrategy();
  json obj = created(s, kType, clock);
  EXPECT_TRUE(s.validate(obj).empty()) << dump(s.validate(obj));
  EXPECT_EQ(obj["spec"]["server"]["transport"], "streamable-http");
  EXPECT_EQ(obj["spec"]["healthCheck"], json({{"path", "/health"},
                                              {"periodSeconds", 30},
                                              {"timeoutSeconds", 5},
                                              {"failureThreshold", 3},
                                              {"startupTimeoutSeconds", 30}}));
  EXPECT_EQ(obj["spec"]["stopGracePeriodSeconds"], 10);

  auto spec = MCPTypeSpec::fromJson(obj["spec"]);
  EXPECT_EQ(spec.server.command, "node");
  EXPECT_EQ(spec.server.args, std::vector<std::string>{"gmail/server.js"});
  EXPECT_EQ(spec.auth.type, "oauth2");
  EXPECT_EQ(spec.auth.env, "API_KEY");
  EXPECT_EQ(spec.resources.cpuMillis, 500);
  EXPECT_EQ(spec.resources.memoryBytes, 512 * 1024 * 1024);
  EXPECT_EQ(spec.healthCheck.failureThreshold, 3);
  EXPECT_EQ(spec.stopGracePeriodSeconds, 10);
  EXPECT_EQ(spec.warmPoolSize, 0);
  EXPECT_EQ(MCPTypeSpec::fromJson({{"warmPool", {{"size", 4}}}}).warmPoolSize, 4);
  EXPECT_EQ(spec.config, json({{"api_version", "v1"}}));

  json minimal = {{"metadata", {{"name", "echo"}}}, {"spec", {{"server", {{"command", "node"}}}}}};
  minimal = created(s, minimal, clock);
  EXPECT_TRUE(s.validate(minimal).empty()) << dump(s.validate(minimal));
  EXPECT_EQ(minimal["spec"]["auth"]["type"], "none");

  json cells = s.tableCells(obj, clock.now() + 5s);
  EXPECT_EQ(cells, json::array({"Gmail MCP", "streamable-http", "oauth2", "5s",
                                "list_messages,send_message", "node gmail/server.js"}));
}

TEST(MCPType, ValidationTable) {
  FakeClock clock;
  const Strategy& s = mcpTypeStrategy();
  struct Case {
    std::string name;
    json patch;
    std::vector<std::string> want;
  };
  std::vector<Case> cases = {
      {"valid", json::object(), {}},
      {"namespace not allowed", {{"metadata", {{"namespace", "x"}}}}, {}},  // init clears it
      {"no server", {{"spec", {{"server", nullptr}}}}, {"spec.server FieldValueRequired"}},
      {"no command",
       {{"spec", {{"server", {{"command", ""}}}}}},
       {"spec.server.command FieldValueRequired"}},
      {"args escape",
       {{"spec",
         {{"server",
           {{"args", {"/etc/passwd", "../x.js", "a/../../b", "--f=../y", "ok/..x", 7}}}}}}},
       {"spec.server.args[0] FieldValueInvalid", "spec.server.args[1] FieldValueInvalid",
        "spec.server.args[2] FieldValueInvalid", "spec.server.args[3] FieldValueInvalid",
        "spec.server.args[5] FieldValueInvalid"}},
      {"transport",
       {{"spec", {{"server", {{"transport", "grpc"}}}}}},
       {"spec.server.transport FieldValueNotSupported"}},
      {"auth type",
       {{"spec", {{"auth", {{"type", "magic"}}}}}},
       {"spec.auth.type FieldValueNotSupported"}},
      {"auth env required",
       {{"spec", {{"auth", {{"env", nullptr}}}}}},
       {"spec.auth.env FieldValueRequired"}},
      {"auth env bad",
       {{"spec", {{"auth", {{"env", "API-KEY"}}}}}},
       {"spec.auth.env FieldValueInvalid"}},
      {"auth none needs no env", {{"spec", {{"auth", {{"type", "none"}, {"env", nullptr}}}}}}, {}},
      {"capabilities",
       {{"spec", {{"capabilities", {"a", 1, ""}}}}},
       {"spec.capabilities[1] FieldValueInvalid", "spec.capabilities[2] FieldValueRequired"}},
      {"resources",
       {{"spec", {{"resources", {{"cpu", "lots"}, {"memory", "0"}, {"disk", "1Gi"}}}}}},
       {"spec.resources.cpu FieldValueInvalid", "spec.resources.memory FieldValueInvalid",
        "spec.resources.disk FieldValueNotSupported"}},
      {"numeric quantities", {{"spec", {{"resources", {{"cpu", 1}, {"memory", 1048576}}}}}}, {}},
      {"healthCheck",
       {{"spec",
         {{"healthCheck",
           {{"path", "health"},
            {"periodSeconds", 0},
            {"timeoutSeconds", "5"},
            {"failureThreshold", -1},
            {"startupTimeoutSeconds", 1.5},
            {"interval", 3}}}}}},
       {"spec.healthCheck.path FieldValueInvalid",
        "spec.healthCheck.periodSeconds FieldValueInvalid",
        "spec.healthCheck.timeoutSeconds FieldValueInvalid",
        "spec.healthCheck.failureThreshold FieldValueInvalid",
        "spec.healthCheck.startupTimeoutSeconds FieldValueInvalid",
        "spec.healthCheck.interval FieldValueNotSupported"}},
      {"grace period",
       {{"spec", {{"stopGracePeriodSeconds", -1}}}},
       {"spec.stopGracePeriodSeconds FieldValueInvalid"}},
      {"grace period zero", {{"spec", {{"stopGracePeriodSeconds", 0}}}}, {}},
      {"warm pool", {{"spec", {{"warmPool", {{"size", 3}}}}}}, {}},
      {"warm pool too large",
       {{"spec", {{"warmPool", {{"size", 33}}}}}},
       {"spec.warmPool.size FieldValueInvalid"}},
      {"warm pool negative or not a number",
       {{"spec", {{"warmPool", {{"size", "2"}, {"min", 1}}}}}},
       {"spec.warmPool.size FieldValueInvalid", "spec.warmPool.min FieldValueNotSupported"}},
      {"warm pool not an object",
       {{"spec", {{"warmPool", 4}}}},
       {"spec.warmPool FieldValueInvalid"}},
      {"displayName too long",
       {{"spec", {{"displayName", std::string(300, 'x')}}}},
       {"spec.displayName FieldValueTooLong"}},
      {"env dup",
       {{"spec", {{"env", {{{"name", "A"}}, {{"name", "A"}}}}}}},
       {"spec.env[1].name FieldValueInvalid"}},
      {"typo", {{"spec", {{"capabilites", {"x"}}}}}, {"spec.capabilites FieldValueNotSupported"}},
      {"env may not set reserved names",
       {{"spec",
         {{"env",
           {{{"name", "PORT"}},
            {{"name", "MCP_ID"}},
            {{"name", "API_KEY"}},
            {{"name", "HOME"}}}}}}},
       {"spec.env[0].name FieldValueInvalid", "spec.env[1].name FieldValueInvalid",
        "spec.env[2].name FieldValueInvalid"}},
      {"instanceEnv", {{"spec", {{"instanceEnv", {"GMAIL_API_ENDPOINT", "LOG_LEVEL"}}}}}, {}},
      {"instanceEnv refused names",
       {{"spec",
         {{"instanceEnv",
           {"NODE_OPTIONS", "ld_preload", "PATH", "PORT", "MCP_X", "API_KEY", "A-B", 3, "OK",
            "OK"}}}}},
       {"spec.instanceEnv[0] FieldValueInvalid", "spec.instanceEnv[1] FieldValueInvalid",
        "spec.instanceEnv[2] FieldValueInvalid", "spec.instanceEnv[3] FieldValueInvalid",
        "spec.instanceEnv[4] FieldValueInvalid", "spec.instanceEnv[5] FieldValueInvalid",
        "spec.instanceEnv[6] FieldValueInvalid", "spec.instanceEnv[7] FieldValueInvalid",
        "spec.instanceEnv[9] FieldValueInvalid"}},
      {"instanceEnv not a list",
       {{"spec", {{"instanceEnv", "A"}}}},
       {"spec.instanceEnv FieldValueInvalid"}},
      {"configConstraints",
       {{"spec", {{"configConstraints", {{{"field", "root"}, {"allowedRoots", {"/srv/a"}}}}}}}},
       {}},
      {"configConstraints bad",
       {{"spec",
         {{"configConstraints",
           {{{"field", "root"}, {"kind", "url"}, {"allowedRoots", {"srv", "/a/../b", 1}}},
            {{"field", "root"}, {"max", 1}},
            {{"kind", "directory"}},
            "root"}}}}},
       {"spec.configConstraints[0].kind FieldValueNotSupported",
        "spec.configConstraints[0].allowedRoots[0] FieldValueInvalid",
        "spec.configConstraints[0].allowedRoots[1] FieldValueInvalid",
        "spec.configConstraints[0].allowedRoots[2] FieldValueInvalid",
        "spec.configConstraints[1].field FieldValueInvalid",
        "spec.configConstraints[1].max FieldValueNotSupported",
        "spec.configConstraints[2].field FieldValueRequired",
        "spec.configConstraints[3] FieldValueInvalid"}},
  };
  for (const auto& c : cases) {
    json obj = kType;
    obj.merge_patch(c.patch);
    obj = created(s, obj, clock);
    auto causes = s.validate(obj);
    EXPECT_THAT(fieldsAndReasons(causes), UnorderedElementsAreArray(c.want)) << c.name << "\n"
                                                                             << dump(causes);
  }
}

TEST(Event, DefaultsValidationAndCells) {
  FakeClock clock;
  const Strategy& s = eventStrategy();
  json ev = yaml(R"(
metadata: {name: inbox.123, namespace: alice}
involvedObject: {apiVersion: minimcp.io/v1alpha1, kind: MCPInstance, name: inbox, namespace: alice}
reason: BackOff
message: Back-off restarting failed process
source: {component: mcpd, node: host-a}
)");
  ev = created(s, ev, clock);
  EXPECT_TRUE(s.validate(ev).empty()) << dump(s.validate(ev));
  EXPECT_EQ(ev["type"], "Normal");
  EXPECT_EQ(ev["count"], 1);
  EXPECT_EQ(ev["firstTimestamp"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(ev["lastTimestamp"], "2026-01-01T00:00:00Z");
  EXPECT_FALSE(ev.contains("status"));
  EXPECT_EQ(s.tableCells(ev, clock.now() + 90s),
            json::array({"1m", "Normal", "BackOff", "mcpinstance/inbox",
                         "Back-off restarting failed process"}));

  json bad = yaml(R"(
metadata: {name: e, namespace: alice}
involvedObject: {kind: MCPInstance, nam: inbox}
type: Error
reason: back off
count: 0
lastTimestamp: yesterday
source: {component: 1}
spec: {}
)");
  bad = created(s, bad, clock);
  EXPECT_THAT(
      fieldsAndReasons(s.validate(bad)),
      UnorderedElementsAreArray(
          {"involvedObject.nam FieldValueNotSupported", "involvedObject.name FieldValueRequired",
           "type FieldValueNotSupported", "reason FieldValueInvalid", "count FieldValueInvalid",
           "lastTimestamp FieldValueInvalid", "source.component FieldValueInvalid",
           "spec FieldValueNotSupported"}))
      << dump(s.validate(bad));
  json none = {{"metadata", {{"name", "e"}, {"namespace", "a"}}}};
  EXPECT_THAT(fieldsAndReasons(s.validate(none)),
              UnorderedElementsAreArray({"involvedObject FieldValueRequired",
                                         "type FieldValueRequired", "reason FieldValueRequired"}));
}

TEST(Quantity, MemoryAndCpu) {
  EXPECT_EQ(parseMemoryQuantity("512Mi"), 512LL * 1024 * 1024);
  EXPECT_EQ(parseMemoryQuantity("1Gi"), 1024LL * 1024 * 1024);
  EXPECT_EQ(parseMemoryQuantity("500M"), 500'000'000);
  EXPECT_EQ(parseMemoryQuantity("1.5G"), 1'500'000'000);
  EXPECT_EQ(parseMemoryQuantity("1048576"), 1048576);
  EXPECT_EQ(parseMemoryQuantity("1k"), 1000);
  for (const char* bad : {"", "Mi", "-1Mi", "1MB", "1 Mi", "1e3", "1.Mi", "99999999999Ei"}) {
    EXPECT_FALSE(parseMemoryQuantity(bad)) << bad;
  }
  EXPECT_EQ(parseCpuQuantity("500m"), 500);
  EXPECT_EQ(parseCpuQuantity("1"), 1000);
  EXPECT_EQ(parseCpuQuantity("0.5"), 500);
  EXPECT_EQ(parseCpuQuantity("0.1"), 100);
  EXPECT_EQ(parseCpuQuantity("2.5"), 2500);
  EXPECT_EQ(parseCpuQuantity("0.0001"), 1);  // rounds up like Kubernetes
  for (const char* bad : {"", "m", "-1", "1Gi", "1.5.2", "abc"}) {
    EXPECT_FALSE(parseCpuQuantity(bad)) << bad;
  }
}

TEST(Manifests, DesignExamplesValidateFromYaml) {
  FakeClock clock;
  json type = yaml(R"(
apiVersion: minimcp.io/v1alpha1
kind: MCPType
metadata: {name: gmail}
spec:
  displayName: Gmail MCP
  description: Read and send Gmail messages
  server:
    command: node
    args: ["gmail/server.js"]
    transport: streamable-http
    image: minimcp/gmail-mcp:latest
  auth: {type: oauth2, env: API_KEY, scopes: [https://www.googleapis.com/auth/gmail.readonly]}
  capabilities: [list_messages, read_message, send_message, search_messages]
  config: {api_version: v1, timeout_ms: 30000, retry_attempts: 3}
  env: [{name: GMAIL_API_ENDPOINT, value: https://gmail.googleapis.com}]
  resources: {cpu: "500m", memory: 512Mi}
  healthCheck: {path: /health, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 3, startupTimeoutSeconds: 30}
  stopGracePeriodSeconds: 10
)");
  type = created(mcpTypeStrategy(), type, clock);
  EXPECT_TRUE(mcpTypeStrategy().validate(type).empty()) << dump(mcpTypeStrategy().validate(type));
  json inst = yaml(R"(
apiVersion: minimcp.io/v1alpha1
kind: MCPInstance
metadata: {name: inbox, namespace: alice}
spec:
  type: gmail
  ttl: 2h
  keyRef: {name: gmail-key}
  config: {timeout_ms: 10000}
  env: [{name: LOG_LEVEL, value: debug}]
  suspend: false
  restartPolicy: Always
)");
  inst = created(mcpInstanceStrategy(), inst, clock);
  EXPECT_TRUE(mcpInstanceStrategy().validate(inst).empty());
}

}  // namespace
}  // namespace minimcp::model
