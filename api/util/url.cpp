#include "api/util/url.h"

#include "api/util/ascii.h"

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

bool hasControlCharacter(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

std::string outboundUrlProblem(std::string_view url, OutboundUrl& out) {
  if (hasControlCharacter(url) || url.find(' ') != std::string_view::npos ||
      url.find('\\') != std::string_view::npos) {
    return "must not contain spaces, control characters or backslashes";
  }
  const bool https = startsWithIgnoringAsciiCase(url, "https://");
  if (!https && !startsWithIgnoringAsciiCase(url, "http://")) return "must be an https:// URL";
  std::string_view rest = url.substr(https ? 8 : 7);
  if (rest.find('#') != std::string_view::npos) return "must not have a fragment";
  std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.find('@') != std::string_view::npos) return "must not carry user info";
  std::string_view host = authority;
  std::string_view port;
  if (host.starts_with('[')) {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return "has an unterminated IPv6 address";
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return "has a malformed host";
      port = host.substr(close + 2);
    }
    host = host.substr(0, close + 1);
  } else if (const size_t colon = host.find(':'); colon != std::string_view::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (host.empty() || host == "[]") return "must name a host";
  for (unsigned char c : host) {
    if (c == '%' || c >= 0x80) return "must have a host written in ASCII, without percent-encoding";
  }
  if (authority.size() != host.size() && port.empty()) return "has an empty port";
  int n = 0;
  if (!port.empty()) {
    if (port.size() > 5) return "has a port out of range";
    for (char c : port) {
      if (c < '0' || c > '9') return "has a malformed port";
      n = n * 10 + (c - '0');
    }
    if (n < 1 || n > 65535) return "has a port out of range";
  }
  out.https = https;
  out.host = host;
  out.port = static_cast<uint16_t>(n);
  return "";
}

}  // namespace minimcp
