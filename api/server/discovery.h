// Discovery documents for kubectl: /version, /api, /api/v1, /apis, /apis/minimcp.io,
// /apis/minimcp.io/v1alpha1, /openapi/v2 and /openapi/v3.
#pragma once

#include <optional>

#include "api/model/strategy.h"
#include "api/server/http_types.h"

namespace minimcp::server {

// The body of /version (also served without a token).
nlohmann::json versionInfo();

// The response for a discovery path, nullopt for any other path.
std::optional<Response> serveDiscovery(const Request& req, const model::Registry& registry);

}  // namespace minimcp::server
