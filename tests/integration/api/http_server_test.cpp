// The HTTP server against clients that do not play along, over real sockets, plain and TLS: an
// oversized head is answered 431 (never a dropped connection), a head trickled in slower than
// the header timeout is cut, connections over the cap are answered 503, and none of this cuts
// a keep-alive connection idling between requests or a long streamed response.
#include <gtest/gtest.h>

// clang-format off
#include <utility>
// clang-format on
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/server/http_server.h"
#include "api/server/tls.h"
#include "tests/e2e/cli/mcpd_process.h"

namespace minimcp::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kBound = seconds(15);  // no step of a test waits longer than this
constexpr auto kHeaderTimeout = seconds(1);
constexpr size_t kMaxConnections = 3;

// "a\n" now and "b\n" after a pause longer than the header timeout.
class SlowStream : public Stream {
 public:
  ~SlowStream() override { stop(); }
  void start(std::shared_ptr<StreamSink> sink) override {
    thread_ = std::thread([this, sink] {
      sink->write("a\n");
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, kHeaderTimeout * 2, [&] { return stopped_; })) sink->write("b\n");
      sink->finish();
    });
  }
  void stop() override {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
    // The session and the server's shutdown may both stop a stream, on two threads: one joins.
    std::lock_guard joinLock(joinMu_);
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::mutex joinMu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::thread thread_;
};

// One client connection, plain or TLS; every operation runs the io_context for at most kBound.
class Client {
 public:
  Client(uint16_t port, ssl::context* tls) {
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
    if (tls) {
      tls_.emplace(ioc_, *tls);
      beast::get_lowest_layer(*tls_).connect(ep);
      tls_->handshake(ssl::stream_base::client);
    } else {
      plain_.emplace(ioc_);
      plain_->connect(ep);
    }
  }

  template <class F>
  auto with(F&& f) {
    if (tls_) return f(*tls_);
    return f(*plain_);
  }

  // Sends `raw` while reading the response, as a client that writes its whole request before
  // reading would need the server to read it all. nullopt: no response within kBound.
  std::optional<http::response<http::string_body>> exchange(const std::string& raw) {
    http::response<http::string_body> res;
    std::optional<beast::error_code> readResult;
    bool written = false;
    with([&](auto& s) {
      net::async_write(s, net::buffer(raw), [&](beast::error_code, size_t) { written = true; });
      http::async_read(s, buffer_, res, [&](beast::error_code ec, size_t) { readResult = ec; });
    });
    runUntil([&] { return written && readResult.has_value(); });
    if (!readResult || *readResult) return std::nullopt;
    return res;
  }

  void send(const std::string& raw) {
    bool done = false;
    with([&](auto& s) {
      net::async_write(s, net::buffer(raw), [&](beast::error_code, size_t) { done = true; });
    });
    runUntil([&] { return done; });
  }

  // Reads until the server closes the connection, calling `tick` every 200 ms meanwhile (to
  // trickle bytes). How long the server took to close, or nullopt when it kept it open.
  std::optional<milliseconds> waitClosed(const std::function<void()>& tick = {}) {
    auto start = std::chrono::steady_clock::now();
    bool closed = false;
    std::function<void()> readMore = [&] {
      with([&](auto& s) {
        s.async_read_some(buffer_.prepare(4096), [&](beast::error_code ec, size_t n) {
          if (ec) {
            closed = true;
            return;
          }
          buffer_.commit(n);
          readMore();
        });
      });
    };
    readMore();
    net::steady_timer timer(ioc_);
    std::function<void()> schedule = [&] {
      timer.expires_after(milliseconds(200));
      timer.async_wait([&](beast::error_code ec) {
        if (ec || closed) return;
        if (tick) tick();
        schedule();
      });
    };
    schedule();
    runUntil([&] { return closed; });
    timer.cancel();
    if (!closed) return std::nullopt;
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  }

  // Lets `d` pass with the connection open (a keep-alive client between requests).
  void idle(milliseconds d) {
    net::steady_timer timer(ioc_, d);
    bool done = false;
    timer.async_wait([&](beast::error_code) { done = true; });
    runUntil([&] { return done; });
  }

 private:
  void runUntil(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + kBound;
    ioc_.restart();
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      ioc_.run_one_for(milliseconds(100));
      if (ioc_.stopped()) ioc_.restart();
    }
    if (!done()) {
      // Cancel what is pending so its handlers (which reference this frame) run now.
      with([](auto& s) {
        beast::error_code ignored;
        beast::get_lowest_layer(s).socket().close(ignored);
      });
      ioc_.restart();
      ioc_.run();
    }
  }

  net::io_context ioc_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
};

std::string get(const std::string& path, const std::string& extraHeaders = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + extraHeaders + "\r\n";
}

class HttpServerLimitsTest : public ::testing::TestWithParam<bool> {
 protected:
  HttpServerLimitsTest() {
    HttpServerOptions o;
    o.port = 0;
    o.tls = GetParam();
    o.headerTimeout = kHeaderTimeout;
    o.maxConnections = kMaxConnections;
    if (o.tls) {
      auto files = ensureTlsFiles(dir_.path(), {"127.0.0.1"});
      o.certFile = files.certFile;
      o.keyFile = files.keyFile;
      clientTls_.emplace(ssl::context::tls_client);
      clientTls_->set_verify_mode(ssl::verify_none);
    }
    server_ = std::make_unique<HttpServer>(o, [](const Request& r) {
      if (r.path == "/stream") {
        Response res;
        res.contentType = "text/plain";
        res.stream = std::make_shared<SlowStream>();
        return res;
      }
      if (r.path == "/headers") {
        return Response::text(200, r.header("x-dup") + "|" + r.header("x-one") + "|" +
                                       r.header("x-absent") + "|" +
                                       std::to_string(r.headers.size()));
      }
      if (r.path.rfind("/bytes/", 0) == 0) {
        return Response::text(200, std::string(std::stoul(r.path.substr(7)), 'x'));
      }
      return Response::text(200, "ok " + r.path);
    });
    server_->start();
  }
  ~HttpServerLimitsTest() override { server_->stop(); }

  std::unique_ptr<Client> connect() {
    return std::make_unique<Client>(server_->port(), clientTls_ ? &*clientTls_ : nullptr);
  }

  testing::TempDir dir_;
  std::optional<ssl::context> clientTls_;
  std::unique_ptr<HttpServer> server_;
};

INSTANTIATE_TEST_SUITE_P(PlainAndTls, HttpServerLimitsTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Tls" : "Plain"; });

TEST_P(HttpServerLimitsTest, AnOversizedHeadIsAnswered431NotDropped) {
  auto c = connect();
  auto res = c->exchange(get("/", "X-Big: " + std::string(1 << 20, 'a') + "\r\n"));
  ASSERT_TRUE(res) << "the connection was dropped without an answer";
  EXPECT_EQ(res->result_int(), 431);
  auto status = json::parse(res->body());
  EXPECT_EQ(status["kind"], "Status");
  EXPECT_EQ(status["code"], 431);
  EXPECT_NE(status["message"].get<std::string>().find("header"), std::string::npos);
  EXPECT_TRUE(c->waitClosed()) << "the server keeps the connection after a 431";
}

// Header names are case-insensitive: a handler reads them by lowercase name, and a name sent
// twice (in any case) is one header with both values, in the order sent.
TEST_P(HttpServerLimitsTest, HandlersReadHeadersByLowercaseNameWithRepeatsJoined) {
  auto c = connect();
  auto res = c->exchange(get("/headers", "X-Dup: a\r\nx-One: 1\r\nX-DUP: b\r\n"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 200);
  EXPECT_EQ(res->body(), "a, b|1||3");  // host, x-dup, x-one

  // The same with more headers than are found by a scan (an index takes over).
  std::string many = "X-Dup: a\r\n";
  for (int i = 0; i < 2000; ++i) many += "x-filler-" + std::to_string(i) + ": f\r\n";
  many += "x-One: 1\r\nX-DUP: b\r\nx-filler-7: g\r\n";
  res = c->exchange(get("/headers", many));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 200);
  EXPECT_EQ(res->body(), "a, b|1||2003");
}

// Answers of every size arrive whole on a kept-alive connection: small ones go out as one
// string, larger ones through Beast's serializer, over TLS as over plain TCP.
TEST_P(HttpServerLimitsTest, AnswersOfEverySizeArriveWhole) {
  auto c = connect();
  for (size_t n : {size_t{0}, size_t{1}, size_t{16000}, size_t{16 << 10}, size_t{17000},
                   size_t{(64 << 10) - 200}, size_t{64 << 10}, size_t{100000}, size_t{1 << 20}}) {
    auto res = c->exchange(get("/bytes/" + std::to_string(n)));
    ASSERT_TRUE(res) << n << " bytes: no answer";
    EXPECT_EQ(res->result_int(), 200) << n;
    EXPECT_EQ(res->body().size(), n);
    EXPECT_EQ(res->body().find_first_not_of('x'), std::string::npos) << n;
  }
}

TEST_P(HttpServerLimitsTest, AHeadTrickledInIsCutAtTheHeaderTimeout) {
  auto c = connect();
  c->send("GET / HTTP/1.1\r\nHost: t\r\n");
  int n = 0;
  auto took = c->waitClosed([&] { c->send("X-" + std::to_string(n++) + ": y\r\n"); });
  ASSERT_TRUE(took) << "a trickled head holds the connection";
  // The idle timeout (120 s) must not apply; a generous margin above the header timeout.
  EXPECT_LT(*took, milliseconds(kHeaderTimeout) * 5);

  auto silent = connect();
  auto silentTook = silent->waitClosed();
  ASSERT_TRUE(silentTook) << "a connection that never sends a request stays open";
  EXPECT_LT(*silentTook, milliseconds(kHeaderTimeout) * 5);
}

TEST_P(HttpServerLimitsTest, KeepAliveIdlingAndLongStreamsOutliveTheHeaderTimeout) {
  auto c = connect();
  auto first = c->exchange(get("/one"));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body(), "ok /one");
  c->idle(milliseconds(kHeaderTimeout) * 2);
  auto second = c->exchange(get("/two"));
  ASSERT_TRUE(second) << "an idle keep-alive connection was cut at the header timeout";
  EXPECT_EQ(second->body(), "ok /two");
  auto stream = c->exchange(get("/stream"));
  ASSERT_TRUE(stream) << "a stream was cut at the header timeout";
  EXPECT_EQ(stream->body(), "a\nb\n");
}

TEST_P(HttpServerLimitsTest, ConnectionsOverTheCapAreAnswered503) {
  std::vector<std::unique_ptr<Client>> open;
  for (size_t i = 0; i < kMaxConnections; ++i) {
    open.push_back(connect());
    auto r = open.back()->exchange(get("/"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200);
  }
  {
    auto extra = connect();
    auto r = extra->exchange(get("/"));
    ASSERT_TRUE(r) << "a connection over the cap got no answer";
    EXPECT_EQ(r->result_int(), 503);
    auto status = json::parse(r->body());
    EXPECT_EQ(status["reason"], "ServiceUnavailable");
    EXPECT_NE(status["message"].get<std::string>().find("too many open connections"),
              std::string::npos);
    EXPECT_EQ((*r)[http::field::retry_after], "1");
    EXPECT_TRUE(extra->waitClosed());
  }
  // The ones already open are still served.
  auto again = open.front()->exchange(get("/still"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->result_int(), 200);
  // A closed connection frees its slot (the server notices the close asynchronously).
  open.pop_back();
  EXPECT_TRUE(testing::waitUntil(
      [&] {
        auto r = connect()->exchange(get("/"));
        return r && r->result_int() == 200;
      },
      kBound));
}

}  // namespace
}  // namespace minimcp::server
