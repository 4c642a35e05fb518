// The reconciler's metric families, under controller-runtime's and client-go's names where
// they have one: reconcile totals, errors and time per controller, the work queue's, and
// MiniMCP's instances by phase and type, restarts by reason, the time from apply to Ready, and
// each running instance's CPU and memory, and idle instances put to sleep and woken. prometheus-cpp
// stays in the .cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "api/metrics/registry.h"
#include "api/util/clock.h"
#include "reconciler/runtime/process_runtime.h"
#include "reconciler/work_queue.h"

namespace minimcp::reconciler {

class ControllerMetrics {
 public:
  // Families are registered on `registry`, which must outlive this.
  ControllerMetrics(metrics::Registry& registry, std::string controller);
  ~ControllerMetrics();
  ControllerMetrics(const ControllerMetrics&) = delete;
  ControllerMetrics& operator=(const ControllerMetrics&) = delete;

  // controller-runtime's results: success, error, requeue, requeue_after.
  void reconciled(const char* result, double seconds);
  // The instance `key` is now in `phase` and of `type` (counted once per key).
  void instance(const std::string& key, const std::string& phase, const std::string& type);
  // The instance `key` is gone (or no longer this node's).
  void instanceGone(const std::string& key);
  // A failed process was restarted; `reason` is its termination's (Error, OOMKilled...).
  void restarted(const std::string& reason);
  // An instance went Idle (minimcp_instance_idle_total).
  void wentIdle();
  // A wake ended: result ok (then `seconds` from the first request to serving), failed or
  // timeout (minimcp_instance_wakes_total, minimcp_instance_wake_seconds).
  void woke(const char* result, std::optional<double> seconds);
  // The instance `key` of `type` at `generation` was looked at (`now`) and is `ready` or not.
  // The first time it is seen Ready after having been seen not Ready at that generation, the time
  // since it was applied is observed: since `appliedAt` (the object's own time, whole seconds),
  // or since it was first seen when that was within a second of `appliedAt` (more precise).
  void readiness(const std::string& key, const std::string& type, int64_t generation, bool ready,
                 TimePoint appliedAt, TimePoint now);

  // The sink to hand to the controller's WorkQueue.
  WorkQueueMetrics& queue();
  // Reports `queue`'s unfinished work and longest running processor at every scrape, until the
  // handle is destroyed (before the queue).
  [[nodiscard]] std::shared_ptr<void> watch(const WorkQueue& queue);
  // Reports every counted instance's CPU seconds and resident memory at every scrape, as
  // `usage` measures them (nullopt: no process, no series), until the handle is destroyed.
  using UsageOf = std::function<std::optional<runtime::Usage>(const std::string& key)>;
  [[nodiscard]] std::shared_ptr<void> watchUsage(UsageOf usage);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minimcp::reconciler
