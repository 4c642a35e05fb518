// Scheduler: binds MCPInstances to nodes. Every node runs one; the one holding the
// store's "minimcp-scheduler" lock (a PostgreSQL advisory lock) acts, the others wait to take
// over. A pass reads every Node and MCPInstance, marks nodes whose lease lapsed as Lost, and
// writes schedule()'s bindings (placement.h) with compare-and-swap, so a node that renews or
// a controller that writes status at the same moment makes the pass start over rather than be
// overwritten. Passes run on instance and node changes and every `period`.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api/registry/event_recorder.h"
#include "api/store/store.h"
#include "api/util/clock.h"
#include "reconciler/placement.h"

namespace minimcp::reconciler {

struct SchedulerOptions {
  std::string node;  // this node: events' source.host
  // How often a pass runs without any change (lease lapses are noticed at this pace), and how
  // often a non-leader tries to take the lock.
  std::chrono::milliseconds period{500};
};

class Scheduler {
 public:
  Scheduler(store::Store& store, const Clock& clock, SchedulerOptions options);
  ~Scheduler();  // stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void start();
  void stop();  // releases the lock

  // Takes the lock if free; then one pass when leading. Returns whether it leads (tests).
  // Not concurrently with the background thread.
  bool runOnce();
  bool leading() const { return leading_.load(); }

 private:
  // One pass; false when a write lost a race (run again at once).
  bool pass();
  void bind(const nlohmann::json& instance, const Binding& b);
  void loop();

  store::Store& store_;
  const Clock& clock_;
  SchedulerOptions options_;
  registry::EventRecorder events_;
  std::unique_ptr<store::ExclusiveLock> lock_;  // the loop thread's (or runOnce's caller's)
  std::atomic<bool> leading_{false};
  std::unique_ptr<store::Subscription> sub_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool dirty_ = false;
  std::thread thread_;
};

}  // namespace minimcp::reconciler
