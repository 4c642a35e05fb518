// POST /apis/minimcp.io/v1alpha1/namespaces/{ns}/mcpinstances/{name}/oauth2token: an instance
// reports the refresh token its OAuth 2.0 provider rotated, {"refreshToken": "...", "previous":
// "<lowercase hex SHA-256 of the refresh token it replaces>"}, and mcpd re-seals it into the
// APIKey of the instance's spec.keyRef (secrets::storeRotatedRefreshToken), so the instance's
// next process starts with the token that still works. Only the instance's own token may call it
// (Authorizer). `previous` is a compare-and-swap: 409 when the stored token is another. The
// answer never carries a token; an event on the APIKey records the new version.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/registry/event_recorder.h"
#include "api/secrets/audit_log.h"
#include "api/server/auth.h"
#include "api/server/http_types.h"
#include "api/store/store.h"

namespace minimcp::server {

// The field manager of the APIKey write (metadata.managedFields).
inline constexpr const char* kOAuth2TokenManager = "mcpd-oauth2token";

struct OAuth2TokenEndpoint {
  store::Store& store;
  secrets::AuditLog* audit;  // null: 503
  registry::EventRecorder& events;
  std::string actor;  // the audit log's actor: "mcpd/<node>"

  // `instance`: the stored MCPInstance of the path (the Authorizer allowed `who`).
  Response handle(const Request& req, const nlohmann::json& instance, const Identity& who) const;
};

}  // namespace minimcp::server
