// The behaviour every kind shares (ObjectMeta checks, status handling, immutable metadata),
// so a kind's own file holds only its schema, defaults and columns.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "api/model/kinds.h"
#include "api/model/strategy.h"
#include "api/model/validation.h"

namespace minimcp::model {

class KindStrategy : public Strategy {
 public:
  explicit KindStrategy(KindInfo info) : info_(std::move(info)) {}
  const KindInfo& info() const override { return info_; }

  // Drops user-written status (kinds with status), then applyDefaults.
  void prepareForCreate(nlohmann::json& obj, const Clock& clock) const override;
  // Keeps the old status (kinds with status), then applyDefaults.
  void prepareForUpdate(nlohmann::json& obj, const nlohmann::json& old,
                        const Clock& clock) const override;
  // Keeps the old spec and metadata; only status (and the caller's resourceVersion) change.
  void prepareForStatusUpdate(nlohmann::json& obj, const nlohmann::json& old) const override;

  // ObjectMeta + top-level fields + validateBody.
  std::vector<Cause> validate(const nlohmann::json& obj) const override;
  // metadata.name, namespace and uid may not change.
  std::vector<Cause> validateUpdate(const nlohmann::json& obj,
                                    const nlohmann::json& old) const override;

 protected:
  // Fills spec defaults. Must tolerate invalid input: validation runs afterwards.
  virtual void applyDefaults(nlohmann::json& /*obj*/) const {}
  // Everything outside metadata: spec (or the kind's top-level fields).
  virtual void validateBody(FieldErrors& errs, const nlohmann::json& obj) const = 0;
  // The top level every spec+status kind shares: only apiVersion, kind, metadata, spec and
  // status; status an object; spec a required object. Returns the spec to validate further, or
  // nullptr (the error recorded) when there is none.
  static const nlohmann::json* specToValidate(FieldErrors& errs, const nlohmann::json& obj);
  // MCPInstance names become URL path segments: DNS-1123 labels rather than subdomains.
  virtual bool nameMustBeLabel() const { return false; }

 private:
  KindInfo info_;
};

// Cells shared by several kinds.
// humanDuration(now - t) for an RFC 3339 string, or null when absent/malformed.
nlohmann::json ageCell(const nlohmann::json& rfc3339, TimePoint now);
std::vector<EnvVar> envFromJson(const nlohmann::json& spec);

// Sets obj[key] = value when obj is an object and key is absent or null.
void setDefault(nlohmann::json& obj, const std::string& key, const nlohmann::json& value);

}  // namespace minimcp::model
