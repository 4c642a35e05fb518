// Synchronous client built from Beast's async operations: each operation runs the io_context
// until it completes, so `tcp_stream::expires_after` bounds it (sync Beast calls ignore timeouts).
#include "api/client/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <charconv>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

#include "api/util/ascii.h"

namespace minimcp::client {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

struct ParsedUrl {
  bool tls = true;
  std::string host;  // without brackets
  std::string port;
  std::string basePath;  // "" or "/prefix" (no trailing slash)
};

ParsedUrl parseUrl(const std::string& url) {
  ParsedUrl u;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    u.tls = false;
    rest = url.substr(7);
  } else {
    throw std::runtime_error("invalid server URL \"" + url +
                             "\": must start with https:// or http://");
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    u.basePath = rest.substr(slash);
    while (!u.basePath.empty() && u.basePath.back() == '/') u.basePath.pop_back();
  }
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    auto close = authority.find(']');
    if (close == std::string::npos) throw std::runtime_error("invalid server URL \"" + url + "\"");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      u.port = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) u.port = authority.substr(colon + 1);
  }
  if (u.host.empty()) throw std::runtime_error("invalid server URL \"" + url + "\": no host");
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  return u;
}

bool isIpAddress(const std::string& host) {
  error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

// Errors that mean "the server closed our idle keep-alive connection": retry on a fresh one.
bool isStaleConnectionError(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == ssl::error::stream_truncated;
}

}  // namespace

struct HttpClient::Impl {
  ParsedUrl url;
  std::string serverUrl;
  std::function<std::string(const std::string&)> refuseAddress;
  std::shared_ptr<HostResolver> resolver;
  net::io_context ioc;
  ssl::context sslCtx{ssl::context::tls_client};
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  bool connected() const { return plain.has_value() || tls.has_value(); }

  void close() {
    error_code ignored;
    if (tls) beast::get_lowest_layer(*tls).socket().close(ignored);
    if (plain) plain->socket().close(ignored);
    tls.reset();
    plain.reset();
    buffer.clear();
  }

  // Runs one async operation to completion; the stream's expiry cancels it on timeout.
  template <class Start>
  error_code run(Start&& start) {
    error_code result;
    bool done = false;
    ioc.restart();
    start([&](error_code ec, auto&&...) {
      result = ec;
      done = true;
    });
    ioc.run();
    if (!done) return net::error::operation_aborted;
    return result;
  }

  std::runtime_error failure(const std::string& what, const error_code& ec) const {
    if (ec == beast::error::timeout) {
      return std::runtime_error(what + " " + serverUrl + ": timed out");
    }
    return std::runtime_error(what + " " + serverUrl + ": " + ec.message());
  }

  void connect(std::chrono::milliseconds timeout) {
    close();
    // A lookup that does not answer in time fails like a connection that does not.
    const HostResolver::Result found =
        lookupWithin(resolver ? *resolver : *systemHostResolver(), url.host, timeout);
    if (!found.error.empty()) {
      throw std::runtime_error("cannot connect to " + serverUrl + ": " + found.error);
    }
    unsigned long port = 0;
    const auto [end, portError] =
        std::from_chars(url.port.data(), url.port.data() + url.port.size(), port);
    if (portError != std::errc() || end != url.port.data() + url.port.size() || port > 65535) {
      throw std::runtime_error("invalid server URL \"" + serverUrl + "\": bad port");
    }
    // The addresses checked are the ones connected to.
    std::vector<tcp::endpoint> allowed;
    std::string refused;
    for (const std::string& address : found.addresses) {
      error_code bad;
      const auto ip = net::ip::make_address(address, bad);
      if (bad) continue;
      const std::string why = refuseAddress ? refuseAddress(ip.to_string()) : "";
      if (why.empty()) {
        allowed.emplace_back(ip, static_cast<unsigned short>(port));
      } else if (refused.empty()) {
        refused = ip.to_string() + " " + why;
      }
    }
    if (allowed.empty()) {
      throw std::runtime_error(
          "cannot connect to " + serverUrl + ": " +
          (refused.empty() ? "the host has no address" : "the host resolves to " + refused));
    }

    if (url.tls) {
      tls.emplace(ioc, sslCtx);
      SSL* handle = tls->native_handle();
      // SNI must not carry an IP literal (RFC 6066); the hostname/IP check applies either way.
      if (!isIpAddress(url.host)) SSL_set_tlsext_host_name(handle, url.host.c_str());
      X509_VERIFY_PARAM* param = SSL_get0_param(handle);
      if (isIpAddress(url.host)) {
        X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str());
      } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, url.host.c_str(), 0);
      }
    } else {
      plain.emplace(ioc);
    }
    lowest().expires_after(timeout);
    error_code ec = run([&](auto handler) {
      lowest().async_connect(allowed,
                             [handler](error_code e, const tcp::endpoint&) { handler(e); });
    });
    if (ec) {
      close();
      throw failure("cannot connect to", ec);
    }
    if (tls) {
      lowest().expires_after(timeout);
      ec = run([&](auto handler) { tls->async_handshake(ssl::stream_base::client, handler); });
      if (ec) {
        std::string why = ec.message();
        long verify = SSL_get_verify_result(tls->native_handle());
        if (verify != X509_V_OK) {
          why = std::string("certificate verification failed: ") +
                X509_verify_cert_error_string(verify);
        }
        close();
        throw std::runtime_error("cannot connect to " + serverUrl + ": " + why);
      }
    }
  }

  template <class Message>
  error_code write(Message& msg, std::chrono::milliseconds timeout) {
    lowest().expires_after(timeout);
    if (tls) return run([&](auto h) { http::async_write(*tls, msg, h); });
    return run([&](auto h) { http::async_write(*plain, msg, h); });
  }

  template <class Parser>
  error_code readHeader(Parser& parser, std::chrono::milliseconds timeout) {
    lowest().expires_after(timeout);
    if (tls) return run([&](auto h) { http::async_read_header(*tls, buffer, parser, h); });
    return run([&](auto h) { http::async_read_header(*plain, buffer, parser, h); });
  }

  template <class Parser>
  error_code read(Parser& parser, std::chrono::milliseconds timeout) {
    lowest().expires_after(timeout);
    if (tls) return run([&](auto h) { http::async_read(*tls, buffer, parser, h); });
    return run([&](auto h) { http::async_read(*plain, buffer, parser, h); });
  }

  template <class Parser>
  error_code readSome(Parser& parser, std::chrono::milliseconds timeout) {
    lowest().expires_after(timeout);
    if (tls) return run([&](auto h) { http::async_read_some(*tls, buffer, parser, h); });
    return run([&](auto h) { http::async_read_some(*plain, buffer, parser, h); });
  }

  http::request<http::string_body> makeRequest(const ConnectionConfig& cfg,
                                               const std::string& method, const std::string& target,
                                               const std::string& body,
                                               const std::map<std::string, std::string>& headers) {
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(url.basePath + target);
    req.version(11);
    std::string hostHeader =
        url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    req.set(http::field::host, hostHeader + ":" + url.port);
    req.set(http::field::user_agent, cfg.userAgent);
    if (!cfg.token.empty()) req.set(http::field::authorization, "Bearer " + cfg.token);
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      req.body() = body;
      if (req[http::field::content_type].empty()) {
        req.set(http::field::content_type, "application/json");
      }
      req.prepare_payload();
    }
    return req;
  }

  template <class Fields>
  static std::map<std::string, std::string> lowercaseHeaders(const Fields& fields) {
    std::map<std::string, std::string> out;
    for (const auto& field : fields) {
      const auto n = field.name_string();
      std::string name = asciiLower({n.data(), n.size()});
      std::string value(field.value());
      auto [it, inserted] = out.emplace(name, value);
      if (!inserted) it->second += ", " + value;
    }
    return out;
  }
};

HttpClient::HttpClient(ConnectionConfig config) : config_(std::move(config)), impl_(new Impl) {
  impl_->url = parseUrl(config_.server);
  impl_->serverUrl = config_.server;
  impl_->refuseAddress = config_.refuseAddress;
  impl_->resolver = config_.resolver;
  if (impl_->url.tls) {
    auto& ctx = impl_->sslCtx;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (config_.insecureSkipVerify) {
      ctx.set_verify_mode(ssl::verify_none);
    } else {
      ctx.set_verify_mode(ssl::verify_peer);
      if (config_.caPem.empty() || config_.systemRootsToo) ctx.set_default_verify_paths();
      if (!config_.caPem.empty()) {
        error_code ec;
        ctx.add_certificate_authority(net::buffer(config_.caPem), ec);
        if (ec) throw std::runtime_error("invalid certificate authority data: " + ec.message());
      }
    }
  }
}

HttpClient::~HttpClient() { impl_->close(); }

Response HttpClient::request(const std::string& method, const std::string& target,
                             const std::string& body,
                             const std::map<std::string, std::string>& headers,
                             std::chrono::milliseconds timeout) {
  auto& impl = *impl_;
  auto req = impl.makeRequest(config_, method, target, body, headers);
  for (int attempt = 0;; ++attempt) {
    bool reused = impl.connected();
    if (!reused) impl.connect(timeout);
    error_code ec = impl.write(req, timeout);
    http::response_parser<http::string_body> parser;
    parser.body_limit(config_.maxResponseBytes);
    if (method == "HEAD") parser.skip(true);
    if (!ec) ec = impl.read(parser, timeout);
    if (ec) {
      impl.close();
      // Only a connection the server may have closed while idle is worth a second try.
      if (reused && attempt == 0 && isStaleConnectionError(ec)) continue;
      throw impl.failure(ec == beast::error::timeout ? "request to" : "cannot connect to", ec);
    }
    auto& res = parser.get();
    Response out;
    out.status = static_cast<int>(res.result_int());
    out.headers = Impl::lowercaseHeaders(res.base());
    out.body = std::move(res.body());
    if (!res.keep_alive()) impl.close();
    return out;
  }
}

int HttpClient::stream(const std::string& method, const std::string& target,
                       const std::function<bool(const std::string& line)>& onLine,
                       const std::map<std::string, std::string>& headers,
                       std::chrono::milliseconds idleTimeout) {
  auto& impl = *impl_;
  const std::chrono::milliseconds opTimeout = std::chrono::seconds(30);
  auto req = impl.makeRequest(config_, method, target, "", headers);
  std::optional<http::response_parser<http::buffer_body>> parserStore;
  for (int attempt = 0;; ++attempt) {
    parserStore.emplace();
    // Not boost::none: Beast 1.74 compares `len > body_limit_` and an empty optional always
    // loses, so a Content-Length body would fail with body_limit.
    parserStore->body_limit(std::numeric_limits<std::uint64_t>::max());
    bool reused = impl.connected();
    if (!reused) impl.connect(opTimeout);
    error_code ec = impl.write(req, opTimeout);
    if (!ec) ec = impl.readHeader(*parserStore, opTimeout);
    if (ec) {
      impl.close();
      if (reused && attempt == 0 && isStaleConnectionError(ec)) continue;
      throw impl.failure(ec == beast::error::timeout ? "request to" : "cannot connect to", ec);
    }
    break;
  }
  auto& parser = *parserStore;
  const int status = static_cast<int>(parser.get().result_int());
  const bool ok = status >= 200 && status < 300;
  std::string pending;
  char chunk[16 * 1024];
  bool stopped = false;
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    error_code ec = impl.readSome(parser, idleTimeout);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) break;  // idle timeout, or the server went away: the stream is over either way
    size_t n = sizeof chunk - parser.get().body().size;
    pending.append(chunk, n);
    if (!ok) continue;
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = pending.substr(start, nl - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!onLine(line)) {
        stopped = true;
        break;
      }
    }
    pending.erase(0, start);
    if (stopped) break;
  }
  if (!stopped && !pending.empty()) onLine(pending);
  if (!parser.is_done() || !parser.get().keep_alive()) impl.close();
  return status;
}

std::string urlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace minimcp::client
