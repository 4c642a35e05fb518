#include "api/server/instance_policy.h"

#include <set>

#include "api/model/config_constraints.h"
#include "api/model/env_policy.h"
#include "api/model/kind_strategy.h"
#include "api/model/kinds.h"
#include "api/model/object_meta.h"
#include "api/model/validation.h"
#include "api/util/api_error.h"

namespace minimcp::server {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

class InstancePolicyAdmission : public AdmissionPlugin {
 public:
  InstancePolicyAdmission(store::Store& store, fs::path dataDir)
      : store_(store), dataDir_(std::move(dataDir)) {}

  void validate(const AdmissionRequest& r) const override {
    const json spec = model::objectField(r.object, "spec");
    const std::string typeName = model::stringField(spec, "type");
    if (typeName.empty()) return;
    const std::optional<json> typeObj = store_.get("mcptypes", "", typeName);
    if (!typeObj) return;
    const model::MCPTypeSpec type =
        model::MCPTypeSpec::fromJson(model::objectField(*typeObj, "spec"));
    const json oldSpec = (r.old ? model::objectField(*r.old, "spec") : json::object());

    model::FieldErrors errs;
    std::set<std::string> stored;
    for (const auto& e : model::envFromJson(oldSpec)) stored.insert(e.name);
    const json* env = model::member(spec, "env");
    for (size_t i = 0; env && env->is_array() && i < env->size(); ++i) {
      const std::string name = model::stringField((*env)[i], "name");
      if (name.empty()) continue;
      auto why = model::reservedEnvReason(name, type.auth.env);
      if (!why && !stored.count(name)) why = model::instanceEnvRefusal(name, type, typeName);
      if (why) errs.invalid(model::indexPath("spec.env", i) + ".name", name, *why);
    }

    const json config = model::objectField(spec, "config");
    const json oldConfig = model::objectField(oldSpec, "config");
    json changed = json::object();
    for (const auto& [field, value] : config.items()) {
      if (!oldConfig.contains(field) || oldConfig[field] != value) changed[field] = value;
    }
    // The runtime's layout (reconciler/launch_env.h instanceDir).
    const fs::path instanceDir = dataDir_ / "instances" / model::ObjectMeta(r.object).ns() /
                                 model::ObjectMeta(r.object).name();
    for (const auto& v :
         model::checkConfigConstraints(type, changed, instanceDir, model::resolveExisting)) {
      errs.invalid("spec.config." + v.field, v.value, v.message);
    }
    if (!errs.empty()) {
      throw ApiError::Invalid(r.info.kind, model::ObjectMeta(r.object).name(), errs.take(),
                              r.info.group);
    }
  }

 private:
  store::Store& store_;
  fs::path dataDir_;
};

}  // namespace

std::shared_ptr<const AdmissionPlugin> instancePolicyAdmission(store::Store& store,
                                                               fs::path dataDir) {
  return std::make_shared<InstancePolicyAdmission>(store, std::move(dataDir));
}

}  // namespace minimcp::server
