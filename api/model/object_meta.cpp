#include "api/model/object_meta.h"

#include "api/model/json_fields.h"

namespace minimcp::model {

using nlohmann::json;

ObjectMeta::ObjectMeta(const json& obj) {
  const json* md = member(obj, "metadata");
  md_ = md && md->is_object() ? md : nullptr;
}

const std::string& ObjectMeta::string(const char* field) const {
  static const std::string empty;
  const json* v = md_ ? member(*md_, field) : nullptr;
  return v && v->is_string() ? v->get_ref<const std::string&>() : empty;
}

const json& ObjectMeta::object(const char* field) const {
  static const json empty = json::object();
  return md_ ? objectField(*md_, field) : empty;
}

int64_t ObjectMeta::generation() const { return md_ ? intField(*md_, "generation") : 0; }

std::vector<std::string> ObjectMeta::finalizers() const {
  return md_ ? stringListField(*md_, "finalizers") : std::vector<std::string>{};
}

bool ObjectMeta::hasFinalizers() const {
  const json* f = md_ ? member(*md_, "finalizers") : nullptr;
  return f && f->is_array() && !f->empty();
}

bool ObjectMeta::hasFinalizer(const std::string& finalizer) const {
  const json* f = md_ ? member(*md_, "finalizers") : nullptr;
  if (!f || !f->is_array()) return false;
  for (const json& item : *f) {
    if (item.is_string() && item.get_ref<const std::string&>() == finalizer) return true;
  }
  return false;
}

}  // namespace minimcp::model
