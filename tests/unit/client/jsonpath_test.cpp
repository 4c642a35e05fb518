#include "api/client/jsonpath.h"

#include <gtest/gtest.h>

namespace minimcp::client {
namespace {

using nlohmann::json;

json sampleList() {
  return json::parse(R"({
    "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
    "items": [
      {"metadata": {"name": "inbox", "labels": {"app": "mail"}},
       "spec": {"ttl": "1h", "replicas": 2},
       "status": {"phase": "Running",
                  "conditions": [{"type": "Ready", "status": "True"},
                                 {"type": "Stalled", "status": "False"}]}},
      {"metadata": {"name": "notes"},
       "spec": {"ttl": "2h", "replicas": 1},
       "status": {"phase": "Pending",
                  "conditions": [{"type": "Ready", "status": "False"}]}}
    ]})");
}

struct Case {
  const char* name;
  const char* tmpl;
  const char* want;
};

TEST(JsonPath, ExecutesKubectlTemplates) {
  const Case cases[] = {
      {"field", "{.items[0].metadata.name}", "inbox"},
      {"wildcard index", "{.items[*].metadata.name}", "inbox notes"},
      {"text around", "name={.items[1].metadata.name}!", "name=notes!"},
      {"range with literals",
       R"({range .items[*]}{.metadata.name}{"\t"}{.status.phase}{"\n"}{end})",
       "inbox\tRunning\nnotes\tPending\n"},
      {"filter", R"({.items[0].status.conditions[?(@.type=="Ready")].status})", "True"},
      {"filter on every item", R"({.items[*].status.conditions[?(@.type=="Ready")].status})",
       "True False"},
      {"filter with single quotes", "{.items[*].status.conditions[?(@.type=='Stalled')].status}",
       "False"},
      {"numeric filter", "{.items[?(@.spec.replicas>1)].metadata.name}", "inbox"},
      {"exists filter", "{.items[?(@.metadata.labels)].metadata.name}", "inbox"},
      {"negative index", "{.items[-1].metadata.name}", "notes"},
      {"slice", "{.items[0:1].metadata.name}", "inbox"},
      {"quoted key", "{.items[*]['spec.ttl']}", "1h 2h"},
      {"union", "{.items[0,1].spec.ttl}", "1h 2h"},
      {"field on a list finds nothing", "{.items.metadata.name}", ""},
      {"missing field prints nothing", "{.items[0].status.nope}", ""},
      {"object as compact json", "{.items[0].metadata.labels}", R"({"app":"mail"})"},
      {"number", "{.items[0].spec.replicas}", "2"},
      {"recursive descent", "{..phase}", "Running Pending"},
      {"map wildcard", "{.items[0].metadata.labels.*}", "mail"},
      {"dollar root", "{$.kind}", "List"},
      {"plain text", "just text", "just text"},
      {"label", "{.items[0].metadata.labels.app}", "mail"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(JsonPath::parse(c.tmpl).execute(sampleList()), c.want) << c.name;
  }
}

TEST(JsonPath, KeysWithDotsNeedEscaping) {
  json obj = {{"metadata", {{"annotations", {{"example.com/x", "y"}}}}}};
  EXPECT_EQ(JsonPath::parse(R"({.metadata.annotations.example\.com/x})").execute(obj), "y");
}

TEST(JsonPath, ParseErrorsUseKubectlMessages) {
  const std::pair<const char*, const char*> cases[] = {
      {"{.metadata.name", "unclosed action"},
      {"{.items[0}", "unterminated array"},
      {"{.items[x]}", "invalid array index x"},
      {R"({"abc})", "unterminated quoted string"},
      {"{.items[?(@.a==1}", "unterminated filter"},
      {"{#}", "unrecognized character in action: U+0023 '#'"},
  };
  for (const auto& [tmpl, message] : cases) {
    try {
      JsonPath::parse(tmpl);
      ADD_FAILURE() << tmpl << " parsed";
    } catch (const JsonPathError& e) {
      EXPECT_EQ(std::string(e.what()), message) << tmpl;
    }
  }
}

TEST(JsonPath, ExecutionErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"{.items[5].metadata.name}", "array index out of bounds: index 5, length 2"},
      {"{.metadata[0]}", "map[string]interface {} is not array or slice"},
      {"{end}", "not in range, nothing to end"},
      {"{foo}", "unrecognized identifier foo"},
  };
  for (const auto& [tmpl, message] : cases) {
    try {
      JsonPath::parse(tmpl).execute(sampleList());
      ADD_FAILURE() << tmpl << " executed";
    } catch (const JsonPathError& e) {
      EXPECT_EQ(std::string(e.what()), message) << tmpl;
    }
  }
}

TEST(JsonPath, MissingKeysCanBeErrors) {
  auto p = JsonPath::parse("{.items[0].nope}");
  p.allowMissingKeys(false);
  EXPECT_THROW(p.execute(sampleList()), JsonPathError);
}

TEST(JsonPath, FindResultsPerAction) {
  auto results = JsonPath::parse("{.items[*].metadata.name}").findResults(sampleList());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0], (std::vector<json>{"inbox", "notes"}));
}

TEST(JsonPath, RelaxedExpressions) {
  for (const char* in :
       {"metadata.name", ".metadata.name", "{metadata.name}", "{.metadata.name}"}) {
    EXPECT_EQ(relaxedJsonPathExpression(in), "{.metadata.name}") << in;
  }
  EXPECT_THROW(relaxedJsonPathExpression("{.a}{.b}"), JsonPathError);
}

TEST(JsonPath, GoValueText) {
  EXPECT_EQ(goValueText(json::parse(R"({"b": [1, "x"], "a": {"c": null}})")),
            "map[a:map[c:<nil>] b:[1 x]]");
  EXPECT_EQ(goValueText(1.5), "1.5");
  EXPECT_EQ(goValueText(true), "true");
}

}  // namespace
}  // namespace minimcp::client
