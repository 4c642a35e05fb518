// Percent-encoding (RFC 3986 section 2.1) and query strings, as URLs and HTML forms carry them:
// the one decoder of the API server, the gateway and the clients; and the one reading of a URL
// mcpd is told to call (a token endpoint, a notification sink).
#pragma once

#include <cstdint>
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

// Whether `s` holds a C0 control character or DEL.
bool hasControlCharacter(std::string_view s);

// An absolute http(s) URL that mcpd sends requests to, as read by outboundUrlProblem().
struct OutboundUrl {
  bool https = false;
  std::string_view host;  // as written (ASCII, not percent-encoded); an IPv6 one in brackets
  uint16_t port = 0;      // 0: the scheme's
};

// Why `url` is no URL mcpd calls ("must ...", "has ...", to follow the field's name), or "" with
// `out` filled. Refused: anything but http:// and https:// (either case), spaces, control
// characters, backslashes, a fragment, user info, an empty, malformed or out-of-range port, no
// host, a host in percent-encoding or beyond ASCII (which a URL parser would decode or map
// before reading it as an address). Whether its host may be called is the caller's to decide.
std::string outboundUrlProblem(std::string_view url, OutboundUrl& out);

}  // namespace minimcp
