// API request metrics, on the shared metrics registry (served at /metrics).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "api/metrics/registry.h"

namespace minimcp::server {

class Metrics {
 public:
  explicit Metrics(metrics::Registry& registry);
  ~Metrics();
  // One finished request: `verb` is the API verb (get, list, watch, create...) or the HTTP
  // method for non-resource paths, `resource` the plural or the path class ("healthz").
  void observe(const std::string& verb, const std::string& resource, int code,
               std::chrono::duration<double> latency);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minimcp::server
