#include "reconciler/work_queue.h"

namespace minimcp::reconciler {

namespace {

double secondsBetween(std::chrono::steady_clock::time_point from,
                      std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

WorkQueue::WorkQueue(const Clock& clock, Duration baseDelay, Duration maxDelay,
                     WorkQueueMetrics* metrics)
    : clock_(clock), baseDelay_(baseDelay), maxDelay_(maxDelay), metrics_(metrics) {}

void WorkQueue::pushLocked(const std::string& key) {
  queue_.push_back(key);
  queuedAt_.emplace(key, clock_.steadyNow());
  if (metrics_) {
    metrics_->added();
    metrics_->depth(queue_.size());
  }
  cv_.notify_one();
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  addLocked(key);
}

void WorkQueue::addLocked(const std::string& key) {
  if (shutdown_ || !dirty_.insert(key).second) return;
  if (processing_.count(key)) return;  // done() queues it again
  pushLocked(key);
}

void WorkQueue::addAfter(const std::string& key, Duration delay) {
  std::lock_guard lock(mu_);
  if (shutdown_) return;
  if (delay <= Duration::zero()) {
    addLocked(key);
    return;
  }
  const SteadyTimePoint at = clock_.steadyNow() + delay;
  auto it = delayedAt_.find(key);
  if (it != delayedAt_.end() && it->second <= at) return;
  delayedAt_[key] = at;
  // A superseded entry stays in the heap; promoteDueLocked() skips it by its time.
  delayed_.push({at, seq_++, key});
  // Waiters may be sleeping until a later time (or indefinitely): let them recompute.
  cv_.notify_all();
}

void WorkQueue::addRateLimited(const std::string& key) {
  Duration d;
  {
    std::lock_guard lock(mu_);
    d = backoffFor(++failures_[key]);
    if (metrics_) metrics_->retried();
  }
  addAfter(key, d);
}

WorkQueue::Duration WorkQueue::backoffFor(int failures) const {
  Duration d = baseDelay_;
  for (int i = 1; i < failures && d < maxDelay_; ++i) d *= 2;
  return d < maxDelay_ ? d : maxDelay_;
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

int WorkQueue::numRequeues(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

WorkQueue::Duration WorkQueue::nextBackoff(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return backoffFor((it == failures_.end() ? 0 : it->second) + 1);
}

void WorkQueue::promoteDueLocked(SteadyTimePoint now) {
  while (!delayed_.empty() && delayed_.top().at <= now) {
    Delayed d = delayed_.top();
    delayed_.pop();
    auto it = delayedAt_.find(d.key);
    if (it == delayedAt_.end() || it->second != d.at) continue;  // superseded
    delayedAt_.erase(it);
    addLocked(d.key);
  }
}

std::optional<std::string> WorkQueue::get() { return getUntil(std::nullopt); }

std::optional<std::string> WorkQueue::getFor(Duration timeout) {
  return getUntil(clock_.steadyNow() + timeout);
}

std::optional<std::string> WorkQueue::getUntil(std::optional<SteadyTimePoint> deadline) {
  std::unique_lock lock(mu_);
  while (true) {
    if (shutdown_) return std::nullopt;
    const SteadyTimePoint now = clock_.steadyNow();
    promoteDueLocked(now);
    if (!queue_.empty()) break;
    if (deadline && now >= *deadline) return std::nullopt;
    // Sleep until the earliest of: the next delayed key, our own deadline, or a notify.
    std::optional<SteadyTimePoint> wake = deadline;
    if (!delayed_.empty() && (!wake || delayed_.top().at < *wake)) wake = delayed_.top().at;
    if (wake) {
      cv_.wait_for(lock, *wake - now);
    } else {
      cv_.wait(lock);
    }
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  const SteadyTimePoint now = clock_.steadyNow();
  if (auto it = queuedAt_.find(key); it != queuedAt_.end()) {
    if (metrics_) metrics_->queued(secondsBetween(it->second, now));
    queuedAt_.erase(it);
  }
  if (metrics_) metrics_->depth(queue_.size());
  processing_.emplace(key, now);
  dirty_.erase(key);
  return key;
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  if (auto it = processing_.find(key); it != processing_.end()) {
    if (metrics_) metrics_->worked(secondsBetween(it->second, clock_.steadyNow()));
    processing_.erase(it);
  }
  if (dirty_.count(key) && !shutdown_) pushLocked(key);
}

void WorkQueue::shutdown() {
  std::lock_guard lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

bool WorkQueue::shuttingDown() const {
  std::lock_guard lock(mu_);
  return shutdown_;
}

size_t WorkQueue::len() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

size_t WorkQueue::delayedLen() const {
  std::lock_guard lock(mu_);
  return delayedAt_.size();
}

WorkQueue::InProcess WorkQueue::inProcess() const {
  std::lock_guard lock(mu_);
  const SteadyTimePoint now = clock_.steadyNow();
  InProcess r;
  for (const auto& [key, since] : processing_) {
    const double s = secondsBetween(since, now);
    r.totalSeconds += s;
    if (s > r.longestSeconds) r.longestSeconds = s;
  }
  return r;
}

}  // namespace minimcp::reconciler
