#include "api/server/resource_path.h"

#include <vector>

#include "api/model/strategy.h"

namespace minimcp::server {

namespace {
std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) parts.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return parts;
}
}  // namespace

std::optional<ResourcePath> parseResourcePath(const std::string& path) {
  auto parts = splitPath(path);
  ResourcePath rp;
  size_t i = 0;
  if (parts.size() >= 3 && parts[0] == "apis" && parts[1] == model::kGroup &&
      parts[2] == model::kVersion) {
    i = 3;
  } else if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "v1") {
    rp.core = true;
    i = 2;
  } else {
    return std::nullopt;
  }
  size_t rest = parts.size() - i;
  if (rest == 0) return std::nullopt;  // the group-version discovery document
  if (parts[i] == "namespaces" && rest >= 3) {
    rp.hasNamespace = true;
    rp.ns = parts[i + 1];
    i += 2;
    rest -= 2;
  }
  if (rest > 3) return std::nullopt;
  rp.plural = parts[i];
  if (rest >= 2) rp.name = parts[i + 1];
  if (rest == 3) rp.subresource = parts[i + 2];
  return rp;
}

}  // namespace minimcp::server
