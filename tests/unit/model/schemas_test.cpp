#include "api/model/schemas.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/model/strategy.h"
#include "api/model/yaml.h"

namespace minimcp::model {
namespace {

using nlohmann::json;

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Schemas, EveryServedKindHasOne) {
  for (const Strategy* s : Registry::instance().all()) {
    const KindSchema* k = findKindSchema(s->info().kind);
    ASSERT_NE(k, nullptr) << s->info().kind;
    EXPECT_EQ(k->plural, s->info().plural);
    EXPECT_EQ(k->group, s->info().group);
    EXPECT_EQ(k->version, s->info().version);
    EXPECT_EQ(findKindSchema(s->info().plural), k);
  }
  EXPECT_EQ(findKindSchema("Pod"), nullptr);
}

// The binary serves what crds/ says: the same openAPIV3Schema, kind by kind.
TEST(Schemas, AgreeWithCrds) {
  int crds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(MINIMCP_SOURCE_DIR "/crds")) {
    if (entry.path().extension() != ".yaml") continue;
    for (const json& doc : parseYamlDocuments(readFile(entry.path()))) {
      ASSERT_EQ(doc.value("kind", ""), "CustomResourceDefinition") << entry.path();
      const std::string kind = doc["spec"]["names"]["kind"];
      const KindSchema* k = findKindSchema(kind);
      ASSERT_NE(k, nullptr) << kind;
      EXPECT_EQ(k->source, entry.path().filename().string());
      EXPECT_EQ(k->group, doc["spec"]["group"]);
      EXPECT_EQ(k->plural, doc["spec"]["names"]["plural"]);
      EXPECT_EQ(k->schema, doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]) << kind;
      ++crds;
    }
  }
  EXPECT_EQ(crds, 4);
}

TEST(Schemas, ListSemantics) {
  struct Case {
    std::string kind;
    std::vector<std::string> path;
    std::string listType;
    json keys;
  };
  const std::vector<Case> cases = {
      {"MCPInstance", {"spec", "env"}, "map", {"name"}},
      {"MCPType", {"spec", "env"}, "map", {"name"}},
      {"MCPInstance", {"status", "conditions"}, "map", {"type"}},
      {"APIKey", {"status", "conditions"}, "map", {"type"}},
      {"MCPType", {"spec", "configConstraints"}, "map", {"field"}},
      {"MCPType", {"spec", "instanceEnv"}, "set", nullptr},
      {"MCPInstance", {"metadata", "finalizers"}, "set", nullptr},
  };
  for (const Case& c : cases) {
    const json* s = schemaAt(findKindSchema(c.kind)->objectSchema, c.path);
    ASSERT_NE(s, nullptr) << c.kind << " " << c.path.back();
    EXPECT_EQ(s->value("x-kubernetes-list-type", ""), c.listType) << c.kind << " " << c.path.back();
    if (!c.keys.is_null()) {
      EXPECT_EQ(s->at("x-kubernetes-list-map-keys"), c.keys) << c.kind;
    }
  }
  const json* name =
      schemaAt(findKindSchema("MCPInstance")->objectSchema, {"spec", "env", "0", "name"});
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->value("type", ""), "string");
  EXPECT_EQ(schemaAt(findKindSchema("MCPInstance")->objectSchema, {"spec", "nope"}), nullptr);
}

TEST(Schemas, MetadataIsObjectMetaNarrowedByTheCrd) {
  const json& meta = findKindSchema("MCPInstance")->objectSchema["properties"]["metadata"];
  EXPECT_TRUE(meta["properties"].contains("labels"));
  EXPECT_TRUE(meta["properties"].contains("managedFields"));
  EXPECT_EQ(meta["properties"]["name"]["maxLength"], 63);
  EXPECT_EQ(meta["properties"]["name"]["type"], "string");
}

TEST(Schemas, UnknownFields) {
  struct Case {
    std::string name;
    json obj;
    std::vector<std::string> unknown;
  };
  const json base = {{"apiVersion", "minimcp.io/v1alpha1"},
                     {"kind", "MCPInstance"},
                     {"metadata", {{"name", "a"}, {"labels", {{"any", "x"}}}}},
                     {"spec", {{"type", "t"}, {"env", {{{"name", "A"}, {"value", "1"}}}}}}};
  auto with = [&](const json& patch) {
    json o = base;
    o.merge_patch(patch);
    return o;
  };
  const std::vector<Case> cases = {
      {"none", base, {}},
      {"spec field", with({{"spec", {{"foo", 1}}}}), {"spec.foo"}},
      {"top level", with({{"foo", 1}}), {"foo"}},
      {"metadata", with({{"metadata", {{"foo", 1}}}}), {"metadata.foo"}},
      {"list item",
       with({{"spec", {{"env", {{{"name", "A"}, {"bad", 1}}, {{"name", "B"}, {"worse", 2}}}}}}}),
       {"spec.env[0].bad", "spec.env[1].worse"}},
      {"nested object",
       with({{"spec", {{"keyRef", {{"name", "k"}, {"x", 1}}}}}}),
       {"spec.keyRef.x"}},
      {"config preserves", with({{"spec", {{"config", {{"anything", {{"deep", 1}}}}}}}}), {}},
      {"status preserves", with({{"status", {{"custom", 1}}}}), {}},
      {"labels are a map", with({{"metadata", {{"labels", {{"b", "c"}}}}}}), {}},
      {"several", with({{"a", 1}, {"spec", {{"b", 1}, {"c", 2}}}}), {"a", "spec.b", "spec.c"}},
  };
  const json& schema = findKindSchema("MCPInstance")->objectSchema;
  for (const Case& c : cases) {
    EXPECT_EQ(unknownFields(schema, c.obj), c.unknown) << c.name;
    json pruned = c.obj;
    EXPECT_EQ(pruneUnknownFields(schema, pruned), c.unknown) << c.name;
    EXPECT_TRUE(unknownFields(schema, pruned).empty()) << c.name;
    if (c.unknown.empty()) {
      EXPECT_EQ(pruned, c.obj) << c.name;
    }
  }
  json pruned = with({{"spec", {{"foo", 1}}}});
  pruneUnknownFields(schema, pruned);
  EXPECT_EQ(pruned, base);
}

// Schemas and strategies agree on which fields exist: a field the schema does not declare, at
// any object level the strategy checks, is one the strategy refuses too.
TEST(Schemas, StrategiesRefuseWhatSchemasDoNotDeclare) {
  const json instance = {
      {"apiVersion", "minimcp.io/v1alpha1"},
      {"kind", "MCPInstance"},
      {"metadata", {{"name", "a"}, {"namespace", "ns"}}},
      {"spec",
       {{"type", "t"}, {"keyRef", {{"name", "k"}}}, {"env", {{{"name", "A"}, {"value", "1"}}}}}}};
  const Strategy* s = Registry::instance().find("MCPInstance");
  ASSERT_TRUE(s->validate(instance).empty());
  for (const char* at : {"", "/metadata", "/spec", "/spec/keyRef", "/spec/env/0"}) {
    json o = instance;
    o[json::json_pointer(std::string(at) + "/zz")] = "1";
    const auto unknown = unknownFields(findKindSchema("MCPInstance")->objectSchema, o);
    ASSERT_EQ(unknown.size(), 1u) << at;
    bool refused = false;
    for (const Cause& c : s->validate(o)) refused = refused || c.field == unknown[0];
    EXPECT_TRUE(refused) << unknown[0];
  }
}

}  // namespace
}  // namespace minimcp::model
