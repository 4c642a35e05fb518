// Percent-encoding (RFC 3986 section 2.1) and query strings, as URLs and HTML forms carry them:
// the one decoder of the API server, the gateway and the clients.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace minimcp {

// The value of one hex digit (either case), or -1.
int hexDigitValue(char c);

// Decodes every %XX (either case); a '%' not followed by two hex digits is kept as it is, never
// an error. With plusIsSpace (a query string, a form body: application/x-www-form-urlencoded)
// '+' is a space; in a path it is itself. The result may hold any byte, NUL included: callers
// that need a name check it after decoding.
std::string percentDecode(std::string_view s, bool plusIsSpace);

// Each decoded key=value pair of a query string (without its '?'), in order; a key without '='
// has the value "", empty pairs ("a=1&&b=2") are skipped.
void forEachQueryParam(std::string_view query,
                       const std::function<void(std::string key, std::string value)>& fn);

}  // namespace minimcp
