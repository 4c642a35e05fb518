#include "api/server/http_types.h"

#include <cctype>

namespace minimcp::server {

std::string Request::header(const std::string& lowerName) const {
  auto it = headers.find(lowerName);
  return it == headers.end() ? std::string() : it->second;
}

std::string Request::param(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

std::vector<std::string> Request::params(const std::string& name) const {
  std::vector<std::string> out;
  forEachQueryParam(target, [&](std::string key, std::string value) {
    if (key == name) out.push_back(std::move(value));
  });
  return out;
}

namespace {
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string percentDecode(const std::string& s, bool plusIsSpace) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hexValue(s[i + 1]), lo = hexValue(s[i + 2]);
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

void forEachQueryParam(const std::string& target,
                       const std::function<void(std::string key, std::string value)>& fn) {
  auto q = target.find('?');
  if (q == std::string::npos) return;
  std::string rest = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t amp = rest.find('&', pos);
    if (amp == std::string::npos) amp = rest.size();
    std::string part = rest.substr(pos, amp - pos);
    if (!part.empty()) {
      auto eq = part.find('=');
      fn(percentDecode(part.substr(0, eq), true),
         eq == std::string::npos ? "" : percentDecode(part.substr(eq + 1), true));
    }
    pos = amp + 1;
  }
}

void parseTarget(const std::string& target, std::string& path,
                 std::map<std::string, std::string>& query) {
  path = percentDecode(target.substr(0, target.find('?')), false);
  query.clear();
  forEachQueryParam(target, [&](std::string key, std::string value) {
    query[std::move(key)] = std::move(value);
  });
}

std::string unsafePathReason(const std::string& target) {
  const std::string path = target.substr(0, target.find('?'));
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    const std::string segment = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (segment.find('\\') != std::string::npos) return "a backslash";
    for (size_t i = 0; i + 2 < segment.size(); ++i) {
      if (segment[i] != '%') continue;
      std::string hex = {
          static_cast<char>(std::tolower(static_cast<unsigned char>(segment[i + 1]))),
          static_cast<char>(std::tolower(static_cast<unsigned char>(segment[i + 2])))};
      if (hex == "2f") return "an encoded slash (%2F)";
      if (hex == "5c") return "an encoded backslash (%5C)";
    }
    const std::string decoded = percentDecode(segment, false);
    if (decoded == "." || decoded == "..") return "a dot segment (\"" + decoded + "\")";
  }
  return "";
}

Response Response::json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response Response::text(int status, std::string body) {
  Response r;
  r.status = status;
  r.contentType = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

}  // namespace minimcp::server
