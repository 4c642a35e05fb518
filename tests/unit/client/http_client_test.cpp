// HttpClient against a small in-process HTTP server whose behaviour each test scripts.
#include "api/client/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/mocks/scripted_resolver.h"

namespace minimcp::client {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

using Request = http::request<http::string_body>;

// Serves each accepted connection on its own thread; `handler` answers one request on the
// socket and returns false to close the connection.
class TestServer {
 public:
  using Handler = std::function<bool(tcp::socket&, const Request&)>;

  explicit TestServer(Handler handler)
      : handler_(std::move(handler)), acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    acceptThread_ = std::thread([this] { acceptLoop(); });
  }

  ~TestServer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    // Wake the blocking accept with a connection of our own.
    try {
      net::io_context ioc;
      tcp::socket s(ioc);
      s.connect({net::ip::make_address("127.0.0.1"), port_});
    } catch (...) {
    }
    acceptThread_.join();
    for (auto& t : connThreads_) t.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

  // Blocks a handler until the server stops (for timeout tests); bounded by 10 s.
  void hang() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [this] { return stopping_; });
  }

 private:
  void acceptLoop() {
    while (true) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_ || ec) return;
      }
      ++connections_;
      connThreads_.emplace_back([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
    }
  }

  void serve(tcp::socket socket) {
    beast::flat_buffer buffer;
    while (true) {
      Request req;
      boost::system::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(req);
      }
      if (!handler_(socket, req)) return;
    }
  }

  Handler handler_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread acceptThread_;
  std::vector<std::thread> connThreads_;
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<Request> requests_;
};

void respond(tcp::socket& s, const Request& req, http::status status, const std::string& body) {
  http::response<http::string_body> res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.set("X-Echo-Path", std::string(req.target()));
  res.body() = body;
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  http::write(s, res);
}

ConnectionConfig config(const std::string& url, const std::string& token = "") {
  ConnectionConfig c;
  c.server = url;
  c.token = token;
  return c;
}

TEST(HttpClient, RequestSendsTokenBodyAndReadsResponse) {
  TestServer server([](tcp::socket& s, const Request& req) {
    respond(s, req, http::status::created, "{\"got\":\"" + req.body() + "\"}");
    return true;
  });
  HttpClient client(config(server.url(), "tok123"));
  Response res = client.request("POST", "/apis/x?y=1", "abc", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(res.status, 201);
  EXPECT_EQ(res.body, "{\"got\":\"abc\"}");
  EXPECT_EQ(res.headers["x-echo-path"], "/apis/x?y=1");
  EXPECT_EQ(res.headers["content-type"], "application/json");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0][http::field::authorization], "Bearer tok123");
  EXPECT_EQ(reqs[0][http::field::content_type], "text/plain");
  EXPECT_EQ(reqs[0].method(), http::verb::post);
}

TEST(HttpClient, NoTokenNoAuthorizationHeader) {
  TestServer server([](tcp::socket& s, const Request& req) {
    respond(s, req, http::status::ok, "{}");
    return true;
  });
  HttpClient client(config(server.url()));
  EXPECT_EQ(client.request("GET", "/").status, 200);
  EXPECT_TRUE(server.requests().at(0)[http::field::authorization].empty());
}

TEST(HttpClient, KeepsTheConnectionAlive) {
  TestServer server([](tcp::socket& s, const Request& req) {
    respond(s, req, http::status::ok, "ok");
    return true;
  });
  HttpClient client(config(server.url()));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client.request("GET", "/").body, "ok");
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClient, ReconnectsWhenTheServerClosedAnIdleConnection) {
  // The server answers with keep-alive but then closes, as an idle timeout would.
  TestServer server([](tcp::socket& s, const Request& req) {
    respond(s, req, http::status::ok, "ok");
    return false;
  });
  HttpClient client(config(server.url()));
  EXPECT_EQ(client.request("GET", "/a").body, "ok");
  EXPECT_EQ(client.request("GET", "/b").body, "ok");
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClient, TimesOut) {
  TestServer* self = nullptr;
  TestServer server([&self](tcp::socket&, const Request&) {
    self->hang();
    return false;
  });
  self = &server;
  HttpClient client(config(server.url()));
  auto start = std::chrono::steady_clock::now();
  try {
    client.request("GET", "/", "", {}, std::chrono::milliseconds(200));
    FAIL() << "expected a timeout";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(HttpClient, ConnectionRefusedNamesTheServer) {
  unsigned short port;
  {
    net::io_context ioc;
    tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  HttpClient client(config("http://127.0.0.1:" + std::to_string(port)));
  try {
    client.request("GET", "/");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot connect to http://127.0.0.1:"), std::string::npos)
        << e.what();
  }
}

std::string errorOf(HttpClient& client, std::chrono::milliseconds timeout) {
  try {
    client.request("GET", "/", "", {}, timeout);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(HttpClient, AHostLookupThatNeverAnswersFailsAtTheTimeout) {
  auto dns = std::make_shared<test::ScriptedResolver>();
  ConnectionConfig c = config("http://hooks.example.test:8080");
  c.resolver = dns;
  HttpClient client(c);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(errorOf(client, std::chrono::milliseconds(200)),
            "cannot connect to http://hooks.example.test:8080: DNS lookup of hooks.example.test "
            "timed out after 200 ms");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(200));
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(dns->hosts(), std::vector<std::string>{"hooks.example.test"});
}

TEST(HttpClient, ALateLookupIsDroppedAndTheNextRequestLooksUpAgain) {
  TestServer server([](tcp::socket& s, const Request& req) {
    respond(s, req, http::status::ok, "ok");
    return true;
  });
  const std::string port = server.url().substr(server.url().rfind(':') + 1);
  auto dns = std::make_shared<test::ScriptedResolver>();
  ConnectionConfig c = config("http://late.example.test:" + port);
  c.resolver = dns;
  HttpClient client(c);
  EXPECT_NE(errorOf(client, std::chrono::milliseconds(100)).find("timed out after 100 ms"),
            std::string::npos);
  // The answer comes after the caller gave up: dropped, nothing connects.
  dns->answerPending({{"127.0.0.1"}, ""});
  EXPECT_EQ(server.connections(), 0);
  dns->answerAtOnce({{"127.0.0.1"}, ""});
  EXPECT_EQ(client.request("GET", "/", "", {}, std::chrono::seconds(5)).body, "ok");
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(dns->hosts().size(), 2u);
}

TEST(HttpClient, RefusedAddressesAreCheckedOnWhatTheHostResolvesTo) {
  TestServer server([](tcp::socket& s, const Request& req) {
    respond(s, req, http::status::ok, "ok");
    return true;
  });
  const std::string port = server.url().substr(server.url().rfind(':') + 1);
  auto dns = std::make_shared<test::ScriptedResolver>();
  dns->answerAtOnce({{"127.0.0.1"}, ""});
  ConnectionConfig c = config("http://inside.example.test:" + port);
  c.resolver = dns;
  c.refuseAddress = [](const std::string& a) { return a == "127.0.0.1" ? "is loopback" : ""; };
  HttpClient client(c);
  EXPECT_EQ(errorOf(client, std::chrono::seconds(5)),
            "cannot connect to http://inside.example.test:" + port +
                ": the host resolves to 127.0.0.1 is loopback");
  EXPECT_EQ(server.connections(), 0);
  // A failed lookup says why.
  auto failing = std::make_shared<test::ScriptedResolver>();
  failing->answerAtOnce(
      {{}, "DNS lookup of nowhere.example.test failed: Name or service not known"});
  ConnectionConfig f = config("http://nowhere.example.test");
  f.resolver = failing;
  HttpClient nowhere(f);
  EXPECT_EQ(errorOf(nowhere, std::chrono::seconds(5)),
            "cannot connect to http://nowhere.example.test: DNS lookup of nowhere.example.test "
            "failed: Name or service not known");
}

TEST(HostResolver, LiteralsNeedNoLookupAndTheSystemOneFindsLocalhost) {
  test::ScriptedResolver never;
  auto r = lookupWithin(never, "::1", std::chrono::milliseconds(1));
  EXPECT_EQ(r.addresses, std::vector<std::string>{"::1"});
  EXPECT_TRUE(r.error.empty());
  EXPECT_TRUE(never.hosts().empty());
  r = lookupWithin(*systemHostResolver(), "localhost", std::chrono::seconds(10));
  ASSERT_TRUE(r.error.empty()) << r.error;
  ASSERT_FALSE(r.addresses.empty());
  for (const auto& a : r.addresses) EXPECT_TRUE(a == "127.0.0.1" || a == "::1") << a;
}

TEST(HostResolver, TheSystemOneRefusesLookupsBeyondItsLimit) {
  SystemHostResolver none(0);
  const auto r = lookupWithin(none, "localhost", std::chrono::seconds(10));
  EXPECT_TRUE(r.addresses.empty());
  EXPECT_EQ(r.error, "too many DNS lookups in progress (0 not answered yet)");
}

TEST(HttpClient, RejectsBadUrls) {
  EXPECT_THROW(HttpClient(config("ftp://x")), std::runtime_error);
  EXPECT_THROW(HttpClient(config("https://")), std::runtime_error);
}

// Writes a chunked response piece by piece, each flushed separately.
void writeChunked(tcp::socket& s, const std::vector<std::string>& pieces, bool finish) {
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  net::write(s, net::buffer(head));
  for (const auto& p : pieces) {
    std::ostringstream chunk;
    chunk << std::hex << p.size() << "\r\n" << p << "\r\n";
    net::write(s, net::buffer(chunk.str()));
  }
  if (finish) net::write(s, net::buffer(std::string("0\r\n\r\n")));
}

TEST(HttpClient, StreamSplitsChunksIntoLines) {
  TestServer server([](tcp::socket& s, const Request&) {
    writeChunked(s,
                 {"{\"type\":\"ADDED\"}\n{\"ty", "pe\":\"MODIFIED\"}\n", "\n{\"a\":1}\r\n", "tail"},
                 true);
    return true;
  });
  HttpClient client(config(server.url()));
  std::vector<std::string> lines;
  int status = client.stream("GET", "/watch", [&](const std::string& line) {
    lines.push_back(line);
    return true;
  });
  EXPECT_EQ(status, 200);
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"type\":\"ADDED\"}", "{\"type\":\"MODIFIED\"}", "",
                                             "{\"a\":1}", "tail"}));
  // The body was read to its end, so the connection is reusable.
  EXPECT_EQ(client.request("GET", "/x").status, 200);
}

TEST(HttpClient, StreamStopsWhenAskedAndOnIdleTimeout) {
  TestServer* self = nullptr;
  TestServer server([&self](tcp::socket& s, const Request& req) {
    if (req.target() == "/plain") {
      respond(s, req, http::status::ok, "x");
      return true;
    }
    writeChunked(s, {"one\ntwo\n"}, false);
    self->hang();  // never ends the body
    return false;
  });
  self = &server;
  HttpClient client(config(server.url()));
  std::vector<std::string> lines;
  client.stream("GET", "/watch", [&](const std::string& line) {
    lines.push_back(line);
    return false;
  });
  EXPECT_EQ(lines, std::vector<std::string>{"one"});

  lines.clear();
  auto start = std::chrono::steady_clock::now();
  client.stream(
      "GET", "/watch",
      [&](const std::string& line) {
        lines.push_back(line);
        return true;
      },
      {}, std::chrono::milliseconds(200));
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two"}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // A half-read stream is never reused: the next request gets a fresh connection.
  EXPECT_EQ(client.request("GET", "/plain").body, "x");
}

TEST(HttpClient, StreamPassesAnErrorBodyAsOneLine) {
  TestServer server([](tcp::socket& s, const Request& req) {
    respond(s, req, http::status::gone, "{\"kind\":\"Status\",\n\"code\":410}");
    return true;
  });
  HttpClient client(config(server.url()));
  std::vector<std::string> lines;
  int status = client.stream("GET", "/watch", [&](const std::string& line) {
    lines.push_back(line);
    return true;
  });
  EXPECT_EQ(status, 410);
  EXPECT_EQ(lines, std::vector<std::string>{"{\"kind\":\"Status\",\n\"code\":410}"});
}

TEST(UrlEncode, EscapesReservedCharacters) {
  EXPECT_EQ(urlEncode("metadata.name=a,b c/d"), "metadata.name%3Da%2Cb%20c%2Fd");
  EXPECT_EQ(urlEncode("AZaz09-_.~"), "AZaz09-_.~");
}

}  // namespace
}  // namespace minimcp::client
