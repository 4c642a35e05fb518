// FakeClock: a Clock that moves only when a test says so. Wall and steady time advance together.
#pragma once

#include <chrono>
#include <mutex>

#include "api/util/clock.h"

namespace minimcp::test {

class FakeClock : public Clock {
 public:
  // 2026-01-01T00:00:00Z, a whole second so RFC 3339 round trips are exact.
  static constexpr std::chrono::seconds kEpoch{1767225600};

  explicit FakeClock(TimePoint start = TimePoint(kEpoch))
      : wall_(start), steady_(std::chrono::hours(1000)) {}

  TimePoint now() const override {
    std::lock_guard lock(mu_);
    return wall_;
  }
  std::chrono::steady_clock::time_point steadyNow() const override {
    std::lock_guard lock(mu_);
    return steady_;
  }
  template <typename Rep, typename Period>
  void advance(std::chrono::duration<Rep, Period> d) {
    std::lock_guard lock(mu_);
    wall_ += std::chrono::duration_cast<TimePoint::duration>(d);
    steady_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
  }
  // Moves only the wall clock, as an NTP step or a manual date change would.
  void setWall(TimePoint t) {
    std::lock_guard lock(mu_);
    wall_ = t;
  }

 private:
  mutable std::mutex mu_;
  TimePoint wall_;
  std::chrono::steady_clock::time_point steady_;
};

}  // namespace minimcp::test
