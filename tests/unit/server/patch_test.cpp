#include "api/server/patch.h"

#include <gtest/gtest.h>

#include "api/util/api_error.h"

namespace minimcp::server {
namespace {

using nlohmann::json;

const json kLive = {{"metadata", {{"name", "a"}, {"labels", {{"x", "1"}, {"y", "2"}}}}},
                    {"spec", {{"size", 3}, {"list", {1, 2}}}}};

int codeOf(PatchType t, const std::string& body) {
  try {
    applyPatch(t, kLive, body);
  } catch (const ApiError& e) {
    return e.code();
  }
  return 0;
}

TEST(Patch, ContentTypes) {
  EXPECT_EQ(patchTypeFromContentType("application/merge-patch+json"), PatchType::Merge);
  EXPECT_EQ(patchTypeFromContentType("application/json-patch+json; charset=utf-8"),
            PatchType::Json);
  EXPECT_EQ(patchTypeFromContentType("application/apply-patch+yaml"), PatchType::Apply);
  EXPECT_EQ(patchTypeFromContentType("application/strategic-merge-patch+json"),
            PatchType::Strategic);
  EXPECT_EQ(patchTypeFromContentType("text/plain"), PatchType::Unsupported);
  EXPECT_EQ(patchTypeFromContentType(""), PatchType::Unsupported);
}

TEST(Patch, MergePatchFollowsRfc7386) {
  auto out = applyPatch(PatchType::Merge, kLive,
                        R"({"metadata":{"labels":{"x":null,"z":"3"}},"spec":{"list":[9]}})");
  EXPECT_EQ(out["metadata"]["labels"], json({{"y", "2"}, {"z", "3"}}));
  EXPECT_EQ(out["spec"]["list"], json({9}));  // arrays are replaced whole
  EXPECT_EQ(out["spec"]["size"], 3);
}

TEST(Patch, JsonPatchFollowsRfc6902) {
  auto out = applyPatch(PatchType::Json, kLive,
                        R"([{"op":"test","path":"/spec/size","value":3},
                            {"op":"replace","path":"/spec/size","value":4},
                            {"op":"add","path":"/spec/list/-","value":5}])");
  EXPECT_EQ(out["spec"]["size"], 4);
  EXPECT_EQ(out["spec"]["list"], json({1, 2, 5}));
}

TEST(Patch, FailedJsonPatchIs422) {
  EXPECT_EQ(codeOf(PatchType::Json, R"([{"op":"test","path":"/spec/size","value":9}])"), 422);
  EXPECT_EQ(codeOf(PatchType::Json, R"([{"op":"remove","path":"/spec/nope"}])"), 422);
}

TEST(Patch, BadBodiesAre400) {
  EXPECT_EQ(codeOf(PatchType::Json, R"({"op":"add"})"), 400);
  EXPECT_EQ(codeOf(PatchType::Json, "[{"), 400);
  EXPECT_EQ(codeOf(PatchType::Merge, "[1]"), 400);
}

TEST(Patch, StrategicAndUnknownAre415) {
  EXPECT_EQ(codeOf(PatchType::Strategic, "{}"), 415);
  EXPECT_EQ(codeOf(PatchType::Unsupported, "{}"), 415);
}

TEST(Patch, ApplyAcceptsYamlAndMergesOverLive) {
  auto out = applyPatch(PatchType::Apply, kLive, "spec:\n  size: 7\n  color: red\n");
  EXPECT_EQ(out["spec"]["size"], 7);
  EXPECT_EQ(out["spec"]["color"], "red");
  EXPECT_EQ(out["spec"]["list"], json({1, 2}));
  EXPECT_EQ(out["metadata"]["name"], "a");
}

}  // namespace
}  // namespace minimcp::server
