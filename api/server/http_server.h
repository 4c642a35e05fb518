// HttpServer: the Boost.Beast HTTP/1.1 server (HTTPS by default) behind every mcpd endpoint.
// Beast stays in the .cpp files; callers see only http_types.h.
#pragma once

#include <chrono>
#include <cstdint>
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
  int threads = 2;
  size_t bodyLimit = 1 << 20;               // larger bodies answer 413
  size_t headerLimit = 64 << 10;            // larger headers answer 431
  std::chrono::seconds idleTimeout{120};    // keep-alive connection without a request
  std::chrono::seconds requestTimeout{60};  // reading one request / writing one response
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving. Throws std::runtime_error (address in use, bad certificate...).
  void start();
  // Stops every stream, closes the listener and every connection, joins the threads.
  void stop();
  uint16_t port() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace minimcp::server
