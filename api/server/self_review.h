// The reviews a caller makes about itself, answered by the one Authorizer:
// - POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews (`kubectl auth can-i`): may
//   the caller do this verb on this resource (or non-resource path)?
// - POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews (`kubectl auth can-i --list`):
//   everything the caller may do in a namespace, as rules.
// - POST /apis/authentication.k8s.io/v1/selfsubjectreviews (`kubectl auth whoami`): who the
//   caller's token says it is.
// Every authenticated identity may ask each, about itself only: a review names no other user.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "api/server/auth.h"
#include "api/server/authorizer.h"
#include "api/server/http_types.h"

namespace minimcp::server {

inline constexpr const char* kAuthorizationGroupVersion = "authorization.k8s.io/v1";
inline constexpr const char* kAuthenticationGroupVersion = "authentication.k8s.io/v1";

// The response for a review path, nullopt for any other path.
std::optional<Response> serveSelfReview(const Request& req, const Identity& who,
                                        const Authorizer& authz);

// The user a token stands for: {"username": ..., "groups": [...]}, as in a SelfSubjectReview.
nlohmann::json userInfo(const Identity& who);

// Discovery: the APIGroup entries of the two review groups (for /apis), and the
// APIResourceList of a review group-version ("authorization.k8s.io/v1"); nullopt for others.
nlohmann::json selfReviewGroups();
std::optional<nlohmann::json> selfReviewResources(const std::string& groupVersion);

}  // namespace minimcp::server
