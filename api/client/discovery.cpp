#include "api/client/discovery.h"

#include "api/model/json_fields.h"
#include "api/util/ascii.h"

namespace minimcp::client {

using model::stringField;

namespace {

bool matches(const ResourceInfo& r, const std::string& typed) {
  if (typed == asciiLower(r.name) || typed == asciiLower(r.singularName) ||
      typed == asciiLower(r.kind)) {
    return true;
  }
  for (const auto& s : r.shortNames) {
    if (typed == asciiLower(s)) return true;
  }
  return false;
}

}  // namespace

std::string ResourceInfo::kindDotGroup() const {
  return group.empty() ? asciiLower(kind) : asciiLower(kind) + "." + group;
}

std::string ResourceInfo::resourceDotGroup() const {
  return group.empty() ? name : name + "." + group;
}

std::string ResourceInfo::path(const std::string& ns, const std::string& objName) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + name;
  if (!objName.empty()) p += "/" + objName;
  return p;
}

std::vector<ResourceInfo> parseResourceList(const nlohmann::json& list) {
  std::vector<ResourceInfo> out;
  std::string gv = stringField(list, "groupVersion");
  std::string group, version = gv;
  if (auto slash = gv.find('/'); slash != std::string::npos) {
    group = gv.substr(0, slash);
    version = gv.substr(slash + 1);
  }
  auto resources = list.find("resources");
  if (resources == list.end() || !resources->is_array()) return out;
  for (const auto& r : *resources) {
    ResourceInfo info;
    info.name = stringField(r, "name");
    if (info.name.empty() || info.name.find('/') != std::string::npos) continue;
    info.group = group;
    info.version = version;
    info.singularName = stringField(r, "singularName");
    if (info.singularName.empty()) info.singularName = asciiLower(stringField(r, "kind"));
    info.kind = stringField(r, "kind");
    info.namespaced = r.value("namespaced", false);
    if (auto s = r.find("shortNames"); s != r.end() && s->is_array()) {
      for (const auto& n : *s) {
        if (n.is_string()) info.shortNames.push_back(n.get<std::string>());
      }
    }
    if (auto v = r.find("verbs"); v != r.end() && v->is_array()) {
      for (const auto& n : *v) {
        if (n.is_string()) info.verbs.push_back(n.get<std::string>());
      }
    }
    out.push_back(std::move(info));
  }
  return out;
}

std::optional<ResourceInfo> resolveResource(const std::vector<ResourceInfo>& resources,
                                            const std::string& typedRaw) {
  std::string typed = asciiLower(typedRaw);
  for (const auto& r : resources) {
    if (matches(r, typed)) return r;
  }
  // "mcpinstances.minimcp.io", "mcpinstance.minimcp.io", or with the version in between
  // ("mcpinstances.v1alpha1.minimcp.io") as kubectl also accepts.
  if (auto dot = typed.find('.'); dot != std::string::npos) {
    std::string head = typed.substr(0, dot);
    std::string rest = typed.substr(dot + 1);
    for (const auto& r : resources) {
      std::string group = asciiLower(r.group);
      if ((rest == group || rest == asciiLower(r.version) + "." + group) && matches(r, head))
        return r;
    }
  }
  return std::nullopt;
}

std::optional<std::pair<std::string, std::string>> splitKindName(const std::string& arg) {
  auto slash = arg.find('/');
  if (slash == std::string::npos) return std::nullopt;
  return std::make_pair(arg.substr(0, slash), arg.substr(slash + 1));
}

}  // namespace minimcp::client
