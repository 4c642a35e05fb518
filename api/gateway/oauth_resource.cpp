#include "api/gateway/oauth_resource.h"

#include "api/util/ascii.h"

namespace minimcp::gateway {

namespace {

// scheme://authority[/…] → {scheme://, authority}; empty authority when `url` has no scheme.
std::pair<std::string_view, std::string_view> splitUrl(std::string_view url) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return {{}, {}};
  std::string_view scheme = url.substr(0, sep + 3);
  std::string_view rest = url.substr(sep + 3);
  return {scheme, rest.substr(0, rest.find_first_of("/?#"))};
}

std::string quoted(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    // A header value holds no control characters.
    out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
  }
  return out + "\"";
}

}  // namespace

ResourceUrls::ResourceUrls(std::vector<std::string> bases) : bases_(std::move(bases)) {}

std::string ResourceUrls::base(std::string_view host) const {
  if (bases_.empty()) return "";
  for (const auto& b : bases_) {
    if (!host.empty() && equalsIgnoringAsciiCase(splitUrl(b).second, host)) return b;
  }
  return bases_.front();
}

std::string ResourceUrls::resource(std::string_view base, std::string_view ns,
                                   std::string_view name) {
  return std::string(base) + "/mcp/" + std::string(ns) + "/" + std::string(name);
}

std::string ResourceUrls::metadataUrl(std::string_view base, std::string_view ns,
                                      std::string_view name) {
  return std::string(base) + std::string(kProtectedResourceWellKnown) + "/mcp/" + std::string(ns) +
         "/" + std::string(name);
}

std::vector<std::string> servedBaseUrls(std::string_view serverUrl, std::string_view advertiseUrl) {
  std::vector<std::string> out;
  auto add = [&out](std::string_view scheme, std::string_view authority) {
    if (authority.empty()) return;
    std::string b = std::string(scheme) + std::string(authority);
    for (const auto& o : out) {
      if (equalsIgnoringAsciiCase(o, b)) return;
    }
    out.push_back(std::move(b));
  };
  if (auto [scheme, authority] = splitUrl(advertiseUrl); !authority.empty()) add(scheme, authority);
  auto [scheme, authority] = splitUrl(serverUrl);
  add(scheme, authority);
  // The port is what follows the host: after "]" for an IPv6 literal, else after the last ":".
  const auto close = authority.rfind(']');
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || (close != std::string_view::npos && colon < close)) {
    return out;
  }
  const std::string_view host = authority.substr(0, colon), port = authority.substr(colon);
  if (host == "127.0.0.1" || host == "[::1]" || equalsIgnoringAsciiCase(host, "localhost")) {
    for (std::string_view loopback : {"127.0.0.1", "[::1]", "localhost"}) {
      add(scheme, std::string(loopback) + std::string(port));
    }
  }
  return out;
}

nlohmann::json protectedResourceMetadata(const std::string& resource, const std::string& issuer) {
  return {{"resource", resource},
          {"authorization_servers", nlohmann::json::array({issuer})},
          {"bearer_methods_supported", nlohmann::json::array({"header"})},
          {"resource_name", "MiniMCP instance"}};
}

std::string bearerChallenge(std::string_view error, std::string_view description,
                            std::string_view resourceMetadataUrl) {
  std::string v = "Bearer realm=\"minimcp\"";
  if (!error.empty()) {
    v += ", error=" + quoted(error);
    if (!description.empty()) v += ", error_description=" + quoted(description);
  }
  if (!resourceMetadataUrl.empty()) v += ", resource_metadata=" + quoted(resourceMetadataUrl);
  return v;
}

nlohmann::json jsonRpcRequestId(const std::string& body) {
  if (body.empty() || body.find("\"id\"") == std::string::npos) return nullptr;
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (!doc.is_object()) return nullptr;
  auto it = doc.find("id");
  if (it == doc.end() || !(it->is_string() || it->is_number())) return nullptr;
  return *it;
}

server::Response jsonRpcRefusal(const server::Request& req, const ApiError& e) {
  constexpr size_t kMaxBody = 1 << 20;
  const int code = e.code() == 400 ? -32600 : e.code() == 500 ? -32603 : -32000;
  nlohmann::json id = req.body.size() <= kMaxBody ? jsonRpcRequestId(req.body) : nullptr;
  return server::Response::json(
      e.code(),
      {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", e.what()}}}});
}

}  // namespace minimcp::gateway
