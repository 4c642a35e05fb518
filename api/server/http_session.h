// Private to the HTTP server's .cpp files: the Beast session template, instantiated once for
// plain TCP (session_plain.cpp) and once for TLS (session_tls.cpp) so the two compile in
// parallel. Never include this from a header others use.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility> (C++20),
// so <utility> must come first.
// clang-format off
#include <utility>
// clang-format on

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "api/server/deadline.h"
#include "api/server/http_server.h"
#include "api/server/io_executor.h"
#include "api/server/wire_message.h"

namespace minimcp::server::detail {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

// Sessions name their event loop's executor type, not any_io_executor: every operation of
// Beast's and Asio's (each read, write, timer and TLS step) copies, compares and dispatches
// through its stream's executor, which behind the type-erased any_io_executor is a call
// through a table each time (callgrind, tools/bench/gateway_profile.sh).
using Executor = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, Executor>;
// The socket itself, not beast::basic_stream: sessions keep their deadlines themselves
// (Deadline), and basic_stream's timeout and rate-limit layer cost every read and write a
// shared state copy and a composed operation of its own (callgrind,
// tools/bench/gateway_profile.sh).
using TlsStream = beast::ssl_stream<Socket>;

// What every session shares with the server: options, the handler, and the live streams (so
// stop() can end them before the io_context goes away).
struct ServerShared {
  HttpServerOptions options;
  Handler handler;
  std::mutex mu;
  std::condition_variable streamsGone;  // signalled when the last stream unregisters
  // Each live stream with the sink of its session, to end its body on shutdown.
  std::map<std::shared_ptr<Stream>, std::shared_ptr<StreamSink>> streams;
  std::set<std::shared_ptr<Deferred>> deferred;  // answers being waited for
  std::atomic<bool> stopping{false};             // set under mu; read anywhere
  std::atomic<size_t> connections{0};            // open sessions, those being refused included

  // False when the server is stopping (the caller must end the stream itself).
  bool registerStream(const std::shared_ptr<Stream>& s, std::shared_ptr<StreamSink> sink);
  void unregisterStream(const std::shared_ptr<Stream>& s);
  // False when the server is stopping (the caller answers by itself).
  bool registerDeferred(const std::shared_ptr<Deferred>& d);
  void unregisterDeferred(const std::shared_ptr<Deferred>& d);
  // Refuses new streams and deferred answers, stops every producer and ends each body with its last
  // chunk, then waits up to `grace` for the sessions to have written it (a client that reads
  // nothing is not waited for longer).
  void finishAllStreams(std::chrono::milliseconds grace);
  void stopAllStreams();
};

Request toRequest(http::request<http::string_body>&& req);
// A response with a Status body, for errors the server answers before any handler runs.
http::response<http::string_body> statusResponse(int code, const std::string& message,
                                                 unsigned version);
void fillResponse(http::response<http::string_body>& res, Response&& r, unsigned version,
                  bool keepAlive);

// `overCapacity`: the connection is one too many; it is answered 503 after its request head.
// The session gives its slot in ServerShared::connections back when it ends.
void startPlainSession(Socket socket, std::shared_ptr<ServerShared> shared, bool overCapacity);
void startTlsSession(Socket socket, ssl::context& ctx, std::shared_ptr<ServerShared> shared,
                     bool overCapacity);

// Chunks from a producer thread reach the session through its event loop; the session holds the
// only strong reference to itself, so a producer never keeps a closed connection alive.
class Sink : public StreamSink {
 public:
  Sink(net::any_io_executor ex, std::function<void(std::string)> push, std::function<void()> finish)
      : ex_(std::move(ex)), push_(std::move(push)), finish_(std::move(finish)) {}
  bool write(std::string chunk) override {
    if (closed_) return false;
    net::post(ex_, [push = push_, c = std::move(chunk)]() mutable { push(std::move(c)); });
    return true;
  }
  void finish() override {
    if (closed_.exchange(true)) return;
    net::post(ex_, finish_);
  }
  void markClosed() { closed_ = true; }

 private:
  net::any_io_executor ex_;
  std::function<void(std::string)> push_;
  std::function<void()> finish_;
  std::atomic<bool> closed_{false};
};

template <class AsyncStream>
class Session : public std::enable_shared_from_this<Session<AsyncStream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<AsyncStream, Socket>;
  static constexpr size_t kMaxQueuedBytes = 8 << 20;  // a watcher this far behind is dropped

  Session(AsyncStream&& s, std::shared_ptr<ServerShared> shared, bool overCapacity)
      : stream_(std::move(s)),
        shared_(std::move(shared)),
        overCapacity_(overCapacity),
        idleTimer_(stream_.get_executor()),
        deadline_(stream_.get_executor()) {}

  ~Session() {
    releaseDeferred();
    stopProducer();
    --shared_->connections;
  }

  void run() {
    auto self = this->shared_from_this();
    // A step that overruns its deadline ends as Beast's own timeouts end one: the socket is
    // closed, so the pending operation fails and the session closes.
    deadline_.bind(self, [this] {
      beast::error_code ignored;
      socket().close(ignored);
    });
    net::dispatch(stream_.get_executor(), [self] {
      if constexpr (kTls) {
        self->deadline_.arm(self->shared_->options.headerTimeout);
        self->stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) return;  // scanners, wrong protocol, untrusted CA on the client side
          self->readHeader();
        });
      } else {
        self->readHeader();
      }
    });
  }

 private:
  Socket& socket() { return beast::get_lowest_layer(stream_); }

  // Between requests a keep-alive connection may stay idle; the clock of the next request head
  // starts with its first byte.
  void readHeader() {
    if (buffer_.size() != 0 || firstRequest_) return readHead();
    deadline_.arm(shared_->options.idleTimeout);
    stream_.async_read_some(buffer_.prepare(kProbeBytes),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->close();
                              self->buffer_.commit(n);
                              self->readHead();
                            });
  }

  void readHead() {
    headerParser_.emplace();
    headerParser_->header_limit(static_cast<std::uint32_t>(shared_->options.headerLimit));
    // Not boost::none: Beast 1.74 compares `len > optional` and treats none as exceeded.
    // The real limit is set on the body parser once the header is known.
    headerParser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    deadline_.arm(shared_->options.headerTimeout);
    http::async_read_header(
        stream_, buffer_, *headerParser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->onHeader(ec); });
  }

  // The target of the request line at the front of the unparsed input ("METHOD SP TARGET SP"),
  // when it is an origin-form path of printable characters; "" otherwise.
  std::string requestLineTarget() const {
    constexpr size_t kMaxLine = 8 << 10;
    auto data = buffer_.data();
    std::string_view in(static_cast<const char*>(data.data()), std::min(data.size(), kMaxLine));
    in = in.substr(0, in.find("\r\n"));
    const size_t sp = in.find(' ');
    if (sp == std::string_view::npos) return "";
    std::string_view target = in.substr(sp + 1);
    const size_t end = target.find(' ');
    if (end == std::string_view::npos) return "";
    target = target.substr(0, end);
    if (target.empty() || target.front() != '/') return "";
    for (unsigned char c : target) {
      if (c <= 0x20 || c >= 0x7f) return "";
    }
    return std::string(target);
  }

  // Beast's parse errors (bad method, target, field...) as opposed to a client that went away.
  static bool malformed(const beast::error_code& ec) {
    return ec.category() == beast::error_code(http::error::bad_method).category() &&
           ec != http::error::end_of_stream && ec != http::error::partial_message;
  }

  void onHeader(beast::error_code ec) {
    auto& opts = shared_->options;
    // The target is read from the request line as received, so a refusal on a route with a
    // renderer of its own (the gateway's JSON-RPC errors) looks like the route's.
    if (ec == http::error::header_limit) {
      return writeError(431,
                        "request header fields too large (limit " +
                            std::to_string(opts.headerLimit >> 10) + " KiB)",
                        requestLineTarget());
    }
    if (malformed(ec)) {
      return writeError(400, "malformed HTTP request: " + ec.message(), requestLineTarget());
    }
    if (ec) return close();
    firstRequest_ = false;
    if (overCapacity_) {
      return writeError(503,
                        "too many open connections (limit " + std::to_string(opts.maxConnections) +
                            "); try again later",
                        headerParser_->get().target());
    }
    deadline_.arm(opts.requestTimeout);
    auto& hdr = headerParser_->get();
    auto length = headerParser_->content_length();
    // A declared body over the limit is read and dropped (up to 16x the limit) so the 413 can
    // be read by the client and the connection stays usable; beyond that we answer and close.
    size_t limit = opts.bodyLimit;
    bool oversized = length && *length > opts.bodyLimit;
    if (oversized) {
      if (*length > 16 * opts.bodyLimit || hdr[http::field::expect] == "100-continue") {
        return writeError(413, tooLarge(), hdr.target());
      }
      limit = static_cast<size_t>(*length);
    }
    parser_.emplace(std::move(*headerParser_));
    headerParser_.reset();
    parser_->body_limit(limit);
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                     parser_->get().version());
      http::async_write(
          stream_, *cont,
          [self = this->shared_from_this(), cont, oversized](beast::error_code e, size_t) {
            if (e) return self->close();
            self->readBody(oversized);
          });
      return;
    }
    readBody(oversized);
  }

  static std::string tooLarge() { return "request body too large (limit 1 MiB)"; }

  void readBody(bool oversized) {
    // A body already read with the head (most requests arrive whole), or none at all, is
    // parsed here: an asynchronous read would complete at once, one more pass through the event
    // loop for nothing.
    while (!parser_->is_done() && buffer_.size() > 0) {
      beast::error_code ec;
      const size_t n = parser_->put(buffer_.data(), ec);
      buffer_.consume(n);
      if (ec == http::error::need_more) break;
      if (ec) return onBody(ec, oversized);
      if (n == 0) break;
    }
    if (parser_->is_done()) return onBody({}, oversized);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this(), oversized](beast::error_code ec, size_t) {
                       self->onBody(ec, oversized);
                     });
  }

  void onBody(beast::error_code ec, bool oversized) {
    if (ec == http::error::body_limit) return writeError(413, tooLarge(), parser_->get().target());
    if (ec) return close();
    if (oversized) {
      keepAlive_ = parser_->get().keep_alive();
      auto res = refusal(413, tooLarge(), parser_->get().version(), parser_->get().target());
      res->keep_alive(keepAlive_);
      parser_.reset();
      return writeResponse(res);
    }
    auto msg = parser_->release();
    parser_.reset();
    unsigned version = msg.version();
    keepAlive_ = msg.keep_alive();
    Response r;
    Request request = toRequest(std::move(msg));
    try {
      r = shared_->handler(request);
    } catch (const std::exception& e) {
      auto res = std::make_shared<http::response<http::string_body>>(
          statusResponse(500, std::string("internal error: ") + e.what(), version));
      res->keep_alive(keepAlive_);
      return writeResponse(res);
    }
    if (r.deferred) return awaitAnswer(std::move(r.deferred), version, request.target);
    answer(std::move(r), version);
  }

  void answer(Response r, unsigned version) {
    if (r.stream) return startStream(std::move(r), version);
    auto res = std::make_shared<http::response<http::string_body>>();
    fillResponse(*res, std::move(r), version, keepAlive_);
    writeResponse(res);
  }

  // A refusal answered before any handler runs: the server's refusal renderer for a request
  // whose target is known, else a Status.
  std::shared_ptr<http::response<http::string_body>> refusal(int code, const std::string& message,
                                                             unsigned version,
                                                             beast::string_view target) {
    if (shared_->options.refusal && !target.empty()) {
      auto res = std::make_shared<http::response<http::string_body>>();
      fillResponse(*res, shared_->options.refusal(std::string(target), code, message), version,
                   false);
      return res;
    }
    return std::make_shared<http::response<http::string_body>>(
        statusResponse(code, message, version));
  }

  // The handler answers later: nothing is read meanwhile (a pipelined request waits in the
  // socket), and the answer is written on this session's event loop.
  void awaitAnswer(std::shared_ptr<Deferred> d, unsigned version, const std::string& target) {
    deadline_.disarm();  // no step of the connection's is under way: the answer has its own
    if (!shared_->registerDeferred(d)) {
      d->stop();
      return writeError(503, "the server is stopping", target);
    }
    deferred_ = d;
    d->start(
        [self = this->shared_from_this(), version](Response r) mutable {
          auto ex = self->stream_.get_executor();
          net::post(ex, [self = std::move(self), version, r = std::move(r)]() mutable {
            self->releaseDeferred();
            if (self->closed_) return;
            self->answer(std::move(r), version);
          });
        },
        IoExecutor{stream_.get_executor()});
  }

  void releaseDeferred() {
    if (!deferred_) return;
    deferred_->stop();
    shared_->unregisterDeferred(deferred_);
    deferred_.reset();
  }

  // Answers a request that is not read to its end, then closes the connection.
  void writeError(int code, const std::string& message, beast::string_view target = {}) {
    keepAlive_ = false;
    drainBeforeClose_ = true;
    auto res = refusal(code, message, 11, target);
    if (code == 503) res->set(http::field::retry_after, "1");
    res->keep_alive(false);
    writeResponse(res);
  }

  // Small answers as one string (wire_message.h), others through Beast's serializer.
  void writeResponse(std::shared_ptr<http::response<http::string_body>> res) {
    deadline_.arm(shared_->options.requestTimeout);
    auto done = [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
      if (!ec && self->drainBeforeClose_) return self->drainAndClose();
      if (ec || !res->keep_alive()) return self->close();
      self->readHeader();
    };
    auto whole = wireMessage(*res);
    if (!whole) return http::async_write(stream_, *res, std::move(done));
    auto wire = std::make_shared<std::string>(std::move(*whole));
    net::async_write(
        stream_, net::buffer(*wire),
        [wire, done = std::move(done)](beast::error_code ec, size_t n) mutable { done(ec, n); });
  }

  // Closing with unread request bytes makes the kernel reset the connection, and a reset can
  // destroy the answer before the client reads it (a client still sending a 1 MB header never
  // sees its 431). So the rest of the request is read and dropped, for a bounded time and
  // amount, until the client closes.
  void drainAndClose() {
    if constexpr (!kTls) {
      beast::error_code ignored;
      socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    deadline_.arm(shared_->options.headerTimeout);
    buffer_.consume(buffer_.size());
    drainSome();
  }

  void drainSome() {
    stream_.async_read_some(buffer_.prepare(kProbeBytes),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kMaxDrainBytes) return self->close();
                              self->drainSome();
                            });
  }

  // ---- streaming (watch, log -f, gateway SSE) ----
  // After the last chunk the connection serves the next request when the client allowed
  // keep-alive, so a client making many short streamed calls (MCP over the gateway) keeps one
  // TLS connection.
  void startStream(Response r, unsigned version) {
    producer_ = std::move(r.stream);
    streaming_ = true;
    const uint64_t gen = ++streamGen_;
    auto head = std::make_shared<http::response<http::empty_body>>(
        static_cast<http::status>(r.status), version);
    head->set(http::field::server, "minimcp");
    head->set(http::field::content_type, r.contentType);
    for (auto& [k, v] : r.headers) head->insert(k, v);
    head->chunked(true);
    head->keep_alive(keepAlive_);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*head);
    // A watch may stay silent for a long time: no timeout while streaming.
    deadline_.disarm();
    std::weak_ptr<Session> weak = this->shared_from_this();
    // Callbacks of an earlier stream still queued on the event loop must not reach this one.
    sink_ = std::make_shared<Sink>(
        stream_.get_executor(),
        [weak, gen](std::string c) {
          if (auto s = weak.lock(); s && s->streamGen_ == gen) s->pushChunk(std::move(c));
        },
        [weak, gen] {
          if (auto s = weak.lock(); s && s->streamGen_ == gen) s->finishStream();
        });
    http::async_write_header(
        stream_, *sr, [self = this->shared_from_this(), head, sr](beast::error_code ec, size_t) {
          if (ec) return self->close();
          if (!self->shared_->registerStream(self->producer_, self->sink_)) {
            // The server is stopping: an empty body, properly ended.
            self->stopProducer();
            return self->finishStream();
          }
          // Bytes already buffered are a pipelined request: the client is there, and the
          // next read must wait until the stream is over.
          if (self->buffer_.size() != 0) {
            // No read is pending to own the session meanwhile: the stream does.
            self->holdSelf_ = self;
          } else if (!self->probePending_) {
            self->watchForClose();
          }
          self->producer_->start(self->sink_);
        });
  }

  // The client sends nothing during a stream unless it pipelines its next request; a failed
  // read means it went away. Read into the session's buffer, so pipelined bytes are kept for
  // the next request.
  void watchForClose() {
    probePending_ = true;
    stream_.async_read_some(buffer_.prepare(kProbeBytes),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->onProbe(ec, n);
                            });
  }

  void onProbe(beast::error_code ec, size_t n) {
    probePending_ = false;
    if (ec || closeWhenProbeEnds_) return close();
    buffer_.commit(n);
    // During the stream: the client pipelined its next request, which waits in buffer_; from
    // now on only a failed write tells that the client went away.
    if (streaming_ || closed_) return;
    // The stream ended while this read was pending: these bytes begin the next request.
    idleTimer_.cancel();
    readHeader();
  }

  void pushChunk(std::string c) {
    if (closed_ || finishing_) return;
    queuedBytes_ += c.size();
    if (queuedBytes_ > kMaxQueuedBytes) return close();
    chunks_.push_back(std::move(c));
    if (!writing_) writeNextChunk();
  }

  void finishStream() {
    if (closed_) return;
    finishing_ = true;
    if (!writing_) writeNextChunk();
  }

  void writeNextChunk() {
    if (closed_) return;
    if (chunks_.empty()) {
      if (!finishing_) return;
      writing_ = true;
      net::async_write(stream_, http::make_chunk_last(),
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         self->writing_ = false;
                         if (ec) return self->close();
                         self->onStreamDone();
                       });
      return;
    }
    writing_ = true;
    net::async_write(stream_, http::make_chunk(net::buffer(chunks_.front())),
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       self->writing_ = false;
                       if (ec) return self->close();
                       self->queuedBytes_ -= self->chunks_.front().size();
                       self->chunks_.pop_front();
                       self->writeNextChunk();
                     });
  }

  // The body is complete: back to reading requests, or close when keep-alive was not allowed.
  void onStreamDone() {
    auto self = std::move(holdSelf_);
    if (closed_) return;
    stopProducer();
    streaming_ = false;
    finishing_ = false;
    chunks_.clear();
    queuedBytes_ = 0;
    if (!keepAlive_ || shared_->stopping) return closeAfterStream();
    if (!probePending_) return readHeader();
    // The close watcher's read is still pending and becomes the first read of the next request
    // (a second concurrent read is not allowed); the idle timeout is enforced beside it.
    idleTimer_.expires_after(shared_->options.idleTimeout);
    idleTimer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec && self->probePending_ && !self->streaming_) self->close();
    });
  }

  // The body is complete and the connection is not kept: close it the orderly way (TLS
  // close_notify, then FIN), so the client reads the end of the stream and not a broken
  // connection. The close probe's read is cancelled first: close() may not shut TLS down under a
  // pending read.
  void closeAfterStream() {
    if (!probePending_) return close();
    closeWhenProbeEnds_ = true;
    beast::error_code ignored;
    socket().cancel(ignored);
  }

  void stopProducer() {
    if (sink_) sink_->markClosed();
    sink_.reset();
    if (producer_) {
      producer_->stop();
      shared_->unregisterStream(producer_);
      producer_.reset();
    }
  }

  void close() {
    auto self = std::move(holdSelf_);  // released when this returns
    if (closed_) return;
    closed_ = true;
    releaseDeferred();
    stopProducer();
    idleTimer_.cancel();
    beast::error_code ec;
    if (streaming_ || probePending_) {
      // A chunk write or the close probe may be in flight: no TLS shutdown, just cancel all.
      socket().close(ec);
      return;
    }
    if constexpr (kTls) {
      deadline_.arm(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code e;
        self->socket().close(e);
      });
    } else {
      socket().shutdown(tcp::socket::shutdown_send, ec);
      socket().close(ec);
    }
  }

  static constexpr size_t kProbeBytes = 4096;
  static constexpr size_t kMaxDrainBytes = 16 << 20;

  AsyncStream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<ServerShared> shared_;
  std::optional<http::request_parser<http::empty_body>> headerParser_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keepAlive_ = true;
  bool closed_ = false;
  bool streaming_ = false;
  const bool overCapacity_;
  bool firstRequest_ = true;  // no request head read yet on this connection
  bool drainBeforeClose_ = false;
  size_t drained_ = 0;

  std::shared_ptr<Deferred> deferred_;  // an answer being waited for
  std::shared_ptr<Stream> producer_;
  std::shared_ptr<Sink> sink_;
  std::deque<std::string> chunks_;
  size_t queuedBytes_ = 0;
  bool writing_ = false;
  bool finishing_ = false;
  bool probePending_ = false;
  bool closeWhenProbeEnds_ = false;
  uint64_t streamGen_ = 0;             // which stream the sink's queued callbacks belong to
  std::shared_ptr<Session> holdSelf_;  // set while a stream runs without the close probe
  net::steady_timer idleTimer_;
  // Bounds the current step: the TLS handshake, a request head, a body, a response, the TLS
  // shutdown.
  Deadline<Executor> deadline_;
};

}  // namespace minimcp::server::detail
