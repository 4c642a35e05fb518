#include "api/client/merge_patch.h"

#include <gtest/gtest.h>

namespace minimcp::client {
namespace {

using nlohmann::json;

struct Case {
  const char* name;
  json lastApplied, live, modified, want;
};

class ThreeWayMergePatchTest : public ::testing::TestWithParam<Case> {};

TEST_P(ThreeWayMergePatchTest, ComputesPatch) {
  const Case& c = GetParam();
  EXPECT_EQ(threeWayMergePatch(c.lastApplied, c.live, c.modified), c.want) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ThreeWayMergePatchTest,
    ::testing::Values(
        Case{"unchanged", json{{"spec", {{"type", "echo"}}}},
             json{{"spec", {{"type", "echo"}}}, {"status", {{"phase", "Running"}}}},
             json{{"spec", {{"type", "echo"}}}}, json::object()},
        Case{"changed scalar", json{{"spec", {{"ttl", "1h"}}}}, json{{"spec", {{"ttl", "1h"}}}},
             json{{"spec", {{"ttl", "2h"}}}}, json{{"spec", {{"ttl", "2h"}}}}},
        Case{"added field", json{{"spec", {{"type", "echo"}}}}, json{{"spec", {{"type", "echo"}}}},
             json{{"spec", {{"type", "echo"}, {"suspend", true}}}},
             json{{"spec", {{"suspend", true}}}}},
        Case{"removed from config is deleted", json{{"spec", {{"type", "echo"}, {"ttl", "1h"}}}},
             json{{"spec", {{"type", "echo"}, {"ttl", "1h"}}}}, json{{"spec", {{"type", "echo"}}}},
             json{{"spec", {{"ttl", nullptr}}}}},
        Case{"field set by someone else is kept", json{{"spec", {{"type", "echo"}}}},
             json{{"spec", {{"type", "echo"}, {"restartPolicy", "Always"}}}},
             json{{"spec", {{"type", "echo"}}}}, json::object()},
        Case{"live drifted from config is reset", json{{"spec", {{"ttl", "1h"}}}},
             json{{"spec", {{"ttl", "5h"}}}}, json{{"spec", {{"ttl", "1h"}}}},
             json{{"spec", {{"ttl", "1h"}}}}},
        Case{"deleted already gone from live is not sent",
             json{{"spec", {{"type", "echo"}, {"ttl", "1h"}}}}, json{{"spec", {{"type", "echo"}}}},
             json{{"spec", {{"type", "echo"}}}}, json::object()},
        Case{"arrays replaced whole", json{{"spec", {{"env", {{{"name", "A"}}}}}}},
             json{{"spec", {{"env", {{{"name", "A"}}}}}}},
             json{{"spec", {{"env", {{{"name", "A"}}, {{"name", "B"}}}}}}},
             json{{"spec", {{"env", {{{"name", "A"}}, {{"name", "B"}}}}}}}},
        Case{"nested map removed", json{{"spec", {{"config", {{"a", 1}, {"b", 2}}}}}},
             json{{"spec", {{"config", {{"a", 1}, {"b", 2}}}}}},
             json{{"spec", {{"config", {{"a", 1}}}}}},
             json{{"spec", {{"config", {{"b", nullptr}}}}}}},
        Case{"whole map removed", json{{"spec", {{"config", {{"a", 1}}}, {"type", "x"}}}},
             json{{"spec", {{"config", {{"a", 1}}}, {"type", "x"}}}},
             json{{"spec", {{"type", "x"}}}}, json{{"spec", {{"config", nullptr}}}}},
        Case{"no last-applied: only additions and changes", nullptr,
             json{{"spec", {{"type", "x"}, {"ttl", "1h"}}}}, json{{"spec", {{"type", "y"}}}},
             json{{"spec", {{"type", "y"}}}}},
        Case{"explicit null deletes", json{{"spec", {{"ttl", "1h"}}}},
             json{{"spec", {{"ttl", "1h"}}}}, json{{"spec", {{"ttl", nullptr}}}},
             json{{"spec", {{"ttl", nullptr}}}}},
        Case{"scalar becomes map", json{{"spec", {{"config", "x"}}}},
             json{{"spec", {{"config", "x"}}}}, json{{"spec", {{"config", {{"a", 1}}}}}},
             json{{"spec", {{"config", {{"a", 1}}}}}}}));

TEST(WithLastApplied, RecordsTheConfigWithoutTheAnnotationItself) {
  json desired = {{"apiVersion", "minimcp.io/v1alpha1"},
                  {"kind", "MCPInstance"},
                  {"metadata", {{"name", "a"}, {"namespace", "ns"}}},
                  {"spec", {{"type", "echo"}}}};
  json out = withLastApplied(desired);
  std::string recorded = out["metadata"]["annotations"][kLastAppliedAnnotation];
  // Exactly what kubectl 1.32 records for the same document.
  EXPECT_EQ(
      recorded,
      "{\"apiVersion\":\"minimcp.io/v1alpha1\",\"kind\":\"MCPInstance\",\"metadata\":{"
      "\"annotations\":{},\"name\":\"a\",\"namespace\":\"ns\"},\"spec\":{\"type\":\"echo\"}}\n");
  json withEmptyAnnotations = desired;
  withEmptyAnnotations["metadata"]["annotations"] = json::object();
  EXPECT_EQ(lastAppliedOf(out), withEmptyAnnotations);
  // Applying the annotated object again records the same thing (idempotent).
  EXPECT_EQ(withLastApplied(out), out);
}

TEST(WithLastApplied, SecondApplyOfSameConfigIsEmptyPatch) {
  json desired = {{"metadata", {{"name", "a"}, {"labels", {{"x", "1"}}}}},
                  {"spec", {{"type", "echo"}}}};
  json modified = withLastApplied(desired);
  // What the server stores: our object plus server-owned fields.
  json live = modified;
  live["metadata"]["uid"] = "u";
  live["metadata"]["resourceVersion"] = "7";
  live["status"] = {{"phase", "Running"}};
  EXPECT_EQ(threeWayMergePatch(lastAppliedOf(live), live, modified), json::object());

  json changed = desired;
  changed["metadata"]["labels"].erase("x");
  json patch = threeWayMergePatch(lastAppliedOf(live), live, withLastApplied(changed));
  EXPECT_TRUE(patch["metadata"]["labels"].contains("x"));
  EXPECT_TRUE(patch["metadata"]["labels"]["x"].is_null());
  EXPECT_TRUE(patch["metadata"]["annotations"].contains(kLastAppliedAnnotation));
}

TEST(WriteOnly, NeverRecordedAndAlwaysSent) {
  const std::vector<std::string> writeOnly = {"/spec/value"};
  json desired = {{"metadata", {{"name", "k"}}},
                  {"spec", {{"type", "gmail"}, {"value", "s3cret"}}}};
  json modified = withLastApplied(desired, writeOnly);
  std::string recorded = modified["metadata"]["annotations"][kLastAppliedAnnotation];
  EXPECT_EQ(recorded.find("s3cret"), std::string::npos) << recorded;
  EXPECT_EQ(recorded.find("sha256"), std::string::npos) << recorded;  // not even a digest
  EXPECT_FALSE(json::parse(recorded)["spec"].contains("value"));
  EXPECT_EQ(json::parse(recorded)["spec"]["type"], "gmail");
  EXPECT_EQ(modified["spec"]["value"], "s3cret");  // still sent

  // The server never returns the value: the patch always carries it (the server keeps the same
  // version for the same value) and nothing else.
  json live = modified;
  live["spec"].erase("value");
  EXPECT_EQ(threeWayMergePatch(lastAppliedOf(live), live, modified),
            (json{{"spec", {{"value", "s3cret"}}}}));

  // An annotation written by an older mcpctl (a digest) is replaced by one without the field.
  json old = live;
  json oldRecorded = json::parse(recorded);
  oldRecorded["spec"]["value"] = "sha256:0000";
  old["metadata"]["annotations"][kLastAppliedAnnotation] = oldRecorded.dump() + "\n";
  json patch = threeWayMergePatch(lastAppliedOf(old), old, modified);
  EXPECT_EQ(patch["spec"], (json{{"value", "s3cret"}}));
  EXPECT_EQ(patch["metadata"]["annotations"][kLastAppliedAnnotation], recorded);

  // A write-only field missing from the document is left out too.
  json noValue = desired;
  noValue["spec"].erase("value");
  EXPECT_FALSE(withLastApplied(noValue, writeOnly)["spec"].contains("value"));
}

TEST(LastAppliedOf, InvalidOrMissingIsNull) {
  EXPECT_TRUE(lastAppliedOf(json::object()).is_null());
  json live = {{"metadata", {{"annotations", {{kLastAppliedAnnotation, "{not json"}}}}}};
  EXPECT_TRUE(lastAppliedOf(live).is_null());
}

}  // namespace
}  // namespace minimcp::client
