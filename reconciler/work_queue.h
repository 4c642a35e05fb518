// WorkQueue: the reconciler's queue of object keys ("ns/name"), after client-go's
// rate-limiting work queue: de-duplicating, never hands one key to two workers at once,
// per-key exponential backoff for failures, and delayed adds for requeueAfter.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "api/util/clock.h"

namespace minimcp::reconciler {

// What a WorkQueue reports as it goes (client-go's workqueue metrics provider). Called with
// the queue's lock held: implementations must be quick and must not call back into the queue.
class WorkQueueMetrics {
 public:
  virtual ~WorkQueueMetrics() = default;
  virtual void added() = 0;                 // an add() that queued the key
  virtual void depth(size_t ready) = 0;     // the ready queue's new length
  virtual void queued(double seconds) = 0;  // from add to get
  virtual void worked(double seconds) = 0;  // from get to done
  virtual void retried() = 0;               // an addRateLimited()
};

class WorkQueue {
 public:
  using Duration = std::chrono::milliseconds;

  // Backoff for addRateLimited: baseDelay * 2^(failures-1), capped at maxDelay (client-go's
  // defaults: 5 ms to 1000 s). Delays are measured with clock.steadyNow(); waits use real time,
  // so the clock must advance like steady_clock (SystemClock in production).
  explicit WorkQueue(const Clock& clock = SystemClock::instance(),
                     Duration baseDelay = std::chrono::milliseconds(5),
                     Duration maxDelay = std::chrono::seconds(1000),
                     WorkQueueMetrics* metrics = nullptr);
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `key` unless it is already waiting. A key being processed is queued again when its
  // worker calls done().
  void add(const std::string& key);
  // Queues `key` after `delay` (at once when <= 0). A key already scheduled keeps the earlier time.
  void addAfter(const std::string& key, Duration delay);
  // addAfter with the key's next backoff delay; each call without forget() doubles it.
  void addRateLimited(const std::string& key);
  // The key succeeded: its backoff starts again from baseDelay.
  void forget(const std::string& key);
  // How many addRateLimited() calls since the last forget().
  int numRequeues(const std::string& key) const;
  // The delay the next addRateLimited(key) would use (does not count as a failure).
  Duration nextBackoff(const std::string& key) const;

  // Blocks until a key is ready (delayed keys become ready at their time) or shutdown().
  // nullopt once shut down. The caller must call done(key) when finished with it.
  std::optional<std::string> get();
  // As get(), but gives up after `timeout` (nullopt).
  std::optional<std::string> getFor(Duration timeout);
  void done(const std::string& key);

  // Wakes every get() (they return nullopt) and refuses further adds.
  void shutdown();
  bool shuttingDown() const;

  // Keys ready to be handed out (not counting delayed or in-process ones).
  size_t len() const;
  // Keys waiting for their delay.
  size_t delayedLen() const;

  // Keys handed to workers and not done yet: their total and their longest time in process
  // (client-go's unfinished work and longest running processor), in seconds.
  struct InProcess {
    double totalSeconds = 0, longestSeconds = 0;
  };
  InProcess inProcess() const;

 private:
  using SteadyTimePoint = std::chrono::steady_clock::time_point;
  struct Delayed {
    SteadyTimePoint at;
    uint64_t seq;  // FIFO among equal times
    std::string key;
    bool operator>(const Delayed& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  void addLocked(const std::string& key);
  // Appends to the ready queue (the key is dirty and not in process).
  void pushLocked(const std::string& key);
  // Moves every delayed key whose time has come into the ready queue.
  void promoteDueLocked(SteadyTimePoint now);
  std::optional<std::string> getUntil(std::optional<SteadyTimePoint> deadline);
  Duration backoffFor(int failures) const;

  const Clock& clock_;
  const Duration baseDelay_;
  const Duration maxDelay_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;  // queued or to be re-queued after done()
  std::unordered_map<std::string, SteadyTimePoint> processing_;  // handed to a worker, since
  std::unordered_map<std::string, SteadyTimePoint> queuedAt_;    // in queue_, since
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<>> delayed_;
  std::unordered_map<std::string, SteadyTimePoint> delayedAt_;  // earliest pending time per key
  std::unordered_map<std::string, int> failures_;
  uint64_t seq_ = 0;
  bool shutdown_ = false;
  WorkQueueMetrics* metrics_;
};

}  // namespace minimcp::reconciler
