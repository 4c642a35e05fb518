#include "api/model/kind_strategy.h"

namespace minimcp::model {

using nlohmann::json;

void KindStrategy::prepareForCreate(json& obj, const Clock& /*clock*/) const {
  if (!obj.is_object()) return;
  if (info_.hasStatus) obj.erase("status");
  applyDefaults(obj);
}

void KindStrategy::prepareForUpdate(json& obj, const json& old, const Clock& /*clock*/) const {
  if (!obj.is_object()) return;
  if (info_.hasStatus) {
    if (old.is_object() && old.contains("status")) {
      obj["status"] = old["status"];
    } else {
      obj.erase("status");
    }
  }
  applyDefaults(obj);
}

void KindStrategy::prepareForStatusUpdate(json& obj, const json& old) const {
  if (!obj.is_object() || !old.is_object()) return;
  json resourceVersion = cellAt(obj, "metadata.resourceVersion");
  json status = obj.contains("status") ? obj["status"] : json(nullptr);
  obj = old;
  if (info_.hasStatus) {
    if (status.is_null()) {
      obj.erase("status");
    } else {
      obj["status"] = std::move(status);
    }
  }
  // The caller's resourceVersion is its optimistic-concurrency precondition.
  if (!resourceVersion.is_null() && obj["metadata"].is_object()) {
    obj["metadata"]["resourceVersion"] = resourceVersion;
  }
}

std::vector<Cause> KindStrategy::validate(const json& obj) const {
  FieldErrors errs;
  if (!obj.is_object()) {
    errs.invalid("", obj, "must be of type object");
    return errs.take();
  }
  errs.append(validateObjectMeta(obj, info_));
  if (nameMustBeLabel()) {
    json name = cellAt(obj, "metadata.name");
    if (name.is_string() && isDns1123Subdomain(name.get<std::string>())) {
      validateDns1123Label(errs, name.get<std::string>(), "metadata.name");
    }
  }
  validateBody(errs, obj);
  return errs.take();
}

std::vector<Cause> KindStrategy::validateUpdate(const json& obj, const json& old) const {
  FieldErrors errs;
  for (const char* field : {"name", "namespace", "uid"}) {
    json nowValue = cellAt(obj, std::string("metadata.") + field);
    json beforeValue = cellAt(old, std::string("metadata.") + field);
    const json* now = nowValue.is_null() ? nullptr : &nowValue;
    const json* before = beforeValue.is_null() ? nullptr : &beforeValue;
    // uid may be omitted by clients; name and namespace are always compared.
    if (std::string(field) == "uid" && !now) continue;
    if ((now ? *now : json("")) != (before ? *before : json(""))) {
      errs.invalid(std::string("metadata.") + field, now ? *now : json(""), "field is immutable");
    }
  }
  return errs.take();
}

json ageCell(const json& rfc3339, TimePoint now) {
  if (!rfc3339.is_string()) return nullptr;
  auto t = parseRfc3339(rfc3339.get<std::string>());
  if (!t) return nullptr;
  return humanDuration(std::chrono::duration_cast<std::chrono::milliseconds>(now - *t));
}

std::vector<EnvVar> envFromJson(const json& spec) {
  std::vector<EnvVar> out;
  const json* env = member(spec, "env");
  if (!env || !env->is_array()) return out;
  for (const json& e : *env) {
    std::string name = stringField(e, "name");
    if (!name.empty()) out.push_back({name, stringField(e, "value")});
  }
  return out;
}

void setDefault(json& obj, const std::string& key, const json& value) {
  if (!obj.is_object()) return;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) obj[key] = value;
}

const json* KindStrategy::specToValidate(FieldErrors& errs, const json& obj) {
  rejectUnknownFields(errs, obj, "", {"apiVersion", "kind", "metadata", "spec", "status"});
  if (const json* st = member(obj, "status")) expectObject(errs, *st, "status");
  const json* spec = member(obj, "spec");
  if (!spec) {
    errs.required("spec");
    return nullptr;
  }
  return expectObject(errs, *spec, "spec") ? spec : nullptr;
}

}  // namespace minimcp::model
