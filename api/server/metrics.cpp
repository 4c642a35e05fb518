#include "api/server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <tuple>

namespace minimcp::server {

struct Metrics::Impl {
  explicit Impl(prometheus::Registry& registry)
      : requests(prometheus::BuildCounter()
                     .Name("minimcp_apiserver_requests_total")
                     .Help("API requests by verb, resource and HTTP status code")
                     .Register(registry)),
        latency(prometheus::BuildHistogram()
                    .Name("minimcp_apiserver_request_duration_seconds")
                    .Help("API request latency by verb and resource (watches excluded)")
                    .Register(registry)) {}
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& latency;
  // Family::Add locks and hashes the labels; caching the children keeps /healthz-level
  // requests cheap.
  std::mutex mu;
  std::map<std::tuple<std::string, std::string, int>, prometheus::Counter*> counters;
  std::map<std::pair<std::string, std::string>, prometheus::Histogram*> histograms;
};

Metrics::Metrics(metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(registry.families())) {}
Metrics::~Metrics() = default;

void Metrics::observe(const std::string& verb, const std::string& resource, int code,
                      std::chrono::duration<double> latency) {
  prometheus::Counter* counter;
  prometheus::Histogram* histogram = nullptr;
  {
    std::lock_guard lock(impl_->mu);
    auto& c = impl_->counters[{verb, resource, code}];
    if (!c) {
      c = &impl_->requests.Add(
          {{"verb", verb}, {"resource", resource}, {"code", std::to_string(code)}});
    }
    counter = c;
    if (verb != "watch") {
      auto& h = impl_->histograms[{verb, resource}];
      if (!h) {
        h = &impl_->latency.Add(
            {{"verb", verb}, {"resource", resource}},
            prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1, 0.25, 0.5, 1, 2.5, 5});
      }
      histogram = h;
    }
  }
  counter->Increment();
  if (histogram) histogram->Observe(latency.count());
}

}  // namespace minimcp::server
