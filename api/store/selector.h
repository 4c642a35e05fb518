// Parsed Kubernetes label and field selectors. Store implementations parse a selector once per
// LIST and match many objects; the free functions in store.h are the one-shot form.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace minimcp::store {

// Label selector over metadata.labels: "a=b,c!=d,e in (x,y),f notin (z),g,!h,n>3,m<5".
// Requirements are ANDed; the empty selector matches everything.
class LabelSelector {
 public:
  // Throws StoreError BadSelector naming the problem.
  static LabelSelector parse(const std::string& text);

  bool matches(const nlohmann::json& obj) const;
  // The same test given only metadata.labels (nullptr or non-object: no labels); lets a store
  // filter without parsing whole objects.
  bool matchesLabels(const nlohmann::json* labels) const;
  bool empty() const { return requirements_.empty(); }

 private:
  enum class Op { Exists, NotExists, Equals, NotEquals, In, NotIn, GreaterThan, LessThan };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Requirement> requirements_;
};

// Field selector over dotted JSON paths: "metadata.name=x,status.phase!=Running".
// A missing field reads as ""; other scalars compare by their JSON text ("3", "true").
class FieldSelector {
 public:
  // Throws StoreError BadSelector naming the problem.
  static FieldSelector parse(const std::string& text);

  bool matches(const nlohmann::json& obj) const;
  bool empty() const { return terms_.empty(); }
  // False when every term reads only metadata.name / metadata.namespace, so matching a stub
  // object holding just those two is enough.
  bool needsWholeObject() const;

 private:
  struct Term {
    std::vector<std::string> path;
    bool equal;
    std::string value;
  };
  std::vector<Term> terms_;
};

}  // namespace minimcp::store
