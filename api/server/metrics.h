// Request metrics in the Prometheus exposition format (served at /metrics).
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace minimcp::server {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  // One finished request: `verb` is the API verb (get, list, watch, create...) or the HTTP
  // method for non-resource paths, `resource` the plural or the path class ("healthz").
  void observe(const std::string& verb, const std::string& resource, int code,
               std::chrono::duration<double> latency);
  // The text exposition format, from prometheus-cpp's TextSerializer.
  std::string render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minimcp::server
