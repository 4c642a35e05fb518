// Admission: policy beside the strategies (quotas, limits), after kube-apiserver's admission
// chain. Plugins are registered per resource with GenericStore::addAdmission.
#pragma once

#include <nlohmann/json.hpp>

#include "api/model/strategy.h"

namespace minimcp::registry {

// One write offered to admission plugins.
struct AdmissionRequest {
  const char* operation;  // "create" | "update" (the status subresource is never admitted)
  const model::KindInfo& info;
  nlohmann::json& object;     // the object about to be written
  const nlohmann::json* old;  // the stored object on update; nullptr on create
  bool dryRun;
};

// Both steps run for dry runs too.
class AdmissionPlugin {
 public:
  virtual ~AdmissionPlugin() = default;
  // Before the strategy's defaults and validation: may change the object (defaults from policy).
  virtual void mutate(AdmissionRequest& /*req*/) const {}
  // After validation, just before the write: throws ApiError to refuse it. Creates of a kind
  // with plugins are serialised in this process, so a count read here stays true until the
  // write (one node; several nodes on one PostgreSQL may overshoot by a few).
  virtual void validate(const AdmissionRequest& /*req*/) const {}
};

}  // namespace minimcp::registry
