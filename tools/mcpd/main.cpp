// mcpd: the MiniMCP daemon. The work is done by server::ApiServer.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <shared_mutex>

#include "api/client/http_client.h"
#include "api/client/kubeconfig.h"
#include "api/crypto/instance_token.h"
#include "api/crypto/master_key.h"
#include "api/model/apikey.h"
#include "api/secrets/audit_log.h"
#include "api/secrets/key_resolver.h"
#include "api/secrets/rotate.h"
#include "api/server/api_server.h"
#include "api/server/issuer_url.h"
#include "api/store/store.h"
#include "api/util/api_error.h"
#include "api/util/clock.h"
#ifdef MINIMCP_HAVE_GATEWAY
#include "api/gateway/gateway.h"
#endif
#ifdef MINIMCP_HAVE_RECONCILER
#include "reconciler/catalog.h"
#include "reconciler/controller.h"
#include "reconciler/node_agent.h"
#include "reconciler/notifier.h"
#include "reconciler/runtime/health_prober.h"
#include "reconciler/runtime/local_process_runtime.h"
#include "reconciler/scheduler.h"
#include "reconciler/sealed_key_resolver.h"
#include "reconciler/webhook_transport.h"
#endif

namespace {

struct Listen {
  std::string host;
  uint16_t port;
};

// HOST:PORT or [V6]:PORT.
Listen parseListen(const std::string& s) {
  static const std::regex re(R"(^(\[[^\]]+\]|[^:\[\]]+):([0-9]{1,5})$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) throw CLI::ValidationError("--listen", "expected HOST:PORT");
  std::string host = m[1];
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  int port = std::stoi(m[2]);
  if (port > 65535) throw CLI::ValidationError("--listen", "port out of range");
  return {host, static_cast<uint16_t>(port)};
}

#ifdef MINIMCP_HAVE_GATEWAY
// The gateway's view of the controller's own record (where this node's instances serve):
// empty until the controller runs and once it is gone, and for good with --disable-reconciler.
class ControllerUpstreams : public minimcp::gateway::LocalUpstreams {
 public:
  // The controller's side: its acquire(), wake(), wakeTimedOut() and sleeping().
  struct Hooks {
    std::function<std::optional<Lease>(const std::string& key)> acquire;
    std::function<void(const std::string& key, WakeDone done)> wake;
    std::function<void(const std::string& key)> wakeTimedOut;
    std::function<bool(const std::string& key)> sleeping;
  };
  std::optional<uint16_t> port(const std::string& key) const override {
    auto lease = acquire(key);
    return lease ? std::optional<uint16_t>(lease->port) : std::nullopt;
  }
  std::optional<Lease> acquire(const std::string& key) const override {
    std::shared_lock lock(mu_);
    return hooks_.acquire ? hooks_.acquire(key) : std::nullopt;
  }
  bool wake(const std::string& key, WakeDone done) const override {
    std::shared_lock lock(mu_);
    if (!hooks_.wake) return false;
    hooks_.wake(key, std::move(done));
    return true;
  }
  void wakeTimedOut(const std::string& key) const override {
    std::shared_lock lock(mu_);
    if (hooks_.wakeTimedOut) hooks_.wakeTimedOut(key);
  }
  bool sleeping(const std::string& key) const override {
    std::shared_lock lock(mu_);
    return hooks_.sleeping && hooks_.sleeping(key);
  }
  // Returns once no request uses the previous hooks.
  void set(Hooks hooks) {
    std::unique_lock lock(mu_);
    hooks_ = std::move(hooks);
  }

 private:
  mutable std::shared_mutex mu_;
  Hooks hooks_;
};
#endif

// How many instances a node takes when --capacity is not given: one per 128 MiB of memory
// (an MCP server on node 20 uses 50–100 MiB), at least one.
int64_t memoryCapacity() {
  const long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || pageSize <= 0) return 50;
  return std::max<int64_t>(1, static_cast<int64_t>(pages) * pageSize / (128LL << 20));
}

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

void setupLogging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stderr_color_mt("mcpd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  if (format == "json") {
    spdlog::set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%v"})");
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ %v");
  }
}

namespace fs = std::filesystem;

// The master key: $MINIMCP_MASTER_KEY (removed from the environment at once, so no child can
// inherit it), else the key file, created 0600 at first start. The previous key of an unfinished
// rotation (KEYFILE.previous) stays readable.
minimcp::crypto::KeyRing loadKeyRing(const fs::path& keyFile) {
  using minimcp::crypto::MasterKey;
  std::optional<MasterKey> primary = MasterKey::fromEnvironment("MINIMCP_MASTER_KEY", true);
  if (!primary) primary = MasterKey::loadOrCreate(keyFile);
  std::vector<MasterKey> older;
  fs::path previous = keyFile;
  previous += ".previous";
  if (fs::exists(previous)) older.push_back(MasterKey::load(previous));
  return minimcp::crypto::KeyRing(std::move(*primary), std::move(older));
}

// Default --mcp-servers-dir: ./mcp-servers, else the repository's, found from the binary's
// location (build/bin/mcpd → ../../mcp-servers), so mcpd runs from any directory.
std::string defaultMcpServersDir() {
  if (fs::is_directory("mcp-servers")) return fs::absolute("mcp-servers").string();
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path candidate = exe.parent_path() / ".." / ".." / "mcp-servers";
    if (fs::is_directory(candidate)) return fs::canonical(candidate).string();
  }
  return fs::absolute("mcp-servers").string();
}

// `mcpd rotate-master-key`: re-seals every APIKey under a new master key. The old key is kept
// as KEYFILE.previous so a running mcpd (and this one, if interrupted) can still read values
// sealed under it; run the command again after restarting mcpd to finish.
int rotateMasterKey(const std::string& storeUrl, const fs::path& dataDir, const fs::path& keyFile) {
  using minimcp::crypto::MasterKey;
  fs::path next = keyFile;
  next += ".new";
  fs::path previous = keyFile;
  previous += ".previous";
  MasterKey current = MasterKey::load(keyFile);
  MasterKey fresh = MasterKey::loadOrCreate(next);
  auto store = minimcp::store::openStore(storeUrl);
  minimcp::secrets::FileAuditLog audit(dataDir / "audit.log");
  std::vector<MasterKey> older;
  older.push_back(MasterKey::load(keyFile));
  if (fs::exists(previous)) older.push_back(MasterKey::load(previous));
  minimcp::crypto::KeyRing ring(std::move(fresh), std::move(older));
  auto report = minimcp::secrets::rotateMasterKey(*store, ring, audit);
  for (const auto& f : report.failed) std::cerr << "cannot re-seal " << f << "\n";
  if (!report.failed.empty()) return 1;
  fs::rename(keyFile, previous);
  fs::rename(next, keyFile);
  std::cout << "re-sealed " << report.resealed << " API keys (" << report.unchanged
            << " already current); the old key is kept in " << previous.string()
            << " until you restart mcpd and run rotate-master-key --finish" << std::endl;
  (void)current;
  return 0;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// GETs for the OpenID Connect verifier: HTTPS only, the system's CAs plus `caPem`, 5 s each.
minimcp::server::HttpGet httpsGetter(std::string caPem) {
  return [caPem = std::move(caPem)](const std::string& url) {
    static const std::regex re(R"(^(https://[^/?#]+)([/?].*)?$)");
    std::smatch m;
    if (!std::regex_match(url, m, re)) throw std::runtime_error(url + " is not an https URL");
    minimcp::client::ConnectionConfig cfg;
    cfg.server = m[1].str();
    cfg.caPem = caPem;
    cfg.systemRootsToo = true;
    minimcp::client::HttpClient client(cfg);
    auto res = client.request("GET", m[2].matched ? m[2].str() : "/", "",
                              {{"Accept", "application/json"}}, std::chrono::seconds(5));
    if (res.status != 200) {
      throw std::runtime_error(url + " answered HTTP " + std::to_string(res.status));
    }
    return res.body;
  };
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mcpd: the MiniMCP control plane daemon (API server, reconciler, gateway)"};
  std::string listen = "127.0.0.1:7443";
  std::string dataDir = minimcp::client::defaultDataDir();
  std::string storeUrl, node = hostname(), mcpServersDir = defaultMcpServersDir(),
                        portRange = "20000-29999";
  std::string logLevel = "info", logFormat = "text", tlsCert, tlsKey, masterKeyFile;
  bool insecureHttp = false;
  int64_t watchHistory = 10000;
  app.add_option("--listen", listen, "HOST:PORT to serve on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--data-dir", dataDir, "state directory")->capture_default_str();
  app.add_option("--store", storeUrl,
                 "sqlite:PATH or postgresql://... (default sqlite:DATA_DIR/minimcp.db)");
  app.add_option("--node", node, "this node's name")->capture_default_str();
  app.add_option("--mcp-servers-dir", mcpServersDir, "where MCP server types live")
      ->capture_default_str();
  app.add_option("--port-range", portRange, "LO-HI ports for instance processes")
      ->capture_default_str()
      ->check([](const std::string& v) {
        static const std::regex re(R"(^([0-9]{1,5})-([0-9]{1,5})$)");
        std::smatch m;
        if (!std::regex_match(v, m, re)) return std::string("expected LO-HI");
        int lo = std::stoi(m[1]), hi = std::stoi(m[2]);
        if (lo < 1 || hi > 65535 || lo > hi) return std::string("bad port range");
        return std::string();
      });
  app.add_option("--log-level", logLevel, "trace|debug|info|warn|error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--log-format", logFormat, "text|json")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--tls-cert", tlsCert,
                 "server certificate chain (PEM) instead of the generated one");
  app.add_option("--tls-key", tlsKey, "private key (PEM) for --tls-cert");
  app.add_flag("--insecure-http", insecureHttp,
               "serve plain HTTP (debugging only: kubectl sends no token over HTTP)");
  app.add_option("--master-key-file", masterKeyFile,
                 "master key for API key encryption (default DATA_DIR/master.key)");
  // Hidden (tests force 410 Gone with a short history); not part of the documented interface.
  app.add_option("--watch-history", watchHistory, "changes kept for watch resumption")
      ->group("")
      ->check(CLI::PositiveNumber);
  std::string bookmarkInterval = "60s";
  app.add_option("--watch-bookmark-interval", bookmarkInterval,
                 "how often a watch with allowWatchBookmarks=true gets a BOOKMARK (as "
                 "kube-apiserver: about every minute)")
      ->capture_default_str()
      ->check([](const std::string& v) {
        auto d = minimcp::parseDuration(v);
        return d && d->count() > 0 ? std::string() : "expected a duration like 60s";
      });
  // API-only mode, like kube-apiserver without its controllers: the API semantics tests use it
  // so that no controller writes to the objects they compare.
  int64_t maxInstances = 50;
  std::string maxTTL = "24h";
  app.add_option("--max-instances-per-namespace", maxInstances,
                 "default limit of MCPInstances per namespace (0: unlimited; the admin can "
                 "override it per namespace)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-ttl", maxTTL,
                 "default maximum TTL of an MCPInstance (0: unlimited; overridable per namespace)")
      ->capture_default_str()
      ->check([](const std::string& v) {
        return v == "0" || minimcp::parseDuration(v) ? std::string()
                                                     : "expected a duration like 24h";
      });
  std::string runAs;
  app.add_option("--run-as", runAs,
                 "when mcpd runs as root: run every instance as this one user instead of a uid "
                 "of its own (an opt-out of per-instance isolation; \"root\": keep root)");
  std::string uidRange = std::to_string(minimcp::reconciler::kDefaultInstanceIdRange.lo) + "-" +
                         std::to_string(minimcp::reconciler::kDefaultInstanceIdRange.hi);
  app.add_option("--instance-uid-range", uidRange,
                 "when mcpd runs as root: LO-HI uids (and gids) given one per instance; ids of "
                 "/etc/passwd and /etc/group are skipped")
      ->capture_default_str()
      ->check([](const std::string& v) {
        return minimcp::reconciler::parseIdRange(v) ? std::string()
                                                    : "expected LO-HI with 1 <= LO <= HI";
      });
  std::string sandbox = "none";
  app.add_option("--sandbox", sandbox,
                 "none|bwrap: bwrap runs every instance in a bubblewrap sandbox (read-only root, "
                 "private /tmp and /proc, its own dir the only writable path)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "bwrap"}));
  std::string expiredRetention = "1h";
  app.add_option("--expired-retention", expiredRetention,
                 "how long an Expired MCPInstance stays visible before it is removed with its "
                 "events (0: until deleted)")
      ->capture_default_str()
      ->check([](const std::string& v) {
        return v == "0" || minimcp::parseDuration(v) ? std::string()
                                                     : "expected a duration like 1h, or 0";
      });
  int64_t capacity = 0;
  std::string leaseDuration = "15s", advertiseUrl;
  app.add_option("--capacity", capacity,
                 "most MCPInstances this node runs (default: one per 128 MiB of memory)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--lease-duration", leaseDuration,
                 "a node that has not renewed its lease for this long is lost, and its "
                 "instances move to other nodes (PostgreSQL store only)")
      ->capture_default_str()
      ->check([](const std::string& v) {
        auto d = minimcp::parseDuration(v);
        return d && *d >= std::chrono::seconds(1) ? std::string()
                                                  : "expected a duration of at least 1s";
      });
  app.add_option("--advertise-url", advertiseUrl,
                 "the URL other nodes reach this one at (default: the --listen address)")
      ->check([](const std::string& v) {
        return v.rfind("https://", 0) == 0 || v.rfind("http://", 0) == 0
                   ? std::string()
                   : "expected an https:// or http:// URL";
      });
  std::string oidcIssuer;
  app.add_option("--oidc-issuer", oidcIssuer,
                 "https URL of the OAuth 2.0 authorization server (OpenID Connect issuer) MCP "
                 "clients sign in with; the gateway names it in its protected resource metadata")
      ->check([](const std::string& v) { return minimcp::server::issuerUrlProblem(v); });
  minimcp::server::OidcOptions oidc;
  std::string oidcCaFile;
  app.add_option("--oidc-audience", oidc.audience,
                 "an audience (aud) OpenID Connect access tokens may name instead of the "
                 "instance's URL; the only one the API accepts them with");
  app.add_option("--oidc-namespaces-claim", oidc.namespacesClaim,
                 "the access token claim (a string or an array of strings) naming the "
                 "namespaces its bearer is a tenant of")
      ->capture_default_str();
  app.add_option("--oidc-namespace-prefix", oidc.namespacePrefix,
                 "only claim values with this prefix name a namespace (the prefix removed); "
                 "\"\" = every value")
      ->capture_default_str();
  app.add_option("--oidc-ca-file", oidcCaFile,
                 "PEM of a CA trusted besides the system's for the issuer's HTTPS endpoints")
      ->check(CLI::ExistingFile);
  size_t maxConnections = 1024;
  app.add_option("--max-connections", maxConnections,
                 "open API connections (watches included) beyond which new ones are answered "
                 "503 and closed")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  bool allowPrivateTokenUrls = false;
  app.add_flag("--oauth2-allow-private-token-urls", allowPrivateTokenUrls,
               "let APIKeys name an OAuth 2.0 token endpoint on this host or its networks "
               "(loopback, private, link-local addresses; plain http to loopback): refused by "
               "default, since the instance would send its refresh-token grant there");
  bool notificationAllowLoopback = false;
  app.add_flag("--notification-allow-loopback", notificationAllowLoopback,
               "let NotificationSinks send to loopback addresses (127.0.0.0/8, ::1, localhost), "
               "over https or plain http: for tests and local receivers");
  bool disableReconciler = false;
  app.add_flag("--disable-reconciler", disableReconciler,
               "serve the API and gateway only: start no instance processes");
  auto* rotate = app.add_subcommand(
      "rotate-master-key", "re-seal every API key under a new master key (mcpd may keep running)");
  bool rotateFinish = false;
  rotate->add_flag("--finish", rotateFinish,
                   "after restarting mcpd: re-seal what is left under the old key and drop it");
  app.fallthrough();
  CLI11_PARSE(app, argc, argv);
  const fs::path keyFile =
      masterKeyFile.empty() ? fs::path(dataDir) / "master.key" : fs::path(masterKeyFile);
  if (storeUrl.empty()) storeUrl = "sqlite:" + (fs::path(dataDir) / "minimcp.db").string();

  Listen l;
  try {
    l = parseListen(listen);
  } catch (const CLI::Error& e) {
    return app.exit(e);
  }
  setupLogging(logLevel, logFormat);

  if (*rotate) {
    try {
      if (rotateFinish) {
        using minimcp::crypto::MasterKey;
        fs::path previous = keyFile;
        previous += ".previous";
        auto store = minimcp::store::openStore(storeUrl);
        minimcp::secrets::FileAuditLog audit(fs::path(dataDir) / "audit.log");
        std::vector<MasterKey> older;
        if (fs::exists(previous)) older.push_back(MasterKey::load(previous));
        minimcp::crypto::KeyRing ring(MasterKey::load(keyFile), std::move(older));
        auto report = minimcp::secrets::rotateMasterKey(*store, ring, audit);
        if (!report.failed.empty()) {
          for (const auto& f : report.failed) std::cerr << "cannot re-seal " << f << "\n";
          return 1;
        }
        fs::remove(previous);
        std::cout << "re-sealed " << report.resealed << " API keys; rotation finished" << std::endl;
        return 0;
      }
      return rotateMasterKey(storeUrl, dataDir, keyFile);
    } catch (const std::exception& e) {
      std::cerr << "rotate-master-key: " << e.what() << std::endl;
      return 1;
    }
  }

  std::error_code dirError;
  fs::create_directories(dataDir, dirError);
  fs::permissions(dataDir, fs::perms::owner_all, fs::perm_options::replace, dirError);
  std::optional<minimcp::crypto::KeyRing> keyRing;
  try {
    keyRing.emplace(loadKeyRing(keyFile));
  } catch (const std::exception& e) {
    spdlog::critical("cannot load the master key: {}", e.what());
    return 1;
  }
  minimcp::model::setApiKeyKeyRing(&*keyRing);
  if (allowPrivateTokenUrls) {
    minimcp::model::setApiKeyTokenUrlHosts(minimcp::model::TokenUrlHosts::Any);
  }
  const minimcp::crypto::InstanceTokens instanceTokens(keyRing->primary());

  // Signals are taken synchronously by sigwait below; every thread started after this inherits
  // the mask, so none of them is interrupted.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Several nodes share a PostgreSQL store; an SQLite store belongs to this one.
  const bool cluster = storeUrl.rfind("postgres", 0) == 0;
  minimcp::server::ApiServerOptions opts;
  opts.host = l.host;
  opts.port = l.port;
  opts.dataDir = dataDir;
  opts.node = node;
  opts.tlsCert = tlsCert;
  opts.tlsKey = tlsKey;
  if (cluster) {
    opts.adminTokenName = "admin-" + node;
    // A write waiting out a PostgreSQL outage holds its I/O thread; reads served from the
    // store's cache should not queue behind two of them.
    opts.threads = 4;
  }
  if (!advertiseUrl.empty()) {
    // https://HOST[:PORT][/...] → HOST (brackets of an IPv6 literal dropped).
    static const std::regex re(R"(^[a-z]+://(\[([^\]]+)\]|([^:/]+)))");
    std::smatch m;
    if (std::regex_search(advertiseUrl, m, re)) {
      opts.tlsHosts.push_back(m[2].matched ? m[2].str() : m[3].str());
    }
  }
  opts.insecureHttp = insecureHttp;
  opts.maxConnections = maxConnections;
  opts.watchHistory = watchHistory;
  opts.rest.bookmarkInterval = *minimcp::parseDuration(bookmarkInterval);
  opts.storeUrl = storeUrl;
  opts.instanceTokens = &instanceTokens;
  // Every decryption of an APIKey: for launches, sinks and the instances' refresh token reports.
  minimcp::secrets::FileAuditLog audit(fs::path(dataDir) / "audit.log");
  opts.auditLog = &audit;
  opts.limits.maxInstances = maxInstances;
  opts.limits.maxTTL =
      maxTTL == "0" ? std::chrono::milliseconds(0) : *minimcp::parseDuration(maxTTL);
  opts.oidcIssuer = oidcIssuer;
  opts.sinkUrlPolicy.allowLoopback = notificationAllowLoopback;
  opts.oidc = oidc;
  if (!oidcIssuer.empty()) {
    try {
      opts.oidcGet = httpsGetter(oidcCaFile.empty() ? "" : readFile(oidcCaFile));
    } catch (const std::exception& e) {
      spdlog::critical("--oidc-ca-file: {}", e.what());
      return 1;
    }
  }
  minimcp::server::ApiServer server(opts);
#ifdef MINIMCP_HAVE_GATEWAY
  // The gateway needs the store, which exists only after start(); routes must be added before.
  std::atomic<minimcp::gateway::Gateway*> gateway{nullptr};
  server.addRoute(
      "/mcp/",
      [&gateway](const minimcp::server::Request& r, const minimcp::server::Identity*) {
        if (auto* g = gateway.load()) return g->handle(r);
        return minimcp::gateway::jsonRpcRefusal(
            r, minimcp::ApiError::ServiceUnavailable("the gateway is starting"));
      },
      /*requiresAuth=*/false, &minimcp::gateway::jsonRpcRefusal);
  server.excludeFromRequestMetrics("/mcp/");  // the gateway's own families count it
  // What an MCP client looks for when a 401 sends it to sign in: the protected resource
  // metadata, and the authorization server's documents and endpoints at this origin (the
  // fallback of clients that find no metadata). Answered without a token: a 401 there would
  // send the client on to wait for a sign-in that cannot happen.
  for (const char* prefix : {"/.well-known/", "/authorize", "/token", "/register"}) {
    server.addRoute(
        prefix,
        [&gateway](const minimcp::server::Request& r, const minimcp::server::Identity*) {
          if (auto* g = gateway.load()) return g->discovery(r);
          return minimcp::server::Response::json(
              503, minimcp::ApiError::ServiceUnavailable("the gateway is starting").toStatus());
        },
        /*requiresAuth=*/false);
  }
#endif
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
#ifdef MINIMCP_HAVE_GATEWAY
  minimcp::gateway::GatewayOptions gatewayOptions;
  if (cluster) gatewayOptions.node = node;  // forwards to the node that runs the instance
  gatewayOptions.authorizationServer = server.options().oidcIssuer;
  gatewayOptions.publicUrls = minimcp::gateway::servedBaseUrls(server.url(), advertiseUrl);
  gatewayOptions.metrics = &server.metrics();
  ControllerUpstreams upstreams;
  auto gatewayImpl = std::make_unique<minimcp::gateway::Gateway>(
      server.store(), server.requestAuthenticator(), instanceTokens, upstreams, gatewayOptions);
  gateway = gatewayImpl.get();
#endif

#ifdef MINIMCP_HAVE_RECONCILER
  minimcp::secrets::KeyResolver secretKeys(server.store(), *keyRing, audit);
  std::unique_ptr<minimcp::reconciler::Controller> controller;
  std::unique_ptr<minimcp::reconciler::NodeAgent> nodeAgent;
  std::unique_ptr<minimcp::reconciler::Scheduler> scheduler;
  std::unique_ptr<minimcp::reconciler::HttpWebhookTransport> webhooks;
  std::unique_ptr<minimcp::reconciler::Notifier> notifier;
  std::optional<minimcp::runtime::LocalProcessRuntime> runtime;
  std::optional<minimcp::runtime::BeastHealthProber> prober;
  if (!disableReconciler) {
    auto catalog = minimcp::reconciler::loadCatalog(server.store(), mcpServersDir);
    spdlog::info("catalog {}: {} created, {} updated, {} unchanged, {} skipped", mcpServersDir,
                 catalog.created.size(), catalog.updated.size(), catalog.unchanged.size(),
                 catalog.skipped.size());
    using minimcp::reconciler::Isolation;
    minimcp::runtime::LocalRuntimeOptions ropts;
    // Instances without a uid of their own (none is handed out when --run-as is given) run as
    // --run-as; the default never lets one run as root.
    ropts.runAs = runAs.empty() ? "nobody" : runAs;
    if (sandbox == "bwrap") {
      ropts.sandbox = minimcp::runtime::Sandbox::Bwrap;
      if (::access(ropts.bwrapPath.c_str(), X_OK) != 0) {
        spdlog::critical("--sandbox bwrap: {} is missing (apt-get install bubblewrap)",
                         ropts.bwrapPath);
        return 1;
      }
    }
    try {
      runtime.emplace(ropts);
    } catch (const std::exception& e) {
      spdlog::critical("cannot start the process runtime: {}", e.what());
      return 1;
    }
    minimcp::reconciler::ControllerOptions copts;
    copts.metrics =
        std::make_shared<minimcp::reconciler::ControllerMetrics>(server.metrics(), "mcpinstance");
    copts.metricsRegistry = &server.metrics();
    if (::geteuid() != 0) {
      copts.isolation = Isolation::none(::geteuid(), ::getegid(), sandbox);
      spdlog::warn("mcpd is not root: every instance runs as uid {} ({})", ::geteuid(),
                   copts.isolation.message);
    } else if (!runAs.empty()) {
      const auto ids = runtime->runAsIds();
      copts.isolation =
          Isolation::sharedUser(runAs, ids ? ids->first : 0, ids ? ids->second : 0, sandbox);
      spdlog::warn("--run-as {}: {}", runAs, copts.isolation.message);
    } else {
      const auto range = *minimcp::reconciler::parseIdRange(uidRange);
      copts.uids = std::make_shared<minimcp::reconciler::UidAllocator>(
          range, std::make_shared<minimcp::reconciler::SystemIdentityUsage>(dataDir),
          minimcp::SystemClock::instance());
      copts.isolation.mode = minimcp::reconciler::isolation::kDynamicUser;
      copts.isolation.sandbox = sandbox;
      spdlog::info("every instance runs as a uid and gid of its own from {} ({} held)", uidRange,
                   copts.uids->inUse());
    }
    prober.emplace();
    copts.node = node;
    copts.dataDir = dataDir;
    copts.mcpServersDir = mcpServersDir;
    {
      const auto dash = portRange.find('-');
      copts.portLo = static_cast<uint16_t>(std::stoi(portRange.substr(0, dash)));
      copts.portHi = static_cast<uint16_t>(std::stoi(portRange.substr(dash + 1)));
    }
    copts.gatewayBase = server.url();
    copts.apiCaPem = server.caPem();
    if (expiredRetention != "0") copts.expiredRetention = *minimcp::parseDuration(expiredRetention);
    copts.keyResolver =
        std::make_shared<minimcp::reconciler::SealedKeyResolver>(secretKeys, "mcpd/" + node);
    minimcp::reconciler::NodeAgentOptions nopts;
    nopts.name = node;
    nopts.address = advertiseUrl.empty() ? server.url() : advertiseUrl;
    nopts.caBundle = server.caPem();
    nopts.capacity = capacity > 0 ? capacity : memoryCapacity();
    nopts.leaseDuration =
        std::chrono::duration_cast<std::chrono::seconds>(*minimcp::parseDuration(leaseDuration));
    nodeAgent = std::make_unique<minimcp::reconciler::NodeAgent>(
        server.store(), minimcp::SystemClock::instance(), nopts, [&controller] {
          if (controller) controller->resync();
        });
    try {
      nodeAgent->start();
    } catch (const std::exception& e) {
      spdlog::critical("cannot register node {}: {}", node, e.what());
      return 1;
    }
    if (cluster) {
      copts.leaseGeneration = [agent = nodeAgent.get()] { return agent->generation(); };
    }
    controller = std::make_unique<minimcp::reconciler::Controller>(
        copts, server.store(), *runtime, *prober, instanceTokens, minimcp::SystemClock::instance());
    controller->start();
#ifdef MINIMCP_HAVE_GATEWAY
    {
      minimcp::reconciler::Controller* c = controller.get();
      ControllerUpstreams::Hooks hooks;
      hooks.acquire = [c](const std::string& key) -> std::optional<ControllerUpstreams::Lease> {
        auto lease = c->acquire(key);
        if (!lease) return std::nullopt;
        return ControllerUpstreams::Lease{lease->port, std::move(lease->hold)};
      };
      hooks.wake = [c](const std::string& key, ControllerUpstreams::WakeDone done) {
        c->wake(key, std::move(done));
      };
      hooks.wakeTimedOut = [c](const std::string& key) { c->wakeTimedOut(key); };
      hooks.sleeping = [c](const std::string& key) { return c->sleeping(key); };
      upstreams.set(std::move(hooks));
    }
#endif
    webhooks = std::make_unique<minimcp::reconciler::HttpWebhookTransport>(opts.sinkUrlPolicy);
    minimcp::reconciler::NotifierOptions notifierOptions;
    notifierOptions.node = node;
    notifierOptions.metrics = &server.metrics();
    notifier = std::make_unique<minimcp::reconciler::Notifier>(
        server.store(), minimcp::SystemClock::instance(), secretKeys, *webhooks, notifierOptions);
    notifier->start();
    if (cluster) {
      minimcp::reconciler::SchedulerOptions sopts;
      sopts.node = node;
      scheduler = std::make_unique<minimcp::reconciler::Scheduler>(
          server.store(), minimcp::SystemClock::instance(), sopts);
      scheduler->start();
    }
  }
#endif
  std::cout << "mcpd listening on " << server.url() << " (kubeconfig " << server.kubeconfigPath()
            << ")" << std::endl;

  int sig = 0;
  sigwait(&sigs, &sig);
  spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
#ifdef MINIMCP_HAVE_RECONCILER
  // Instance processes keep running: the next mcpd adopts them. The lease is left to run out
  // (a restart within it keeps this node's instances here).
  notifier.reset();
  scheduler.reset();
  nodeAgent.reset();
#ifdef MINIMCP_HAVE_GATEWAY
  upstreams.set({});
#endif
  controller.reset();
#endif
  server.stop();
#ifdef MINIMCP_HAVE_GATEWAY
  gateway = nullptr;
  gatewayImpl.reset();
#endif
  spdlog::info("stopped");
  return 0;
}
