#include "api/model/json_fields.h"

namespace minimcp::model {

using nlohmann::json;

const json* member(const json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& objectField(const json& obj, const std::string& key) {
  static const json empty = json::object();
  const json* v = member(obj, key);
  return v && v->is_object() ? *v : empty;
}

std::string stringField(const json& obj, const std::string& key, const std::string& fallback) {
  const json* v = member(obj, key);
  return v && v->is_string() ? v->get<std::string>() : fallback;
}

int64_t intField(const json& obj, const std::string& key, int64_t fallback) {
  const json* v = member(obj, key);
  return v && v->is_number_integer() ? v->get<int64_t>() : fallback;
}

bool boolField(const json& obj, const std::string& key, bool fallback) {
  const json* v = member(obj, key);
  return v && v->is_boolean() ? v->get<bool>() : fallback;
}

std::vector<std::string> stringListField(const json& obj, const std::string& key) {
  std::vector<std::string> out;
  const json* v = member(obj, key);
  if (!v || !v->is_array()) return out;
  for (const json& item : *v) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<TimePoint> timeField(const json& obj, const std::string& key) {
  const json* v = member(obj, key);
  if (!v || !v->is_string()) return std::nullopt;
  return parseRfc3339(v->get_ref<const std::string&>());
}

json cellAt(const json& obj, const std::string& dottedPath) {
  const json* cur = &obj;
  size_t start = 0;
  while (cur) {
    size_t dot = dottedPath.find('.', start);
    cur = member(*cur, dottedPath.substr(start, dot == std::string::npos ? dot : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur ? *cur : json(nullptr);
}

}  // namespace minimcp::model
