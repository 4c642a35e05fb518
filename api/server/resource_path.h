// Parsing of API resource paths: which kind, namespace, name and subresource a URL names.
#pragma once

#include <optional>
#include <string>

namespace minimcp::server {

struct ResourcePath {
  bool core = false;  // /api/v1/... (only events are served there, as kubectl reads them)
  bool hasNamespace = false;
  std::string ns;
  std::string plural;       // as written in the URL
  std::string name;         // "" for collections
  std::string subresource;  // "" or "status"
};

// /apis/minimcp.io/v1alpha1/{plural}[/{name}[/{sub}]]
// /apis/minimcp.io/v1alpha1/namespaces/{ns}/{plural}[/{name}[/{sub}]]
// /api/v1/[namespaces/{ns}/]{plural}[/{name}]
// nullopt for any other path (discovery, health, unknown groups).
std::optional<ResourcePath> parseResourcePath(const std::string& path);

}  // namespace minimcp::server
