#include "api/gateway/gateway.h"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility> (C++20).
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <shared_mutex>
#include <utility>
#include <vector>

#include "api/gateway/oauth_resource.h"
#include "api/model/json_fields.h"
#include "api/model/kinds.h"
#include "api/model/validation.h"
#include "api/server/deadline.h"
#include "api/server/io_executor.h"
#include "api/server/tls.h"
#include "api/server/wire_message.h"
#include "api/util/api_error.h"
#include "api/util/ascii.h"
#include "api/util/random.h"
#include "api/util/url.h"

namespace minimcp::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
// The event loop's own executor type rather than any_io_executor, as the server's sessions
// (http_session.h): each step of an exchange copies and dispatches through it.
using Executor = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Timer = net::basic_waitable_timer<SteadyClock, net::wait_traits<SteadyClock>, Executor>;
using server::Request;
using server::Response;

namespace {

constexpr const char* kResource = "mcpinstances";
constexpr const char* kNodes = "nodes";
// Node's http server closes an idle keep-alive connection after 5 s; never hand out one that
// is close to that age.
constexpr auto kMaxIdleAge = std::chrono::seconds(4);
constexpr size_t kMaxIdlePerUpstream = 32;
constexpr auto kConnectTimeout = std::chrono::seconds(5);
// Responses with a declared length up to this are read whole and answered in one piece
// (keeps the client's connection alive); anything else is relayed as it arrives.
constexpr uint64_t kMaxBuffered = 1 << 20;
constexpr size_t kChunkSize = 16 << 10;
// A client this far behind its stream is dropped (the server drops it at 8 MiB queued too).
constexpr size_t kMaxPending = 8 << 20;
constexpr const char* kRetryAfterSeconds = "5";
// The instance moved or its node is being replaced: the scheduler re-binds within seconds.
constexpr const char* kRetryAfterPlacement = "1";
// Distinct CA bundles whose TLS contexts are kept (one per peer node in practice).
constexpr size_t kMaxTlsContexts = 64;
// Instance tokens kept (one per instance and token generation in use).
constexpr size_t kMaxInstanceTokens = 4096;

// ASCII only, as header names are (no locale lookup per character).
// Connection-level headers (RFC 9110 §7.6.1) never cross a proxy; the others listed here are
// set by whoever writes the next hop.
bool hopByHop(std::string_view lowerName) {
  // Looked up for every header of every request and response: a plain scan, no allocation.
  static constexpr std::array<std::string_view, 12> names = {"connection",
                                                             "keep-alive",
                                                             "proxy-authenticate",
                                                             "proxy-authorization",
                                                             "te",
                                                             "trailer",
                                                             "trailers",
                                                             "transfer-encoding",
                                                             "upgrade",
                                                             "content-length",
                                                             "host",
                                                             "proxy-connection"};
  return std::find(names.begin(), names.end(), lowerName) != names.end();
}

// An instance's response header the caller does not get: hop-by-hop ones, and Server. Beast
// has already told the known names apart (`field`), so most take no string compare at all.
bool droppedFromResponse(http::field field, beast::string_view name) {
  switch (field) {
    case http::field::server:
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_authenticate:
    case http::field::proxy_authorization:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::content_length:
    case http::field::host:
    case http::field::proxy_connection:
      return true;
    case http::field::unknown:
      return hopByHop(asciiLower({name.data(), name.size()}));
    default:
      return false;
  }
}

bool originAllowed(const std::string& origin, const std::vector<std::string>& allowed) {
  static const std::regex loopback(R"(^https?://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?$)",
                                   std::regex::icase);
  if (std::regex_match(origin, loopback)) return true;
  for (const auto& a : allowed) {
    if (a == origin) return true;
  }
  return false;
}

// Every refusal on an MCP path: a JSON-RPC error body, which MCP clients read (a Kubernetes
// Status they cannot).
Response refuse(const Request& req, const ApiError& e) { return jsonRpcRefusal(req, e); }

// Also what an instance of another namespace answers: nothing tells the two apart.
Response notFound(const Request& req, const std::string& ns, const std::string& name) {
  return refuse(req, ApiError::NotFound(kResource, ns.empty() ? name : ns + "/" + name));
}

Response unavailable(const Request& req, const std::string& message,
                     const char* retryAfterSeconds = kRetryAfterSeconds) {
  auto r = refuse(req, ApiError::ServiceUnavailable(message));
  r.headers.emplace_back("Retry-After", retryAfterSeconds);
  return r;
}

Response badGateway(const Request& req, const std::string& message) {
  return refuse(req, ApiError(502, "InternalError", message));
}

bool isJson(const std::string& contentType) {
  return asciiLower(contentType.substr(0, contentType.find(';'))).find("json") != std::string::npos;
}

// /mcp/{ns}/{name}[/rest][?query] → ns, name and the upstream target /mcp[/rest][?query].
// Namespaces and names are DNS labels, so the raw and decoded forms agree.
struct Route {
  std::string ns, name, upstreamTarget;
};

std::optional<Route> parseRoute(const std::string& target) {
  constexpr std::string_view prefix = "/mcp/";
  if (!target.starts_with(prefix)) return std::nullopt;
  auto q = target.find('?');
  std::string path = target.substr(0, q);
  std::string query = q == std::string::npos ? "" : target.substr(q);
  size_t nsEnd = path.find('/', prefix.size());
  if (nsEnd == std::string::npos) return std::nullopt;
  size_t nameEnd = path.find('/', nsEnd + 1);
  Route r;
  r.ns = percentDecode(path.substr(prefix.size(), nsEnd - prefix.size()), false);
  r.name = percentDecode(path.substr(nsEnd + 1, nameEnd == std::string::npos ? std::string::npos
                                                                             : nameEnd - nsEnd - 1),
                         false);
  if (r.ns.empty() || r.name.empty()) return std::nullopt;
  std::string rest = nameEnd == std::string::npos ? "" : path.substr(nameEnd);
  r.upstreamTarget = "/mcp" + rest + query;
  return r;
}

// A peer node's spec.address: scheme://host[:port][/prefix].
struct PeerAddress {
  bool tls = true;
  std::string host;  // without brackets
  uint16_t port = 0;
  std::string authority;  // for the Host header, as written
  std::string prefix;     // "" or "/prefix", without a trailing slash
};

std::optional<PeerAddress> parseAddress(const std::string& url) {
  PeerAddress a;
  std::string rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    a.tls = false;
    rest = url.substr(7);
  } else {
    return std::nullopt;
  }
  auto slash = rest.find('/');
  a.authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    a.prefix = rest.substr(slash);
    while (!a.prefix.empty() && a.prefix.back() == '/') a.prefix.pop_back();
  }
  std::string port;
  if (a.authority.starts_with("[")) {  // [v6]:port
    auto close = a.authority.find(']');
    if (close == std::string::npos) return std::nullopt;
    a.host = a.authority.substr(1, close - 1);
    if (close + 1 < a.authority.size()) {
      if (a.authority[close + 1] != ':') return std::nullopt;
      port = a.authority.substr(close + 2);
    }
  } else {
    auto colon = a.authority.rfind(':');
    a.host = a.authority.substr(0, colon);
    if (colon != std::string::npos) port = a.authority.substr(colon + 1);
  }
  if (a.host.empty()) return std::nullopt;
  if (port.empty()) {
    a.port = a.tls ? 443 : 80;
  } else {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    int p = std::stoi(port);
    if (p < 1 || p > 65535) return std::nullopt;
    a.port = static_cast<uint16_t>(p);
  }
  return a;
}

bool isIpAddress(const std::string& host) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

// Where an exchange goes: an instance's loopback port, or another node's gateway.
struct Upstream {
  std::string key;   // idle connections are pooled per key
  std::string host;  // IP literal or DNS name
  uint16_t port = 0;
  std::shared_ptr<ssl::context> tls;  // null: plain HTTP
  bool peer = false;                  // failing to connect is 502 (the instance's own: 503)
  std::shared_ptr<const void> lease;  // held while the exchange lives (LocalUpstreams::Lease)
  std::string what;                   // who answers, for messages: "the instance", "node b"
  std::string label;                  // for log lines: "127.0.0.1:PORT", "node b (URL)"
};

// What the instance answered (or why it could not), handed from the I/O thread to the
// request's thread.
struct Head {
  int status = 0;
  std::string error;  // set: the gateway's own failure, `status` is its code
  std::string contentType;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool streaming = false;
};

// One upstream connection, plain or TLS; pooled between requests. Its socket belongs to the
// server's io_context: the exchange using it binds every completion to its own session's
// executor, and only one exchange uses it at a time (the pool hands it over under a
// mutex).
struct Conn {
  Conn(net::io_context& ioc, std::shared_ptr<ssl::context> ctx)
      : ioc(&ioc), context(std::move(ctx)) {
    // Beast reads at most the buffer's free capacity (512 bytes when empty): a response of a
    // few KiB would otherwise take a receive per 512 bytes.
    buffer.reserve(kChunkSize);
    if (context) {
      tls.emplace(ioc, *context);
    } else {
      plain.emplace(ioc);
    }
  }
  net::io_context* ioc;  // whose thread its I/O completes on
  std::shared_ptr<ssl::context> context;
  std::optional<Socket> plain;
  std::optional<ssl::stream<Socket>> tls;
  beast::flat_buffer buffer;
  SteadyClock::time_point idleSince;

  Socket& socket() { return tls ? tls->next_layer() : *plain; }
  // Runs `fn` with the stream to read and write HTTP on.
  template <class Fn>
  void visit(Fn&& fn) {
    if (tls) {
      fn(*tls);
    } else {
      fn(*plain);
    }
  }
};

class Exchange;

}  // namespace

// What the exchanges share: the idle connections per upstream and the peers' TLS contexts.
// The exchanges themselves run on the API server's I/O threads (each on the event loop
// of the session waiting for it): no thread of the gateway's own, so no hand-off between threads
// per request.
struct Gateway::Core {
  explicit Core(std::shared_ptr<client::HostResolver> r)
      : resolver(r ? std::move(r) : client::systemHostResolver()) {}

  // Peer names are looked up here: each lookup on its own, none waiting behind another's
  // hanging DNS query (asio's resolver runs one io_context's lookups one after the other).
  const std::shared_ptr<client::HostResolver> resolver;

  // An idle connection to `key` young enough to reuse, else null. Only one of `ioc`: each of
  // the server's threads runs an io_context of its own, and a connection of another would
  // complete its I/O on that other thread.
  std::unique_ptr<Conn> takeIdle(net::io_context& ioc, const std::string& key) {
    std::lock_guard lock(mu);
    auto it = idle.find({&ioc, key});
    if (it == idle.end()) return nullptr;
    auto now = SteadyClock::now();
    while (!it->second.empty()) {
      auto c = std::move(it->second.back());
      it->second.pop_back();
      if (now - c->idleSince < kMaxIdleAge) return c;
    }
    return nullptr;
  }

  // Keeps `c` for the next exchange to `key`; drops (closes) it when the pool is full or the
  // gateway is gone.
  void keepIdle(const std::string& key, std::unique_ptr<Conn> c) {
    std::lock_guard lock(mu);
    if (stopped) return;
    auto& pool = idle[{c->ioc, key}];
    if (pool.size() >= kMaxIdlePerUpstream) return;
    c->idleSince = SteadyClock::now();
    pool.push_back(std::move(c));
  }

  bool stopping() {
    std::lock_guard lock(mu);
    return stopped;
  }

  // The gateway goes away: every idle connection is closed now (their sockets belong to the
  // server's io_context, which outlives the gateway) and none is kept any more.
  void stop() {
    std::lock_guard lock(mu);
    stopped = true;
    idle.clear();
  }

  // Runs `fn` on `ex` unless the gateway has stopped: a lookup's answer comes on a thread of its
  // own, at any time, and must not reach an event loop the server tears down after the
  // Gateway is gone.
  template <class Fn>
  void postUnlessStopped(const net::any_io_executor& ex, Fn&& fn) {
    std::lock_guard lock(mu);
    if (!stopped) net::post(ex, std::forward<Fn>(fn));
  }

  // The instance token of `uid` at `generation`, computed once (an HMAC per request showed in
  // the gateway's profile): the token the instance is sent, and what a caller's instance token
  // is compared with. The caller passes the generation the instance has now (the index), and
  // another generation is another entry: a revoked token is refused at the next request.
  std::string instanceToken(const crypto::InstanceTokens& tokens, const std::string& uid,
                            int64_t generation) {
    auto key = std::make_pair(uid, generation);
    {
      std::shared_lock lock(tokenMu);
      if (auto it = instanceTokens.find(key); it != instanceTokens.end()) return it->second;
    }
    std::string token = tokens.issue(uid, generation);
    std::unique_lock lock(tokenMu);
    if (instanceTokens.size() >= kMaxInstanceTokens) {
      for (auto& [k, t] : instanceTokens) OPENSSL_cleanse(t.data(), t.size());
      instanceTokens.clear();
    }
    instanceTokens.emplace(std::move(key), token);
    return token;
  }

  ~Core() {
    for (auto& [k, t] : instanceTokens) OPENSSL_cleanse(t.data(), t.size());
  }

  // Client TLS contexts for peer nodes, by CA bundle (any thread).
  std::mutex tlsMu;
  std::map<std::string, std::shared_ptr<ssl::context>> tlsContexts;

  // A context that trusts exactly `caBundle` (the system roots when ""); null with `error` set
  // when the bundle is unusable.
  std::shared_ptr<ssl::context> clientContext(const std::string& caBundle, std::string& error) {
    std::lock_guard lock(tlsMu);
    auto it = tlsContexts.find(caBundle);
    if (it != tlsContexts.end()) return it->second;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    server::applyTlsPolicy(ctx->native_handle());
    ctx->set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    if (caBundle.empty()) {
      ctx->set_default_verify_paths(ec);
    } else {
      ctx->add_certificate_authority(net::buffer(caBundle), ec);
    }
    if (ec) {
      error = ec.message();
      return nullptr;
    }
    if (tlsContexts.size() >= kMaxTlsContexts) tlsContexts.clear();
    tlsContexts.emplace(caBundle, ctx);
    return ctx;
  }

 private:
  std::mutex mu;  // guards stopped and idle
  bool stopped = false;
  std::map<std::pair<net::io_context*, std::string>, std::vector<std::unique_ptr<Conn>>> idle;
  std::shared_mutex tokenMu;  // guards instanceTokens
  std::map<std::pair<std::string, int64_t>, std::string> instanceTokens;
};

namespace {

// One proxied request: connect (or reuse), send, read the head, then either read the whole
// body or relay it chunk by chunk to a StreamSink. Everything but
// onHead()/dropHead()/attach()/detach() runs on the executor begin() was given (the waiting
// session's).
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<Gateway::Core> core, Upstream upstream,
           http::request<http::string_body> req, const GatewayOptions& options)
      : core_(std::move(core)),
        up_(std::move(upstream)),
        req_(std::move(req)),
        wire_(server::wireMessage(req_)),
        idleTimeout_(options.idleTimeout),
        coalesceWindow_(options.coalesceWindow) {}

  const std::string& requestBody() const { return req_.body(); }

  // Who is told the response head, once; set before begin().
  void onHead(std::function<void(Head)> fn) {
    std::lock_guard lock(mu_);
    headFn_ = std::move(fn);
  }

  // Nobody waits for the head any more (any thread): once this returns the head function is
  // never called; an exchange that has not answered yet is ended.
  void dropHead() {
    bool answered;
    {
      std::lock_guard lock(mu_);
      answered = headGiven_;
      headFn_ = nullptr;
    }
    if (!answered) post([self = shared_from_this()] { self->fail(503, "cancelled"); });
  }

  // Starts the exchange on `ex`, the executor of the session waiting for it (called there).
  void begin(net::any_io_executor ex) {
    {
      std::lock_guard lock(mu_);
      ex_ = ex;
    }
    io_ = &static_cast<net::io_context&>(net::query(ex, net::execution::context));
    window_.emplace(io_->get_executor());
    deadline_.emplace(io_->get_executor());
    deadline_->bind(weak_from_this(), [this] {
      if (!conn_) return;
      timedOut_ = true;
      if (resolving_) {
        resolving_ = false;  // its answer, whenever it comes, is dropped
        return fail(502, up_.what + " is unreachable (looking up its address timed out)");
      }
      beast::error_code ignored;
      conn_->socket().cancel(ignored);
    });
    acquire();
  }

  // The client is ready for the body (any thread).
  void attach(std::shared_ptr<server::StreamSink> sink) {
    {
      std::lock_guard lock(mu_);
      if (detached_) return;
      sink_ = sink;
    }
    post([self = shared_from_this()] { self->flush(); });
  }

  // The client went away or the server stops (any thread). No sink call happens after this
  // returns.
  void detach() {
    {
      std::lock_guard lock(mu_);
      if (detached_) return;
      detached_ = true;
      sink_.reset();
    }
    post([self = shared_from_this()] { self->end(); });
  }

  // Closes the connection.
  void end() {
    closed_ = true;
    stopDeadline();
    if (window_) window_->cancel();
    resolving_ = false;
    if (conn_) {
      beast::error_code ec;
      conn_->socket().shutdown(Socket::shutdown_both, ec);
      conn_->socket().close(ec);
    }
  }

 private:
  // Runs `fn` on the exchange's executor; nothing when it never began.
  template <class Fn>
  void post(Fn&& fn) {
    std::optional<net::any_io_executor> ex;
    {
      std::lock_guard lock(mu_);
      ex = ex_;
    }
    if (ex) net::post(*ex, std::forward<Fn>(fn));
  }

  // A completion handler that runs on the exchange's executor.
  template <class Handler>
  auto bound(Handler&& h) {
    return net::bind_executor(io_->get_executor(), std::forward<Handler>(h));
  }

  // Bounds the next step on the connection (connect, handshake, write, read): when `d` passes
  // first, the socket's operations are cancelled and their handlers see a timeout (outcome()).
  void arm(SteadyClock::duration d) {
    timedOut_ = false;
    deadline_->arm(d);
  }

  // Between steps the deadline lapses.
  void disarm() { deadline_->disarm(); }

  // No step follows any more.
  void stopDeadline() {
    if (deadline_) deadline_->stop();
  }

  beast::error_code outcome(beast::error_code ec) const {
    if (ec == net::error::operation_aborted && timedOut_ && !closed_) return beast::error::timeout;
    return ec;
  }

  void acquire() {
    if (auto c = core_->takeIdle(*io_, up_.key)) {
      conn_ = std::move(c);
      reused_ = true;
      return send();
    }
    connect();
  }

  void connect() {
    reused_ = false;
    conn_ = std::make_unique<Conn>(*io_, up_.tls);
    arm(kConnectTimeout);
    beast::error_code ec;
    auto address = net::ip::make_address(up_.host, ec);
    if (!ec) {
      conn_->socket().async_connect(
          tcp::endpoint(address, up_.port),
          bound([self = shared_from_this()](beast::error_code e) { self->onConnect(e); }));
      return;
    }
    // A name (a peer Node's address). Only the exchange's owner keeps it alive meanwhile: a
    // lookup that never answers holds nothing.
    resolving_ = true;
    std::weak_ptr<Gateway::Core> core = core_;
    core_->resolver->lookup(
        up_.host, [core, weak = weak_from_this(), ex = *ex_](client::HostResolver::Result r) {
          if (auto c = core.lock()) {
            c->postUnlessStopped(ex, [weak, r = std::move(r)]() mutable {
              if (auto self = weak.lock()) self->onResolved(std::move(r));
            });
          }
        });
  }

  void onResolved(client::HostResolver::Result found) {
    if (!resolving_) return;  // timed out or ended meanwhile
    resolving_ = false;
    std::vector<tcp::endpoint> endpoints;
    for (const auto& a : found.addresses) {
      beast::error_code ec;
      auto address = net::ip::make_address(a, ec);
      if (!ec) endpoints.emplace_back(address, up_.port);
    }
    if (endpoints.empty()) {
      spdlog::debug("gateway: cannot look up {}: {}", up_.host, found.error);
      return fail(502, up_.what + " is unreachable (its address does not resolve)");
    }
    net::async_connect(
        conn_->socket(), endpoints,
        bound([self = shared_from_this()](beast::error_code e, const tcp::endpoint&) {
          self->onConnect(e);
        }));
  }

  void onConnect(beast::error_code ec) {
    ec = outcome(ec);
    if (ec) {
      spdlog::debug("gateway: cannot connect to {}: {}", up_.label, ec.message());
      if (closed_) return fail(503, "the gateway is stopping");
      if (up_.peer) return fail(502, up_.what + " is unreachable (" + ec.message() + ")");
      return fail(503, "the instance is not accepting connections");
    }
    beast::error_code ignored;
    conn_->socket().set_option(tcp::no_delay(true), ignored);
    if (!conn_->tls) return send();
    SSL* handle = conn_->tls->native_handle();
    // SNI never carries an IP literal (RFC 6066); the name or address check applies either way.
    X509_VERIFY_PARAM* param = SSL_get0_param(handle);
    if (isIpAddress(up_.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, up_.host.c_str());
    } else {
      SSL_set_tlsext_host_name(handle, up_.host.c_str());
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, up_.host.c_str(), 0);
    }
    arm(kConnectTimeout);
    conn_->tls->async_handshake(ssl::stream_base::client,
                                bound([self = shared_from_this()](beast::error_code e) {
                                  if (!e) return self->send();
                                  self->onHandshakeFailed(self->outcome(e));
                                }));
  }

  void onHandshakeFailed(beast::error_code ec) {
    if (closed_) return fail(503, "the gateway is stopping");
    std::string why = ec.message();
    long verify = SSL_get_verify_result(conn_->tls->native_handle());
    if (verify != X509_V_OK) {
      why =
          std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify);
    }
    spdlog::warn("gateway: TLS with {} failed: {}", up_.label, why);
    fail(502, "cannot reach " + up_.what + " securely (" + why + ")");
  }

  void send() {
    if (closed_) return;
    hp_.emplace();
    hp_->header_limit(64 << 10);
    // Not boost::none: Beast 1.74 compares `len > optional` and treats none as exceeded.
    hp_->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (req_.method() == http::verb::head) hp_->skip(true);
    arm(idleTimeout_);
    auto written = bound([self = shared_from_this()](beast::error_code ec, size_t) {
      self->onWritten(self->outcome(ec));
    });
    conn_->visit([this, &written](auto& stream) {
      if (!wire_) return http::async_write(stream, req_, std::move(written));
      net::async_write(stream, net::buffer(*wire_), std::move(written));
    });
  }

  void onWritten(beast::error_code ec) {
    if (ec) return retryOr(ec);
    arm(idleTimeout_);
    conn_->visit([this](auto& stream) {
      http::async_read_header(stream, conn_->buffer, *hp_,
                              bound([self = shared_from_this()](beast::error_code e, size_t) {
                                self->onHeader(self->outcome(e));
                              }));
    });
  }

  // A reused connection the instance had already closed fails before any byte comes back:
  // try once more on a fresh one.
  void retryOr(beast::error_code ec) {
    if (closed_) return fail(503, "the gateway is stopping");
    if (reused_ && !retried_ && !hp_->got_some() && conn_->buffer.size() == 0) {
      retried_ = true;
      beast::error_code ignored;
      conn_->socket().close(ignored);
      return connect();
    }
    spdlog::debug("gateway: {}: {}", up_.label, ec.message());
    if (ec == beast::error::timeout) return fail(504, up_.what + " did not answer in time");
    fail(502, up_.what + " closed the connection");
  }

  void onHeader(beast::error_code ec) {
    if (ec) return retryOr(ec);
    Head h;
    auto& res = hp_->get();
    h.status = static_cast<int>(res.result_int());
    for (const auto& f : res) {
      if (f.name() == http::field::content_type) {
        h.contentType = std::string(f.value());
      } else if (!droppedFromResponse(f.name(), f.name_string())) {
        h.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      }
    }
    if (h.contentType.empty()) h.contentType = "application/json";
    if (hp_->is_done()) {
      promise(std::move(h));
      return complete(hp_->keep_alive());
    }
    auto length = hp_->content_length();
    bool sse = startsWithIgnoringAsciiCase(h.contentType, "text/event-stream");
    if (!sse && length && *length <= kMaxBuffered) {
      bp_.emplace(std::move(*hp_));
      bp_->body_limit(*length);
      arm(idleTimeout_);
      conn_->visit([this, &h](auto& stream) {
        http::async_read(
            stream, conn_->buffer, *bp_,
            bound(
                [self = shared_from_this(), h = std::move(h)](beast::error_code e, size_t) mutable {
                  if (e) {
                    return self->fail(502, "the response of " + self->up_.what + " broke off");
                  }
                  h.body = std::move(self->bp_->get().body());
                  self->promise(std::move(h));
                  self->complete(self->bp_->keep_alive());
                }));
      });
      return;
    }
    sp_.emplace(std::move(*hp_));
    sp_->body_limit(std::numeric_limits<std::uint64_t>::max());
    head_ = std::move(h);
    // The body is read from now on; what arrives before the client's side is ready waits in
    // pending_. A body complete within the window is answered in one piece instead (see
    // GatewayOptions::coalesceWindow); the window opens when the first read has to wait.
    // Only a POST's stream (the answer to JSON-RPC requests) usually ends soon; a GET opens
    // the session's standing notification stream.
    windowToOpen_ = coalesceWindow_.count() > 0 && req_.method() == http::verb::post;
    if (!windowToOpen_) promiseStream();
    readSome();
  }

  void promiseStream() {
    if (promised_) return;
    head_.streaming = true;
    promise(std::move(head_));
  }

  // What the connection's buffer already holds (an answer usually comes in the same segment as
  // its head) is parsed here; a read operation would parse it too, but complete through one
  // more pass of the event loop for each chunk. Only when the buffer is used up does a read
  // wait, and only then does the coalescing window start.
  void readSome() {
    while (!closed_) {
      auto& body = sp_->get().body();
      body.data = chunk_.data();
      body.size = chunk_.size();
      if (conn_->buffer.size() == 0) break;
      beast::error_code ec;
      const size_t used = sp_->put(conn_->buffer.data(), ec);
      conn_->buffer.consume(used);
      if (ec == http::error::need_more || (used == 0 && !ec)) break;
      if (!relayed(ec)) return;
    }
    if (closed_) return;
    if (windowToOpen_) {
      windowToOpen_ = false;
      window_->expires_after(coalesceWindow_);
      window_->async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->promiseStream();
      });
    }
    arm(idleTimeout_);
    conn_->visit([this](auto& stream) {
      http::async_read_some(stream, conn_->buffer, *sp_,
                            bound([self = shared_from_this()](beast::error_code ec, size_t) {
                              if (self->relayed(self->outcome(ec))) self->readSome();
                            }));
    });
  }

  // Takes what one parse or read put into chunk_: true when the body goes on and the next read
  // follows.
  bool relayed(beast::error_code ec) {
    if (closed_) return false;
    if (ec == http::error::need_buffer) ec = {};
    size_t got = chunk_.size() - sp_->get().body().size;
    pending_.append(chunk_.data(), got);
    bool done = !ec && sp_->is_done();
    if (done && !promised_ && pending_.size() <= kMaxBuffered) {
      // Complete within the window: one plain response, and the client's connection stays.
      window_->cancel();
      head_.body = std::move(pending_);
      promise(std::move(head_));
      complete(sp_->keep_alive());
      return false;
    }
    if (ec && ec != http::error::end_of_stream) {
      spdlog::debug("gateway: stream from {} ended: {}", up_.label, ec.message());
    }
    if (ec || done) {
      window_->cancel();
      promiseStream();
      ended_ = true;
      if (flush() && done) {
        complete(sp_->keep_alive());
      } else {
        end();
      }
      return false;
    }
    if (!flush()) {
      end();
      return false;
    }
    if (pending_.size() > kMaxPending) {
      spdlog::debug("gateway: client of {} too slow, dropping the stream", up_.label);
      end();
      return false;
    }
    return true;
  }

  // Hands what arrived to the client's side once it is there, and the end of the body after
  // the last chunk. False once the client is gone.
  bool flush() {
    std::lock_guard lock(mu_);
    if (detached_) return false;
    if (!sink_) return true;
    if (!pending_.empty()) {
      if (!sink_->write(std::move(pending_))) return false;
      pending_.clear();
    }
    if (ended_ && !finished_) {
      finished_ = true;
      sink_->finish();
    }
    return true;
  }

  void promise(Head h) {
    if (promised_) return;
    promised_ = true;
    std::lock_guard lock(mu_);
    headGiven_ = true;
    if (auto fn = std::move(headFn_)) {
      headFn_ = nullptr;
      fn(std::move(h));
    }
  }

  void fail(int code, const std::string& message) {
    Head h;
    h.status = code;
    h.error = message;
    promise(std::move(h));
    ended_ = true;
    flush();
    end();
  }

  // The response is complete: keep the connection for the next request when it can be.
  void complete(bool keepAlive) {
    disarm();
    if (!closed_ && keepAlive && conn_->buffer.size() == 0) {
      core_->keepIdle(up_.key, std::move(conn_));
    }
    end();
  }

  std::shared_ptr<Gateway::Core> core_;
  Upstream up_;
  http::request<http::string_body> req_;
  // req_ as one string (wire_message.h); nullopt: chunked or large, written by the serializer
  const std::optional<std::string> wire_;
  std::chrono::milliseconds idleTimeout_;
  std::chrono::milliseconds coalesceWindow_;
  std::optional<net::any_io_executor> ex_;  // set once by begin(), under mu_
  net::io_context* io_ = nullptr;           // ex_'s context, set by begin(); its thread only
  bool resolving_ = false;                  // a peer's name is being looked up
  std::unique_ptr<Conn> conn_;
  std::optional<server::Deadline<Executor>> deadline_;
  bool timedOut_ = false;
  bool reused_ = false;
  bool retried_ = false;
  bool closed_ = false;
  bool promised_ = false;
  std::optional<http::response_parser<http::empty_body>> hp_;
  std::optional<http::response_parser<http::string_body>> bp_;
  std::optional<http::response_parser<http::buffer_body>> sp_;
  std::array<char, kChunkSize> chunk_;
  Head head_;            // a streamed response's head, until promised
  std::string pending_;  // body bytes not yet handed to the sink
  bool ended_ = false;   // the upstream body is complete (or broke off)
  std::optional<Timer> window_;
  bool windowToOpen_ = false;  // the coalescing window starts at the body's first waiting read

  std::mutex mu_;  // guards ex_, the head function and the sink side, shared with other threads
  std::function<void(Head)> headFn_;
  bool headGiven_ = false;
  std::shared_ptr<server::StreamSink> sink_;
  bool detached_ = false;
  bool finished_ = false;
};

// The server's view of a relayed body.
class RelayStream : public server::Stream {
 public:
  explicit RelayStream(std::shared_ptr<Exchange> ex) : ex_(std::move(ex)) {}
  ~RelayStream() override { ex_->detach(); }
  void start(std::shared_ptr<server::StreamSink> sink) override { ex_->attach(std::move(sink)); }
  void stop() override { ex_->detach(); }

 private:
  std::shared_ptr<Exchange> ex_;
};

// The next hop's request: the caller's method, body and (filtered by the caller) headers.
http::request<http::string_body> nextHop(const Request& req, const std::string& target) {
  http::request<http::string_body> up;
  auto verb = http::string_to_verb(req.method);
  if (verb == http::verb::unknown) {
    up.method_string(req.method);
  } else {
    up.method(verb);
  }
  up.target(target);
  up.version(11);
  up.keep_alive(true);
  up.body() = req.body;
  if (!req.body.empty() || verb == http::verb::post || verb == http::verb::put) {
    up.prepare_payload();
  }
  return up;
}

// What the caller gets for the head of an exchange, before hardened().
Response answerOf(Head h, const std::shared_ptr<Exchange>& ex, const std::string& subject) {
  // A refusal names the caller's JSON-RPC id: the request body the exchange sent.
  Request req;
  if (h.status >= 400 && ex) req.body = ex->requestBody();
  if (!h.error.empty()) {
    if (h.status == 503) return unavailable(req, subject + ": " + h.error);
    std::string reason = h.status == 504 ? "Timeout" : "InternalError";
    return refuse(req, ApiError(h.status, reason, subject + ": " + h.error));
  }
  if (h.status >= 400 && !h.streaming &&
      (!isJson(h.contentType) || h.body.find("\"jsonrpc\"") == std::string::npos)) {
    // The instance's own refusal in a shape MCP clients cannot read (a page, or JSON that is
    // not JSON-RPC, as for a path it does not serve): the same status with a JSON-RPC body.
    auto r =
        refuse(req, ApiError(h.status, "", subject + " answered HTTP " + std::to_string(h.status)));
    for (auto& [k, v] : h.headers) {
      if (!equalsIgnoringAsciiCase(k, "content-type"))
        r.headers.emplace_back(std::move(k), std::move(v));
    }
    return r;
  }
  Response r;
  r.status = h.status;
  r.contentType = std::move(h.contentType);
  r.headers = std::move(h.headers);
  if (h.streaming) {
    r.stream = std::make_shared<RelayStream>(ex);
  } else {
    r.body = std::move(h.body);
  }
  return r;
}

// A tenant's server answers on mcpd's own origin, which the web view at /ui/ shares: nothing it
// sends may run or be sniffed as a page there, whatever it says itself about these two headers.
Response hardened(Response r) {
  std::erase_if(r.headers, [](const auto& h) {
    return equalsIgnoringAsciiCase(h.first, "content-security-policy") ||
           equalsIgnoringAsciiCase(h.first, "x-content-type-options");
  });
  r.headers.emplace_back("Content-Security-Policy", "sandbox");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

// What the caller gets for the head of an exchange. `subject` names the instance in messages.
Response toResponse(Head h, const std::shared_ptr<Exchange>& ex, const std::string& subject) {
  return hardened(answerOf(std::move(h), ex, subject));
}

// The answer to a proxied request, given by the I/O thread when the head arrives: no server
// thread waits for an instance.
class ProxiedAnswer : public server::Deferred {
 public:
  ProxiedAnswer(std::shared_ptr<Gateway::Core> core, std::shared_ptr<Exchange> ex,
                std::string subject)
      : core_(std::move(core)), ex_(std::move(ex)), subject_(std::move(subject)) {}

  void start(std::function<void(Response)> answer, const server::IoExecutor& io) override {
    std::weak_ptr<Exchange> weak = ex_;
    ex_->onHead([weak, subject = subject_, answer](Head h) {
      // Called by the exchange itself, which is therefore alive.
      answer(toResponse(std::move(h), weak.lock(), subject));
    });
    if (core_->stopping()) {
      ex_->dropHead();
      Request req;
      req.body = ex_->requestBody();
      answer(unavailable(req, "the gateway is stopping"));
      return;
    }
    ex_->begin(io.executor);
  }
  void stop() override { ex_->dropHead(); }

 private:
  std::shared_ptr<Gateway::Core> core_;
  std::shared_ptr<Exchange> ex_;
  std::string subject_;
};

Response relay(const std::shared_ptr<Gateway::Core>& core, std::shared_ptr<Exchange> ex,
               const std::string& subject) {
  Response r;
  r.deferred = std::make_shared<ProxiedAnswer>(core, std::move(ex), subject);
  return r;
}

// The answer to a request held while its instance wakes: when the controller says the process
// serves, `proceed` gives the proxied answer (another deferred one, started here on the same
// executor); a failed start or `timeout` answers 503 with Retry-After. No thread waits, nothing
// polls: the controller's serving hook or the timer moves it on.
class WakeAnswer : public server::Deferred {
 public:
  using Proceed = std::function<Response()>;
  WakeAnswer(const LocalUpstreams& upstreams, std::string key, std::chrono::milliseconds timeout,
             Request req, std::string subject, Proceed proceed)
      : state_(std::make_shared<State>()) {
    state_->upstreams = &upstreams;
    state_->key = std::move(key);
    state_->timeout = timeout;
    state_->req = std::move(req);
    state_->subject = std::move(subject);
    state_->proceed = std::move(proceed);
  }

  void start(std::function<void(Response)> answer, const server::IoExecutor& io) override {
    auto st = state_;
    {
      std::lock_guard lock(st->mu);
      if (st->done) return;
      st->answer = std::move(answer);
      st->ex = io.executor;
      st->timer.emplace(io.executor);
      st->timer->expires_after(st->timeout);
      st->timer->async_wait([st](beast::error_code ec) {
        if (!ec) st->timedOut();
      });
    }
    // The controller keeps the callback until the start ends, possibly past the gateway's
    // io_context (mcpd stopping): it must not own the state, whose timer lives on that context.
    const bool asked =
        st->upstreams->wake(st->key, [weak = std::weak_ptr<State>(st)](const std::string& error) {
          if (auto st = weak.lock()) net::post(st->ex, [st, error] { st->woken(error); });
        });
    if (!asked) {
      net::post(st->ex, [st] { st->woken("no controller runs on this node"); });
    }
  }

  void stop() override {
    std::shared_ptr<server::Deferred> inner;
    {
      std::lock_guard lock(state_->mu);
      state_->done = true;
      state_->answer = nullptr;
      inner = state_->inner;
      if (state_->timer) {
        net::post(state_->ex, [st = state_] {
          if (st->timer) st->timer->cancel();
        });
      }
    }
    if (inner) inner->stop();
  }

 private:
  struct State {
    const LocalUpstreams* upstreams = nullptr;
    std::string key;
    std::chrono::milliseconds timeout{0};
    Request req;
    std::string subject;
    Proceed proceed;
    std::mutex mu;
    bool done = false;
    std::function<void(Response)> answer;
    net::any_io_executor ex;
    std::optional<net::steady_timer> timer;  // used on `ex` only
    std::shared_ptr<server::Deferred> inner;

    // On `ex`.
    void woken(const std::string& error) {
      std::lock_guard lock(mu);
      if (done) return;
      done = true;
      if (timer) timer->cancel();
      if (!error.empty()) {
        answer(unavailable(req, subject + " could not be woken: " + error));
        return;
      }
      Response r = proceed();
      if (!r.deferred) {
        answer(std::move(r));
        return;
      }
      inner = r.deferred;
      inner->start(std::move(answer), server::IoExecutor{ex});
    }
    // On `ex`.
    void timedOut() {
      {
        std::lock_guard lock(mu);
        if (done) return;
        done = true;
        answer(unavailable(req, subject + " is waking up and did not become ready within " +
                                    std::to_string(timeout.count()) + " ms"));
      }
      upstreams->wakeTimedOut(key);
    }
  };
  std::shared_ptr<State> state_;
};

}  // namespace

std::optional<server::Identity> Gateway::authenticate(const std::string& token,
                                                      const std::string& ns,
                                                      const std::string& name) const {
  std::vector<std::string> resources;
  for (const auto& base : resourceUrls_.bases()) {
    resources.push_back(ResourceUrls::resource(base, ns, name));
  }
  return auth_.authenticate(token, resources);
}

Gateway::Gateway(store::Store& store, const server::Authenticator& auth,
                 const crypto::InstanceTokens& tokens, const LocalUpstreams& upstreams,
                 GatewayOptions options)
    : store_(store),
      auth_(auth),
      tokens_(tokens),
      upstreams_(upstreams),
      options_(std::move(options)),
      resourceUrls_(options_.publicUrls),
      index_(store),
      core_(std::make_shared<Core>(options_.resolver)),
      metrics_(options_.metrics ? std::make_unique<GatewayMetrics>(*options_.metrics, store)
                                : nullptr) {}

// Exchanges still in progress finish on the server's threads (they hold the Core, never the
// Gateway); none returns its connection to the pool any more.
Gateway::~Gateway() { core_->stop(); }

server::RouteHandler Gateway::handler() {
  return [this](const Request& req, const server::Identity*) { return handle(req); };
}

Response Gateway::handle(const Request& req) {
  const auto start = std::chrono::steady_clock::now();
  AdmittedInstance admitted;
  Response r;
  try {
    r = serve(req, admitted);
  } catch (const ApiError& e) {
    r = refuse(req, e);
  } catch (const store::StoreError& e) {
    r = refuse(req, ApiError::ServiceUnavailable(e.what()));
  } catch (const std::exception& e) {
    spdlog::error("gateway: {} {}: {}", req.method, req.path, e.what());
    r = refuse(req, ApiError::Internal(e.what()));
  }
  if (metrics_) r = metrics_->observe(req, admitted, start, std::move(r));
  return r;
}

Response Gateway::unauthorized(const Request& req, const std::string& ns, const std::string& name,
                               const std::string& message, bool tokenGiven) const {
  auto r = refuse(req, ApiError::Unauthorized(message));
  std::string metadata;
  if (!options_.authorizationServer.empty() && model::isDns1123Label(ns) &&
      model::isDns1123Label(name)) {
    if (auto base = resourceUrls_.base(req.header("host")); !base.empty()) {
      metadata = ResourceUrls::metadataUrl(base, ns, name);
    }
  }
  // RFC 6750 §3.1: a request that carried no token gets no error code.
  r.headers.emplace_back("WWW-Authenticate",
                         bearerChallenge(tokenGiven ? "invalid_token" : "", message, metadata));
  return r;
}

Response Gateway::discovery(const Request& req) const {
  auto notFound = [] {
    return Response::json(
        404,
        ApiError(404, "NotFound", "the server could not find the requested resource").toStatus());
  };
  // /.well-known/oauth-protected-resource/mcp/{ns}/{name}: the same answer for every name that
  // could exist, whether or not it does, so nobody learns which instances exist from it.
  const std::string prefix = std::string(kProtectedResourceWellKnown) + "/mcp/";
  if (options_.authorizationServer.empty() || !req.path.starts_with(prefix)) return notFound();
  const std::string rest = req.path.substr(prefix.size());
  const auto slash = rest.find('/');
  if (slash == std::string::npos) return notFound();
  const std::string ns = rest.substr(0, slash), name = rest.substr(slash + 1);
  if (!model::isDns1123Label(ns) || !model::isDns1123Label(name)) return notFound();
  const std::string base = resourceUrls_.base(req.header("host"));
  if (base.empty()) return notFound();
  if (req.method != "GET" && req.method != "HEAD") {
    auto r = Response::json(405, ApiError::MethodNotAllowed("only GET is served here").toStatus());
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  auto r = Response::json(200, protectedResourceMetadata(ResourceUrls::resource(base, ns, name),
                                                         options_.authorizationServer));
  // Public metadata: browser-based MCP clients read it from their own origin.
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  return r;
}

Response Gateway::serve(const Request& req, AdmittedInstance& admitted) {
  if (std::string why = server::unsafePathReason(req.target); !why.empty()) {
    return refuse(req, ApiError::BadRequest("the request path must not contain " + why));
  }
  auto route = parseRoute(req.target);
  if (!route) {
    return refuse(req, ApiError(404, "NotFound", "expected /mcp/{namespace}/{name}"));
  }
  const auto& [ns, name, upstreamTarget] = *route;

  // Before anything else: a page on another site must learn nothing, not even 401 vs 404.
  std::string origin = req.header("origin");
  if (!origin.empty() && !originAllowed(origin, options_.allowedOrigins)) {
    return refuse(req, ApiError::Forbidden("origin " + origin.substr(0, 200) + " is not allowed"));
  }
  std::string token = server::bearerToken(req.header("authorization"));
  if (token.empty()) return unauthorized(req, ns, name, "a bearer token is required", false);
  if (req.body.size() > options_.maxBody) {
    return refuse(req,
                  ApiError::RequestEntityTooLarge("request body too large (limit " +
                                                  std::to_string(options_.maxBody) + " bytes)"));
  }

  // From memory, kept current by the store's change feed: no store read per request.
  const auto inst = index_.get(ns, name);
  bool instanceToken = token.starts_with(crypto::kInstanceTokenPrefix);
  std::optional<server::Identity> who;
  if (!instanceToken) {
    who = authenticate(token, ns, name);
    // Neither an API token nor an instance token: the caller is not authenticated at all.
    // The answer must not depend on whether the instance exists.
    if (!who) return unauthorized(req, ns, name, "invalid bearer token", true);
  } else if (inst && !inst->uid.empty() &&
             constantTimeEquals(core_->instanceToken(tokens_, inst->uid, inst->tokenGeneration),
                                token)) {
    who = server::Identity{server::Identity::Role::Instance, ns, name};
  } else {
    // An instance token that does not open this instance (another's, a revoked generation, a
    // made-up one) is not valid here, exists the instance or not: the same 401, so a client
    // stops instead of taking the instance for gone.
    return unauthorized(req, ns, name, "invalid bearer token", true);
  }
  auto decision = authz_.authorize(*who, {server::kConnectVerb, kResource, "", ns, name});
  if (decision.effect == server::Decision::Effect::Hide) return notFound(req, ns, name);
  if (!decision.allowed()) return refuse(req, ApiError::Forbidden(decision.reason));
  if (!inst) return notFound(req, ns, name);
  admitted = {ns, name};
  std::string subject = "mcpinstance " + ns + "/" + name;
  const std::string key = ns + "/" + name;
  auto notReady = [&] {
    return unavailable(req, subject + " is not ready (phase " +
                                (inst->phase.empty() ? "Pending" : inst->phase) + ")");
  };
  // Asleep, or starting because a request woke it: held until it serves, not refused.
  const bool waking = inst->phase == model::phase::kIdle ||
                      (inst->phase == model::phase::kStarting && inst->lastWake &&
                       SystemClock::instance().now() - *inst->lastWake < options_.wakeTimeout);
  if (!inst->ready && !waking) return notReady();

  // Decided on this node, so a refusal never costs a hop and a peer never sees a bad token.
  const std::string& host = inst->node;
  if (!options_.node.empty() && !host.empty() && host != options_.node) {
    if (!req.header(asciiLower(kForwardedByHeader)).empty()) {
      return unavailable(req,
                         subject + " runs on node " + host + ", not here on node " + options_.node +
                             " (placement changed while forwarding)",
                         kRetryAfterPlacement);
    }
    return forward(req, subject, host);
  }
  if (!inst->ready) return holdForWake(req, *inst, key, upstreamTarget, subject);

  // This node's controller knows where its process listens; status.port is only a report.
  if (auto r = proxyLocal(req, *inst, key, upstreamTarget, subject)) return std::move(*r);
  // Put to sleep a moment ago (the status does not say so yet): wake it again.
  if (upstreams_.sleeping(key)) return holdForWake(req, *inst, key, upstreamTarget, subject);
  return notReady();
}

Response Gateway::holdForWake(const Request& req, const InstanceView& inst, const std::string& key,
                              const std::string& upstreamTarget, const std::string& subject) {
  spdlog::debug("gateway: {} sleeps: holding {} {} while it wakes", subject, req.method, req.path);
  Response r;
  r.deferred = std::make_shared<WakeAnswer>(
      upstreams_, key, options_.wakeTimeout, req, subject,
      [this, req, inst, key, upstreamTarget, subject]() -> Response {
        if (auto proxied = proxyLocal(req, inst, key, upstreamTarget, subject)) {
          return std::move(*proxied);
        }
        return unavailable(req, subject + " woke but serves no more");
      });
  return r;
}

std::optional<Response> Gateway::proxyLocal(const Request& req, const InstanceView& inst,
                                            const std::string& key,
                                            const std::string& upstreamTarget,
                                            const std::string& subject) {
  auto lease = upstreams_.acquire(key);
  if (!lease) return std::nullopt;
  const std::optional<uint16_t> port = lease->port;
  auto up = nextHop(req, upstreamTarget);
  for (const auto& [k, v] : req.headers) {
    // The instance trusts the gateway's Origin check; its own would refuse configured origins.
    if (hopByHop(k) || k == "authorization" || k == "origin") continue;
    up.insert(k, v);
  }
  up.set(http::field::host, "127.0.0.1:" + std::to_string(*port));
  up.set(http::field::authorization,
         "Bearer " + core_->instanceToken(tokens_, inst.uid, inst.tokenGeneration));

  Upstream local;
  local.key = "127.0.0.1:" + std::to_string(*port);
  local.host = "127.0.0.1";
  local.port = *port;
  local.what = "the instance";
  local.label = local.key;
  local.lease = std::move(lease->hold);
  auto ex = std::make_shared<Exchange>(core_, std::move(local), std::move(up), options_);
  return relay(core_, std::move(ex), subject);
}

Response Gateway::forward(const Request& req, const std::string& subject,
                          const std::string& nodeName) {
  std::string where = subject + " runs on node " + nodeName;
  auto node = store_.get(kNodes, "", nodeName);
  if (!node) return unavailable(req, where + ", which is not registered", kRetryAfterPlacement);
  std::string phase = model::stringField(model::objectField(*node, "status"), "phase");
  if (phase != "Ready") {
    return unavailable(req, where + ", which is " + (phase.empty() ? "not ready" : phase),
                       kRetryAfterPlacement);
  }
  std::string address = model::stringField(model::objectField(*node, "spec"), "address");
  auto peer = parseAddress(address);
  if (!peer) return badGateway(req, where + ", whose address \"" + address + "\" is not a URL");

  Upstream up;
  up.host = peer->host;
  up.port = peer->port;
  up.peer = true;
  up.what = "node " + nodeName;
  up.label = "node " + nodeName + " (" + address + ")";
  up.key = "peer " + address;
  if (peer->tls) {
    std::string caBundle = model::stringField(model::objectField(*node, "spec"), "caBundle");
    std::string error;
    up.tls = core_->clientContext(caBundle, error);
    if (!up.tls) return badGateway(req, where + ", whose caBundle is unusable (" + error + ")");
    // A connection verified against another CA is never reused for this one.
    up.key += " ca " + std::to_string(std::hash<std::string>{}(caBundle));
  }

  // Unchanged, the caller's token included: the peer authorises again by itself.
  auto out = nextHop(req, peer->prefix + req.target);
  for (const auto& [k, v] : req.headers) {
    if (!hopByHop(k)) out.insert(k, v);
  }
  out.set(http::field::host, peer->authority);
  out.set(kForwardedByHeader, options_.node);
  spdlog::debug("gateway: forwarding {} {} to {}", req.method, subject, up.label);
  auto ex = std::make_shared<Exchange>(core_, std::move(up), std::move(out), options_);
  return relay(core_, std::move(ex), subject);
}

}  // namespace minimcp::gateway
