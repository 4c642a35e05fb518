// ObjectMeta: a typed, read-only view of an API object's metadata (no copy of the document).
// An absent or mistyped metadata, or field, reads as empty.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace minimcp::model {

class ObjectMeta {
 public:
  // `obj` is the whole object; it must outlive the view.
  explicit ObjectMeta(const nlohmann::json& obj);
  ObjectMeta(nlohmann::json&&) = delete;

  const std::string& name() const { return string("name"); }
  const std::string& ns() const { return string("namespace"); }
  const std::string& uid() const { return string("uid"); }
  const std::string& resourceVersion() const { return string("resourceVersion"); }
  const std::string& creationTimestamp() const { return string("creationTimestamp"); }
  const std::string& deletionTimestamp() const { return string("deletionTimestamp"); }
  int64_t generation() const;
  const nlohmann::json& labels() const { return object("labels"); }            // an object
  const nlohmann::json& annotations() const { return object("annotations"); }  // an object
  std::vector<std::string> finalizers() const;

  bool deleting() const { return !deletionTimestamp().empty(); }
  bool hasFinalizers() const;
  bool hasFinalizer(const std::string& finalizer) const;

 private:
  const std::string& string(const char* field) const;
  const nlohmann::json& object(const char* field) const;
  const nlohmann::json* md_;  // nullptr when the object has no metadata object
};

}  // namespace minimcp::model
