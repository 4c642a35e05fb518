// kubectl's JSONPath template dialect (k8s.io/client-go/util/jsonpath): text with {actions}
// such as {.metadata.name}, {.items[*].metadata.name}, {.status.conditions[?(@.type=="Ready")]},
// {range .items[*]}…{end}, {"\t"} literals, [start:end:step] slices, [a,b] unions, ..recursion
// and .* wildcards. Used by `-o jsonpath=` and `-o custom-columns=`.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace minimcp::client {

// A template that does not parse, or that fails on the data (an index out of range, a filter
// on something that is not a list, a missing key when missing keys are not allowed). The
// message is kubectl's ("unclosed action", "array index out of bounds: index 0, length 0").
class JsonPathError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class JsonPath {
 public:
  // Throws JsonPathError when the template does not parse.
  static JsonPath parse(const std::string& text);

  // kubectl's --allow-missing-template-keys (true by default): a missing field yields nothing
  // instead of an error "x is not found".
  void allowMissingKeys(bool allow) { allowMissingKeys_ = allow; }

  // The template's output for `data`, as kubectl prints it: several values of one action are
  // separated by a space, strings print raw, objects and lists as compact JSON.
  std::string execute(const nlohmann::json& data) const;

  // The values of every action (range bodies expanded), without the text between actions:
  // what custom-columns prints (values of a column joined by ",").
  std::vector<std::vector<nlohmann::json>> findResults(const nlohmann::json& data) const;

  struct Node;

 private:
  std::shared_ptr<const std::vector<Node>> root_;
  bool allowMissingKeys_ = true;
};

// custom-columns' relaxed spelling: "metadata.name", ".metadata.name", "{metadata.name}" and
// "{.metadata.name}" all become "{.metadata.name}". Throws JsonPathError otherwise.
std::string relaxedJsonPathExpression(const std::string& expression);

// A value as Go's fmt "%v" prints what kubectl decoded from JSON: strings raw, map[k:v …] for
// objects (keys sorted), [a b] for lists, <nil> for null. custom-columns cells use it.
std::string goValueText(const nlohmann::json& value);

}  // namespace minimcp::client
