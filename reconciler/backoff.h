// CrashLoopBackOff: how long to wait before restarting a process that keeps failing.
// Pure arithmetic so decide() and its tests share one definition of the schedule.
#pragma once

#include <chrono>

namespace minimcp::reconciler {

class CrashLoopBackoff {
 public:
  using Duration = std::chrono::milliseconds;

  // First restart at once, then 1 s doubling to 5 min, reset after 10 min healthy.
  explicit CrashLoopBackoff(Duration initial = std::chrono::seconds(1),
                            Duration max = std::chrono::minutes(5),
                            Duration resetAfter = std::chrono::minutes(10))
      : initial_(initial), max_(max), resetAfter_(resetAfter) {}

  // Delay before the restart that follows the `crashes`-th consecutive failure (1-based):
  // crashes 1 → 0, 2 → 1 s, 3 → 2 s, 4 → 4 s, ... capped at `max`. crashes <= 0 → 0.
  Duration delayFor(int crashes) const;

  // Whether a process that stayed healthy for `healthyFor` earned a fresh schedule: its
  // failure then counts as the first of a new series.
  bool shouldReset(Duration healthyFor) const { return healthyFor >= resetAfter_; }

  // The consecutive-failure count after one more failure, given the count before it and how
  // long the failed process had been healthy.
  int nextCrashCount(int crashesBefore, Duration healthyFor) const {
    return shouldReset(healthyFor) || crashesBefore < 0 ? 1 : crashesBefore + 1;
  }

  Duration max() const { return max_; }

 private:
  Duration initial_;
  Duration max_;
  Duration resetAfter_;
};

}  // namespace minimcp::reconciler
