// Gateway: the MCP reverse proxy /mcp/{ns}/{name}[/rest] -> http://127.0.0.1:PORT/mcp[/rest]
// A route of the API server registered without API authentication,
// because it also accepts the instance's own access token:
//
//   server.addRoute("/mcp/", gateway.handler(), /*requiresAuth=*/false);
//
// Per request: a path with dot segments ("..", ".", percent-encoded ones too) or encoded
// slashes is refused (400) before anything else; then the Origin check (403), bearer token (401
// when absent, unknown, or an instance token that is not this instance's — whether or not it
// exists), the MCPInstance (InstanceIndex: memory fed by the store), authorisation by the
// Authorizer (verb "connect": the instance token, or an API token that is admin or bound to the
// namespace; another namespace's token 404, so nobody learns what exists elsewhere), readiness (503
// with Retry-After; but see "Idle instances" below), then the proxy. The upstream port comes from
// this node's controller (LocalUpstreams), never from the stored status, which a client could have
// written. The upstream gets the instance token, never the caller's. Streamed responses (SSE,
// chunked) pass through chunk by chunk; a client that goes away closes the upstream connection.
// Upstream connections are kept alive and reused.
//
// Several nodes on one store: every node authorises by itself (tokens and the
// master key are shared), then a request for an instance whose status.node names another node
// is forwarded unchanged (the caller's Authorization included) to that Node's spec.address,
// with `X-MiniMCP-Forwarded-By: <this node>`, over TLS verified against the Node's
// spec.caBundle; the receiving node proxies to the port its own controller recorded. A request
// that carries that header is never forwarded again (503 with Retry-After: 1 when the instance
// is elsewhere: placement moved meanwhile); so is a request for an instance whose node is
// missing or not Ready. A peer that cannot be reached answers 502.
//
// Idle instances (spec.idleTimeout): a request to an instance that sleeps here (phase Idle, or
// put to sleep by this node's controller a moment ago, or Starting after a request woke it) is
// held, not refused: the gateway asks the controller to wake it (LocalUpstreams::wake: one start
// for every request meanwhile) and proxies the request once the process serves; after
// `wakeTimeout` (or when the start fails) it answers 503 with Retry-After. It authorises first:
// nobody wakes an instance they may not use. An Idle instance on another node is forwarded
// there (it is not ready, yet not refused), and that node's gateway wakes it.
//
// Every refusal on an MCP path has a JSON-RPC error body with the HTTP status kept
// (oauth_resource.h), the API server's own (413, 503, …) included (the route's refusal
// renderer); so does an instance's error answer that is not JSON. A 401 carries
// `WWW-Authenticate: Bearer` with error="invalid_token" when a token was given, and
// resource_metadata="…" when an authorization server is configured (RFC 9728, discovery()).
//
// Beast stays in gateway.cpp; this header is cheap to include.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/client/host_resolver.h"
#include "api/crypto/instance_token.h"
#include "api/gateway/gateway_metrics.h"
#include "api/gateway/instance_index.h"
#include "api/gateway/oauth_resource.h"
#include "api/server/api_server.h"
#include "api/server/auth.h"
#include "api/server/authorizer.h"
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
  // This mcpd's node name (the name of its Node object). "" = single node: never forward.
  std::string node;
  // The authorization server (issuer URL) named in the protected resource metadata of every
  // instance; "" = none: no metadata is served (404) and no 401 names any.
  std::string authorizationServer;
  // Where clients reach the gateway (scheme://authority, servedBaseUrls()), the canonical one
  // first: an instance's resource identifier is one of these + /mcp/{ns}/{name}, an audience an
  // OpenID Connect access token for it may name (RFC 8707).
  std::vector<std::string> publicUrls;
  // Where the gateway's families go (gateway_metrics.h); null = not counted. Must outlive the
  // Gateway.
  metrics::Registry* metrics = nullptr;
  // How long a request to an Idle instance is held while it wakes: then 503 with Retry-After.
  std::chrono::milliseconds wakeTimeout{std::chrono::seconds(30)};
  // Looks up a peer Node's address when it is a name, bounded by the connect timeout; null =
  // client::systemHostResolver().
  std::shared_ptr<client::HostResolver> resolver;
};

// Set on a request one gateway forwards to another (value: the forwarding node's name).
inline constexpr const char* kForwardedByHeader = "X-MiniMCP-Forwarded-By";

// Where this node's instances listen, from the controller's own record.
class LocalUpstreams {
 public:
  // The process one request goes to; `hold` (may be null) is kept until the request is over,
  // its streamed body included: while a replacement is under way the controller stops the old
  // process once no request holds it.
  struct Lease {
    uint16_t port = 0;
    std::shared_ptr<const void> hold;
  };
  virtual ~LocalUpstreams() = default;
  // The loopback port of instance `key` ("ns/name") when this mcpd runs its process and that
  // process has passed a health probe since it started (or, while a replacement starts, the
  // old process that still serves); nullopt otherwise. Thread-safe.
  virtual std::optional<uint16_t> port(const std::string& key) const = 0;
  // The same for one request that is about to be sent there.
  virtual std::optional<Lease> acquire(const std::string& key) const {
    auto p = port(key);
    if (!p) return std::nullopt;
    return Lease{*p, nullptr};
  }
  // Asks this node's controller to wake the Idle instance `key` (one start for every caller
  // meanwhile). `done` is called once, on any thread: with "" once acquire(key) finds the
  // process, else with why it will not. false: nothing here can wake it (`done` is dropped).
  using WakeDone = std::function<void(const std::string& error)>;
  virtual bool wake(const std::string& /*key*/, WakeDone /*done*/) const { return false; }
  // A request held for the wake of `key` gave up waiting (counted once per wake).
  virtual void wakeTimedOut(const std::string& /*key*/) const {}
  // Whether this node's controller put the process of `key` to sleep (and started none since):
  // a request that finds no upstream then wakes it instead of being refused.
  virtual bool sleeping(const std::string& /*key*/) const { return false; }
};

// No instance runs here (mcpd --disable-reconciler).
class NoLocalUpstreams : public LocalUpstreams {
 public:
  std::optional<uint16_t> port(const std::string&) const override { return std::nullopt; }
};

class Gateway {
 public:
  // The references must outlive the Gateway; the Gateway must outlive the server's use of
  // handler() (stop the server first) and go before the server does (its idle upstream
  // connections live on the server's I/O threads, where every exchange runs: the gateway has
  // no thread of its own).
  Gateway(store::Store& store, const server::Authenticator& auth,
          const crypto::InstanceTokens& tokens, const LocalUpstreams& upstreams,
          GatewayOptions options = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // The route handler for prefix "/mcp/" (requiresAuth = false: it authenticates by itself).
  server::RouteHandler handler();

  // One request (what handler() calls); public for tests.
  server::Response handle(const server::Request& req);

  // The OAuth discovery documents a client looks for beside an MCP endpoint (a route without
  // authentication): the protected resource metadata of /mcp/{ns}/{name} when an authorization
  // server is configured; 404 for everything else (mcpd is no authorization server).
  server::Response discovery(const server::Request& req) const;

  struct Core;

 private:
  // `admitted` names the instance once the caller may use it and it exists.
  server::Response serve(const server::Request& req, AdmittedInstance& admitted);
  // 401 with the Bearer challenge; `tokenGiven`: the request carried a token that is not valid.
  server::Response unauthorized(const server::Request& req, const std::string& ns,
                                const std::string& name, const std::string& message,
                                bool tokenGiven) const;
  // mcpd's own tokens, or an OpenID Connect token whose audience is this instance's resource.
  std::optional<server::Identity> authenticate(const std::string& token, const std::string& ns,
                                               const std::string& name) const;
  // After authorisation: the request to this node's process of `inst` (nullopt: none serves).
  std::optional<server::Response> proxyLocal(const server::Request& req, const InstanceView& inst,
                                             const std::string& key,
                                             const std::string& upstreamTarget,
                                             const std::string& subject);
  // After authorisation: holds the request while this node's controller wakes `inst`, then
  // proxies it (proxyLocal) or answers 503.
  server::Response holdForWake(const server::Request& req, const InstanceView& inst,
                               const std::string& key, const std::string& upstreamTarget,
                               const std::string& subject);
  // After authorisation: the request for `subject` ("mcpinstance ns/name") goes to node `node`.
  server::Response forward(const server::Request& req, const std::string& subject,
                           const std::string& node);

  store::Store& store_;
  const server::Authenticator& auth_;
  const crypto::InstanceTokens& tokens_;
  const LocalUpstreams& upstreams_;
  const server::Authorizer authz_;
  GatewayOptions options_;
  ResourceUrls resourceUrls_;
  InstanceIndex index_;
  std::shared_ptr<Core> core_;
  std::unique_ptr<GatewayMetrics> metrics_;
};

}  // namespace minimcp::gateway
