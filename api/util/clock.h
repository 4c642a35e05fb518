// Clock: the only way code reads the time, so tests can substitute a fake.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace minimcp {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time: timestamps written to objects, TTL expiry.
  virtual TimePoint now() const = 0;
  // Monotonic time: timeouts, backoff, durations.
  virtual std::chrono::steady_clock::time_point steadyNow() const = 0;
};

class SystemClock : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point steadyNow() const override {
    return std::chrono::steady_clock::now();
  }
  static SystemClock& instance();
};

// The instants the API holds: from 1970-01-01T00:00:00Z up to (excluding)
// 2200-01-01T00:00:00Z. A nanosecond TimePoint spans only ±292 years around 1970, so every time
// parsed from a client stays in this range: any two then differ by less than that span, and
// neither adding a duration (through addChecked) nor subtracting two of them can overflow.
TimePoint earliestTime();
TimePoint latestTime();  // the first instant beyond the range
// The longest duration parseDuration() reads: 100 years (876000h).
inline constexpr std::chrono::milliseconds kMaxDuration{100LL * 365 * 24 * 3600 * 1000};
// t + d when that stays in the range above; nullopt otherwise (t must be in the range).
std::optional<TimePoint> addChecked(TimePoint t, std::chrono::milliseconds d);

// RFC 3339 in UTC with second precision ("2026-11-23T22:49:41Z"), as Kubernetes writes it.
std::string formatRfc3339(TimePoint t);
// The same with milliseconds ("2026-11-23T22:49:41.123Z"), for leases (like MicroTime).
std::string formatRfc3339Millis(TimePoint t);
// Accepts "Z" or "+hh:mm" offsets and optional fractional seconds. nullopt when malformed or
// outside [earliestTime(), latestTime()).
std::optional<TimePoint> parseRfc3339(const std::string& s);

// Durations as in `spec.ttl`: ^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$ . nullopt when malformed or
// longer than kMaxDuration.
std::optional<std::chrono::milliseconds> parseDuration(const std::string& s);
// Short human form like kubectl's AGE column: "5s", "3m", "2h", "4d".
std::string humanDuration(std::chrono::milliseconds d);

}  // namespace minimcp
