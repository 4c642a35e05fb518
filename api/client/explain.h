// `explain`: kubectl's plaintext rendering of a kind's OpenAPI v3 schema (the layout of
// kube-apiserver's /openapi/v3: an index of group versions, each a document whose
// components.schemas carry x-kubernetes-group-version-kind).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace minimcp::client {

// The serverRelativeURL that the /openapi/v3 index gives for "apis/<group>/<version>" (or
// "api/v1" when the group is empty); nullopt when the index does not list it.
std::optional<std::string> openApiV3Url(const nlohmann::json& index, const std::string& group,
                                        const std::string& version);

struct ExplainRequest {
  std::string group, version, kind;
  std::vector<std::string> fieldPath;  // "spec", "ttl"
  bool recursive = false;
};

// What kubectl explain prints (GROUP/KIND/VERSION, then FIELD, DESCRIPTION and FIELDS). Throws
// std::invalid_argument with kubectl's message: `field "x" does not exist`, or that the kind is
// not in the document.
std::string explainText(const nlohmann::json& document, const ExplainRequest& request);

// mitchellh/go-wordwrap as kubectl uses it: lines of at most `limit` characters, broken at
// whitespace; existing newlines kept; a longer word stays whole on its own line.
std::string wordWrap(const std::string& text, size_t limit);

}  // namespace minimcp::client
