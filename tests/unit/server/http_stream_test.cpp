// The HTTP session around streamed (chunked) responses: the connection serves the next request
// after the last chunk when the client allowed keep-alive, pipelined bytes sent during a stream
// are not lost, and "Connection: close" still closes. And request bodies, whole or in pieces.
#include <gtest/gtest.h>

// clang-format off
#include <utility>
// clang-format on
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "api/server/http_server.h"

namespace minimcp::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Writes its lines from a thread of its own, as the watch and log streams do.
class LinesStream : public Stream {
 public:
  explicit LinesStream(std::vector<std::string> lines) : lines_(std::move(lines)) {}
  ~LinesStream() override { stop(); }
  void start(std::shared_ptr<StreamSink> sink) override {
    thread_ = std::thread([this, sink] {
      for (auto& l : lines_) sink->write(l);
      sink->finish();
    });
  }
  void stop() override {
    std::lock_guard lock(mu_);
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

 private:
  std::vector<std::string> lines_;
  std::mutex mu_;
  std::thread thread_;
};

class HttpStreamTest : public ::testing::Test {
 protected:
  HttpStreamTest() {
    HttpServerOptions o;
    o.tls = false;
    o.port = 0;
    o.threads = 1;
    server_ = std::make_unique<HttpServer>(o, [](const Request& r) {
      if (r.path == "/stream") {
        Response res;
        res.contentType = "text/plain";
        res.stream = std::make_shared<LinesStream>(std::vector<std::string>{"a\n", "b\n"});
        return res;
      }
      if (r.path == "/echo") return Response::text(200, "echo " + r.body);
      if (r.path == "/big") return Response::text(200, std::string(100000, 'x'));
      return Response::text(200, "plain " + r.path);
    });
    server_->start();
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
  }
  ~HttpStreamTest() override {
    beast::error_code ec;
    socket_.close(ec);
    server_->stop();
  }

  void send(const std::string& raw) { net::write(socket_, net::buffer(raw)); }
  // Bounded: a server that never answers fails the test instead of hanging it.
  http::response<http::string_body> read() {
    http::response<http::string_body> res;
    beast::error_code result = net::error::timed_out;
    http::async_read(socket_, buffer_, res, [&](beast::error_code ec, size_t) { result = ec; });
    ioc_.restart();
    ioc_.run_for(std::chrono::seconds(5));
    if (result == net::error::timed_out) {
      beast::error_code ignored;
      socket_.cancel(ignored);
      ioc_.restart();
      ioc_.run();
      ADD_FAILURE() << "no response within 5 s";
    } else if (result) {
      ADD_FAILURE() << "read failed: " << result.message();
    }
    return res;
  }
  static std::string get(const std::string& path, bool close = false) {
    return "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + (close ? "Connection: close\r\n" : "") +
           "\r\n";
  }

  std::unique_ptr<HttpServer> server_;
  net::io_context ioc_;
  tcp::socket socket_{ioc_};
  beast::flat_buffer buffer_;
};

TEST_F(HttpStreamTest, TheConnectionServesTheNextRequestAfterAStream) {
  for (int i = 0; i < 3; ++i) {
    send(get("/stream"));
    auto s = read();
    EXPECT_EQ(s.body(), "a\nb\n");
    EXPECT_TRUE(s.keep_alive());
    send(get("/next"));
    EXPECT_EQ(read().body(), "plain /next");
  }
}

TEST_F(HttpStreamTest, PipelinedRequestsAroundAStreamAreAllAnswered) {
  send(get("/stream") + get("/one") + get("/stream") + get("/two"));
  EXPECT_EQ(read().body(), "a\nb\n");
  EXPECT_EQ(read().body(), "plain /one");
  EXPECT_EQ(read().body(), "a\nb\n");
  EXPECT_EQ(read().body(), "plain /two");
}

// Bodies that arrive with their heads are parsed without another read, and one that arrives
// in pieces (or chunked) is read on: each request gets its own body, none leaks into the next.
TEST_F(HttpStreamTest, RequestBodiesWholeOrInPiecesAreEachAnsweredWithTheirOwn) {
  const auto post = [](const std::string& body) {
    return "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  };
  send(post("first") + post("") + get("/one") + post("second"));
  EXPECT_EQ(read().body(), "echo first");
  EXPECT_EQ(read().body(), "echo ");
  EXPECT_EQ(read().body(), "plain /one");
  EXPECT_EQ(read().body(), "echo second");

  const std::string split = post("in two pieces");
  send(split.substr(0, split.size() - 6));
  send(split.substr(split.size() - 6) + post("after"));
  EXPECT_EQ(read().body(), "echo in two pieces");
  EXPECT_EQ(read().body(), "echo after");

  send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
  send("2\r\nde\r\n0\r\n\r\n" + get("/two"));
  EXPECT_EQ(read().body(), "echo abcde");
  EXPECT_EQ(read().body(), "plain /two");
}

// A body larger than one TLS record or socket buffer arrives whole, and the connection goes on.
TEST_F(HttpStreamTest, LargeResponsesArriveWhole) {
  send(get("/big") + get("/one"));
  EXPECT_EQ(read().body(), std::string(100000, 'x'));
  EXPECT_EQ(read().body(), "plain /one");
}

TEST_F(HttpStreamTest, ConnectionCloseClosesAfterTheStream) {
  send(get("/stream", /*close=*/true));
  auto s = read();
  EXPECT_EQ(s.body(), "a\nb\n");
  EXPECT_FALSE(s.keep_alive());
  char c;
  beast::error_code ec = net::error::timed_out;
  socket_.async_read_some(net::buffer(&c, 1), [&](beast::error_code e, size_t) { ec = e; });
  ioc_.restart();
  ioc_.run_for(std::chrono::seconds(5));
  EXPECT_EQ(ec, net::error::eof);
}

}  // namespace
}  // namespace minimcp::server
