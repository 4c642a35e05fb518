#include "api/client/event_rows.h"

#include <gtest/gtest.h>

#include "api/util/clock.h"

namespace minimcp::client {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(EventRows, SortedFilteredAndFormattedLikeKubectlEvents) {
  auto now = std::chrono::system_clock::now();
  auto at = [&](auto ago) { return formatRfc3339(now - ago); };
  json list = {{"items",
                {{{"metadata", {{"namespace", "a"}}},
                  {"type", "Warning"},
                  {"reason", "Crash"},
                  {"message", " exited 1\n"},
                  {"count", 3},
                  {"firstTimestamp", at(10min)},
                  {"lastTimestamp", at(2min)},
                  {"involvedObject", {{"kind", "MCPInstance"}, {"name", "inbox"}}}},
                 {{"metadata", {{"namespace", "b"}}},
                  {"type", "Normal"},
                  {"reason", "Started"},
                  {"message", "pid 4"},
                  {"count", 1},
                  {"firstTimestamp", at(5min)},
                  {"lastTimestamp", at(5min)},
                  {"involvedObject", {{"kind", "MCPInstance"}, {"name", "notes"}}}}}}};
  auto rows = eventRows(list, false, {}, now);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0],
            (std::vector<std::string>{"5m", "Normal", "Started", "MCPInstance/notes", "pid 4"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"2m (x3 over 10m)", "Warning", "Crash",
                                               "MCPInstance/inbox", "exited 1"}));
  rows = eventRows(list, true, {"warning"}, now);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "a");
  EXPECT_EQ(eventHeader(true).front(), "NAMESPACE");
  EXPECT_EQ(eventHeader(false).front(), "LAST SEEN");
  EXPECT_NO_THROW(checkEventTypes({"Normal", "WARNING"}));
  EXPECT_THROW(checkEventTypes({"Error"}), std::invalid_argument);
}

}  // namespace
}  // namespace minimcp::client
