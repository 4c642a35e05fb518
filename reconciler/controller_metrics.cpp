#include "reconciler/controller_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace minimcp::reconciler {

namespace {

// client-go's queue duration buckets: 1 µs to 10 s, by tens.
std::vector<double> queueBuckets() { return {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10}; }

}  // namespace

struct ControllerMetrics::Impl : WorkQueueMetrics {
  Impl(metrics::Registry& r, const std::string& controller)
      : registry(r),
        reconcileTotal(prometheus::BuildCounter()
                           .Name("controller_runtime_reconcile_total")
                           .Help("Total number of reconciliations per controller")
                           .Register(r.families())),
        reconcileErrors(prometheus::BuildCounter()
                            .Name("controller_runtime_reconcile_errors_total")
                            .Help("Total number of reconciliation errors per controller")
                            .Register(r.families())
                            .Add({{"controller", controller}})),
        reconcileTime(prometheus::BuildHistogram()
                          .Name("controller_runtime_reconcile_time_seconds")
                          .Help("Length of time per reconciliation per controller")
                          .Register(r.families())
                          .Add({{"controller", controller}}, metrics::durationBuckets())),
        depthGauge(prometheus::BuildGauge()
                       .Name("workqueue_depth")
                       .Help("Current depth of workqueue")
                       .Register(r.families())
                       .Add({{"name", controller}})),
        adds(prometheus::BuildCounter()
                 .Name("workqueue_adds_total")
                 .Help("Total number of adds handled by workqueue")
                 .Register(r.families())
                 .Add({{"name", controller}})),
        queueDuration(prometheus::BuildHistogram()
                          .Name("workqueue_queue_duration_seconds")
                          .Help("How long in seconds an item stays in workqueue before being "
                                "requested")
                          .Register(r.families())
                          .Add({{"name", controller}}, queueBuckets())),
        workDuration(prometheus::BuildHistogram()
                         .Name("workqueue_work_duration_seconds")
                         .Help("How long in seconds processing an item from workqueue takes")
                         .Register(r.families())
                         .Add({{"name", controller}}, queueBuckets())),
        retries(prometheus::BuildCounter()
                    .Name("workqueue_retries_total")
                    .Help("Total number of retries handled by workqueue")
                    .Register(r.families())
                    .Add({{"name", controller}})),
        unfinished(prometheus::BuildGauge()
                       .Name("workqueue_unfinished_work_seconds")
                       .Help("How many seconds of work has been done that is in progress and "
                             "hasn't been observed by work_duration")
                       .Register(r.families())
                       .Add({{"name", controller}})),
        longest(prometheus::BuildGauge()
                    .Name("workqueue_longest_running_processor_seconds")
                    .Help("How many seconds has the longest running processor for workqueue "
                          "been running")
                    .Register(r.families())
                    .Add({{"name", controller}})),
        instances(prometheus::BuildGauge()
                      .Name("minimcp_instances")
                      .Help("MCP instances run by this node, by phase and type")
                      .Register(r.families())),
        restarts(prometheus::BuildCounter()
                     .Name("minimcp_instance_restarts_total")
                     .Help("Restarts of failed instance processes, by termination reason")
                     .Register(r.families())) {
    for (const char* result : {"success", "error", "requeue", "requeue_after"}) {
      results[result] = &reconcileTotal.Add({{"controller", controller}, {"result", result}});
    }
  }

  void added() override { adds.Increment(); }
  void depth(size_t ready) override { depthGauge.Set(static_cast<double>(ready)); }
  void queued(double seconds) override { queueDuration.Observe(seconds); }
  void worked(double seconds) override { workDuration.Observe(seconds); }
  void retried() override { retries.Increment(); }

  metrics::Registry& registry;
  prometheus::Family<prometheus::Counter>& reconcileTotal;
  std::map<std::string, prometheus::Counter*> results;  // fixed after construction
  prometheus::Counter& reconcileErrors;
  prometheus::Histogram& reconcileTime;
  prometheus::Gauge& depthGauge;
  prometheus::Counter& adds;
  prometheus::Histogram& queueDuration;
  prometheus::Histogram& workDuration;
  prometheus::Counter& retries;
  prometheus::Gauge& unfinished;
  prometheus::Gauge& longest;
  prometheus::Family<prometheus::Gauge>& instances;
  prometheus::Family<prometheus::Counter>& restarts;

  std::mutex mu;
  // key → the gauge it counts in; a (phase, type) series is removed with its last instance.
  std::map<std::string, prometheus::Gauge*> instanceOf;
  std::map<std::pair<std::string, std::string>, std::pair<prometheus::Gauge*, int>> byPhase;
  std::map<std::string, prometheus::Counter*> restartsByReason;

  void leaveLocked(std::map<std::string, prometheus::Gauge*>::iterator it) {
    for (auto b = byPhase.begin(); b != byPhase.end(); ++b) {
      if (b->second.first != it->second) continue;
      b->second.first->Decrement();
      if (--b->second.second == 0) {
        instances.Remove(b->second.first);
        byPhase.erase(b);
      }
      break;
    }
    instanceOf.erase(it);
  }
};

ControllerMetrics::ControllerMetrics(metrics::Registry& registry, std::string controller)
    : impl_(std::make_unique<Impl>(registry, controller)) {}

ControllerMetrics::~ControllerMetrics() = default;

void ControllerMetrics::reconciled(const char* result, double seconds) {
  auto it = impl_->results.find(result);
  if (it != impl_->results.end()) it->second->Increment();
  if (std::string_view(result) == "error") impl_->reconcileErrors.Increment();
  impl_->reconcileTime.Observe(seconds);
}

void ControllerMetrics::instance(const std::string& key, const std::string& phase,
                                 const std::string& type) {
  std::lock_guard lock(impl_->mu);
  auto& slot = impl_->byPhase[{phase, type}];
  if (!slot.first) slot.first = &impl_->instances.Add({{"phase", phase}, {"type", type}});
  auto it = impl_->instanceOf.find(key);
  if (it != impl_->instanceOf.end()) {
    if (it->second == slot.first) return;
    impl_->leaveLocked(it);
  }
  ++slot.second;
  slot.first->Increment();
  impl_->instanceOf[key] = slot.first;
}

void ControllerMetrics::instanceGone(const std::string& key) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->instanceOf.find(key);
  if (it != impl_->instanceOf.end()) impl_->leaveLocked(it);
}

void ControllerMetrics::restarted(const std::string& reason) {
  prometheus::Counter* c;
  {
    std::lock_guard lock(impl_->mu);
    auto& slot = impl_->restartsByReason[reason];
    if (!slot) slot = &impl_->restarts.Add({{"reason", reason}});
    c = slot;
  }
  c->Increment();
}

WorkQueueMetrics& ControllerMetrics::queue() { return *impl_; }

std::shared_ptr<void> ControllerMetrics::watch(const WorkQueue& queue) {
  return impl_->registry.onScrape([this, &queue] {
    const WorkQueue::InProcess p = queue.inProcess();
    impl_->unfinished.Set(p.totalSeconds);
    impl_->longest.Set(p.longestSeconds);
  });
}

}  // namespace minimcp::reconciler
