// Authorizer: the one place that decides who may do what (after kube-apiserver's authorizer:
// identity + request attributes → allow or deny, with a reason). Every entry point describes its
// request as Attributes and asks authorize(): the REST handler (verbs and subresources, instance
// logs and tokens), API token management, per-namespace limits, metrics and the gateway. None
// of them decides by itself.
//
// Roles (Identity::Role):
// - Admin: everything. Node identities are admin tokens: each node's kubeconfig holds the
//   admin token `admin-<node>`; the controller, scheduler and node agent write the store
//   directly, not through the API, so no narrower node role is needed.
// - Namespace (a tenant): reads cluster-scoped kinds (MCPTypes, Nodes); in its own namespace
//   reads everything and writes the main resource of the kinds a tenant owns (MCPInstances,
//   APIKeys), never `/status` nor Events (the control plane's record); reads its own
//   namespace's limits; connects to its instances through the gateway. A named object in
//   another namespace is denied as 404 (nobody learns what exists there), a collection or a
//   create there as 403. Tokens and metrics are the admin's.
// - Instance (an instance's own access token): connects to that instance through the gateway,
//   and reports the refresh token its OAuth 2.0 provider rotated (create of its own
//   mcpinstances/{name}/oauth2token); nothing else.
// That report is the instance's alone, whoever else asks (the admin too): only the process that
// ran the refresh holds the new token, and nobody else may replace the stored one.
#pragma once

#include <string>

#include "api/model/strategy.h"
#include "api/server/auth.h"
#include "api/util/api_error.h"

namespace minimcp::server {

// Resources beside the registry's kinds.
inline constexpr const char* kMetricsResource = "metrics";
inline constexpr const char* kNamespacesResource = "namespaces";  // implicit, core group

// Verbs beside Kubernetes' get, list, watch, create, update, patch, delete.
inline constexpr const char* kConnectVerb = "connect";  // the gateway: talk to the instance

// mcpinstances/{name}/oauth2token: an instance's report of a rotated OAuth 2.0 refresh token.
inline constexpr const char* kOAuth2TokenSubresource = "oauth2token";

struct Attributes {
  std::string verb;         // get | list | watch | create | update | patch | delete | connect
  std::string resource;     // a kind's plural, or tokens | limits | metrics | namespaces
  std::string subresource;  // "" | status | log | token | oauth2token
  std::string ns;           // "" for cluster-scoped objects and lists across namespaces
  std::string name;         // "" for a collection (limits: the namespace they are for)
};

struct Decision {
  enum class Effect {
    Allow,
    Forbid,  // 403 Forbidden, the reason as message
    Hide,    // 404 NotFound: the object may exist, but in a namespace the caller cannot see
  };
  Effect effect = Effect::Forbid;
  std::string reason;

  bool allowed() const { return effect == Effect::Allow; }
  // The Status a denial answers (403 with the reason, or the kind's 404). Only for denials.
  ApiError error(const Attributes& a, const std::string& group = model::kGroup) const;
};

class Authorizer {
 public:
  // `registry` says which kinds are namespaced; it must outlive the Authorizer.
  explicit Authorizer(const model::Registry& registry = model::Registry::instance())
      : registry_(registry) {}

  Decision authorize(const Identity& who, const Attributes& a) const;
  // authorize(), throwing the denial's ApiError.
  void check(const Identity& who, const Attributes& a,
             const std::string& group = model::kGroup) const;

 private:
  Decision tenant(const Identity& who, const Attributes& a) const;

  const model::Registry& registry_;
};

// The verb of a request on a resource path: GET of a collection is list (watch with
// ?watch=true|1), POST create, GET get, PUT update, PATCH patch, DELETE delete. "" for methods
// the path does not serve (405).
std::string apiVerb(const std::string& method, bool collection, bool watch);

}  // namespace minimcp::server
