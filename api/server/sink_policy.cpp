#include "api/server/sink_policy.h"

#include "api/model/json_fields.h"
#include "api/model/object_meta.h"
#include "api/model/validation.h"
#include "api/util/api_error.h"

namespace minimcp::server {

using nlohmann::json;

namespace {

class SinkPolicyAdmission : public AdmissionPlugin {
 public:
  explicit SinkPolicyAdmission(model::SinkUrlPolicy policy) : policy_(policy) {}

  void validate(const AdmissionRequest& r) const override {
    const std::string url = model::stringField(model::objectField(r.object, "spec"), "url");
    if (url.empty()) return;
    if (r.old && model::stringField(model::objectField(*r.old, "spec"), "url") == url) return;
    if (std::string why = model::sinkUrlProblem(url, policy_); !why.empty()) {
      model::FieldErrors errs;
      errs.invalid("spec.url", url, why);
      throw ApiError::Invalid(r.info.kind, model::ObjectMeta(r.object).name(), errs.take(),
                              r.info.group);
    }
  }

 private:
  model::SinkUrlPolicy policy_;
};

}  // namespace

std::shared_ptr<const AdmissionPlugin> sinkPolicyAdmission(model::SinkUrlPolicy policy) {
  return std::make_shared<SinkPolicyAdmission>(policy);
}

}  // namespace minimcp::server
