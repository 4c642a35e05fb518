#include "api/util/url.h"

namespace minimcp {

int hexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percentDecode(std::string_view s, bool plusIsSpace) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = hexDigitValue(s[i + 1]);
      const int lo = hexDigitValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plusIsSpace && c == '+' ? ' ' : c);
  }
  return out;
}

void forEachQueryParam(std::string_view query,
                       const std::function<void(std::string key, std::string value)>& fn) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view part = query.substr(pos, amp - pos);
    if (!part.empty()) {
      const size_t eq = part.find('=');
      fn(percentDecode(part.substr(0, eq), true),
         eq == std::string_view::npos ? "" : percentDecode(part.substr(eq + 1), true));
    }
    pos = amp + 1;
  }
}

}  // namespace minimcp
