#include "api/client/commands.h"

#include <gtest/gtest.h>

#include "api/client/merge_patch.h"
#include "api/client/table.h"
#include "api/util/clock.h"

namespace minimcp::client {
namespace {

using nlohmann::json;

TEST(TrimOneTrailingNewline, RemovesExactlyOne) {
  EXPECT_EQ(trimOneTrailingNewline("abc\n"), "abc");
  EXPECT_EQ(trimOneTrailingNewline("abc\r\n"), "abc");
  EXPECT_EQ(trimOneTrailingNewline("abc\n\n"), "abc\n");
  EXPECT_EQ(trimOneTrailingNewline("abc"), "abc");
  EXPECT_EQ(trimOneTrailingNewline("a\nb"), "a\nb");
  EXPECT_EQ(trimOneTrailingNewline("abc\r"), "abc\r");
  EXPECT_EQ(trimOneTrailingNewline("\n"), "");
  EXPECT_EQ(trimOneTrailingNewline(""), "");
}

TEST(LogTarget, AddsOnlyTheGivenParameters) {
  const std::string path = "/apis/minimcp.io/v1alpha1/namespaces/a/mcpinstances/x";
  EXPECT_EQ(logTarget(path, std::nullopt, false), path + "/log");
  EXPECT_EQ(logTarget(path, 10, false), path + "/log?tailLines=10");
  EXPECT_EQ(logTarget(path, std::nullopt, true), path + "/log?follow=true");
  EXPECT_EQ(logTarget(path, 0, true), path + "/log?tailLines=0&follow=true");
}

TEST(ApiKeyManifest, CarriesTheFieldsGiven) {
  json key = apiKeyManifest("alice", "k", "gmail", "v", "");
  EXPECT_EQ(key["apiVersion"], "minimcp.io/v1alpha1");
  EXPECT_EQ(key["kind"], "APIKey");
  EXPECT_EQ(key["metadata"], (json{{"name", "k"}, {"namespace", "alice"}}));
  EXPECT_EQ(key["spec"], (json{{"type", "gmail"}, {"value", "v"}}));
  EXPECT_EQ(apiKeyManifest("alice", "k", "gmail", "v", "2160h")["spec"]["rotationPeriod"], "2160h");
}

TEST(TokenRequest, ExactlyOneOfNamespaceAndAdmin) {
  EXPECT_EQ(tokenRequest("alice", false, ""), (json{{"namespace", "alice"}}));
  EXPECT_EQ(tokenRequest("", true, "ops"), (json{{"admin", true}, {"name", "ops"}}));
  EXPECT_THROW(tokenRequest("", false, ""), std::invalid_argument);
  EXPECT_THROW(tokenRequest("alice", true, ""), std::invalid_argument);
}

TEST(TokenTable, PrintsNamespaceOrAdminAndAge) {
  auto now = std::chrono::system_clock::now();
  json list = {{"kind", "TokenList"},
               {"items",
                {{{"name", "t-alice"},
                  {"namespace", "alice"},
                  {"createdAt", formatRfc3339(now - std::chrono::minutes(3))}},
                 {{"name", "root"}, {"admin", true}, {"createdAt", formatRfc3339(now)}}}}};
  TableOptions opts;
  opts.now = now;
  EXPECT_EQ(alignColumns(tableRows(tokenTable(list), opts)),
            "NAME      NAMESPACE   CREATED\n"
            "t-alice   alice       3m\n"
            "root      <admin>     0s\n");
  EXPECT_TRUE(tokenTable(json{{"kind", "TokenList"}})["rows"].empty());
}

TEST(MergeLimits, KeepsTheLimitsNotGiven) {
  json current = {{"kind", "Limits"}, {"maxInstances", 5}, {"maxTTL", "24h"}};
  EXPECT_EQ(mergeLimits(current, std::nullopt, std::string("48h")),
            (json{{"maxInstances", 5}, {"maxTTL", "48h"}}));
  EXPECT_EQ(mergeLimits(current, 7, std::nullopt), (json{{"maxInstances", 7}, {"maxTTL", "24h"}}));
  EXPECT_EQ(mergeLimits(json::object(), 2, std::nullopt), (json{{"maxInstances", 2}}));
  EXPECT_EQ(mergeLimits(json(nullptr), std::nullopt, std::string("1h")), (json{{"maxTTL", "1h"}}));
}

TEST(LimitsTable, ShowsUnsetAsNone) {
  TableOptions opts;
  EXPECT_EQ(alignColumns(tableRows(limitsTable("alice", {{"maxInstances", 3}}), opts)),
            "NAMESPACE   MAX-INSTANCES   MAX-TTL\n"
            "alice       3               <none>\n");
}

TEST(PrunableNames, OnlyAppliedObjectsMissingFromTheSet) {
  auto item = [](const std::string& name, bool applied, bool deleting) {
    json meta = {{"name", name}};
    if (applied) meta["annotations"] = {{kLastAppliedAnnotation, "{}"}};
    if (deleting) meta["deletionTimestamp"] = "2026-01-01T00:00:00Z";
    return json{{"metadata", meta}};
  };
  json list = {{"items",
                {item("kept", true, false), item("gone", true, false),
                 item("created-by-hand", false, false), item("already-deleting", true, true)}}};
  EXPECT_EQ(prunableNames(list, {"kept"}), (std::vector<std::string>{"gone"}));
  EXPECT_EQ(prunableNames(list, {"kept", "gone"}), std::vector<std::string>{});
  EXPECT_TRUE(prunableNames(json::object(), {}).empty());
}

}  // namespace
}  // namespace minimcp::client
