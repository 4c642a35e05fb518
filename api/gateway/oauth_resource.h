// The gateway as an OAuth 2.1 protected resource (the MCP authorization spec): each instance
// `/mcp/{ns}/{name}` is a resource whose identifier is `BASE/mcp/{ns}/{name}`, described by
// RFC 9728 metadata at `BASE/.well-known/oauth-protected-resource/mcp/{ns}/{name}` and named in
// the `WWW-Authenticate` challenge of every 401. And what MCP clients can read of a refusal: a
// JSON-RPC error body, the HTTP status kept.
//
// BASE is one of the URLs the gateway is served at (ResourceUrls), chosen by the request's Host
// only among those: a resource identifier is what a token's audience is checked against
// (RFC 8707), so a Host header must never make up a new one.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/server/http_types.h"
#include "api/util/api_error.h"

namespace minimcp::gateway {

inline constexpr std::string_view kProtectedResourceWellKnown =
    "/.well-known/oauth-protected-resource";

class ResourceUrls {
 public:
  // `bases`: scheme://authority without a trailing slash or path; the first is canonical.
  explicit ResourceUrls(std::vector<std::string> bases = {});

  // The base whose authority is `host` (a Host header; compared without case), else the
  // canonical one; "" when there is none.
  std::string base(std::string_view host) const;
  const std::vector<std::string>& bases() const { return bases_; }

  static std::string resource(std::string_view base, std::string_view ns, std::string_view name);
  static std::string metadataUrl(std::string_view base, std::string_view ns, std::string_view name);

 private:
  std::vector<std::string> bases_;
};

// Where mcpd is served: `advertiseUrl` (when set, canonical) and `serverUrl`, each reduced to
// scheme://authority; for a loopback serverUrl also its other loopback names (127.0.0.1,
// [::1], localhost), which the generated certificate covers. Duplicates are dropped.
std::vector<std::string> servedBaseUrls(std::string_view serverUrl, std::string_view advertiseUrl);

// RFC 9728 §2 metadata of `resource`, whose tokens `issuer` issues.
nlohmann::json protectedResourceMetadata(const std::string& resource, const std::string& issuer);

// The value of a 401's WWW-Authenticate (RFC 6750 §3): `Bearer realm="minimcp"`, then
// error="…" and error_description="…" when `error` is set (not for a request without a token),
// then resource_metadata="…" when set. Quotes and backslashes in values are escaped.
std::string bearerChallenge(std::string_view error, std::string_view description,
                            std::string_view resourceMetadataUrl);

// The `id` of the JSON-RPC request in `body` (a string or number), else null: a batch, a
// notification, something that is not JSON-RPC.
nlohmann::json jsonRpcRequestId(const std::string& body);

// A refusal on an MCP path: HTTP status e.code(), body
// {"jsonrpc":"2.0","id":<the request's id or null>,"error":{"code":C,"message":e.what()}}
// where C is -32600 (Invalid Request) for 400, -32603 (Internal error) for 500, and -32000 (the
// implementation-defined server error, as the MCP SDKs answer their own HTTP refusals)
// otherwise. A body over 1 MiB (the most the server reads) is not looked at for the id.
server::Response jsonRpcRefusal(const server::Request& req, const ApiError& e);

}  // namespace minimcp::gateway
