// Field validation helpers shared by the strategies: a cause collector with kube-apiserver's
// message wording, type-checked field access, and the Kubernetes name/label syntaxes.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/model/json_fields.h"
#include "api/util/api_error.h"

namespace minimcp::model {

// Collects every problem so that one response lists them all.
class FieldErrors {
 public:
  // "Required value" (+ ": detail").
  void required(const std::string& field, const std::string& detail = "");
  // "Invalid value: <value>: detail". Strings are quoted; objects/arrays show their type name.
  void invalid(const std::string& field, const nlohmann::json& value, const std::string& detail);
  // Same, without echoing the value (secrets).
  void invalidHidden(const std::string& field, const std::string& detail);
  // "Unsupported value: "x": supported values: "a", "b"".
  void notSupported(const std::string& field, const nlohmann::json& value,
                    const std::vector<std::string>& supported);
  // "Too long: may not be more than N bytes".
  void tooLong(const std::string& field, size_t max);
  // `unknown field "spec.foo"` (FieldValueNotSupported), so typos are caught.
  void unknownField(const std::string& field);

  void append(const std::vector<Cause>& causes);
  bool empty() const { return causes_.empty(); }
  const std::vector<Cause>& causes() const { return causes_; }
  std::vector<Cause> take() { return std::move(causes_); }

 private:
  std::vector<Cause> causes_;
};

// "spec" + "ttl" → "spec.ttl"; index → "spec.env[2]".
std::string joinPath(const std::string& parent, const std::string& key);
std::string indexPath(const std::string& parent, size_t index);

// Records `unknown field` for every member of `obj` not in `known`.
void rejectUnknownFields(FieldErrors& errs, const nlohmann::json& obj, const std::string& path,
                         std::initializer_list<const char*> known);

// Type checks: true when `v` has the type; otherwise record FieldValueInvalid and return false.
bool expectObject(FieldErrors& errs, const nlohmann::json& v, const std::string& path);
bool expectArray(FieldErrors& errs, const nlohmann::json& v, const std::string& path);
bool expectString(FieldErrors& errs, const nlohmann::json& v, const std::string& path);
bool expectBool(FieldErrors& errs, const nlohmann::json& v, const std::string& path);
bool expectInteger(FieldErrors& errs, const nlohmann::json& v, const std::string& path);

// Optional string member: nullptr when absent or of the wrong type (recorded).
const std::string* optionalString(FieldErrors& errs, const nlohmann::json& obj,
                                  const std::string& key, const std::string& path);
// Required string member: records Required when absent or empty.
const std::string* requiredString(FieldErrors& errs, const nlohmann::json& obj,
                                  const std::string& key, const std::string& path);
// Optional integer member within [min, max].
void optionalIntInRange(FieldErrors& errs, const nlohmann::json& obj, const std::string& key,
                        const std::string& path, int64_t min, int64_t max);
// Optional string member that must be one of `allowed`.
void optionalEnum(FieldErrors& errs, const nlohmann::json& obj, const std::string& key,
                  const std::string& path, const std::vector<std::string>& allowed);
// Optional array of strings; each item non-empty.
void optionalStringList(FieldErrors& errs, const nlohmann::json& obj, const std::string& key,
                        const std::string& path);

// Syntax predicates (length limits included).
bool isDns1123Label(const std::string& s);      // ≤63, [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool isDns1123Subdomain(const std::string& s);  // ≤253, labels joined by '.'
bool isQualifiedName(const std::string& s);     // [prefix/]name as for label keys
bool isLabelValue(const std::string& s);        // ≤63, may be empty
bool isCIdentifier(const std::string& s);       // env var names: [A-Za-z_][A-Za-z0-9_]*

// Full checks recording kube's messages (TooLong for length, Invalid for syntax).
void validateDns1123Label(FieldErrors& errs, const std::string& value, const std::string& path);
void validateDns1123Subdomain(FieldErrors& errs, const std::string& value, const std::string& path);
void validateQualifiedName(FieldErrors& errs, const std::string& value, const std::string& path);

// `env: [{name, value}]` as in MCPType and MCPInstance specs: C identifiers, no duplicates.
void validateEnvList(FieldErrors& errs, const nlohmann::json& obj, const std::string& key,
                     const std::string& path);
// `config`: any object.
// spec.idleTimeout (MCPInstance, MCPType): "0" (never) or a duration of at least 1s.
void validateIdleTimeout(FieldErrors& errs, const nlohmann::json& spec, const std::string& path);

void validateConfigObject(FieldErrors& errs, const nlohmann::json& obj, const std::string& key,
                          const std::string& path);

}  // namespace minimcp::model
