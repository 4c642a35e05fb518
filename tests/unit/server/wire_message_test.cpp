#include "api/server/wire_message.h"

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>
#include <sstream>

namespace minimcp::server {
namespace {

namespace http = boost::beast::http;

// What Beast's serializer writes for the whole message.
template <class Message>
std::string serialized(const Message& m) {
  std::ostringstream out;
  out << m;
  return out.str();
}

TEST(WireMessage, ResponsesAreWhatBeastsSerializerWrites) {
  struct Case {
    http::status status;
    unsigned version;
    std::string reason;  // "" for the status's own
    std::string body;
  };
  for (const auto& c : {Case{http::status::ok, 11, "", R"({"jsonrpc":"2.0","id":1})"},
                        Case{http::status::not_found, 10, "", "missing"},
                        Case{http::status::unauthorized, 11, "Who Are You", ""},
                        Case{http::status::no_content, 11, "", ""}}) {
    http::response<http::string_body> res{c.status, c.version};
    if (!c.reason.empty()) res.reason(c.reason);
    res.set(http::field::server, "minimcp");
    res.set(http::field::content_type, "application/json");
    res.insert("Mcp-Session-Id", "abc");
    res.insert("X-Repeated", "1");
    res.insert("X-Repeated", "2");
    res.body() = c.body;
    res.prepare_payload();
    EXPECT_EQ(wireHead(res.base()) + res.body(), serialized(res)) << res.result_int();
  }
}

TEST(WireMessage, RequestsAreWhatBeastsSerializerWrites) {
  http::request<http::string_body> req{http::verb::post, "/mcp?x=%2F&y", 11};
  req.set(http::field::host, "127.0.0.1:8080");
  req.set(http::field::authorization, "Bearer t");
  req.insert("mcp-method", "tools/call");
  req.body() = R"({"jsonrpc":"2.0","id":1,"method":"tools/call"})";
  req.prepare_payload();
  EXPECT_EQ(wireHead(req.base()) + req.body(), serialized(req));

  http::request<http::string_body> get{http::verb::get, "/", 10};
  get.prepare_payload();
  EXPECT_EQ(wireHead(get.base()), serialized(get));
  EXPECT_EQ(wireHead(get.base()).substr(0, 16), "GET / HTTP/1.0\r\n");
}

TEST(WireMessage, WholeMessagesOnlyWhenSmallAndNotChunked) {
  http::response<http::string_body> res{http::status::ok, 11};
  res.body() = "hello";
  res.prepare_payload();
  EXPECT_EQ(wireMessage(res), serialized(res));
  res.body() = std::string(kWholeMessageLimit, 'x');
  res.prepare_payload();
  EXPECT_EQ(wireMessage(res), std::nullopt);
  http::response<http::string_body> chunked{http::status::ok, 11};
  chunked.chunked(true);
  chunked.body() = "hello";
  EXPECT_EQ(wireMessage(chunked), std::nullopt);
}

}  // namespace
}  // namespace minimcp::server
