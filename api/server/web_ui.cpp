#include "api/server/web_ui.h"

#include <string>

namespace minimcp::server {

namespace {

constexpr std::string_view kPrefix = "/ui";

// Only what the page uses, and only from mcpd itself. No 'unsafe-inline' anywhere: a tenant's
// text (names, event messages, logs) shown by the page can never become script or style, and
// Trusted Types make any string-to-HTML sink in the page's own code throw.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'";

std::string mediaType(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

Response withSecurityHeaders(Response r) {
  r.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  r.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
  // Revalidated each time: a new mcpd never runs with an older page.
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

const std::string_view* findFile(std::string_view name) {
  for (const auto& [file, content] : embeddedUiFiles()) {
    if (file == name) return &content;
  }
  return nullptr;
}

}  // namespace

std::optional<Response> serveWebUi(const Request& req) {
  const std::string& p = req.path;
  if (p.compare(0, kPrefix.size(), kPrefix) != 0) return std::nullopt;
  if (p.size() > kPrefix.size() && p[kPrefix.size()] != '/') return std::nullopt;  // /uix
  if (req.method != "GET") {
    Response r = Response::text(405, "the web view is read-only: GET only\n");
    r.headers.emplace_back("Allow", "GET");
    return withSecurityHeaders(std::move(r));
  }
  if (p == kPrefix) {
    Response r = Response::text(301, "");
    r.headers.emplace_back("Location", "/ui/");
    return withSecurityHeaders(std::move(r));
  }
  std::string_view name = std::string_view(p).substr(kPrefix.size() + 1);
  if (name.empty()) name = "index.html";
  const std::string_view* content =
      name.find('/') == std::string_view::npos ? findFile(name) : nullptr;
  if (!content) return withSecurityHeaders(Response::text(404, "no such file in the web view\n"));
  Response r;
  r.status = 200;
  r.contentType = mediaType(name);
  r.body = std::string(*content);
  return withSecurityHeaders(std::move(r));
}

}  // namespace minimcp::server
