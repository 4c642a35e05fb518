#include "api/server/openapi.h"

#include <cstdio>
#include <functional>

#include "api/model/schemas.h"

namespace minimcp::server {

namespace {

using nlohmann::json;

constexpr const char* kTitle = "MiniMCP";
constexpr const char* kInfoVersion = "v1alpha1";
constexpr const char* kV2Refs = "#/definitions/";
constexpr const char* kV3Refs = "#/components/schemas/";
constexpr const char* kV3Parameters = "#/components/parameters/";
constexpr const char* kV3RequestBodies = "#/components/requestBodies/";
constexpr const char* kV3Responses = "#/components/responses/";
constexpr const char* kPatchBody = "patch";

// One kind as served in one group-version: minimcp.io/v1alpha1 for every kind, and core v1 for
// Event as well (kubectl's `events` live there).
struct Served {
  const model::KindInfo* info;
  const model::KindSchema* schema;
  std::string group;
  std::string version;

  std::string groupVersionPath() const {
    return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
  }
  json gvk() const { return {{"group", group}, {"kind", info->kind}, {"version", version}}; }
  // As kube-apiserver names definitions: the group reversed (minimcp.io → io.minimcp), or the
  // core group's io.k8s.api.core.
  std::string definitionName() const {
    std::string prefix = "io.k8s.api.core";
    if (!group.empty()) {
      prefix.clear();
      std::string g = group;
      for (size_t dot; (dot = g.rfind('.')) != std::string::npos; g.resize(dot)) {
        prefix += g.substr(dot + 1) + ".";
      }
      prefix += g;
    }
    return prefix + "." + version + "." + info->kind;
  }
};

std::vector<Served> served(const model::Registry& registry) {
  std::vector<Served> out;
  for (const model::Strategy* s : registry.all()) {
    const model::KindSchema* schema = model::findKindSchema(s->info().kind);
    if (!schema) continue;
    out.push_back({&s->info(), schema, s->info().group, s->info().version});
    if (s->info().plural == "events") out.push_back({&s->info(), schema, "", "v1"});
  }
  return out;
}

// The kind's schema as published: metadata a reference to ObjectMeta, apiVersion and kind
// described as for every Kubernetes object.
json publishedSchema(const Served& s, bool v2) {
  json out = s.schema->schema;
  const std::string ref = std::string(v2 ? kV2Refs : kV3Refs) + model::kObjectMetaDefinition;
  json& props = out["properties"];
  const std::string metaDoc = "Standard object's metadata.";
  props["metadata"] = v2 ? json{{"$ref", ref}, {"description", metaDoc}}
                         : json{{"allOf", {{{"$ref", ref}}}}, {"description", metaDoc}};
  props["apiVersion"]["description"] =
      "APIVersion defines the versioned schema of this representation of an object: " +
      s.info->apiVersion() + ".";
  props["kind"]["description"] =
      "Kind is a string value representing the REST resource this object represents: " +
      s.info->kind + ".";
  out["x-kubernetes-group-version-kind"] = json::array({s.gvk()});
  return out;
}

// What OpenAPI v2 cannot say is dropped, as kube-apiserver does for CRDs: anyOf/allOf/oneOf/
// not; a nullable or x-kubernetes-preserve-unknown-fields node loses its type, items and
// properties (kubectl would otherwise refuse values those allow).
void toV2(json& s) {
  if (!s.is_object()) return;
  for (const char* k : {"allOf", "anyOf", "oneOf", "not"}) s.erase(k);
  const bool nullable = s.value("nullable", false);
  s.erase("nullable");
  if (nullable || s.value("x-kubernetes-preserve-unknown-fields", false)) {
    s.erase("type");
    s.erase("items");
    s.erase("properties");
  }
  if (auto it = s.find("properties"); it != s.end()) {
    for (auto& [_, p] : it->items()) toV2(p);
  }
  if (auto it = s.find("items"); it != s.end()) toV2(*it);
  if (auto it = s.find("additionalProperties"); it != s.end()) toV2(*it);
}

// One REST operation on a kind, described once for both dialects.
struct Operation {
  std::string method;       // get | put | post | patch | delete
  std::string action;       // x-kubernetes-action: get | list | put | post | patch | delete
  std::string subject;      // "Namespaced" / "" / "NamespacedStatus"... for the operationId
  bool body = false;        // takes the object (put, post) or a patch
  bool writes = false;      // takes dryRun, fieldManager, fieldValidation
  bool returnsKind = true;  // answers the object (not a list)
};

struct Param {
  std::string name;
  std::string type;
  std::string description;
};

std::vector<Param> writeParams(const Operation& op) {
  std::vector<Param> out = {
      {"dryRun", "string",
       "When present, modifications are not persisted: All processes every stage."},
      {"fieldManager", "string", "A name associated with the actor making these changes."},
      {"fieldValidation", "string",
       "What to do with unknown or duplicate fields: Ignore, Warn (the default) or Strict."},
  };
  if (op.method == "patch") {
    out.push_back({"force", "boolean",
                   "Force takes the conflicting fields of an apply from other managers."});
  }
  return out;
}

std::string operationId(const Served& s, const Operation& op) {
  std::string gv;
  std::string g = s.group.empty() ? "core" : s.group;
  bool up = true;
  for (char c : g + "." + s.version) {
    if (c == '.') {
      up = true;
      continue;
    }
    gv += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  std::string verb = op.action == "put" ? "replace" : op.action == "post" ? "create" : op.action;
  return verb + gv + op.subject + s.info->kind;
}

json v2Operation(const Served& s, const Operation& op) {
  const json ref = {{"$ref", kV2Refs + s.definitionName()}};
  json params = json::array();
  if (op.body) {
    params.push_back({{"name", "body"},
                      {"in", "body"},
                      {"required", true},
                      {"schema", op.method == "patch" ? json{{"type", "object"}} : ref}});
  }
  if (op.writes) {
    for (const Param& p : writeParams(op)) {
      params.push_back({{"name", p.name},
                        {"in", "query"},
                        {"type", p.type},
                        {"uniqueItems", true},
                        {"description", p.description}});
    }
  }
  json ok = {{"description", "OK"}};
  if (op.returnsKind) ok["schema"] = ref;
  json o = {{"operationId", operationId(s, op)},
            {"description", op.action + " " + s.info->kind},
            {"produces", {"application/json", "application/yaml"}},
            {"schemes", {"https"}},
            {"tags", {s.groupVersionPath()}},
            {"parameters", std::move(params)},
            {"responses", {{"200", std::move(ok)}, {"401", {{"description", "Unauthorized"}}}}},
            {"x-kubernetes-action", op.action},
            {"x-kubernetes-group-version-kind", s.gvk()}};
  o["consumes"] = op.method == "patch"
                      ? json{"application/json-patch+json", "application/merge-patch+json",
                             "application/apply-patch+yaml"}
                      : json{"*/*"};
  return o;
}

json pathParam(const std::string& name, bool v2) {
  json p = {{"name", name},
            {"in", "path"},
            {"required", true},
            {"description", name == "name" ? "name of the object" : "object name and auth scope"}};
  if (v2) {
    p["type"] = "string";
    p["uniqueItems"] = true;
  } else {
    p["schema"] = {{"type", "string"}, {"uniqueItems", true}};
  }
  return p;
}

json v3Param(const Param& p) {
  return {{"name", p.name},
          {"in", "query"},
          {"description", p.description},
          {"schema", {{"type", p.type}, {"uniqueItems", true}}}};
}

// kubectl parses the whole group-version document again for every object it applies with
// validation on, so what many operations share (parameters, request bodies, responses) is
// defined once under components and referenced. fieldValidation stays inline on PATCH: that is
// where kubectl looks for it by name to learn that the server validates fields.
json v3Operation(const Served& s, const Operation& op) {
  json o = {{"operationId", operationId(s, op)},
            {"description", op.action + " " + s.info->kind},
            {"tags", {s.groupVersionPath()}},
            {"x-kubernetes-action", op.action},
            {"x-kubernetes-group-version-kind", s.gvk()}};
  if (op.writes) {
    json params = json::array();
    for (const Param& p : writeParams(op)) {
      params.push_back(p.name == "fieldValidation" && op.method == "patch"
                           ? v3Param(p)
                           : json{{"$ref", kV3Parameters + p.name}});
    }
    o["parameters"] = std::move(params);
  }
  if (op.body) {
    o["requestBody"] = {
        {"$ref", kV3RequestBodies + (op.method == "patch" ? kPatchBody : s.definitionName())}};
  }
  o["responses"] = {{"200", op.returnsKind ? json{{"$ref", kV3Responses + s.definitionName()}}
                                           : json{{"description", "OK"}}}};
  return o;
}

// What the operations of `served` reference (v3Operation, pathParam).
json v3SharedComponents(const std::vector<const Served*>& served) {
  json parameters = json::object();
  for (const Param& p : writeParams({"patch", "patch", "", true, true, true})) {
    parameters[p.name] = v3Param(p);
  }
  json bodies = json::object();
  json patchContent = json::object();
  for (const char* t : {"application/json-patch+json", "application/merge-patch+json",
                        "application/apply-patch+yaml"}) {
    patchContent[t] = {{"schema", {{"type", "object"}}}};
  }
  bodies[kPatchBody] = {{"content", std::move(patchContent)}, {"required", true}};
  json responses = json::object();
  for (const Served* s : served) {
    const json ref = {{"$ref", kV3Refs + s->definitionName()}};
    bodies[s->definitionName()] = {{"content", {{"*/*", {{"schema", ref}}}}}, {"required", true}};
    responses[s->definitionName()] = {
        {"description", "OK"},
        {"content",
         {{"application/json", {{"schema", ref}}}, {"application/yaml", {{"schema", ref}}}}}};
    if (s->info->namespaced) parameters["namespace"] = pathParam("namespace", false);
  }
  parameters["name"] = pathParam("name", false);
  return {{"parameters", std::move(parameters)},
          {"requestBodies", std::move(bodies)},
          {"responses", std::move(responses)}};
}

// Every path of a served kind, each with its operations, rendered by `render`.
void addPaths(json& paths, const Served& s, bool v2) {
  const auto render = [&](const Operation& op) {
    return v2 ? v2Operation(s, op) : v3Operation(s, op);
  };
  const std::string base = "/" + s.groupVersionPath();
  const bool ns = s.info->namespaced;
  const std::string scope = ns ? "Namespaced" : "";
  const std::string collection = base + (ns ? "/namespaces/{namespace}/" : "/") + s.info->plural;
  const std::string item = collection + "/{name}";
  auto params = [&](bool named) {
    json p = json::array();
    if (named) {
      p.push_back(v2 ? pathParam("name", true)
                     : json{{"$ref", std::string(kV3Parameters) + "name"}});
    }
    if (ns) {
      p.push_back(v2 ? pathParam("namespace", true)
                     : json{{"$ref", std::string(kV3Parameters) + "namespace"}});
    }
    return p;
  };
  paths[collection] = {{"get", render({"get", "list", scope, false, false, false})},
                       {"post", render({"post", "post", scope, true, true, true})},
                       {"parameters", params(false)}};
  paths[item] = {{"get", render({"get", "get", scope, false, false, true})},
                 {"put", render({"put", "put", scope, true, true, true})},
                 {"patch", render({"patch", "patch", scope, true, true, true})},
                 {"delete", render({"delete", "delete", scope, false, true, false})},
                 {"parameters", params(true)}};
  if (ns) {
    paths[base + "/" + s.info->plural] = {
        {"get", render({"get", "list", "ForAllNamespaces", false, false, false})}};
  }
  if (s.info->hasStatus) {
    const std::string st = scope + "Status";
    paths[item + "/status"] = {{"get", render({"get", "get", st, false, false, true})},
                               {"put", render({"put", "put", st, true, true, true})},
                               {"patch", render({"patch", "patch", st, true, true, true})},
                               {"parameters", params(true)}};
  }
}

json sharedDefinitions(bool v2) {
  json out = model::schemaDefinitions();
  if (v2) {
    for (auto& [_, d] : out.items()) toV2(d);
  }
  return out;
}

std::string hashOf(const json& doc) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016zX", std::hash<std::string>{}(doc.dump()));
  return buf;
}

}  // namespace

json openApiV2(const model::Registry& registry) {
  json paths = json::object();
  json definitions = sharedDefinitions(true);
  for (const Served& s : served(registry)) {
    json schema = publishedSchema(s, true);
    toV2(schema);
    definitions[s.definitionName()] = std::move(schema);
    addPaths(paths, s, true);
  }
  return {{"swagger", "2.0"},
          {"info", {{"title", kTitle}, {"version", kInfoVersion}}},
          {"paths", std::move(paths)},
          {"definitions", std::move(definitions)}};
}

std::optional<json> openApiV3(const model::Registry& registry,
                              const std::string& groupVersionPath) {
  json paths = json::object();
  json schemas = sharedDefinitions(false);
  const std::vector<Served> all = served(registry);
  std::vector<const Served*> here;
  for (const Served& s : all) {
    if (s.groupVersionPath() != groupVersionPath) continue;
    here.push_back(&s);
    schemas[s.definitionName()] = publishedSchema(s, false);
    addPaths(paths, s, false);
  }
  if (here.empty()) return std::nullopt;
  json components = v3SharedComponents(here);
  components["schemas"] = std::move(schemas);
  components["securitySchemes"] = {
      {"BearerToken",
       {{"type", "apiKey"},
        {"name", "authorization"},
        {"in", "header"},
        {"description", "Bearer token: an admin or a namespace token"}}}};
  return json{{"openapi", "3.0.0"},
              {"info", {{"title", kTitle}, {"version", kInfoVersion}}},
              {"paths", std::move(paths)},
              {"components", std::move(components)}};
}

json openApiV3Index(const model::Registry& registry) {
  json paths = json::object();
  for (const Served& s : served(registry)) {
    const std::string gv = s.groupVersionPath();
    if (paths.contains(gv)) continue;
    paths[gv] = {
        {"serverRelativeURL", "/openapi/v3/" + gv + "?hash=" + hashOf(*openApiV3(registry, gv))}};
  }
  return {{"paths", std::move(paths)}};
}

}  // namespace minimcp::server
