// The reconciler's metric families, under controller-runtime's and client-go's names where
// they have one: reconcile totals, errors and time per controller, the work queue's, and
// MiniMCP's instances by phase and type and restarts by reason. prometheus-cpp stays in the .cpp.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "api/metrics/registry.h"
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

  // The sink to hand to the controller's WorkQueue.
  WorkQueueMetrics& queue();
  // Reports `queue`'s unfinished work and longest running processor at every scrape, until the
  // handle is destroyed (before the queue).
  [[nodiscard]] std::shared_ptr<void> watch(const WorkQueue& queue);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minimcp::reconciler
