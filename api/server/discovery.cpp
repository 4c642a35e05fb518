#include "api/server/discovery.h"

#include <map>
#include <memory>
#include <mutex>

#include "api/server/openapi.h"
#include "api/server/self_review.h"
#include "api/util/api_error.h"

namespace minimcp::server {

namespace {

constexpr const char* kVerbs[] = {"create", "delete", "get", "list", "patch", "update", "watch"};

nlohmann::json resourceEntry(const model::KindInfo& info) {
  nlohmann::json r = {{"name", info.plural},
                      {"singularName", info.singular},
                      {"namespaced", info.namespaced},
                      {"kind", info.kind},
                      {"verbs", kVerbs}};
  if (!info.shortNames.empty()) r["shortNames"] = info.shortNames;
  if (!info.categories.empty()) r["categories"] = info.categories;
  return r;
}

nlohmann::json groupVersionResources(const model::Registry& registry) {
  auto resources = nlohmann::json::array();
  for (const auto* s : registry.all()) {
    const auto& info = s->info();
    resources.push_back(resourceEntry(info));
    if (info.hasStatus) {
      resources.push_back({{"name", info.plural + "/status"},
                           {"singularName", ""},
                           {"namespaced", info.namespaced},
                           {"kind", info.kind},
                           {"verbs", {"get", "patch", "update"}}});
    }
  }
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", model::kApiVersion},
          {"resources", std::move(resources)}};
}

nlohmann::json coreResources(const model::Registry& registry) {
  auto resources = nlohmann::json::array();
  if (const auto* ev = registry.byPlural("events")) {
    auto entry = resourceEntry(ev->info());
    entry["shortNames"] = {"ev"};
    entry.erase("categories");
    resources.push_back(std::move(entry));
  }
  return {{"kind", "APIResourceList"}, {"groupVersion", "v1"}, {"resources", std::move(resources)}};
}

nlohmann::json groupEntry() {
  nlohmann::json version = {{"groupVersion", model::kApiVersion}, {"version", model::kVersion}};
  return {{"name", model::kGroup},
          {"versions", nlohmann::json::array({version})},
          {"preferredVersion", version}};
}

// The OpenAPI answers depend only on the registry, fixed for the life of the process: each is
// rendered once.
struct OpenApiBodies {
  std::string v2Json;
  std::string v2Protobuf;
  std::string v3Index;
  std::map<std::string, std::string> v3;  // by group-version path, "apis/minimcp.io/v1alpha1"
};

const OpenApiBodies& openApiBodies(const model::Registry& registry) {
  static std::mutex mu;
  // Keyed by what the documents are made of (a registry's address could be reused).
  static std::map<std::string, std::unique_ptr<OpenApiBodies>> cache;
  std::string key;
  for (const model::Strategy* s : registry.all())
    key += s->info().apiVersion() + "/" + s->info().plural + " ";
  std::lock_guard lock(mu);
  auto& slot = cache[key];
  if (!slot) {
    slot = std::make_unique<OpenApiBodies>();
    const nlohmann::json v2 = openApiV2(registry);
    slot->v2Json = v2.dump();
    slot->v2Protobuf = openApiV2Protobuf(v2);
    const nlohmann::json index = openApiV3Index(registry);
    slot->v3Index = index.dump();
    for (const auto& [gv, _] : index["paths"].items())
      slot->v3[gv] = openApiV3(registry, gv)->dump();
  }
  return *slot;
}

Response jsonBody(const std::string& body) {
  Response r;
  r.body = body;
  return r;
}

}  // namespace

nlohmann::json versionInfo() {
  // kubectl (1.28 and later) warns when its minor version and the server's are more than one
  // apart: 1.32 keeps kubectl 1.31 to 1.33 quiet. No single version quiets 1.30 and 1.33 both.
  return {{"major", "1"},       {"minor", "32"},           {"gitVersion", "v1.32.0-minimcp"},
          {"gitCommit", ""},    {"gitTreeState", "clean"}, {"buildDate", "1970-01-01T00:00:00Z"},
          {"goVersion", "n/a"}, {"compiler", "gcc"},       {"platform", "linux/amd64"}};
}

std::optional<Response> serveDiscovery(const Request& req, const model::Registry& registry) {
  std::string p = req.path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (req.method != "GET" && req.method != "HEAD") return std::nullopt;
  if (p == "/version") return Response::json(200, versionInfo());
  // kubectl 1.32 first asks for aggregated discovery (apidiscovery.k8s.io/v2); a plain
  // application/json answer makes it fall back to these legacy documents.
  if (p == "/api") {
    return Response::json(200, {{"kind", "APIVersions"},
                                {"versions", {"v1"}},
                                {"serverAddressByClientCIDRs",
                                 {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", ""}}}}});
  }
  if (p == "/api/v1") return Response::json(200, coreResources(registry));
  if (p == "/apis") {
    auto groups = nlohmann::json::array({groupEntry()});
    for (auto& g : selfReviewGroups()) groups.push_back(std::move(g));
    return Response::json(200,
                          {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}});
  }
  for (auto g : selfReviewGroups()) {
    const std::string name = g["name"];
    if (p == "/apis/" + name) {
      g["kind"] = "APIGroup";
      g["apiVersion"] = "v1";
      return Response::json(200, g);
    }
    if (auto resources = selfReviewResources(name + "/v1"); p == "/apis/" + name + "/v1") {
      return Response::json(200, *resources);
    }
  }
  if (p == std::string("/apis/") + model::kGroup) {
    auto g = groupEntry();
    g["kind"] = "APIGroup";
    g["apiVersion"] = "v1";
    return Response::json(200, g);
  }
  if (p == std::string("/apis/") + model::kApiVersion) {
    return Response::json(200, groupVersionResources(registry));
  }
  if (p == "/openapi/v2") {
    const OpenApiBodies& bodies = openApiBodies(registry);
    // client-go asks for the protobuf encoding (and decodes nothing else); curl and browsers
    // get JSON, as from kube-apiserver.
    if (req.header("accept").find("protobuf") == std::string::npos) {
      return jsonBody(bodies.v2Json);
    }
    Response r;
    // Go's mime parser (client-go) rejects the "@" of the Accept value kubectl sends, so the
    // response names the type the way kube-apiserver does.
    r.contentType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
    r.body = bodies.v2Protobuf;
    return r;
  }
  if (p == "/openapi/v3") return jsonBody(openApiBodies(registry).v3Index);
  if (p.rfind("/openapi/v3/", 0) == 0) {
    const OpenApiBodies& bodies = openApiBodies(registry);
    const std::string gv = p.substr(std::string("/openapi/v3/").size());
    if (auto it = bodies.v3.find(gv); it != bodies.v3.end()) return jsonBody(it->second);
    return Response::json(404, ApiError::NotFound("openapi", gv, "").toStatus());
  }
  return std::nullopt;
}

}  // namespace minimcp::server
