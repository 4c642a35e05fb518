// The gateway's metric families, on the shared registry:
//   minimcp_gateway_requests_total{namespace,mcpinstance,method,code}
//   minimcp_gateway_time_to_first_byte_seconds{namespace,mcpinstance,stream}
//   minimcp_gateway_open_streams{namespace,mcpinstance}
// `method` is the MCP method (the Mcp-Method header, else the JSON-RPC body's top-level
// "method"): one of the protocol's methods, "other" for any other name, "batch" for a JSON-RPC
// batch, "" when there is none (GET, DELETE, a response). A request is labelled with its
// instance only once the caller was found allowed to use an instance that exists; every other
// one (a bad token, a made-up name) counts with an empty namespace and instance, so no caller
// can add series. Time to first byte ends when the head is ready: for a plain response, its
// whole body; for a stream, its head (`stream="true"`). An instance's series go when it is
// deleted. Requests another node forwarded here were counted there and are not counted again.
// prometheus-cpp and Beast stay in the .cpp.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "api/metrics/registry.h"
#include "api/server/http_types.h"
#include "api/store/store.h"

namespace minimcp::gateway {

// The instance a request was admitted to (empty until it was).
struct AdmittedInstance {
  std::string ns, name;
};

// The MCP method label of `req` (see above).
std::string mcpMethodLabel(const server::Request& req);

class GatewayMetrics {
 public:
  // Subscribes to `store` to forget deleted instances; `registry` and `store` must outlive this.
  GatewayMetrics(metrics::Registry& registry, store::Store& store);
  ~GatewayMetrics();
  GatewayMetrics(const GatewayMetrics&) = delete;
  GatewayMetrics& operator=(const GatewayMetrics&) = delete;

  // `r`, the answer to `req` started at `start`, as the caller gets it: counted when its head is
  // known (now, or when a deferred answer comes), its stream counted as open until it ends.
  server::Response observe(const server::Request& req, const AdmittedInstance& target,
                           std::chrono::steady_clock::time_point start, server::Response r);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace minimcp::gateway
