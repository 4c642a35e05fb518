#include "api/client/commands.h"

#include <stdexcept>

#include "api/client/merge_patch.h"

namespace minimcp::client {

using nlohmann::json;

std::string trimOneTrailingNewline(std::string value) {
  if (!value.empty() && value.back() == '\n') {
    value.pop_back();
    if (!value.empty() && value.back() == '\r') value.pop_back();
  }
  return value;
}

std::string logTarget(const std::string& objectPath, std::optional<int64_t> tailLines,
                      bool follow) {
  std::string target = objectPath + "/log";
  char sep = '?';
  if (tailLines) {
    target += sep + std::string("tailLines=") + std::to_string(*tailLines);
    sep = '&';
  }
  if (follow) target += sep + std::string("follow=true");
  return target;
}

json apiKeyManifest(const std::string& ns, const std::string& name, const std::string& type,
                    const std::string& value, const std::string& rotationPeriod) {
  json spec = {{"type", type}, {"value", value}};
  if (!rotationPeriod.empty()) spec["rotationPeriod"] = rotationPeriod;
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "APIKey"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", std::move(spec)}};
}

json tokenRequest(const std::string& ns, bool admin, const std::string& name) {
  if (admin == !ns.empty()) {
    throw std::invalid_argument(admin
                                    ? "--admin and --namespace exclude each other"
                                    : "specify the token's namespace (--namespace NS) or --admin");
  }
  json body = admin ? json{{"admin", true}} : json{{"namespace", ns}};
  if (!name.empty()) body["name"] = name;
  return body;
}

namespace {

json column(const char* name, const char* type) {
  return {{"name", name}, {"type", type}, {"priority", 0}};
}

const json* field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace

json tokenTable(const json& tokenList) {
  json rows = json::array();
  const json* items = field(tokenList, "items");
  if (items && items->is_array()) {
    for (const auto& item : *items) {
      const json* admin = field(item, "admin");
      std::string ns = admin && admin->is_boolean() && admin->get<bool>()
                           ? "<admin>"
                           : item.value("namespace", std::string());
      const json* created = field(item, "createdAt");
      rows.push_back(
          {{"cells", {item.value("name", std::string()), ns, created ? *created : json(nullptr)}}});
    }
  }
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"columnDefinitions",
           {column("Name", "string"), column("Namespace", "string"), column("Created", "date")}},
          {"rows", std::move(rows)}};
}

json mergeLimits(const json& current, std::optional<int64_t> maxInstances,
                 const std::optional<std::string>& maxTTL) {
  json body = json::object();
  for (const char* key : {"maxInstances", "maxTTL"}) {
    if (const json* v = field(current, key)) body[key] = *v;
  }
  if (maxInstances) body["maxInstances"] = *maxInstances;
  if (maxTTL) body["maxTTL"] = *maxTTL;
  return body;
}

json limitsTable(const std::string& ns, const json& limits) {
  auto cell = [&](const char* key) -> json {
    const json* v = field(limits, key);
    if (!v) return "<none>";
    return v->is_string() ? *v : json(v->dump());
  };
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"columnDefinitions",
           {column("Namespace", "string"), column("Max-Instances", "string"),
            column("Max-TTL", "string")}},
          {"rows", {{{"cells", {ns, cell("maxInstances"), cell("maxTTL")}}}}}};
}

std::vector<std::string> prunableNames(const json& list, const std::set<std::string>& applied) {
  std::vector<std::string> out;
  const json* items = field(list, "items");
  if (!items || !items->is_array()) return out;
  for (const auto& item : *items) {
    const json* meta = field(item, "metadata");
    if (!meta) continue;
    std::string name = meta->value("name", std::string());
    if (name.empty() || applied.count(name) || field(*meta, "deletionTimestamp")) continue;
    const json* annotations = field(*meta, "annotations");
    if (!annotations || !field(*annotations, kLastAppliedAnnotation)) continue;
    out.push_back(std::move(name));
  }
  return out;
}

}  // namespace minimcp::client
