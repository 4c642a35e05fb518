// `explain`: kubectl's plaintext rendering of a kind's OpenAPI v3 schema (the layout of
// kube-apiserver's /openapi/v3: an index of group versions, each a document whose
// components.schemas carry x-kubernetes-group-version-kind).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace minimcp::client {

// The serverRelativeURL that the /openapi/v3 index gives for "apis/<group>/<version>" (or
// "api/v1" when the group is empty); nullopt when the index does not list it.
std::optional<std::string> openApiV3Url(const nlohmann::json& index, const std::string& group,
                                        const std::string& version);

// A field path that the schema does not have: kubectl has printed the GROUP/KIND/VERSION head
// (`head`) by then, and says `field "x" does not exist`.
class ExplainFieldNotFound : public std::invalid_argument {
 public:
  ExplainFieldNotFound(const std::string& message, std::string head)
      : std::invalid_argument(message), head_(std::move(head)) {}
  const std::string& head() const { return head_; }

 private:
  std::string head_;
};

struct ExplainRequest {
  std::string group, version, kind;
  std::vector<std::string> fieldPath;  // "spec", "ttl"
  bool recursive = false;
};

// What kubectl explain prints (GROUP/KIND/VERSION, then FIELD, DESCRIPTION and FIELDS). Throws
// ExplainFieldNotFound for a path the schema does not have, std::invalid_argument when the kind
// is not in the document.
std::string explainText(const nlohmann::json& document, const ExplainRequest& request);

// mitchellh/go-wordwrap as kubectl uses it: lines of at most `limit` characters, broken at
// whitespace; existing newlines kept; a longer word stays whole on its own line.
std::string wordWrap(const std::string& text, size_t limit);

}  // namespace minimcp::client
