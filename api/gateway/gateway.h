// Gateway: the MCP reverse proxy /mcp/{ns}/{name}[/rest] -> http://127.0.0.1:PORT/mcp[/rest]
// (DESIGN §4 "Gateway"). A route of the API server registered without API authentication,
// because it also accepts the instance's own access token:
//
//   server.addRoute("/mcp/", gateway.handler(), /*requiresAuth=*/false);
//
// Per request: Origin check (403), bearer token (401 when absent), the MCPInstance from the
// store, authorisation (the instance token, or an API token that is admin or bound to the
// namespace; anything else 404, so nobody learns what exists elsewhere), readiness (503 with
// Retry-After), then the proxy. The upstream gets the instance token, never the caller's.
// Streamed responses (SSE, chunked) pass through chunk by chunk; a client that goes away
// closes the upstream connection. Upstream connections are kept alive and reused.
//
// Beast stays in gateway.cpp; this header is cheap to include.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "api/crypto/instance_token.h"
#include "api/server/api_server.h"
#include "api/server/auth.h"
#include "api/store/store.h"

namespace minimcp::gateway {

struct GatewayOptions {
  // Browser origins allowed besides loopback ones (http(s)://127.0.0.1|localhost|[::1][:port]).
  // Exact match, e.g. "https://app.example.com".
  std::vector<std::string> allowedOrigins;
  // Longest silence from the instance: waiting for its response head, or between two chunks
  // of a streamed body. An SSE stream idle for longer is closed (clients resume it).
  std::chrono::milliseconds idleTimeout{std::chrono::minutes(5)};
  size_t maxBody = 1 << 20;  // request bodies above this answer 413
  // A POST's streamed (SSE/chunked) response that completes within this window after its
  // head is answered as one plain response; otherwise it is relayed chunk by chunk from then on
  // (what arrived meanwhile first). Why: the API server closes the client's connection after
  // every streamed response, so each quick MCP call (an SSE body with one event) would cost the
  // client a new TLS connection (measured: +3 ms per call, 40% of direct throughput).
  // 0 = relay every stream at once. GET streams are always relayed at once.
  std::chrono::milliseconds coalesceWindow{20};
};

class Gateway {
 public:
  // The references must outlive the Gateway; the Gateway must outlive the server's use of
  // handler() (stop the server first). Starts one I/O thread for upstream connections.
  Gateway(store::Store& store, const server::Authenticator& auth,
          const crypto::InstanceTokens& tokens, GatewayOptions options = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // The route handler for prefix "/mcp/" (requiresAuth = false: it authenticates by itself).
  server::RouteHandler handler();

  // One request (what handler() calls); public for tests.
  server::Response handle(const server::Request& req);

  struct Core;

 private:
  store::Store& store_;
  const server::Authenticator& auth_;
  const crypto::InstanceTokens& tokens_;
  GatewayOptions options_;
  std::shared_ptr<Core> core_;
};

}  // namespace minimcp::gateway
