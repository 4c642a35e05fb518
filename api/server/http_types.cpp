#include "api/server/http_types.h"

#include <cctype>

#include "api/util/url.h"

namespace minimcp::server {

namespace {

// What follows the '?' of a request target ("" without one).
std::string_view queryOf(const std::string& target) {
  const size_t q = target.find('?');
  return q == std::string::npos ? std::string_view() : std::string_view(target).substr(q + 1);
}

}  // namespace

std::string Request::header(const std::string& lowerName) const {
  for (const auto& [name, value] : headers) {
    if (name == lowerName) return value;
  }
  return std::string();
}

std::string Request::param(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

std::vector<std::string> Request::params(const std::string& name) const {
  std::vector<std::string> out;
  forEachQueryParam(queryOf(target), [&](std::string key, std::string value) {
    if (key == name) out.push_back(std::move(value));
  });
  return out;
}

void parseTarget(const std::string& target, std::string& path,
                 std::map<std::string, std::string>& query) {
  path = percentDecode(target.substr(0, target.find('?')), false);
  query.clear();
  forEachQueryParam(queryOf(target), [&](std::string key, std::string value) {
    query[std::move(key)] = std::move(value);
  });
}

std::string unsafePathReason(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    const std::string_view segment = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (segment.find('\\') != std::string_view::npos) return "a backslash";
    for (size_t i = 0; i + 2 < segment.size(); ++i) {
      if (segment[i] != '%') continue;
      const char hi = segment[i + 1];
      const char lo = static_cast<char>(std::tolower(static_cast<unsigned char>(segment[i + 2])));
      if (hi == '2' && lo == 'f') return "an encoded slash (%2F)";
      if (hi == '5' && lo == 'c') return "an encoded backslash (%5C)";
    }
    // ".." is at most 6 characters however it is encoded ("%2e%2e"): only those can decode to
    // a dot segment.
    if (segment.empty() || segment.size() > 6) continue;
    if (segment.find('%') == std::string_view::npos) {
      if (segment == "." || segment == "..")
        return "a dot segment (\"" + std::string(segment) + "\")";
      continue;
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
