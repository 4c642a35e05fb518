#include "api/registry/managed_fields.h"

#include <gtest/gtest.h>

#include <optional>

#include "api/model/kinds.h"
#include "api/model/yaml.h"
#include "api/util/api_error.h"

namespace minimcp::registry {
namespace {

using nlohmann::json;

// Flow-style YAML ("{ttl: 1h}") reads best in the tables.
json yaml(const std::string& text) { return model::parseYamlDocuments(text).at(0); }

// A hand-written schema with each list semantics the API uses.
const json& schema() {
  static const json s = yaml(R"(
type: object
properties:
  spec:
    type: object
    properties:
      ttl: {type: string}
      suspend: {type: boolean}
      args: {type: array, items: {type: string}}
      instanceEnv:
        type: array
        x-kubernetes-list-type: set
        items: {type: string}
      env:
        type: array
        x-kubernetes-list-type: map
        x-kubernetes-list-map-keys: [name]
        items:
          type: object
          properties:
            name: {type: string}
            value: {type: string}
      config:
        type: object
        x-kubernetes-preserve-unknown-fields: true
      selector:
        type: object
        x-kubernetes-map-type: atomic
  status:
    type: object
    properties:
      conditions:
        type: array
        x-kubernetes-list-type: map
        x-kubernetes-list-map-keys: [type]
        items: {type: object}
)");
  return s;
}

FieldWriter writer(const std::string& manager, const std::string& time = "2026-01-01T00:00:00Z",
                   const std::string& subresource = "") {
  return {manager, "minimcp.io/v1alpha1", subresource, time, true};
}

json base(const std::string& specYaml) {
  json o = {{"apiVersion", "minimcp.io/v1alpha1"},
            {"kind", "MCPInstance"},
            {"metadata", {{"name", "x"}, {"namespace", "ns"}}}};
  o["spec"] = yaml(specYaml);
  return o;
}

std::vector<std::string> paths(const FieldSet& s) {
  std::vector<std::string> out;
  for (const auto& p : s.members()) out.push_back(pathString(p));
  return out;
}

const ManagedFieldsEntry* entryOf(const std::vector<ManagedFieldsEntry>& entries,
                                  const std::string& manager) {
  for (const auto& e : entries) {
    if (e.manager == manager) return &e;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------

TEST(FieldSet, FieldsV1EncodingOfEachListKind) {
  json obj = base(R"(
ttl: 1h
args: [a, b]
instanceEnv: [FOO]
env: [{name: A, value: "1"}]
config: {}
)");
  obj["metadata"]["labels"] = {{"app", "x"}};
  obj["metadata"]["uid"] = "u";
  obj["status"] = {{"phase", "Running"}};
  json want = {
      {"f:metadata", {{"f:labels", {{"f:app", json::object()}}}}},
      {"f:spec",
       {{"f:ttl", json::object()},
        {"f:args", json::object()},
        {"f:instanceEnv", {{"v:\"FOO\"", json::object()}}},
        {"f:config", json::object()},
        {"f:env",
         {{"k:{\"name\":\"A\"}",
           {{".", json::object()}, {"f:name", json::object()}, {"f:value", json::object()}}}}}}}};
  FieldSet s = fieldSetOf(obj, schema(), writer("m"));
  EXPECT_EQ(s.toFieldsV1(), want);
  EXPECT_EQ(FieldSet::fromFieldsV1(want), s);
}

TEST(FieldSet, TopLevelFieldsTheSchemaDoesNotDeclareAreNeverOwned) {
  // The server's own bookkeeping beside spec (an APIKey's sealed value) must not be named in
  // managedFields, which every reader of the object sees.
  json obj = base("ttl: 1h");
  obj["sealed"] = yaml("{value: c2VjcmV0, digest: abc}");
  EXPECT_EQ(paths(fieldSetOf(obj, schema(), writer("m"))), std::vector<std::string>{".spec.ttl"});
  json recorded = recordUpdate(nullptr, obj, schema(), writer("m"));
  EXPECT_EQ(recorded["metadata"]["managedFields"].dump().find("sealed"), std::string::npos);
}

TEST(FieldSet, PathStringsAsKubePrintsThem) {
  struct Case {
    FieldPath path;
    std::string want;
  } cases[] = {
      {{"f:spec", "f:ttl"}, ".spec.ttl"},
      {{"f:spec", "f:env", "k:{\"name\":\"A\"}", "f:value"}, ".spec.env[name=\"A\"].value"},
      {{"f:spec", "f:instanceEnv", "v:\"X\""}, ".spec.instanceEnv[=\"X\"]"},
      {{"f:spec", "f:args", "i:2"}, ".spec.args[2]"},
  };
  for (const auto& c : cases) EXPECT_EQ(pathString(c.path), c.want);
}

TEST(FieldSet, MalformedFieldsV1IsRefused) {
  EXPECT_THROW(FieldSet::fromFieldsV1(json::array()), std::invalid_argument);
  EXPECT_THROW(FieldSet::fromFieldsV1(json{{"spec", json::object()}}), std::invalid_argument);
  EXPECT_THROW(FieldSet::fromFieldsV1(json{{"f:spec", 1}}), std::invalid_argument);
}

TEST(FieldSet, StatusIsOwnedOnlyThroughTheStatusSubresource) {
  json obj = base("ttl: 1h");
  obj["status"] = yaml("conditions: [{type: Ready, status: 'True'}]");
  EXPECT_EQ(paths(fieldSetOf(obj, schema(), writer("m"))), std::vector<std::string>{".spec.ttl"});
  EXPECT_EQ(paths(fieldSetOf(obj, schema(), writer("m", "t", "status"))),
            (std::vector<std::string>{".status.conditions[type=\"Ready\"]",
                                      ".status.conditions[type=\"Ready\"].status",
                                      ".status.conditions[type=\"Ready\"].type"}));
}

// ---------------------------------------------------------------------------------------------
// Apply sequences: each step applies (or updates) as one manager; the last step's outcome is
// checked.

struct Step {
  std::string manager;
  std::string spec;  // YAML of .spec; for updates the whole new spec
  OnConflict onConflict = OnConflict::Fail;
  bool update = false;  // an Update operation (e.g. a merge patch) instead of an apply
};

struct ApplyCase {
  std::string name;
  std::vector<Step> steps;
  std::string wantError;  // substring of the 409/400 message of the last step
  std::string wantSpec;   // YAML of the resulting .spec (when no error)
  std::map<std::string, std::vector<std::string>> wantOwned;  // manager → paths
};

void PrintTo(const ApplyCase& c, std::ostream* os) { *os << c.name; }

json run(const std::vector<Step>& steps, std::string* error) {
  std::optional<json> live;
  int second = 0;
  for (const auto& s : steps) {
    std::string time = "2026-01-01T00:00:0" + std::to_string(second++) + "Z";
    try {
      if (s.update) {
        json next = live ? *live : base("{}");
        next["spec"] = yaml(s.spec);
        live = recordUpdate(live ? &*live : nullptr, next, schema(), writer(s.manager, time));
      } else {
        live = applyConfiguration(live ? &*live : nullptr, base(s.spec), schema(),
                                  writer(s.manager, time), s.onConflict);
      }
    } catch (const ApiError& e) {
      *error = e.what();
      return nullptr;
    }
  }
  return *live;
}

class ApplyTable : public ::testing::TestWithParam<ApplyCase> {};

TEST_P(ApplyTable, Outcome) {
  const ApplyCase& c = GetParam();
  std::string error;
  json out = run(c.steps, &error);
  if (!c.wantError.empty()) {
    EXPECT_NE(error.find(c.wantError), std::string::npos) << error;
    return;
  }
  ASSERT_EQ(error, "");
  EXPECT_EQ(out["spec"], yaml(c.wantSpec)) << out.dump(2);
  auto entries = decodeManagedFields(out);
  for (const auto& [manager, want] : c.wantOwned) {
    const auto* e = entryOf(entries, manager);
    if (want.empty()) {
      EXPECT_EQ(e, nullptr) << manager << " still has an entry: " << out.dump(2);
      continue;
    }
    ASSERT_NE(e, nullptr) << manager << ": " << out.dump(2);
    EXPECT_EQ(paths(e->fields), want) << manager;
  }
}

INSTANTIATE_TEST_SUITE_P(
    ServerSideApply, ApplyTable,
    ::testing::Values(
        ApplyCase{"CreateOwnsEverySentField",
                  {{"alice", "{ttl: 1h, args: [a]}"}},
                  "",
                  "{ttl: 1h, args: [a]}",
                  {{"alice", {".spec.args", ".spec.ttl"}}}},
        ApplyCase{"SecondManagerChangingAFieldConflicts",
                  {{"alice", "{ttl: 1h}"}, {"bob", "{ttl: 2h}"}},
                  "Apply failed with 1 conflict: conflict with \"alice\" using "
                  "minimcp.io/v1alpha1: .spec.ttl",
                  "",
                  {}},
        ApplyCase{"SameValueIsSharedWithoutConflict",
                  {{"alice", "{ttl: 1h}"}, {"bob", "{ttl: 1h}"}},
                  "",
                  "{ttl: 1h}",
                  {{"alice", {".spec.ttl"}}, {"bob", {".spec.ttl"}}}},
        ApplyCase{"ForceTakesTheField",
                  {{"alice", "{ttl: 1h, suspend: true}"}, {"bob", "{ttl: 2h}", OnConflict::Force}},
                  "",
                  "{ttl: 2h, suspend: true}",
                  {{"alice", {".spec.suspend"}}, {"bob", {".spec.ttl"}}}},
        ApplyCase{"DroppedFieldIsRemoved",
                  {{"alice", "{ttl: 1h, suspend: true}"}, {"alice", "{ttl: 1h}"}},
                  "",
                  "{ttl: 1h}",
                  {{"alice", {".spec.ttl"}}}},
        ApplyCase{"DroppedFieldStaysWhenAnotherManagerOwnsIt",
                  {{"alice", "{ttl: 1h, suspend: true}"},
                   {"bob", "{suspend: true}"},
                   {"alice", "{ttl: 1h}"}},
                  "",
                  "{ttl: 1h, suspend: true}",
                  {{"alice", {".spec.ttl"}}, {"bob", {".spec.suspend"}}}},
        ApplyCase{"DroppedStructFieldGoesWithItsParent",
                  {{"alice", "{ttl: 1h, config: {root: /a}}"}, {"alice", "{ttl: 1h}"}},
                  "",
                  "{ttl: 1h}",
                  {{"alice", {".spec.ttl"}}}},
        ApplyCase{"KeyedListItemsBelongToTheirAppliers",
                  {{"alice", "{env: [{name: A, value: '1'}]}"},
                   {"bob", "{env: [{name: B, value: '2'}]}"}},
                  "",
                  "{env: [{name: A, value: '1'}, {name: B, value: '2'}]}",
                  {{"alice",
                    {".spec.env[name=\"A\"]", ".spec.env[name=\"A\"].name",
                     ".spec.env[name=\"A\"].value"}},
                   {"bob",
                    {".spec.env[name=\"B\"]", ".spec.env[name=\"B\"].name",
                     ".spec.env[name=\"B\"].value"}}}},
        ApplyCase{"DroppedKeyedItemIsRemovedOthersStay",
                  {{"alice", "{env: [{name: A, value: '1'}]}"},
                   {"bob", "{env: [{name: B, value: '2'}]}"},
                   {"alice", "{ttl: 1h}"}},
                  "",
                  "{env: [{name: B, value: '2'}], ttl: 1h}",
                  {{"alice", {".spec.ttl"}}}},
        ApplyCase{"KeyedItemValueConflictNamesTheItem",
                  {{"alice", "{env: [{name: A, value: '1'}]}"},
                   {"bob", "{env: [{name: A, value: '2'}]}"}},
                  "conflict with \"alice\" using minimcp.io/v1alpha1: .spec.env[name=\"A\"].value",
                  "",
                  {}},
        ApplyCase{"SetItemsMerge",
                  {{"alice", "{instanceEnv: [A]}"}, {"bob", "{instanceEnv: [B]}"}},
                  "",
                  "{instanceEnv: [A, B]}",
                  {{"bob", {".spec.instanceEnv[=\"B\"]"}}}},
        ApplyCase{"AtomicListIsOneField",
                  {{"alice", "{args: [a]}"}, {"bob", "{args: [a, b]}"}},
                  "conflict with \"alice\" using minimcp.io/v1alpha1: .spec.args",
                  "",
                  {}},
        ApplyCase{"AtomicMapIsOneField",
                  {{"alice", "{selector: {a: '1'}}"}, {"bob", "{selector: {b: '2'}}"}},
                  "conflict with \"alice\" using minimcp.io/v1alpha1: .spec.selector",
                  "",
                  {}},
        ApplyCase{"UpdateTakesTheFieldFromTheApplier",
                  {{"alice", "{ttl: 1h, suspend: true}"},
                   {"kubectl-edit", "{ttl: 2h, suspend: true}", OnConflict::Fail, true}},
                  "",
                  "{ttl: 2h, suspend: true}",
                  {{"alice", {".spec.suspend"}}, {"kubectl-edit", {".spec.ttl"}}}},
        ApplyCase{"ApplyOverAnUpdatersFieldConflictsNamingTheUpdate",
                  {{"alice", "{ttl: 1h}"},
                   {"kubectl-edit", "{ttl: 2h}", OnConflict::Fail, true},
                   {"alice", "{ttl: 3h}"}},
                  "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using "
                  "minimcp.io/v1alpha1 at 2026-01-01T00:00:01Z: .spec.ttl",
                  "",
                  {}},
        ApplyCase{"YieldLeavesOthersFieldsAndAppliesTheRest",
                  {{"catalog", "{ttl: 1h, suspend: false}"},
                   {"user", "{ttl: 9h}", OnConflict::Force},
                   {"catalog", "{ttl: 1h, suspend: true}", OnConflict::Yield}},
                  "",
                  "{ttl: 9h, suspend: true}",
                  {{"catalog", {".spec.suspend"}}, {"user", {".spec.ttl"}}}},
        ApplyCase{"YieldToAnUpdater",
                  {{"catalog", "{ttl: 1h}"},
                   {"mcpctl", "{ttl: 9h}", OnConflict::Fail, true},
                   {"catalog", "{ttl: 2h}", OnConflict::Yield}},
                  "",
                  "{ttl: 9h}",
                  {{"mcpctl", {".spec.ttl"}}}},
        ApplyCase{"KeyedItemWithoutItsKeyIsRefused",
                  {{"alice", "{env: [{value: '1'}]}"}},
                  ".spec.env: an item has no \"name\", the key of this list",
                  "",
                  {}},
        ApplyCase{"DuplicateKeyIsRefused",
                  {{"alice", "{env: [{name: A}, {name: A}]}"}},
                  "duplicate entries for key",
                  "",
                  {}}),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------

TEST(Apply, SeveralConflictsAreListedByManager) {
  json live = applyConfiguration(nullptr, base("{ttl: 1h, suspend: true}"), schema(),
                                 writer("alice"), OnConflict::Fail);
  live = applyConfiguration(&live, base("{args: [a]}"), schema(), writer("bob"), OnConflict::Fail);
  try {
    applyConfiguration(&live, base("{ttl: 2h, suspend: false, args: [b]}"), schema(),
                       writer("carol"), OnConflict::Fail);
    FAIL() << "no conflict";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), 409);
    EXPECT_EQ(e.reason(), "Conflict");
    EXPECT_EQ(std::string(e.what()),
              "Apply failed with 3 conflicts: conflicts with \"alice\" using "
              "minimcp.io/v1alpha1:\n- .spec.suspend\n- .spec.ttl\nconflicts with \"bob\" using "
              "minimcp.io/v1alpha1:\n- .spec.args");
    json causes = e.details()["causes"];
    ASSERT_EQ(causes.size(), 3u);
    EXPECT_EQ(causes[0]["reason"], "FieldManagerConflict");
    EXPECT_EQ(causes[0]["field"], ".spec.suspend");
    EXPECT_EQ(causes[0]["message"], "conflict with \"alice\" using minimcp.io/v1alpha1");
  }
}

TEST(Apply, ObjectNoOneAppliedToBelongsToBeforeFirstApply) {
  json live = base("{ttl: 1h}");
  try {
    applyConfiguration(&live, base("{ttl: 2h}"), schema(), writer("alice"), OnConflict::Fail);
    FAIL() << "no conflict";
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("conflict with \"before-first-apply\""), std::string::npos)
        << e.what();
  }
  json same =
      applyConfiguration(&live, base("{ttl: 1h}"), schema(), writer("alice"), OnConflict::Fail);
  auto entries = decodeManagedFields(same);
  EXPECT_NE(entryOf(entries, "before-first-apply"), nullptr);
  EXPECT_NE(entryOf(entries, "alice"), nullptr);
}

TEST(Apply, ConfigurationMayNotCarryManagedFields) {
  json config = base("{ttl: 1h}");
  config["metadata"]["managedFields"] = json::array({{{"manager", "x"}}});
  EXPECT_THROW(applyConfiguration(nullptr, config, schema(), writer("a"), OnConflict::Fail),
               ApiError);
}

TEST(Apply, ReapplyingTheSameConfigurationChangesNothing) {
  json once = applyConfiguration(nullptr, base("{ttl: 1h}"), schema(),
                                 writer("a", "2026-01-01T00:00:00Z"), OnConflict::Fail);
  json twice = applyConfiguration(&once, base("{ttl: 1h}"), schema(),
                                  writer("a", "2026-01-02T00:00:00Z"), OnConflict::Fail);
  EXPECT_EQ(once, twice);
}

TEST(Apply, StatusAppliesTrackConditionsByType) {
  json live = base("{ttl: 1h}");
  live = recordUpdate(nullptr, live, schema(), writer("kubectl-create"));
  json config = base("{}");
  config.erase("spec");
  config["status"] = yaml("conditions: [{type: Ready, status: 'True'}]");
  json out =
      applyConfiguration(&live, config, schema(), writer("ctl", "t", "status"), OnConflict::Fail);
  auto entries = decodeManagedFields(out);
  const auto* e = entryOf(entries, "ctl");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->subresource, "status");
  EXPECT_TRUE(e->fields.contains({"f:status", "f:conditions", "k:{\"type\":\"Ready\"}"}));
  EXPECT_NE(entryOf(entries, "kubectl-create"), nullptr);
}

TEST(Update, CreateOwnsEveryFieldAndServerMetadataNone) {
  json obj = base("{ttl: 1h}");
  obj["metadata"]["uid"] = "u";
  obj["metadata"]["labels"] = {{"a", "b"}};
  json out = recordUpdate(nullptr, obj, schema(), writer("kubectl-create"));
  auto entries = decodeManagedFields(out);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].operation, "Update");
  EXPECT_EQ(paths(entries[0].fields),
            (std::vector<std::string>{".metadata.labels.a", ".spec.ttl"}));
}

TEST(Update, ClientCannotForgeManagedFieldsButMayResetThem) {
  json live =
      applyConfiguration(nullptr, base("{ttl: 1h}"), schema(), writer("alice"), OnConflict::Fail);
  json forged = live;
  forged["metadata"]["managedFields"] =
      json::array({{{"manager", "mallory"},
                    {"operation", "Apply"},
                    {"apiVersion", "minimcp.io/v1alpha1"},
                    {"fieldsType", "FieldsV1"},
                    {"fieldsV1", {{"f:spec", {{"f:ttl", json::object()}}}}}}});
  json out = recordUpdate(&live, forged, schema(), writer("kubectl-edit"));
  EXPECT_EQ(out["metadata"]["managedFields"], live["metadata"]["managedFields"]);

  json reset = live;
  reset["metadata"]["managedFields"] = json::array({json::object()});
  out = recordUpdate(&live, reset, schema(), writer("kubectl-edit"));
  EXPECT_FALSE(out["metadata"].contains("managedFields"));
  reset["spec"]["suspend"] = true;
  out = recordUpdate(&live, reset, schema(), writer("kubectl-edit"));
  auto entries = decodeManagedFields(out);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].manager, "kubectl-edit");
  EXPECT_EQ(paths(entries[0].fields), std::vector<std::string>{".spec.suspend"});
}

TEST(Update, NoChangeKeepsTheEntryAndItsTime) {
  json live = recordUpdate(nullptr, base("{ttl: 1h}"), schema(), writer("a", "t0"));
  json out = recordUpdate(&live, live, schema(), writer("b", "t1"));
  EXPECT_EQ(out, live);
}

// A write from inside mcpd (a controller's status, a finalizer) is recorded as kube-apiserver
// records a request to each endpoint: status through subresource "status", the rest on the main
// resource, each entry's time moving only when its fields change.
TEST(RecordWrite, StatusIsAnUpdateThroughTheStatusSubresource) {
  const model::KindInfo& kind = model::mcpInstanceStrategy().info();
  const auto at = [](int s) { return std::chrono::system_clock::from_time_t(1800000000 + s); };
  json live = recordWrite(nullptr, base("{type: echo, ttl: 1h}"), kind, "kubectl-create", at(0));
  json next = live;
  next["status"] = {{"phase", "Running"}, {"port", 9000}};
  next["metadata"]["finalizers"] = {"minimcp.io/process"};
  live = recordWrite(&live, next, kind, "mcpd-controller", at(1));
  json mf = live["metadata"]["managedFields"];
  ASSERT_EQ(mf.size(), 3u) << mf.dump();
  json status, main;
  for (const auto& e : mf) {
    if (e["manager"] == "mcpd-controller") (e.contains("subresource") ? status : main) = e;
  }
  EXPECT_EQ(status.value("subresource", ""), "status");
  EXPECT_EQ(status["operation"], "Update");
  EXPECT_EQ(status["fieldsType"], "FieldsV1");
  EXPECT_EQ(status["time"], formatRfc3339(at(1)));
  EXPECT_EQ(status["fieldsV1"], json::parse(R"({"f:status":{"f:phase":{},"f:port":{}}})"));
  EXPECT_EQ(main["fieldsV1"],
            json::parse(R"({"f:metadata":{"f:finalizers":{"v:\"minimcp.io/process\"":{}}}})"));

  // The same status again: nothing moves, not even the time.
  json same = recordWrite(&live, live, kind, "mcpd-controller", at(2));
  EXPECT_EQ(same, live);
  // A changed status: the entry is reused and its time moves.
  next = live;
  next["status"]["phase"] = "Failed";
  json changed = recordWrite(&live, next, kind, "mcpd-controller", at(3));
  EXPECT_EQ(changed["metadata"]["managedFields"].size(), 3u);
  for (const auto& e : changed["metadata"]["managedFields"]) {
    if (e.value("subresource", "") == "status") {
      EXPECT_EQ(e["time"], formatRfc3339(at(3)));
    }
    if (e["manager"] == "kubectl-create") {
      EXPECT_EQ(e["time"], formatRfc3339(at(0)));
    }
  }

  // A user's server-side apply of the main resource never conflicts with status.
  FieldWriter user = fieldWriter(kind, "alice", "", at(4));
  json config = base("{type: echo, ttl: 1h, suspend: true}");
  config["status"] = {{"phase", "Pending"}};
  EXPECT_NO_THROW(
      applyConfiguration(&changed, config, ownershipSchema(kind), user, OnConflict::Fail));
}

TEST(FieldManager, FromParameterOrUserAgent) {
  struct Case {
    std::string param, userAgent, want;
  } cases[] = {
      {"", "kubectl/v1.32.0 (linux/amd64) kubernetes/abc", "kubectl"},
      {"", "mcpctl/0.1.0", "mcpctl"},
      {"flux", "kubectl/v1.32.0", "flux"},
      {"", "", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(fieldManagerFor(c.param, c.userAgent), c.want);
  EXPECT_THROW(fieldManagerFor(std::string(129, 'a'), ""), ApiError);
  EXPECT_THROW(fieldManagerFor("a\nb", ""), ApiError);
}

}  // namespace
}  // namespace minimcp::registry
