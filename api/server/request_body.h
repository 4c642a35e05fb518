// The media types a request body may have, and the one way an object body is read.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/server/http_types.h"

namespace minimcp::server {

// The media type of a Content-Type value: lowercase, without parameters ("; charset=utf-8").
std::string mediaType(const std::string& contentType);

// Throws 415 UnsupportedMediaType unless the body is declared JSON or YAML. No Content-Type at
// all counts as JSON, as with kube-apiserver.
void requireJsonOrYaml(const Request& req);

// The body of a create/update (or another object-valued write) as an object. Throws 415 as
// above, 400 when it is empty, unparsable (numbers out of range included) or not an object.
nlohmann::json parseObjectBody(const Request& req);

// For endpoints without dry runs (tokens, limits): a write that asks for one is refused (400)
// rather than performed.
void refuseDryRun(const Request& req, const std::string& what);

}  // namespace minimcp::server
