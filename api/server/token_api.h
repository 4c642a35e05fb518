// The admin's management of API tokens:
//   POST   /apis/minimcp.io/v1alpha1/tokens         {"namespace":"alice"} | {"admin":true}, "name"?
//          → 201 {"kind":"Token","name","namespace" | "admin":true,"createdAt","token"}
//            (the plaintext is shown this once; the store keeps only its SHA-256)
//   GET    /apis/minimcp.io/v1alpha1/tokens         → {"kind":"TokenList","items":[...]}
//   DELETE /apis/minimcp.io/v1alpha1/tokens/{name}  → 200; 404 unknown; 409 the last admin token
// Authorized as resource "tokens" (create, list, get, delete): the admin's only. A revoked token is
// refused (401) from the next request on.
#pragma once

#include "api/server/auth.h"
#include "api/server/authorizer.h"
#include "api/server/http_types.h"

namespace minimcp::server {

inline constexpr const char* kTokensPath = "/apis/minimcp.io/v1alpha1/tokens";

Response handleTokens(const Request& req, const Identity& who, const Authorizer& authz,
                      StoreTokenAuthenticator& auth);

}  // namespace minimcp::server
