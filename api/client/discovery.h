// Resource discovery as kubectl does it: the APIResourceList of a group version tells which
// names (plural, singular, short names, Kind) refer to which resource.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace minimcp::client {

struct ResourceInfo {
  std::string group;    // "minimcp.io"
  std::string version;  // "v1alpha1"
  std::string name;     // plural: "mcpinstances"
  std::string singularName;
  std::string kind;  // "MCPInstance"
  bool namespaced = true;
  std::vector<std::string> shortNames;
  std::vector<std::string> verbs;

  std::string groupVersion() const { return group.empty() ? version : group + "/" + version; }
  // "mcpinstance.minimcp.io": what kubectl prints before "/NAME" (-o name, apply, delete).
  std::string kindDotGroup() const;
  // "mcpinstances.minimcp.io": how kube-apiserver names the resource in messages.
  std::string resourceDotGroup() const;
  // "/apis/minimcp.io/v1alpha1[/namespaces/NS]/mcpinstances[/NAME]"; `ns` is ignored for
  // cluster-scoped kinds, "" lists across namespaces.
  std::string path(const std::string& ns, const std::string& name = "") const;
};

// The resources of an APIResourceList (`groupVersion`, `resources[]`); subresources
// ("mcpinstances/status") are skipped.
std::vector<ResourceInfo> parseResourceList(const nlohmann::json& list);

// Resolves what a user typed: plural, singular, short name, Kind (all case-insensitive), or
// "plural.group" / "kind.group". nullopt when nothing matches.
std::optional<ResourceInfo> resolveResource(const std::vector<ResourceInfo>& resources,
                                            const std::string& typed);

// Splits "kind/name" into its parts; nullopt when there is no slash.
std::optional<std::pair<std::string, std::string>> splitKindName(const std::string& arg);

}  // namespace minimcp::client
