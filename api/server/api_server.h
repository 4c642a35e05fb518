// ApiServer: everything mcpd serves over HTTP(S), as one object the daemon (and tests) start and
// stop: the store, TLS material, the admin token and kubeconfig, authentication, the REST
// handler, discovery, health and metrics, instance logs and tokens, API token management and
// per-namespace limits. Other parts (reconciler, gateway) plug in through store() and addRoute().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/model/notification_sink.h"
#include "api/server/auth.h"
#include "api/server/http_types.h"
#include "api/server/limits.h"
#include "api/server/oidc.h"
#include "api/server/rest_handler.h"
#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp {
class ApiError;
}
namespace minimcp::crypto {
class InstanceTokens;
}
namespace minimcp::secrets {
class AuditLog;
}

namespace minimcp::metrics {
class Registry;
}

namespace minimcp::server {

struct ApiServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7443;         // 0 = any free port
  std::string dataDir;          // required; created 0700
  std::string storeUrl;         // "" = sqlite:DATA_DIR/minimcp.db
  std::string node;             // this node's name
  std::string tlsCert, tlsKey;  // both set = bring your own certificate
  // The stored API token behind DATA_DIR/admin.kubeconfig. Nodes sharing a store each need
  // their own name, or each start would replace the others' admin token.
  std::string adminTokenName = "admin";
  // More names or IPs the generated certificate covers (the node's --advertise-url host).
  std::vector<std::string> tlsHosts;
  bool insecureHttp = false;
  int threads = 2;
  size_t maxConnections = 1024;  // beyond this, new connections are answered 503 and closed
  int64_t watchHistory = 10000;  // changes the store keeps for watch resumption
  RestOptions rest;

  // GET .../mcpinstances/{name}/token, and instance tokens on the API (an instance reports the
  // refresh token its OAuth 2.0 provider rotated). Null: the first answers 503, the API takes
  // no instance token.
  const crypto::InstanceTokens* instanceTokens = nullptr;
  // Where the decryptions of POST .../mcpinstances/{name}/oauth2token are recorded (the APIKeys'
  // key ring is model::apiKeyKeyRing()). Null: that endpoint answers 503.
  secrets::AuditLog* auditLog = nullptr;
  // The log files of an instance, oldest first (GET .../mcpinstances/{name}/log). Unset:
  // DATA_DIR/instances/{ns}/{name}/logs/output.log[.N], the runtime's layout.
  std::function<std::vector<std::string>(const std::string& ns, const std::string& name)> logFiles;
  // Per-namespace defaults (mcpd flags); the admin overrides them per namespace over the API.
  NamespaceLimits limits;
  // The OAuth 2.0 authorization server (an OpenID Connect issuer, https://…) that issues
  // access tokens for this server's MCP instances; "" = none (only mcpd's own tokens).
  std::string oidcIssuer;
  // OpenID Connect access tokens (oidc.h) from oidcIssuer (it overrides oidc.issuer); oidcGet
  // fetches the issuer's discovery document and key set.
  OidcOptions oidc;
  HttpGet oidcGet;
  // Where NotificationSinks may send (loopback only when the admin allows it).
  model::SinkUrlPolicy sinkUrlPolicy;
};

// An extra route: answers requests whose path starts with its prefix. `who` is null for
// routes registered with requiresAuth = false.
using RouteHandler = std::function<Response(const Request& req, const Identity* who)>;
// How the server's own refusals of a route's requests look (a bad path, 413, 503, an error
// thrown by the handler). Unset: a Kubernetes Status.
using RefusalRenderer = std::function<Response(const Request& req, const ApiError& e)>;

class ApiServer {
 public:
  explicit ApiServer(ApiServerOptions options, const Clock& clock = SystemClock::instance());
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Opens the store, prepares TLS, the admin token and DATA_DIR/admin.kubeconfig, then listens.
  // Throws std::runtime_error / store::StoreError with a message fit for the user.
  void start();
  void stop();

  // Before start(): serve `prefix` (e.g. "/mcp/") with `handler`.
  void addRoute(std::string prefix, RouteHandler handler, bool requiresAuth = true,
                RefusalRenderer renderRefusal = nullptr);

  // Before start(): requests whose path starts with `prefix` stay out of the API request
  // families (minimcp_apiserver_*): their route counts them in families of its own.
  void excludeFromRequestMetrics(std::string prefix);

  uint16_t port() const;
  std::string url() const;  // https://HOST:PORT as written into the kubeconfig
  std::string kubeconfigPath() const;
  // PEM of the CA clients should trust for url() ("" for plain HTTP or a publicly rooted cert).
  std::string caPem() const;
  const ApiServerOptions& options() const;
  store::Store& store();
  StoreTokenAuthenticator& authenticator();
  // What every request is authenticated with: mcpd's own tokens, then OpenID Connect tokens.
  const Authenticator& requestAuthenticator() const;
  // The registry /metrics serves: other parts of mcpd add their families to it.
  metrics::Registry& metrics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minimcp::server
