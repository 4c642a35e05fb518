// The read-only web view at /ui/: static files shipped in api/server/ui/ and compiled into mcpd
// (cmake/embed_files.cmake), so it needs no install dir, no build step and no network. The
// files hold no data and need no token: the page reads everything from the API with the token
// its user pastes, as a bearer header. Every answer under /ui carries a Content-Security-Policy
// that allows mcpd's own scripts, styles and connections only (no inline script, no framing).
#pragma once

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "api/server/http_types.h"

namespace minimcp::server {

// The answer for /ui, /ui/ and /ui/FILE (GET; any other method 405); nullopt for other paths.
std::optional<Response> serveWebUi(const Request& req);

// (file name, content) of each file of api/server/ui/, defined in the generated source.
const std::vector<std::pair<std::string_view, std::string_view>>& embeddedUiFiles();

}  // namespace minimcp::server
