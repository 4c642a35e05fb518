#include "api/client/custom_columns.h"

#include <gtest/gtest.h>

namespace minimcp::client {
namespace {

using nlohmann::json;

TEST(CustomColumns, ParsesSpecAndRelaxesPaths) {
  auto cols = parseCustomColumns("NAME:.metadata.name,PHASE:status.phase,T:{.spec.ttl}");
  ASSERT_EQ(cols.size(), 3u);
  EXPECT_EQ(cols[0].header, "NAME");
  EXPECT_EQ(cols[0].fieldSpec, "{.metadata.name}");
  EXPECT_EQ(cols[1].fieldSpec, "{.status.phase}");
  EXPECT_EQ(cols[2].fieldSpec, "{.spec.ttl}");
}

TEST(CustomColumns, SpecErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "custom-columns format specified but no custom columns given"},
      {"NAME", "unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>"},
      {"NAME:.a,PHASE",
       "unexpected custom-columns spec: PHASE, expected <header>:<json-path-expr>"},
  };
  for (const auto& [spec, message] : cases) {
    try {
      parseCustomColumns(spec);
      ADD_FAILURE() << spec;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), message);
    }
  }
}

TEST(CustomColumns, File) {
  auto cols = parseCustomColumnsFile("NAME   PHASE\n.metadata.name   .status.phase\n");
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[1].header, "PHASE");
  EXPECT_EQ(cols[1].fieldSpec, "{.status.phase}");
  EXPECT_THROW(parseCustomColumnsFile("A B\n.a\n"), std::invalid_argument);
  EXPECT_THROW(parseCustomColumnsFile("A B\n"), std::invalid_argument);
}

TEST(CustomColumns, RowsForAListWithNoneAndSeveralValues) {
  json list = json::parse(R"({"kind": "List", "items": [
      {"metadata": {"name": "inbox"}, "status": {"phase": "Running",
        "conditions": [{"type": "Ready"}, {"type": "Stalled"}]}},
      {"metadata": {"name": "a"}}]})");
  auto rows = customColumnRows(
      parseCustomColumns("NAME:.metadata.name,PHASE:.status.phase,C:.status.conditions[*].type"),
      list, false);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"NAME", "PHASE", "C"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"inbox", "Running", "Ready,Stalled"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"a", "<none>", "<none>"}));
  EXPECT_EQ(alignCustomColumns(rows),
            "NAME    PHASE     C\n"
            "inbox   Running   Ready,Stalled\n"
            "a       <none>    <none>\n");
}

TEST(CustomColumns, SingleObjectWithoutHeaders) {
  json obj = {{"metadata", {{"name", "x"}, {"labels", {{"a", "b"}}}}}};
  auto rows = customColumnRows(parseCustomColumns("L:.metadata.labels"), obj, true);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "map[a:b]");
}

}  // namespace
}  // namespace minimcp::client
