#include "api/server/issuer_url.h"

#include <regex>

namespace minimcp::server {

std::string issuerUrlProblem(std::string_view url) {
  if (url.rfind("https://", 0) != 0) return "expected an https:// URL";
  for (char c : url) {
    if (c <= ' ' || c >= 0x7f) return "expected printable ASCII without spaces";
  }
  if (url.find_first_of("?#") != std::string_view::npos) {
    return "an issuer has no query or fragment";
  }
  static const std::regex re(
      R"(^https://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:([0-9]{1,5}))?(/.*)?$)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(url.begin(), url.end(), m, re)) {
    return "expected https://HOST[:PORT][/PATH] (no user info)";
  }
  if (m[3].matched) {
    const int port = std::stoi(m[4].str());
    if (port < 1 || port > 65535) return "port out of range";
  }
  return "";
}

}  // namespace minimcp::server
