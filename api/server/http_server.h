// HttpServer: the Boost.Beast HTTP/1.1 server (HTTPS by default) behind every mcpd endpoint.
// Beast stays in the .cpp files; callers see only http_types.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/server/http_types.h"

namespace minimcp::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7443;  // 0 = any free port; port() tells which
  bool tls = true;
  std::string certFile;  // PEM chain (server certificate first)
  std::string keyFile;   // PEM private key
  // Each runs an event loop of its own; connections are spread over them in turn.
  int threads = 2;
  size_t bodyLimit = 1 << 20;               // larger bodies answer 413
  size_t headerLimit = 64 << 10;            // larger headers answer 431
  std::chrono::seconds idleTimeout{120};    // keep-alive connection between requests
  std::chrono::seconds requestTimeout{60};  // reading one body / writing one response
  // A request's head (request line and headers) must be complete this long after its first
  // byte, and on a new connection after the accept (TLS handshake included): a client trickling
  // its headers holds a connection no longer. Streamed responses (watch, SSE) are not bounded.
  std::chrono::seconds headerTimeout{10};
  // Open connections beyond this are answered 503 and closed (watches count too).
  size_t maxConnections = 1024;
  // stop() waits this long at most for streamed bodies to be ended cleanly.
  std::chrono::milliseconds shutdownGrace{5000};
  // The response to a refusal answered before the handler runs or without it (400 and 431 for a
  // malformed head whose request line still names a target, 413, 503 over capacity or while
  // stopping) of a request whose target is known. Unset, or no target: a Kubernetes Status.
  std::function<Response(const std::string& target, int code, const std::string& message)> refusal;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving. Throws std::runtime_error (address in use, bad certificate...).
  void start();
  // Closes the listener, ends every stream with its last chunk (waiting up to shutdownGrace for
  // them to go out), then closes every connection and joins the threads.
  void stop();
  uint16_t port() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace minimcp::server
