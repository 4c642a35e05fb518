// The head of an HTTP/1 message (start line and fields, ending with the blank line) rendered
// into one string. Private to the .cpp files that write messages on the server's event loops
// (http_session.h, the gateway); never include it from a header others use.
//
// Why: a head and a body written as two buffers go out as one TLS record or one writev when
// small, while Beast's serializer walks the same bytes as a long sequence of small buffers, a
// walk that cost more than the rest of the write (tools/bench/gateway_profile.sh). Only for a
// message with a Content-Length: a chunked one still goes through the serializer.
#pragma once

#include <boost/beast/http/message.hpp>
#include <string>

namespace minimcp::server {

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

}  // namespace minimcp::server
