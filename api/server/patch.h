// The PATCH content types the API accepts and how each one changes an object.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace minimcp::server {

enum class PatchType { Merge, Json, Apply, Strategic, Unsupported };

// From a Content-Type header value (parameters such as "; charset=utf-8" are ignored).
PatchType patchTypeFromContentType(const std::string& contentType);

// Applies a merge patch (RFC 7386), a JSON patch (RFC 6902) or an apply configuration (merged
// over the live object) to `live`. `body` is the raw request body (JSON, or YAML for apply).
// Throws ApiError: 400 for an unparsable body, 422 for a JSON patch that does not apply (a
// failed "test" op, a missing path), 415 for strategic merge and unknown types.
nlohmann::json applyPatch(PatchType type, const nlohmann::json& live, const std::string& body);

}  // namespace minimcp::server
