// An HTTP/1 message rendered into one string, to be written with one call. Private to the .cpp
// files that write messages on the server's event loops (http_session.h, the gateway); never
// include it from a header others use.
//
// Why: Beast's serializer walks the head as a long sequence of small buffers, a walk that cost
// more than the rest of the write (tools/bench/gateway_profile.sh); one string goes out as one
// TLS record or one send. Not the head and the body as two buffers: behind Beast's TLS stream
// that lost bodies over 16 KiB (the composed write ended after the head; the test
// HttpServerLimitsTest.AnswersOfEverySizeArriveWhole). Only a message with a Content-Length
// and of at most kWholeMessageLimit bytes: any other still goes through the serializer.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>

namespace minimcp::server {

inline constexpr size_t kWholeMessageLimit = 64 << 10;

template <bool isRequest, class Fields>
std::string wireHead(const boost::beast::http::header<isRequest, Fields>& h) {
  std::string out;
  out.reserve(256);
  const auto add = [&out](boost::beast::string_view v) { out.append(v.data(), v.size()); };
  const auto version = [&] {
    out += "HTTP/";
    out += static_cast<char>('0' + h.version() / 10);
    out += '.';
    out += static_cast<char>('0' + h.version() % 10);
  };
  if constexpr (isRequest) {
    add(h.method_string());
    out += ' ';
    add(h.target());
    out += ' ';
    version();
  } else {
    version();
    out += ' ';
    out += std::to_string(h.result_int());
    out += ' ';
    add(h.reason());
  }
  out += "\r\n";
  for (const auto& f : h) {
    add(f.name_string());
    out += ": ";
    add(f.value());
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

// The whole message (head and body), or nullopt when it is chunked or larger than
// kWholeMessageLimit.
template <bool isRequest, class Fields>
std::optional<std::string> wireMessage(
    const boost::beast::http::message<isRequest, boost::beast::http::string_body, Fields>& m) {
  if (m.chunked() || m.body().size() > kWholeMessageLimit) return std::nullopt;
  std::string out = wireHead(m.base());
  if (out.size() + m.body().size() > kWholeMessageLimit) return std::nullopt;
  out += m.body();
  return out;
}

}  // namespace minimcp::server
