#include "api/client/explain.h"

#include <gtest/gtest.h>

namespace minimcp::client {
namespace {

using nlohmann::json;

// A group-version document in kube-apiserver's /openapi/v3 layout.
json document() {
  return json::parse(R"({"openapi": "3.0.0", "components": {"schemas": {
    "io.minimcp.v1alpha1.MCPInstance": {
      "type": "object",
      "description": "MCPInstance runs one MCP server.",
      "required": ["spec"],
      "properties": {
        "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema."},
        "kind": {"type": "string", "description": "Kind is a string value."},
        "metadata": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}],
                     "description": "Standard object's metadata."},
        "spec": {"type": "object", "description": "Desired state.", "required": ["type"],
          "properties": {
            "ttl": {"type": "string", "description": "How long the instance lives."},
            "type": {"type": "string", "description": "The MCPType."},
            "mode": {"type": "string", "enum": ["shared", "dedicated"], "description": "Sharing."},
            "env": {"type": "array", "items": {"type": "object",
                    "properties": {"name": {"type": "string"}}}}}}},
      "x-kubernetes-group-version-kind": [{"group": "minimcp.io", "kind": "MCPInstance", "version": "v1alpha1"}]
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {"type": "object",
      "description": "ObjectMeta is metadata.",
      "properties": {"name": {"type": "string", "description": "Name."}}}
  }}})");
}

ExplainRequest request(std::vector<std::string> path, bool recursive = false) {
  return {"minimcp.io", "v1alpha1", "MCPInstance", std::move(path), recursive};
}

const char* kHead = "GROUP:      minimcp.io\nKIND:       MCPInstance\nVERSION:    v1alpha1\n\n";

TEST(Explain, FindsTheGroupVersionDocument) {
  json index = {{"paths",
                 {{"apis/minimcp.io/v1alpha1",
                   {{"serverRelativeURL", "/openapi/v3/apis/minimcp.io/v1alpha1?hash=AB"}}}}}};
  EXPECT_EQ(openApiV3Url(index, "minimcp.io", "v1alpha1"),
            "/openapi/v3/apis/minimcp.io/v1alpha1?hash=AB");
  EXPECT_FALSE(openApiV3Url(index, "other.io", "v1"));
}

TEST(Explain, Kind) {
  EXPECT_EQ(explainText(document(), request({})),
            std::string(kHead) +
                "DESCRIPTION:\n"
                "    MCPInstance runs one MCP server.\n"
                "    \n"
                "FIELDS:\n"
                "  apiVersion\t<string>\n"
                "    APIVersion defines the versioned schema.\n\n"
                "  kind\t<string>\n"
                "    Kind is a string value.\n\n"
                "  metadata\t<ObjectMeta>\n"
                "    Standard object's metadata.\n\n"
                "  spec\t<Object> -required-\n"
                "    Desired state.\n\n"
                "\n");
}

TEST(Explain, Fields) {
  EXPECT_EQ(explainText(document(), request({"spec", "ttl"})),
            std::string(kHead) +
                "FIELD: ttl <string>\n\n\nDESCRIPTION:\n"
                "    How long the instance lives.\n    \n\n");
  EXPECT_EQ(explainText(document(), request({"spec", "mode"})),
            std::string(kHead) +
                "FIELD: mode <string>\nENUM:\n    shared\n    dedicated\n\n"
                "DESCRIPTION:\n    Sharing.\n    \n\n");
  // Through allOf and $ref.
  EXPECT_EQ(explainText(document(), request({"metadata", "name"})),
            std::string(kHead) + "FIELD: name <string>\n\n\nDESCRIPTION:\n    Name.\n    \n\n");
}

TEST(Explain, Recursive) {
  EXPECT_EQ(explainText(document(), request({"spec"}, true)),
            std::string(kHead) +
                "FIELD: spec <Object>\n\n\n"
                "DESCRIPTION:\n    Desired state.\n    \n"
                "FIELDS:\n"
                "  env\t<[]Object>\n"
                "    name\t<string>\n"
                "  mode\t<string>\n"
                "  enum: shared, dedicated\n"
                "  ttl\t<string>\n"
                "  type\t<string> -required-\n"
                "\n");
}

TEST(Explain, Errors) {
  try {
    explainText(document(), request({"spec", "nope"}));
    ADD_FAILURE();
  } catch (const ExplainFieldNotFound& e) {
    EXPECT_EQ(std::string(e.what()), "field \"nope\" does not exist");
    EXPECT_EQ(e.head(), kHead);
  }
  ExplainRequest other{"minimcp.io", "v1alpha1", "Other", {}, false};
  EXPECT_THROW(explainText(document(), other), std::invalid_argument);
}

TEST(Explain, WordWrapLikeKubectl) {
  EXPECT_EQ(wordWrap("aaa bbb ccc", 7), "aaa bbb\nccc");
  EXPECT_EQ(wordWrap("a verylongword b", 5), "a\nverylongword\nb");
  EXPECT_EQ(wordWrap("one\ntwo three", 8), "one\ntwo\nthree");
}

}  // namespace
}  // namespace minimcp::client
