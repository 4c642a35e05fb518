#include "reconciler/controller_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <vector>

namespace minimcp::reconciler {

namespace {

// client-go's queue duration buckets: 1 µs to 10 s, by tens.
std::vector<double> queueBuckets() { return {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10}; }

// From apply to Ready: a process start and its first health probes, up to a slow image's.
std::vector<double> readyBuckets() { return {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300}; }

std::pair<std::string, std::string> splitKey(const std::string& key) {
  const auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

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
                     .Register(r.families())),
        applyToReady(prometheus::BuildHistogram()
                         .Name("minimcp_instance_apply_to_ready_seconds")
                         .Help("Time from an instance's creation or spec change to its first "
                               "Ready at that generation, by type")
                         .Register(r.families())),
        cpuSeconds(prometheus::BuildCounter()
                       .Name("minimcp_instance_cpu_seconds_total")
                       .Help("CPU time (user and system) of each running instance's process "
                             "group since its process started")
                       .Register(r.families())),
        memoryBytes(prometheus::BuildGauge()
                        .Name("minimcp_instance_resident_memory_bytes")
                        .Help("Resident memory of each running instance's process group")
                        .Register(r.families())),
        idle(prometheus::BuildCounter()
                 .Name("minimcp_instance_idle_total")
                 .Help("Instances put to sleep (phase Idle) after no gateway traffic for their "
                       "idleTimeout")
                 .Register(r.families())
                 .Add({})),
        wakes(prometheus::BuildCounter()
                  .Name("minimcp_instance_wakes_total")
                  .Help("Wakes of Idle instances by requests through the gateway, by result (ok, "
                        "failed, timeout: a request gave up waiting)")
                  .Register(r.families())),
        wakeTime(prometheus::BuildHistogram()
                     .Name("minimcp_instance_wake_seconds")
                     .Help("Time from the first request to an Idle instance to its process "
                           "serving")
                     .Register(r.families())
                     .Add({}, metrics::durationBuckets())) {
    for (const char* result : {"ok", "failed", "timeout"}) {
      wakeResults[result] = &wakes.Add({{"result", result}});
    }
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
  prometheus::Family<prometheus::Histogram>& applyToReady;
  prometheus::Family<prometheus::Counter>& cpuSeconds;
  prometheus::Family<prometheus::Gauge>& memoryBytes;
  prometheus::Counter& idle;
  prometheus::Family<prometheus::Counter>& wakes;
  prometheus::Histogram& wakeTime;
  std::map<std::string, prometheus::Counter*> wakeResults;  // fixed after construction

  std::mutex mu;
  // key → the gauge it counts in; a (phase, type) series is removed with its last instance.
  std::map<std::string, prometheus::Gauge*> instanceOf;
  std::map<std::pair<std::string, std::string>, std::pair<prometheus::Gauge*, int>> byPhase;
  std::map<std::string, prometheus::Counter*> restartsByReason;
  std::map<std::string, prometheus::Histogram*> readyByType;
  struct Pending {
    int64_t generation = 0;
    bool ready = false;  // seen Ready at `generation` (observed, or never seen otherwise)
    TimePoint firstSeen{};
  };
  std::map<std::string, Pending> readiness;
  struct UsageSeries {
    prometheus::Counter* cpu = nullptr;
    prometheus::Gauge* memory = nullptr;
  };
  std::map<std::string, UsageSeries> usageOf;  // by key: the instances with a process
  // instanceOf's keys, kept between scrapes until an instance comes or goes (a scrape of a
  // thousand instances then copies no key).
  std::shared_ptr<const std::vector<std::string>> keys;

  void dropUsageLocked(std::map<std::string, UsageSeries>::iterator it) {
    cpuSeconds.Remove(it->second.cpu);
    memoryBytes.Remove(it->second.memory);
    usageOf.erase(it);
  }

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
    keys.reset();
  }

  void refreshUsage(const ControllerMetrics::UsageOf& usage) {
    std::shared_ptr<const std::vector<std::string>> counted;
    {
      std::lock_guard lock(mu);
      if (!keys) {
        auto all = std::make_shared<std::vector<std::string>>();
        all->reserve(instanceOf.size());
        for (const auto& [key, gauge] : instanceOf) all->push_back(key);
        keys = std::move(all);
      }
      counted = keys;
    }
    // Read without the lock: the runtime takes its own.
    std::map<std::string, runtime::Usage> now;
    for (const auto& key : *counted) {
      if (auto u = usage(key)) now.emplace_hint(now.end(), key, *u);
    }
    std::lock_guard lock(mu);
    for (auto it = usageOf.begin(); it != usageOf.end();) {
      auto next = std::next(it);
      if (!now.count(it->first) || !instanceOf.count(it->first)) dropUsageLocked(it);
      it = next;
    }
    for (const auto& [key, u] : now) {
      if (!instanceOf.count(key)) continue;  // gone meanwhile
      auto& series = usageOf[key];
      const auto [ns, name] = splitKey(key);
      const prometheus::Labels labels{{"namespace", ns}, {"mcpinstance", name}};
      // A new process starts from zero: so does its counter (a reset, as rate() expects).
      if (series.cpu && u.cpuSeconds < series.cpu->Value()) {
        cpuSeconds.Remove(series.cpu);
        series.cpu = nullptr;
      }
      if (!series.cpu) series.cpu = &cpuSeconds.Add(labels);
      if (!series.memory) series.memory = &memoryBytes.Add(labels);
      series.cpu->Increment(u.cpuSeconds - series.cpu->Value());
      series.memory->Set(static_cast<double>(u.memoryBytes));
    }
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
  impl_->keys.reset();
}

void ControllerMetrics::instanceGone(const std::string& key) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->instanceOf.find(key);
  if (it != impl_->instanceOf.end()) impl_->leaveLocked(it);
  impl_->readiness.erase(key);
  if (auto u = impl_->usageOf.find(key); u != impl_->usageOf.end()) impl_->dropUsageLocked(u);
}

void ControllerMetrics::wentIdle() { impl_->idle.Increment(); }

void ControllerMetrics::woke(const char* result, std::optional<double> seconds) {
  if (auto it = impl_->wakeResults.find(result); it != impl_->wakeResults.end()) {
    it->second->Increment();
  }
  if (seconds) impl_->wakeTime.Observe(*seconds);
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

void ControllerMetrics::readiness(const std::string& key, const std::string& type,
                                  int64_t generation, bool ready, TimePoint appliedAt,
                                  TimePoint now) {
  prometheus::Histogram* h = nullptr;
  double seconds = 0;
  {
    std::lock_guard lock(impl_->mu);
    auto [it, added] = impl_->readiness.try_emplace(key);
    Impl::Pending& p = it->second;
    if (added || p.generation != generation) {
      // Ready at first sight: it got there before this mcpd looked (a restart), nothing to time.
      p = {generation, ready, now};
      return;
    }
    if (p.ready || !ready) return;
    p.ready = true;
    // The object's time has whole seconds: first seen within a second of it, the first sight
    // is the closer mark of the apply; seen later (a backlog, a restart), the object's time is.
    const TimePoint start =
        p.firstSeen - appliedAt < std::chrono::seconds(1) ? p.firstSeen : appliedAt;
    seconds = std::max(0.0, std::chrono::duration<double>(now - start).count());
    auto& slot = impl_->readyByType[type];
    if (!slot) slot = &impl_->applyToReady.Add({{"type", type}}, readyBuckets());
    h = slot;
  }
  h->Observe(seconds);
}

WorkQueueMetrics& ControllerMetrics::queue() { return *impl_; }

std::shared_ptr<void> ControllerMetrics::watch(const WorkQueue& queue) {
  return impl_->registry.onScrape([this, &queue] {
    const WorkQueue::InProcess p = queue.inProcess();
    impl_->unfinished.Set(p.totalSeconds);
    impl_->longest.Set(p.longestSeconds);
  });
}

std::shared_ptr<void> ControllerMetrics::watchUsage(UsageOf usage) {
  return impl_->registry.onScrape([this, usage = std::move(usage)] { impl_->refreshUsage(usage); });
}

}  // namespace minimcp::reconciler
