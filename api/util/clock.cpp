#include "api/util/clock.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace minimcp {

SystemClock& SystemClock::instance() {
  static SystemClock clock;
  return clock;
}

namespace {
// 2200-01-01T00:00:00Z in seconds since the epoch.
constexpr int64_t kLatestSeconds = 7258118400;
}  // namespace

TimePoint earliestTime() { return TimePoint{}; }

TimePoint latestTime() { return TimePoint{std::chrono::seconds(kLatestSeconds)}; }

std::optional<TimePoint> addChecked(TimePoint t, std::chrono::milliseconds d) {
  if (t < earliestTime() || t >= latestTime()) return std::nullopt;
  // Compared in milliseconds: d may be too large for nanoseconds. Both differences fit, as t is
  // in the range, which is narrower than a TimePoint's span.
  using std::chrono::ceil;
  using std::chrono::milliseconds;
  if (d >= ceil<milliseconds>(latestTime() - t) || d < ceil<milliseconds>(earliestTime() - t)) {
    return std::nullopt;
  }
  return t + d;
}

std::string formatRfc3339(TimePoint t) {
  std::time_t secs =
      std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string formatRfc3339Millis(TimePoint t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  std::string s = formatRfc3339(secs);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
  s.pop_back();  // "Z"
  return s + frac;
}

namespace {

// Reads exactly `n` digits at `pos`; -1 when they are not all digits.
int readDigits(const std::string& s, size_t& pos, size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

bool expect(const std::string& s, size_t& pos, const char* options) {
  if (pos >= s.size()) return false;
  for (const char* o = options; *o; ++o) {
    if (s[pos] == *o) {
      ++pos;
      return true;
    }
  }
  return false;
}

int daysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace

std::optional<TimePoint> parseRfc3339(const std::string& s) {
  size_t p = 0;
  int year = readDigits(s, p, 4);
  if (year < 0 || !expect(s, p, "-")) return std::nullopt;
  int month = readDigits(s, p, 2);
  if (month < 1 || month > 12 || !expect(s, p, "-")) return std::nullopt;
  int day = readDigits(s, p, 2);
  if (day < 1 || day > daysInMonth(year, month) || !expect(s, p, "Tt")) return std::nullopt;
  int hour = readDigits(s, p, 2);
  if (hour < 0 || hour > 23 || !expect(s, p, ":")) return std::nullopt;
  int minute = readDigits(s, p, 2);
  if (minute < 0 || minute > 59 || !expect(s, p, ":")) return std::nullopt;
  int second = readDigits(s, p, 2);
  if (second < 0 || second > 60) return std::nullopt;  // 60: leap second, folded below
  std::chrono::nanoseconds frac{0};
  if (p < s.size() && s[p] == '.') {
    ++p;
    size_t start = p;
    int64_t scale = 100000000;
    while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) {
      frac += std::chrono::nanoseconds((s[p] - '0') * scale);
      scale /= 10;
      ++p;
    }
    if (p == start) return std::nullopt;
  }
  int offsetMinutes = 0;
  if (expect(s, p, "Zz")) {
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    int sign = s[p] == '-' ? -1 : 1;
    ++p;
    int oh = readDigits(s, p, 2);
    if (oh < 0 || oh > 23 || !expect(s, p, ":")) return std::nullopt;
    int om = readDigits(s, p, 2);
    if (om < 0 || om > 59) return std::nullopt;
    offsetMinutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (p != s.size()) return std::nullopt;

  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  // Seconds first (64 bits hold any 4-digit year), checked before they become nanoseconds.
  const int64_t secs = static_cast<int64_t>(timegm(&tm)) - int64_t{offsetMinutes} * 60;
  if (secs < 0 || secs >= kLatestSeconds) return std::nullopt;
  return TimePoint{std::chrono::seconds(secs)} +
         std::chrono::duration_cast<TimePoint::duration>(frac);
}

std::optional<std::chrono::milliseconds> parseDuration(const std::string& s) {
  constexpr auto kMaxMillis = static_cast<double>(kMaxDuration.count());
  if (s.empty()) return std::nullopt;
  double total = 0;
  size_t p = 0;
  while (p < s.size()) {
    size_t start = p;
    while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
    if (p == start) return std::nullopt;
    if (p < s.size() && s[p] == '.') {
      ++p;
      size_t fracStart = p;
      while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
      if (p == fracStart) return std::nullopt;
    }
    double value = std::strtod(s.substr(start, p - start).c_str(), nullptr);
    double unit;
    if (s.compare(p, 2, "ms") == 0) {
      unit = 1;
      p += 2;
    } else if (p < s.size() && s[p] == 's') {
      unit = 1000;
      ++p;
    } else if (p < s.size() && s[p] == 'm') {
      unit = 60 * 1000;
      ++p;
    } else if (p < s.size() && s[p] == 'h') {
      unit = 3600 * 1000;
      ++p;
    } else {
      return std::nullopt;
    }
    total += value * unit;
    if (!(total <= kMaxMillis)) return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(total)));
}

std::string humanDuration(std::chrono::milliseconds d) {
  int64_t seconds = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";  // small clock skew between nodes
  if (seconds < 60) return std::to_string(seconds) + "s";
  int64_t minutes = seconds / 60;
  if (minutes < 60) return std::to_string(minutes) + "m";
  int64_t hours = minutes / 60;
  if (hours < 24) return std::to_string(hours) + "h";
  if (hours < 24 * 365) return std::to_string(hours / 24) + "d";
  return std::to_string(hours / (24 * 365)) + "y";
}

}  // namespace minimcp
