// HttpClient: a small synchronous HTTPS/HTTP client for mcpctl and the tests. Beast stays in
// the .cpp. One client keeps one keep-alive connection and reconnects when the server closed it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "api/client/host_resolver.h"

namespace minimcp::client {

struct ConnectionConfig {
  std::string server;           // "https://127.0.0.1:7443" or "http://…"
  std::string token;            // bearer token; "" = none
  std::string caPem;            // PEM of the CA that signed the server certificate; "" = system
  bool systemRootsToo = false;  // with caPem: trust the system's CAs as well
  bool insecureSkipVerify = false;
  std::string ns = "default";  // the default namespace (from kubeconfig context or -n)
  // Why an address the server's host resolves to ("10.0.0.1", "::1") may not be connected to;
  // "" allows it. Unset: every address. Only allowed addresses are tried, so what was checked
  // is what is connected to (a name that resolves differently later changes nothing).
  std::function<std::string(const std::string& address)> refuseAddress;
  // Looks up the server's host, bounded by the request's timeout. Unset: systemHostResolver().
  std::shared_ptr<HostResolver> resolver;
  size_t maxResponseBytes = 256u * 1024 * 1024;  // a longer response body fails the request
  std::string userAgent = "mcpctl/0.1.0";
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

class HttpClient {
 public:
  explicit HttpClient(ConnectionConfig config);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `target` is path + query ("/apis/minimcp.io/v1alpha1/mcptypes?limit=5"). Throws
  // std::runtime_error on connection failure or timeout (the message says which).
  Response request(const std::string& method, const std::string& target,
                   const std::string& body = "",
                   const std::map<std::string, std::string>& headers = {},
                   std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // For watch / logs -f: sends the request and calls `onLine` for every '\n'-terminated line of
  // the (chunked) body as it arrives; stops when `onLine` returns false, the server ends the
  // body, or nothing arrives for `idleTimeout`. Returns the status code (a non-2xx body is
  // passed to onLine as one line).
  int stream(const std::string& method, const std::string& target,
             const std::function<bool(const std::string& line)>& onLine,
             const std::map<std::string, std::string>& headers = {},
             std::chrono::milliseconds idleTimeout = std::chrono::hours(24));

  const ConnectionConfig& config() const { return config_; }

 private:
  struct Impl;
  ConnectionConfig config_;
  std::unique_ptr<Impl> impl_;
};

// URL-encodes a query parameter value.
std::string urlEncode(const std::string& s);

}  // namespace minimcp::client
