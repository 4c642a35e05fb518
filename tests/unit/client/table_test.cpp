#include "api/client/table.h"

#include <gtest/gtest.h>

#include "api/util/clock.h"

namespace minimcp::client {
namespace {

using nlohmann::json;

json sampleTable(std::chrono::system_clock::time_point created) {
  return {
      {"kind", "Table"},
      {"apiVersion", "meta.k8s.io/v1"},
      {"columnDefinitions",
       {{{"name", "Name"}, {"type", "string"}, {"priority", 0}},
        {{"name", "Type"}, {"type", "string"}, {"priority", 0}},
        {{"name", "Phase"}, {"type", "string"}, {"priority", 0}},
        {{"name", "URL"}, {"type", "string"}, {"priority", 1}},
        {{"name", "Age"}, {"type", "date"}, {"priority", 0}}}},
      {"rows",
       {{{"cells", {"inbox", "gmail", "Running", "http://x", formatRfc3339(created)}},
         {"object",
          {{"metadata", {{"name", "inbox"}, {"namespace", "alice"}, {"labels", {{"a", "b"}}}}}}}},
        {{"cells", {"a-much-longer-name", "echo", nullptr, "http://y", formatRfc3339(created)}},
         {"object", {{"metadata", {{"name", "a-much-longer-name"}, {"namespace", "bob"}}}}}}}}};
}

TEST(Table, AlignsLikeKubectl) {
  auto now = std::chrono::system_clock::now();
  TableOptions opts;
  opts.now = now;
  auto rows = tableRows(sampleTable(now - std::chrono::minutes(5)), opts);
  EXPECT_EQ(alignColumns(rows),
            "NAME                 TYPE    PHASE     AGE\n"
            "inbox                gmail   Running   5m\n"
            "a-much-longer-name   echo              5m\n");
}

TEST(Table, WideNamespaceAndLabels) {
  auto now = std::chrono::system_clock::now();
  TableOptions opts;
  opts.now = now;
  opts.wide = true;
  opts.withNamespace = true;
  opts.showLabels = true;
  auto rows = tableRows(sampleTable(now - std::chrono::hours(3)), opts);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"NAMESPACE", "NAME", "TYPE", "PHASE", "URL", "AGE",
                                               "LABELS"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"alice", "inbox", "gmail", "Running", "http://x",
                                               "3h", "a=b"}));
  EXPECT_EQ(rows[2].back(), "<none>");
}

TEST(Table, NoHeadersAndNonStringCells) {
  json table = {{"columnDefinitions",
                 {{{"name", "Name"}, {"type", "string"}},
                  {{"name", "Restarts"}, {"type", "integer"}},
                  {{"name", "Ready"}, {"type", "boolean"}}}},
                {"rows", {{{"cells", {"x", 3, true}}}}}};
  TableOptions opts;
  opts.noHeaders = true;
  EXPECT_EQ(alignColumns(tableRows(table, opts)), "x   3   true\n");
}

TEST(Table, DateThatIsNotATimestampIsPrintedAsIs) {
  json table = {{"columnDefinitions", {{{"name", "Age"}, {"type", "date"}}}},
                {"rows", {{{"cells", {"7m"}}}}}};
  EXPECT_EQ(tableDataRows(table, {}).at(0).at(0), "7m");
}

TEST(Table, FormatRowUsesGivenWidthsAndUtf8Width) {
  std::vector<size_t> widths = columnWidths({{"ä", "b"}, {"xx", "y"}});
  EXPECT_EQ(widths, (std::vector<size_t>{2, 1}));
  EXPECT_EQ(formatRow({"ä", "b"}, widths), "ä    b");
  EXPECT_EQ(formatRow({"a", ""}, widths), "a");
  EXPECT_EQ(formatRow({"a", "b"}, widths, 2), "a   b");
}

}  // namespace
}  // namespace minimcp::client
