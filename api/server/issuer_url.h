// The URL of an OAuth 2.0 authorization server / OpenID Connect issuer (mcpd --oidc-issuer).
// Clients compare it byte for byte with the `issuer` of the server's metadata and derive the
// discovery documents from it, so it is taken only in the shape those rules assume.
#pragma once

#include <string>
#include <string_view>

namespace minimcp::server {

// "" when `url` is an acceptable issuer: https://HOST[:PORT][/PATH] (HOST a DNS name or an IP
// literal, [v6] bracketed; no user info, query or fragment; printable ASCII only). Otherwise
// what is wrong with it, fit for a flag's error message.
std::string issuerUrlProblem(std::string_view url);

}  // namespace minimcp::server
