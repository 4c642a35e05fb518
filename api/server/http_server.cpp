#include "api/server/http_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/server/http_session.h"
#include "api/server/tls.h"
#include "api/util/api_error.h"
#include "api/util/ascii.h"

namespace minimcp::server {

using namespace detail;

namespace detail {

bool ServerShared::registerStream(const std::shared_ptr<Stream>& s,
                                  std::shared_ptr<StreamSink> sink) {
  std::lock_guard lock(mu);
  if (stopping) return false;
  streams.emplace(s, std::move(sink));
  return true;
}

void ServerShared::unregisterStream(const std::shared_ptr<Stream>& s) {
  std::lock_guard lock(mu);
  streams.erase(s);
  if (streams.empty()) streamsGone.notify_all();
}

bool ServerShared::registerDeferred(const std::shared_ptr<Deferred>& d) {
  std::lock_guard lock(mu);
  if (stopping) return false;
  deferred.insert(d);
  return true;
}

void ServerShared::unregisterDeferred(const std::shared_ptr<Deferred>& d) {
  std::lock_guard lock(mu);
  deferred.erase(d);
}

void ServerShared::finishAllStreams(std::chrono::milliseconds grace) {
  std::vector<std::pair<std::shared_ptr<Stream>, std::shared_ptr<StreamSink>>> all;
  {
    std::lock_guard lock(mu);
    stopping = true;
    all.assign(streams.begin(), streams.end());
  }
  // Once stop() returns a producer writes nothing more, so the last chunk comes after every
  // chunk it wrote (the sink posts both to the session's event loop, in order).
  for (auto& [stream, sink] : all) {
    stream->stop();
    if (sink) sink->finish();
  }
  std::unique_lock lock(mu);
  streamsGone.wait_for(lock, grace, [this] { return streams.empty(); });
}

void ServerShared::stopAllStreams() {
  std::map<std::shared_ptr<Stream>, std::shared_ptr<StreamSink>> all;
  std::set<std::shared_ptr<Deferred>> waiting;
  {
    std::lock_guard lock(mu);
    stopping = true;
    all.swap(streams);
    waiting.swap(deferred);
  }
  for (auto& [stream, sink] : all) stream->stop();
  // Each holds its session through the answer it was given: dropping that frees the session.
  for (const auto& d : waiting) d->stop();
}

Request toRequest(http::request<http::string_body>&& req) {
  Request r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  parseTarget(r.target, r.path, r.query);
  const auto count = static_cast<size_t>(std::distance(req.begin(), req.end()));
  // Never reallocated below: `index` points into the names.
  r.headers.reserve(count);
  // A repeated name is found by a scan of the few headers a request has; a head of thousands
  // (64 KiB of "a1:" lines) would make that quadratic, so many headers get an index.
  constexpr size_t kScanned = 32;
  std::unordered_map<std::string_view, size_t> index;
  for (auto& f : req) {
    const auto rawName = f.name_string();
    std::string name = asciiLower({rawName.data(), rawName.size()});
    size_t at = r.headers.size();
    if (count > kScanned) {
      if (auto it = index.find(name); it != index.end()) at = it->second;
    } else {
      at = static_cast<size_t>(std::find_if(r.headers.begin(), r.headers.end(),
                                            [&](const auto& h) { return h.first == name; }) -
                               r.headers.begin());
    }
    if (at < r.headers.size()) {
      r.headers[at].second.append(", ").append(f.value().data(), f.value().size());
      continue;
    }
    r.headers.emplace_back(std::move(name), std::string(f.value()));
    if (count > kScanned) index.emplace(r.headers.back().first, at);
  }
  r.body = std::move(req.body());
  return r;
}

http::response<http::string_body> statusResponse(int code, const std::string& message,
                                                 unsigned version) {
  std::string reason = code == 400   ? "BadRequest"
                       : code == 413 ? "RequestEntityTooLarge"
                       : code == 431 ? "RequestHeaderFieldsTooLarge"
                       : code == 503 ? "ServiceUnavailable"
                                     : "InternalError";
  ApiError err(code, reason, message);
  http::response<http::string_body> res;
  fillResponse(res, Response::json(code, err.toStatus()), version, false);
  return res;
}

void fillResponse(http::response<http::string_body>& res, Response&& r, unsigned version,
                  bool keepAlive) {
  res.version(version);
  res.result(static_cast<unsigned>(r.status));
  res.set(http::field::server, "minimcp");
  res.set(http::field::content_type, r.contentType);
  for (auto& [k, v] : r.headers) res.insert(k, v);
  res.body() = std::move(r.body);
  res.keep_alive(keepAlive);
  res.prepare_payload();
}

}  // namespace detail

struct HttpServer::Impl {
  // One io_context per thread, each run by that thread alone, and every connection on one of
  // them (in turn): a request, its TLS, its handler and the gateway's exchange with the
  // instance stay on one thread. Why: with one io_context shared by the threads, handing work
  // between them (wake-ups, contended locks, context switches) was a fifth of the gateway's
  // CPU per call (perf, tools/bench/gateway.sh). No strands: a context run by one thread
  // already runs one handler at a time, and a strand on top of it cost each completion a second
  // pass through the event loop (12 % of the gateway's instructions per call,
  // tools/bench/gateway_profile.sh).
  explicit Impl(int threads) : iocs(eventLoops(threads)) {
    for (auto& ioc : iocs) busy.push_back(net::make_work_guard(*ioc));
  }
  static std::vector<std::unique_ptr<net::io_context>> eventLoops(int n) {
    std::vector<std::unique_ptr<net::io_context>> loops;
    for (int i = 0; i < std::max(1, n); ++i) loops.push_back(std::make_unique<net::io_context>(1));
    return loops;
  }
  std::vector<std::unique_ptr<net::io_context>> iocs;
  // Keeps run() of a context without connections from returning (stop() stops them).
  std::vector<net::executor_work_guard<net::io_context::executor_type>> busy;
  size_t nextIoc = 0;  // the io_context the next connection goes to (the acceptor's thread only)
  std::optional<ssl::context> tlsCtx;
  tcp::acceptor acceptor{*iocs.front()};
  std::shared_ptr<ServerShared> shared = std::make_shared<ServerShared>();
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool started = false;

  net::steady_timer acceptRetry{*iocs.front()};

  // Connections over the cap are still answered (503, after their request head) up to this
  // many more; beyond that they are closed at once.
  static constexpr size_t kRefusedBacklog = 64;

  void accept() {
    auto& ioc = *iocs[nextIoc++ % iocs.size()];
    acceptor.async_accept(ioc, [this](beast::error_code ec, Socket s) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        // Out of file descriptors (or another transient failure): pause rather than spin.
        spdlog::warn("accept: {}", ec.message());
        acceptRetry.expires_after(std::chrono::milliseconds(100));
        acceptRetry.async_wait([this](beast::error_code e) {
          if (!e && acceptor.is_open()) accept();
        });
        return;
      }
      const size_t open = ++shared->connections;
      const size_t cap = shared->options.maxConnections;
      if (open > cap + kRefusedBacklog) {
        --shared->connections;
        beast::error_code ignored;
        s.close(ignored);
      } else {
        beast::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        if (tlsCtx) {
          startTlsSession(std::move(s), *tlsCtx, shared, open > cap);
        } else {
          startPlainSession(std::move(s), shared, open > cap);
        }
      }
      accept();
    });
  }
};

HttpServer::HttpServer(HttpServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(options.threads)) {
  impl_->shared->options = std::move(options);
  impl_->shared->handler = std::move(handler);
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  auto& o = impl_->shared->options;
  if (o.tls) {
    impl_->tlsCtx.emplace(ssl::context::tls_server);
    auto& ctx = *impl_->tlsCtx;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                    ssl::context::single_dh_use);
    applyTlsPolicy(ctx.native_handle());
    beast::error_code ec;
    ctx.use_certificate_chain_file(o.certFile, ec);
    if (ec)
      throw std::runtime_error("cannot load TLS certificate " + o.certFile + ": " + ec.message());
    ctx.use_private_key_file(o.keyFile, ssl::context::pem, ec);
    if (ec) throw std::runtime_error("cannot load TLS key " + o.keyFile + ": " + ec.message());
  }
  beast::error_code ec;
  auto address = net::ip::make_address(o.host == "localhost" ? "127.0.0.1" : o.host, ec);
  if (ec) throw std::runtime_error("bad listen address '" + o.host + "': " + ec.message());
  tcp::endpoint ep(address, o.port);
  auto& acc = impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
                             ec.message());
  }
  impl_->port = acc.local_endpoint().port();
  impl_->accept();
  for (auto& ioc : impl_->iocs) {
    impl_->threads.emplace_back([impl = impl_, ioc = ioc.get()] { ioc->run(); });
  }
  impl_->started = true;
}

void HttpServer::stop() {
  if (!impl_->started) return;
  impl_->started = false;
  net::post(*impl_->iocs.front(), [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->acceptRetry.cancel();
  });
  // Producers (watch threads) stop before the io_context does, so none posts into a dead one,
  // and every streamed body (watch, log follow, gateway) ends with its last chunk: a client
  // sees a complete response, then the connection close.
  impl_->shared->finishAllStreams(impl_->shared->options.shutdownGrace);
  for (auto& ioc : impl_->iocs) ioc->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->shared->stopAllStreams();
}

uint16_t HttpServer::port() const { return impl_->port; }

}  // namespace minimcp::server
