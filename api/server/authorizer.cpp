#include "api/server/authorizer.h"

#include "api/server/limits.h"

namespace minimcp::server {

namespace {

constexpr const char* kInstances = "mcpinstances";

bool isRead(const std::string& verb) { return verb == "get" || verb == "list" || verb == "watch"; }

bool isWrite(const std::string& verb) {
  return verb == "create" || verb == "update" || verb == "patch" || verb == "delete";
}

// Namespaced kinds only the control plane writes: a tenant reads them in its namespace.
bool controlPlaneKind(const std::string& plural) { return plural == "events"; }

Decision allow() { return {Decision::Effect::Allow, ""}; }
Decision forbid(std::string reason) { return {Decision::Effect::Forbid, std::move(reason)}; }
Decision hide(std::string reason) { return {Decision::Effect::Hide, std::move(reason)}; }

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

}  // namespace

ApiError Decision::error(const Attributes& a, const std::string& group) const {
  if (effect == Effect::Hide) return ApiError::NotFound(a.resource, a.name, group);
  return ApiError::Forbidden(reason);
}

Decision Authorizer::authorize(const Identity& who, const Attributes& a) const {
  if (a.resource == kInstances && a.subresource == kOAuth2TokenSubresource) {
    const bool own = who.role == Identity::Role::Instance && a.ns == who.ns && a.name == who.name;
    if (own && a.verb == "create") return allow();
    if (who.role == Identity::Role::Namespace && !who.tenantOf(a.ns) && !a.name.empty()) {
      return hide("the object is in another namespace");
    }
    return forbid(
        "mcpinstances/oauth2token is written by the instance's own process only (with its "
        "instance token)");
  }
  switch (who.role) {
    case Identity::Role::Admin:
      return allow();
    case Identity::Role::Namespace:
      return tenant(who, a);
    case Identity::Role::Instance:
      if (a.verb == kConnectVerb && a.resource == kInstances && a.subresource.empty() &&
          a.ns == who.ns && a.name == who.name) {
        return allow();
      }
      if (a.verb == kConnectVerb) return hide("an instance token opens its own instance only");
      return forbid("an instance token opens its own instance through the gateway only");
  }
  return forbid("unknown role");
}

Decision Authorizer::tenant(const Identity& who, const Attributes& a) const {
  const bool read = isRead(a.verb);
  if (a.resource == kTokensResource) return forbid("tokens are managed by the admin");
  if (a.resource == kMetricsResource) return forbid("metrics need the admin token");
  if (a.resource == kLimitsResource) {
    if (a.verb == "get" && who.tenantOf(a.name)) return allow();
    return forbid("limits " +
                  (a.name.empty() ? std::string() : "of namespace " + quoted(a.name) + " ") +
                  "are managed by the admin");
  }
  if (a.resource == kNamespacesResource) {
    // Namespaces are implicit (a tenant exists once named): reading one tells nothing.
    if (a.verb == "get" && a.subresource.empty()) return allow();
    return forbid("namespaces are managed by the admin");
  }
  const model::Strategy* s = registry_.byPlural(a.resource);
  if (!s) return forbid("unknown resource " + quoted(a.resource));
  if (!read && !isWrite(a.verb) && a.verb != kConnectVerb) {
    return forbid("verb " + quoted(a.verb) + " is not allowed for namespace tokens");
  }
  if (!s->info().namespaced) {
    if (read) return allow();
    return forbid(a.resource + " are read-only for namespace tokens");
  }
  if (!who.tenantOf(a.ns)) {
    if (!a.name.empty()) return hide("the object is in another namespace");
    if (a.ns.empty()) return forbid("this token may not access objects across namespaces");
    return forbid("this token may not access namespace " + quoted(a.ns));
  }
  // Its own namespace.
  if (a.verb == kConnectVerb) {
    if (a.resource == kInstances && a.subresource.empty()) return allow();
    return forbid("only mcpinstances are connected to");
  }
  if (a.subresource == "status") {
    if (read) return allow();
    return forbid(a.resource +
                  "/status is written by the control plane; a namespace token may "
                  "only read it");
  }
  if (!a.subresource.empty()) {
    // Views of the object (log, token): read-only.
    if (read) return allow();
    return forbid(a.resource + "/" + a.subresource + " is read-only");
  }
  if (controlPlaneKind(a.resource) && !read) {
    return forbid(a.resource +
                  " are written by the control plane; a namespace token may only "
                  "read them");
  }
  return allow();
}

void Authorizer::check(const Identity& who, const Attributes& a, const std::string& group) const {
  Decision d = authorize(who, a);
  if (!d.allowed()) throw d.error(a, group);
}

std::string apiVerb(const std::string& method, bool collection, bool watch) {
  if (collection) {
    if (method == "GET") return watch ? "watch" : "list";
    if (method == "POST") return "create";
    return "";
  }
  if (method == "GET") return "get";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return "delete";
  return "";
}

}  // namespace minimcp::server
