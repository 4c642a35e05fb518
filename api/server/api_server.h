// ApiServer: everything mcpd serves over HTTP(S), as one object the daemon (and tests) start and
// stop: the store, TLS material, the admin token and kubeconfig, authentication, the REST
// handler, discovery, health and metrics. Other parts (reconciler, logs, gateway) plug in
// through store() and addRoute().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/server/auth.h"
#include "api/server/http_types.h"
#include "api/server/rest_handler.h"
#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp::server {

struct ApiServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7443;         // 0 = any free port
  std::string dataDir;          // required; created 0700
  std::string storeUrl;         // "" = sqlite:DATA_DIR/minimcp.db
  std::string node;             // this node's name
  std::string tlsCert, tlsKey;  // both set = bring your own certificate
  bool insecureHttp = false;
  int threads = 2;
  int64_t watchHistory = 10000;  // changes the store keeps for watch resumption
  RestOptions rest;
};

// An extra route: answers requests whose path starts with its prefix. `who` is null for
// routes registered with requiresAuth = false.
using RouteHandler = std::function<Response(const Request& req, const Identity* who)>;

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
  void addRoute(std::string prefix, RouteHandler handler, bool requiresAuth = true);

  uint16_t port() const;
  std::string url() const;  // https://HOST:PORT as written into the kubeconfig
  std::string kubeconfigPath() const;
  store::Store& store();
  StoreTokenAuthenticator& authenticator();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minimcp::server
