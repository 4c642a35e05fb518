#include "api/server/api_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <filesystem>

#include "api/client/kubeconfig.h"
#include "api/crypto/instance_token.h"
#include "api/model/kinds.h"
#include "api/model/strategy.h"
#include "api/registry/event_recorder.h"
#include "api/server/authorizer.h"
#include "api/server/discovery.h"
#include "api/server/http_server.h"
#include "api/server/instance_policy.h"
#include "api/server/logs.h"
#include "api/server/metrics.h"
#include "api/server/oauth2_token.h"
#include "api/server/resource_path.h"
#include "api/server/self_review.h"
#include "api/server/sink_policy.h"
#include "api/server/store_metrics.h"
#include "api/server/tls.h"
#include "api/server/token_api.h"
#include "api/server/web_ui.h"
#include "api/util/api_error.h"
#include "api/util/ascii.h"

namespace minimcp::server {

namespace fs = std::filesystem;

struct ApiServer::Impl {
  ApiServerOptions opts;
  const Clock& clock;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<StoreTokenAuthenticator> auth;
  std::unique_ptr<RequestAuthenticator> requestAuth;
  std::unique_ptr<InstanceTokenAuthenticator> instanceAuth;  // with opts.instanceTokens
  std::unique_ptr<registry::EventRecorder> events;
  std::unique_ptr<RestHandler> rest;
  std::unique_ptr<Limits> limits;
  Authorizer authz;
  metrics::Registry registry;
  Metrics metrics{registry};
  std::unique_ptr<HttpServer> http;
  struct Route {
    std::string prefix;
    RouteHandler handler;
    bool requiresAuth;
    RefusalRenderer renderRefusal;
  };
  std::vector<Route> routes;
  std::vector<std::string> uncounted;  // prefixes whose routes count their requests themselves
  std::unique_ptr<StoredObjectMetrics> objectMetrics;
  std::atomic<bool> ready{false};
  std::string url;
  std::string caPem;

  Impl(ApiServerOptions o, const Clock& c) : opts(std::move(o)), clock(c) {}

  Response handle(const Request& req);
  Response route(const Request& req, std::string& verb, std::string& resource);
  // `e` as the route of `req` renders refusals.
  Response refusal(const Request& req, const ApiError& e) const;
  void ensureKubeconfig();
  void installInstanceEndpoints();
};

namespace {

Response statusResponse(const ApiError& e) { return Response::json(e.code(), e.toStatus()); }

std::string hostForUrl(const std::string& host) {
  if (host == "0.0.0.0" || host.empty()) return "127.0.0.1";
  if (host == "::") return "[::1]";
  if (host.find(':') != std::string::npos) return "[" + host + "]";
  return host;
}

// A request answered later is counted when its answer comes.
class ObservedDeferred : public Deferred {
 public:
  ObservedDeferred(std::shared_ptr<Deferred> inner, std::function<void(const Response&)> observe)
      : inner_(std::move(inner)), observe_(std::move(observe)) {}
  void start(std::function<void(Response)> answer, const IoExecutor& io) override {
    inner_->start(
        [observe = observe_, answer = std::move(answer)](Response r) {
          observe(r);
          answer(std::move(r));
        },
        io);
  }
  void stop() override { inner_->stop(); }

 private:
  std::shared_ptr<Deferred> inner_;
  std::function<void(const Response&)> observe_;
};

}  // namespace

Response ApiServer::Impl::refusal(const Request& req, const ApiError& e) const {
  for (const auto& r : routes) {
    if (r.renderRefusal && req.path.rfind(r.prefix, 0) == 0) return r.renderRefusal(req, e);
  }
  return statusResponse(e);
}

Response ApiServer::Impl::handle(const Request& req) {
  auto start = std::chrono::steady_clock::now();
  std::string verb = asciiLower(req.method), resource = "other";
  Response r;
  try {
    r = route(req, verb, resource);
  } catch (const ApiError& e) {
    r = refusal(req, e);
  } catch (const store::StoreError& e) {
    r = refusal(req, ApiError::ServiceUnavailable(e.what()));
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", req.method, req.path, e.what());
    r = refusal(req, ApiError::Internal(e.what()));
  }
  bool counted = true;
  for (const auto& prefix : uncounted) {
    if (req.path.rfind(prefix, 0) == 0) counted = false;
  }
  auto observe = [this, start, verb, resource, counted, method = req.method,
                  path = req.path](const Response& answer) {
    auto elapsed = std::chrono::steady_clock::now() - start;
    if (counted) metrics.observe(answer.stream ? "watch" : verb, resource, answer.status, elapsed);
    // Never the query string or the body: either may carry secrets.
    spdlog::debug("{} {} {} {}us", method, path, answer.status,
                  std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  };
  if (r.deferred) {
    r.deferred = std::make_shared<ObservedDeferred>(std::move(r.deferred), std::move(observe));
  } else {
    observe(r);
  }
  return r;
}

Response ApiServer::Impl::route(const Request& req, std::string& verb, std::string& resource) {
  const std::string& p = req.path;
  if (std::string why = unsafePathReason(req.target); !why.empty()) {
    // Refused for every route, so no handler ever sees a path that reads two ways.
    resource = "invalid";
    return refusal(req, ApiError::BadRequest("the request path must not contain " + why));
  }
  if (p == "/healthz" || p == "/livez") {
    resource = "healthz";
    return Response::text(200, "ok");
  }
  if (p == "/readyz") {
    resource = "readyz";
    return ready ? Response::text(200, "ok") : Response::text(503, "store not ready");
  }
  if (p == "/version") {
    resource = "version";
    return Response::json(200, versionInfo());
  }
  if (auto ui = serveWebUi(req)) {
    resource = "ui";  // static files only: the page reads its data through the API below
    return std::move(*ui);
  }
  for (const auto& r : routes) {
    if (!r.requiresAuth && p.rfind(r.prefix, 0) == 0) {
      resource = r.prefix;
      return r.handler(req, nullptr);
    }
  }
  const std::string token = bearerToken(req.header("authorization"));
  auto who = requestAuth->authenticate(token, {});
  if (!who && instanceAuth) who = instanceAuth->authenticate(token, {});
  if (!who) {
    resource = "unauthorized";
    return statusResponse(ApiError::Unauthorized());
  }
  for (const auto& r : routes) {
    if (r.requiresAuth && p.rfind(r.prefix, 0) == 0) {
      resource = r.prefix;
      return r.handler(req, &*who);
    }
  }
  if (p == "/metrics") {
    resource = "metrics";
    authz.check(*who, {"get", kMetricsResource, "", "", ""});
    auto r = Response::text(200, registry.render());
    r.contentType = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  }
  if (p == kTokensPath || p.rfind(std::string(kTokensPath) + "/", 0) == 0) {
    resource = "tokens";
    return handleTokens(req, *who, authz, *auth);
  }
  if (p == kLimitsPath || p.rfind(std::string(kLimitsPath) + "/", 0) == 0) {
    resource = "limits";
    return limits->handle(req, *who, authz);
  }
  if (auto review = serveSelfReview(req, *who, authz)) {
    resource = "selfreviews";
    return std::move(*review);
  }
  if (auto path = parseResourcePath(p)) {
    resource = path->plural;
    return rest->handle(req, *path, *who, &verb);
  }
  if (auto d = serveDiscovery(req, model::Registry::instance())) {
    resource = "discovery";
    return std::move(*d);
  }
  return statusResponse(
      ApiError(404, "NotFound", "the server could not find the requested resource"));
}

void ApiServer::Impl::installInstanceEndpoints() {
  const std::string plural = model::mcpInstanceStrategy().info().plural;
  rest->addAdmission(plural, limits->instanceAdmission());
  rest->addAdmission(plural, instancePolicyAdmission(*store, opts.dataDir));
  rest->addAdmission(model::kNotificationSinkPlural, sinkPolicyAdmission(opts.sinkUrlPolicy));
  rest->addSubresource(
      plural, "log", [this](const Request& req, const nlohmann::json& obj, const Identity&) {
        const auto& md = obj["metadata"];
        std::string ns = md.value("namespace", ""), name = md.value("name", "");
        LogFilesFn files = [this, ns, name] {
          return opts.logFiles ? opts.logFiles(ns, name) : defaultLogFiles(opts.dataDir, ns, name);
        };
        return serveLog(req, std::move(files));
      });
  rest->addSubresource(
      plural, "token", [this](const Request&, const nlohmann::json& obj, const Identity&) {
        if (!opts.instanceTokens) {
          throw ApiError::ServiceUnavailable("instance tokens are not configured on this server");
        }
        const auto spec = model::MCPInstanceSpec::fromJson(obj.value("spec", nlohmann::json()));
        std::string uid = obj["metadata"].value("uid", "");
        Response r =
            Response::json(200, {{"apiVersion", model::kApiVersion},
                                 {"kind", "InstanceToken"},
                                 {"token", opts.instanceTokens->issue(uid, spec.tokenGeneration)},
                                 {"tokenGeneration", spec.tokenGeneration}});
        r.headers.emplace_back("Cache-Control", "no-store");
        return r;
      });
  rest->addSubresource(
      plural, kOAuth2TokenSubresource,
      [endpoint = OAuth2TokenEndpoint{*store, opts.auditLog, *events, "mcpd/" + opts.node}](
          const Request& req, const nlohmann::json& obj, const Identity& who) {
        return endpoint.handle(req, obj, who);
      },
      {"create"});
}

void ApiServer::Impl::ensureKubeconfig() {
  std::string path = opts.dataDir + "/admin.kubeconfig";
  std::string token;
  if (fs::exists(path)) {
    try {
      auto cfg = client::loadKubeconfig(path);
      if (auth->verify(opts.adminTokenName, cfg.token)) {
        if (cfg.server == url && cfg.caPem == caPem) return;
        token = cfg.token;  // same token, new address or CA
      }
    } catch (const std::exception& e) {
      spdlog::warn("{} is unreadable ({}); issuing a new admin token", path, e.what());
    }
  }
  if (token.empty()) {
    token = auth->issueToken(opts.adminTokenName,
                             Identity{Identity::Role::Admin, "", opts.adminTokenName});
    spdlog::info("issued a new admin token");
  }
  // Written beside and renamed, so a reader never sees half a file.
  std::string tmp = path + ".tmp";
  client::writeKubeconfig(tmp, "minimcp", url, caPem, token);
  ::chmod(tmp.c_str(), 0600);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("cannot write " + path);
  }
  spdlog::info("wrote {}", path);
}

ApiServer::ApiServer(ApiServerOptions options, const Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(options), clock)) {}

ApiServer::~ApiServer() {
  stop();
  impl_->http.reset();
  impl_->rest.reset();
  impl_->limits.reset();
  impl_->requestAuth.reset();
  impl_->instanceAuth.reset();
  impl_->events.reset();
  impl_->auth.reset();
  impl_->objectMetrics.reset();
  impl_->store.reset();
}

void ApiServer::addRoute(std::string prefix, RouteHandler handler, bool requiresAuth,
                         RefusalRenderer renderRefusal) {
  impl_->routes.push_back(
      {std::move(prefix), std::move(handler), requiresAuth, std::move(renderRefusal)});
}

void ApiServer::excludeFromRequestMetrics(std::string prefix) {
  impl_->uncounted.push_back(std::move(prefix));
}

void ApiServer::start() {
  auto& o = impl_->opts;
  if (o.dataDir.empty()) throw std::runtime_error("the data directory is not set");
  std::error_code ec;
  fs::create_directories(o.dataDir, ec);
  if (ec) throw std::runtime_error("cannot create " + o.dataDir + ": " + ec.message());
  // It holds the keys, the database and the admin kubeconfig: private, even if it existed.
  // (The runtime gives others the search bit back when it starts or adopts an instance that
  // runs as another user.)
  if (::chmod(o.dataDir.c_str(), 0700) != 0) {
    spdlog::warn("cannot make {} private (mode 0700)", o.dataDir);
  }
  std::string url = o.storeUrl.empty() ? "sqlite:" + o.dataDir + "/minimcp.db" : o.storeUrl;
  impl_->store =
      observedStore(store::openStore(url, o.watchHistory), storeBackend(url), impl_->registry);
  impl_->objectMetrics =
      std::make_unique<StoredObjectMetrics>(*impl_->store, impl_->registry, impl_->clock);
  try {
    impl_->objectMetrics->start();
  } catch (const store::StoreError& e) {
    spdlog::warn("node and API key metrics start incomplete: {}", e.what());
  }
  impl_->auth = std::make_unique<StoreTokenAuthenticator>(*impl_->store);
  std::shared_ptr<const OidcVerifier> oidc;
  if (!o.oidcIssuer.empty()) {
    OidcOptions oidcOptions = o.oidc;
    oidcOptions.issuer = o.oidcIssuer;
    oidc = std::make_shared<OidcVerifier>(std::move(oidcOptions), o.oidcGet, impl_->clock);
  }
  impl_->requestAuth = std::make_unique<RequestAuthenticator>(*impl_->auth, std::move(oidc));
  if (o.instanceTokens) {
    impl_->instanceAuth =
        std::make_unique<InstanceTokenAuthenticator>(*impl_->store, *o.instanceTokens);
  }
  impl_->events = std::make_unique<registry::EventRecorder>(*impl_->store, impl_->clock, o.node);

  HttpServerOptions ho;
  ho.host = o.host;
  ho.port = o.port;
  ho.threads = o.threads;
  ho.maxConnections = o.maxConnections;
  ho.tls = !o.insecureHttp;
  ho.refusal = [impl = impl_.get()](const std::string& target, int code,
                                    const std::string& message) {
    Request req;
    req.target = target;
    parseTarget(target, req.path, req.query);
    const char* reason = code == 413   ? "RequestEntityTooLarge"
                         : code == 431 ? "RequestHeaderFieldsTooLarge"
                         : code == 503 ? "ServiceUnavailable"
                                       : "BadRequest";
    return impl->refusal(req, ApiError(code, reason, message));
  };
  if (ho.tls) {
    if (!o.tlsCert.empty() || !o.tlsKey.empty()) {
      if (o.tlsCert.empty() || o.tlsKey.empty()) {
        throw std::runtime_error("--tls-cert and --tls-key go together");
      }
      ho.certFile = o.tlsCert;
      ho.keyFile = o.tlsKey;
      impl_->caPem = trustAnchorFromChain(o.tlsCert);
    } else {
      std::vector<std::string> hosts = {o.host};
      hosts.insert(hosts.end(), o.tlsHosts.begin(), o.tlsHosts.end());
      auto files = ensureTlsFiles(o.dataDir, hosts);
      ho.certFile = files.certFile;
      ho.keyFile = files.keyFile;
      impl_->caPem = files.caPem;
    }
  }
  impl_->rest = std::make_unique<RestHandler>(*impl_->store, model::Registry::instance(),
                                              impl_->clock, o.rest);
  impl_->limits = std::make_unique<Limits>(*impl_->store, o.limits, impl_->clock);
  impl_->installInstanceEndpoints();
  impl_->http = std::make_unique<HttpServer>(
      ho, [impl = impl_.get()](const Request& r) { return impl->handle(r); });
  impl_->http->start();
  impl_->url = (ho.tls ? "https://" : "http://") + hostForUrl(o.host) + ":" +
               std::to_string(impl_->http->port());
  impl_->ensureKubeconfig();
  impl_->ready = true;
  spdlog::info("serving on {} (node {})", impl_->url, o.node);
}

void ApiServer::stop() {
  impl_->ready = false;
  if (impl_->http) impl_->http->stop();
}

uint16_t ApiServer::port() const { return impl_->http ? impl_->http->port() : 0; }
std::string ApiServer::url() const { return impl_->url; }
std::string ApiServer::caPem() const { return impl_->caPem; }
const ApiServerOptions& ApiServer::options() const { return impl_->opts; }
std::string ApiServer::kubeconfigPath() const { return impl_->opts.dataDir + "/admin.kubeconfig"; }
store::Store& ApiServer::store() { return *impl_->store; }
StoreTokenAuthenticator& ApiServer::authenticator() { return *impl_->auth; }
const Authenticator& ApiServer::requestAuthenticator() const { return *impl_->requestAuth; }
metrics::Registry& ApiServer::metrics() { return impl_->registry; }

}  // namespace minimcp::server
