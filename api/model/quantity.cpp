#include "api/model/quantity.h"

#include <cctype>
#include <cmath>

namespace minimcp::model {

namespace {

// Splits "1.5Gi" into 1.5 and "Gi". nullopt unless the number is digits[.digits].
std::optional<std::pair<long double, std::string>> splitQuantity(const std::string& s) {
  size_t p = 0;
  while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
  if (p == 0) return std::nullopt;
  if (p < s.size() && s[p] == '.') {
    size_t frac = ++p;
    while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
    if (p == frac) return std::nullopt;
  }
  if (p > 30) return std::nullopt;
  return std::make_pair(std::strtold(s.substr(0, p).c_str(), nullptr), s.substr(p));
}

std::optional<int64_t> roundUp(long double v) {
  long double r = std::ceil(v - 1e-9L);  // absorb binary noise such as 0.1 * 10
  if (!(r >= 0) || r > 9.2e18L) return std::nullopt;
  return static_cast<int64_t>(r);
}

}  // namespace

std::optional<int64_t> parseMemoryQuantity(const std::string& s) {
  auto q = splitQuantity(s);
  if (!q) return std::nullopt;
  static const std::pair<const char*, long double> kSuffixes[] = {
      {"", 1.0L},
      {"k", 1e3L},
      {"M", 1e6L},
      {"G", 1e9L},
      {"T", 1e12L},
      {"P", 1e15L},
      {"E", 1e18L},
      {"Ki", 1024.0L},
      {"Mi", 1024.0L * 1024},
      {"Gi", 1024.0L * 1024 * 1024},
      {"Ti", 1024.0L * 1024 * 1024 * 1024},
      {"Pi", 1024.0L * 1024 * 1024 * 1024 * 1024},
      {"Ei", 1024.0L * 1024 * 1024 * 1024 * 1024 * 1024},
  };
  for (const auto& [suffix, factor] : kSuffixes) {
    if (q->second == suffix) return roundUp(q->first * factor);
  }
  return std::nullopt;
}

std::optional<int64_t> parseCpuQuantity(const std::string& s) {
  auto q = splitQuantity(s);
  if (!q) return std::nullopt;
  if (q->second == "m") return roundUp(q->first);
  if (q->second.empty()) return roundUp(q->first * 1000);
  return std::nullopt;
}

}  // namespace minimcp::model
