#include "api/server/self_review.h"

#include <algorithm>
#include <map>
#include <string_view>

#include "api/model/strategy.h"
#include "api/server/limits.h"
#include "api/server/request_body.h"
#include "api/util/api_error.h"

namespace minimcp::server {

namespace {

using nlohmann::json;

constexpr const char* kAccessReviewPath = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
constexpr const char* kSubjectReviewPath = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
constexpr const char* kRulesReviewPath = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";

// The protobuf fields of one message: number → the last length-delimited value (the only wire
// type the review messages kubectl sends use for what is read here; others are skipped).
std::map<int, std::string> protoFields(std::string_view data) {
  std::map<int, std::string> out;
  auto varint = [&](size_t& i) {
    uint64_t v = 0;
    for (int shift = 0; i < data.size() && shift < 64; shift += 7) {
      auto b = static_cast<unsigned char>(data[i++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw ApiError::BadRequest("malformed protobuf body");
  };
  for (size_t i = 0; i < data.size();) {
    const uint64_t tag = varint(i);
    const int wire = static_cast<int>(tag & 7);
    if (wire == 0) {
      varint(i);
    } else if (wire == 1 || wire == 5) {
      i += wire == 1 ? 8 : 4;
    } else if (wire == 2) {
      const uint64_t len = varint(i);
      if (len > data.size() - i) throw ApiError::BadRequest("malformed protobuf body");
      out[static_cast<int>(tag >> 3)] = std::string(data.substr(i, len));
      i += len;
    } else {
      throw ApiError::BadRequest("malformed protobuf body");
    }
    if (i > data.size()) throw ApiError::BadRequest("malformed protobuf body");
  }
  return out;
}

// The spec (field 2) of a review object in Kubernetes' protobuf encoding: the "k8s\0" magic, then
// a runtime.Unknown whose field 2 holds the object.
std::map<int, std::string> protobufReviewSpec(const std::string& body) {
  static constexpr std::string_view kMagic("k8s\0", 4);
  if (body.compare(0, kMagic.size(), kMagic) != 0) {
    throw ApiError::BadRequest("a protobuf body must start with the Kubernetes magic bytes");
  }
  auto unknown = protoFields(std::string_view(body).substr(kMagic.size()));
  auto review = protoFields(unknown[2]);
  return protoFields(review[2]);
}

// A SelfSubjectAccessReview (what kubectl sends): its spec holds resourceAttributes (1) or
// nonResourceAttributes (2). Returned as the JSON spec.
json protobufAccessReviewSpec(const std::string& body) {
  auto spec = protobufReviewSpec(body);
  json out = json::object();
  static constexpr const char* kResource[] = {"",        "namespace", "verb",        "group",
                                              "version", "resource",  "subresource", "name"};
  if (spec.count(1)) {
    json& ra = out["resourceAttributes"] = json::object();
    for (const auto& [n, v] : protoFields(spec[1])) {
      if (n >= 1 && n <= 7) ra[kResource[n]] = v;
    }
  }
  if (spec.count(2)) {
    json& nra = out["nonResourceAttributes"] = json::object();
    for (const auto& [n, v] : protoFields(spec[2])) {
      if (n == 1) nra["path"] = v;
      if (n == 2) nra["verb"] = v;
    }
  }
  return out;
}

// A SelfSubjectRulesReview in the same encoding: its spec holds the namespace (1).
json protobufRulesReviewSpec(const std::string& body) {
  auto spec = protobufReviewSpec(body);
  return {{"namespace", spec.count(1) ? spec[1] : ""}};
}

bool isProtobuf(const Request& req) {
  return req.header("content-type").rfind("application/vnd.kubernetes.protobuf", 0) == 0;
}

// Paths every identity may GET: discovery, OpenAPI, health (each with what lies below it).
constexpr const char* kPublicPaths[] = {"/api",     "/apis",  "/openapi", "/version",
                                        "/healthz", "/livez", "/readyz"};

bool publicPath(const std::string& path) {
  for (const char* p : kPublicPaths) {
    const std::string prefix = p;
    if (path == prefix || path.rfind(prefix + "/", 0) == 0) return true;
  }
  return false;
}

std::string str(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// spec.resourceAttributes → the authorizer's Attributes. Resources of groups mcpd does not
// serve keep their group in the name, so the authorizer knows none of them.
Attributes resourceAttributes(const json& ra) {
  Attributes a{str(ra, "verb"), str(ra, "resource"), str(ra, "subresource"), str(ra, "namespace"),
               str(ra, "name")};
  const std::string group = str(ra, "group");
  const model::Strategy* s = model::Registry::instance().byPlural(a.resource);
  const bool served =
      (group == model::kGroup && s) ||
      (group.empty() && (a.resource == "events" || a.resource == kNamespacesResource));
  if (!served && !group.empty()) a.resource += "." + group;  // as kubectl spells it
  if (s && !s->info().namespaced) a.ns.clear();
  return a;
}

Decision nonResource(const Identity& who, const Authorizer& authz, const json& nra) {
  const std::string path = str(nra, "path");
  const std::string verb = str(nra, "verb");
  if (who.isAdmin()) return {Decision::Effect::Allow, ""};
  if (path == "/metrics") return authz.authorize(who, {verb, kMetricsResource, "", "", ""});
  if (verb == "get" && publicPath(path)) return {Decision::Effect::Allow, ""};
  return {Decision::Effect::Forbid, "namespace tokens may only read discovery and health paths"};
}

Response accessReview(const Request& req, const Identity& who, const Authorizer& authz) {
  const json spec = isProtobuf(req) ? protobufAccessReviewSpec(req.body)
                                    : parseObjectBody(req).value("spec", json::object());
  const bool hasResource =
      spec.contains("resourceAttributes") && spec["resourceAttributes"].is_object();
  const bool hasNonResource =
      spec.contains("nonResourceAttributes") && spec["nonResourceAttributes"].is_object();
  if (hasResource == hasNonResource) {
    throw ApiError::Invalid("SelfSubjectAccessReview", "",
                            {{"spec.resourceAttributes", "FieldValueInvalid",
                              "exactly one of nonResourceAttributes or resourceAttributes must "
                              "be specified"}},
                            "authorization.k8s.io");
  }
  const Decision d = hasResource
                         ? authz.authorize(who, resourceAttributes(spec["resourceAttributes"]))
                         : nonResource(who, authz, spec["nonResourceAttributes"]);
  json status = {{"allowed", d.allowed()}};
  if (!d.reason.empty()) status["reason"] = d.reason;
  return Response::json(201, {{"kind", "SelfSubjectAccessReview"},
                              {"apiVersion", kAuthorizationGroupVersion},
                              {"metadata", {{"creationTimestamp", nullptr}}},
                              {"spec", spec},
                              {"status", std::move(status)}});
}

// The verbs the API serves on resources.
constexpr const char* kVerbs[] = {"get", "list", "watch", "create", "update", "patch", "delete"};

// What the caller may do in `ns`, as rules (`kubectl auth can-i --list`). Not a second policy:
// every verb on every resource the server serves is put to the Authorizer, and the answers are
// written down as rules, one per resource. A resource denied as a collection is asked about again
// by the names a caller may be allowed one object of (limits of its namespace, an instance
// token's own instance).
json resourceRules(const Identity& who, const Authorizer& authz, const std::string& ns) {
  if (who.isAdmin()) {
    return json::array({{{"verbs", {"*"}}, {"apiGroups", {"*"}}, {"resources", {"*"}}}});
  }
  struct Served {
    std::string resource, subresource;
    json apiGroups;
    bool namespaced;
    std::vector<std::string> verbs;
  };
  std::vector<Served> served;
  for (const model::Strategy* s : model::Registry::instance().all()) {
    const auto& k = s->info();
    json groups = {k.group};
    if (k.plural == "events") groups = {"", k.group};  // also served on the core path
    std::vector<std::string> verbs(std::begin(kVerbs), std::end(kVerbs));
    if (k.plural == "mcpinstances") verbs.push_back(kConnectVerb);
    served.push_back({k.plural, "", groups, k.namespaced, verbs});
    if (k.hasStatus) served.push_back({k.plural, "status", groups, k.namespaced, verbs});
    if (k.plural == "mcpinstances") {
      for (const char* view : {"log", "token"}) {
        served.push_back({k.plural, view, groups, true, {"get"}});
      }
      served.push_back({k.plural, kOAuth2TokenSubresource, groups, true, {"create"}});
    }
  }
  const std::vector<std::string> all(std::begin(kVerbs), std::end(kVerbs));
  served.push_back({kTokensResource, "", {model::kGroup}, false, all});
  served.push_back(
      {kLimitsResource, "", {model::kGroup}, false, {"get", "list", "update", "delete"}});
  served.push_back({kNamespacesResource, "", {""}, false, {"get", "list"}});

  std::vector<std::string> names;
  for (const std::string& n : {ns, who.name}) {
    if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  json rules = json::array();
  for (const Served& r : served) {
    const std::string where = r.namespaced ? ns : "";
    const std::string resource = r.resource + (r.subresource.empty() ? "" : "/" + r.subresource);
    json verbs = json::array();
    std::map<std::string, json> byName;  // verbs allowed on one named object only
    for (const std::string& verb : r.verbs) {
      if (authz.authorize(who, {verb, r.resource, r.subresource, where, ""}).allowed()) {
        verbs.push_back(verb);
        continue;
      }
      for (const std::string& name : names) {
        if (authz.authorize(who, {verb, r.resource, r.subresource, where, name}).allowed()) {
          byName[name].push_back(verb);
        }
      }
    }
    if (!verbs.empty()) {
      rules.push_back({{"verbs", verbs}, {"apiGroups", r.apiGroups}, {"resources", {resource}}});
    }
    for (const auto& [name, v] : byName) {
      rules.push_back({{"verbs", v},
                       {"apiGroups", r.apiGroups},
                       {"resources", {resource}},
                       {"resourceNames", {name}}});
    }
  }
  return rules;
}

json nonResourceRules(const Identity& who, const Authorizer& authz) {
  if (who.isAdmin()) return json::array({{{"verbs", {"*"}}, {"nonResourceURLs", {"*"}}}});
  json urls = json::array();
  for (const char* p : kPublicPaths) {
    if (nonResource(who, authz, {{"path", p}, {"verb", "get"}}).allowed()) {
      urls.push_back(p);
      urls.push_back(std::string(p) + "/*");
    }
  }
  json rules = json::array();
  if (!urls.empty()) rules.push_back({{"verbs", {"get"}}, {"nonResourceURLs", urls}});
  if (nonResource(who, authz, {{"path", "/metrics"}, {"verb", "get"}}).allowed()) {
    rules.push_back({{"verbs", {"get"}}, {"nonResourceURLs", {"/metrics"}}});
  }
  return rules;
}

Response rulesReview(const Request& req, const Identity& who, const Authorizer& authz) {
  json spec = isProtobuf(req) ? protobufRulesReviewSpec(req.body)
                              : parseObjectBody(req).value("spec", json::object());
  if (!spec.is_object()) spec = json::object();
  const std::string ns = str(spec, "namespace");
  return Response::json(201, {{"kind", "SelfSubjectRulesReview"},
                              {"apiVersion", kAuthorizationGroupVersion},
                              {"metadata", {{"creationTimestamp", nullptr}}},
                              {"spec", {{"namespace", ns}}},
                              {"status",
                               {{"resourceRules", resourceRules(who, authz, ns)},
                                {"nonResourceRules", nonResourceRules(who, authz)},
                                {"incomplete", false}}}});
}

json resourceEntry(const std::string& plural, const std::string& kind) {
  return {{"name", plural},
          {"singularName", ""},
          {"namespaced", false},
          {"kind", kind},
          {"verbs", {"create"}}};
}

json resourceList(const std::string& groupVersion, json resources) {
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", groupVersion},
          {"resources", std::move(resources)}};
}

json groupEntry(const std::string& group) {
  json version = {{"groupVersion", group + "/v1"}, {"version", "v1"}};
  return {{"name", group}, {"versions", {version}}, {"preferredVersion", version}};
}

}  // namespace

json userInfo(const Identity& who) {
  json groups = json::array();
  if (who.isAdmin()) {
    groups.push_back("minimcp:admins");
  }
  json namespaces = json::array();
  if (!who.ns.empty()) namespaces.push_back(who.ns);
  for (const auto& ns : who.namespaces) namespaces.push_back(ns);
  if (who.role == Identity::Role::Namespace) {
    for (const auto& ns : namespaces)
      groups.push_back("minimcp:namespace:" + ns.get<std::string>());
  }
  groups.push_back("system:authenticated");
  json info = {{"username", who.name}, {"groups", std::move(groups)}};
  if (!namespaces.empty()) info["extra"] = {{"minimcp.io/namespace", std::move(namespaces)}};
  return info;
}

std::optional<Response> serveSelfReview(const Request& req, const Identity& who,
                                        const Authorizer& authz) {
  std::string p = req.path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p != kAccessReviewPath && p != kRulesReviewPath && p != kSubjectReviewPath) {
    return std::nullopt;
  }
  if (req.method != "POST") {
    throw ApiError::MethodNotAllowed(
        "the server does not allow this method on the requested resource");
  }
  if (p == kAccessReviewPath) return accessReview(req, who, authz);
  if (p == kRulesReviewPath) return rulesReview(req, who, authz);
  if (!isProtobuf(req)) parseObjectBody(req);  // a SelfSubjectReview carries nothing
  return Response::json(201, {{"kind", "SelfSubjectReview"},
                              {"apiVersion", kAuthenticationGroupVersion},
                              {"metadata", {{"creationTimestamp", nullptr}}},
                              {"status", {{"userInfo", userInfo(who)}}}});
}

json selfReviewGroups() {
  return json::array({groupEntry("authentication.k8s.io"), groupEntry("authorization.k8s.io")});
}

std::optional<json> selfReviewResources(const std::string& groupVersion) {
  if (groupVersion == kAuthorizationGroupVersion) {
    return resourceList(groupVersion,
                        {resourceEntry("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
                         resourceEntry("selfsubjectrulesreviews", "SelfSubjectRulesReview")});
  }
  if (groupVersion == kAuthenticationGroupVersion) {
    return resourceList(groupVersion, {resourceEntry("selfsubjectreviews", "SelfSubjectReview")});
  }
  return std::nullopt;
}

}  // namespace minimcp::server
