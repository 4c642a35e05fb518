// The OpenAPI documents (v2 JSON and protobuf, v3 index and group-versions), fieldValidation,
// and the self reviews (can-i, whoami), each against the real kinds and their schemas.
#include "api/server/openapi.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "api/model/schemas.h"
#include "api/server/field_validation.h"
#include "api/server/self_review.h"
#include "api/util/api_error.h"

namespace minimcp::server {
namespace {

using nlohmann::json;

const model::Registry& registry() { return model::Registry::instance(); }

// Every "$ref" in `doc` names an entry of `defs` (refs start with `prefix`, the rest is a JSON
// pointer into `defs`).
void expectRefsResolve(const json& doc, const json& defs, const std::string& prefix) {
  std::function<void(const json&)> walk = [&](const json& v) {
    if (v.is_object()) {
      if (auto it = v.find("$ref"); it != v.end()) {
        const std::string ref = *it;
        ASSERT_EQ(ref.rfind(prefix, 0), 0u) << ref;
        EXPECT_TRUE(defs.contains(json::json_pointer("/" + ref.substr(prefix.size())))) << ref;
      }
      for (const auto& [_, c] : v.items()) walk(c);
    } else if (v.is_array()) {
      for (const auto& c : v) walk(c);
    }
  };
  walk(doc);
}

bool hasQueryParam(const json& op, const std::string& name) {
  for (const auto& p : op.value("parameters", json::array())) {
    if (p.value("name", "") == name && p.value("in", "") == "query") return true;
  }
  return false;
}

TEST(OpenApiV2, EveryKindHasADefinitionAndDryRunnablePatch) {
  const json doc = openApiV2(registry());
  EXPECT_EQ(doc["swagger"], "2.0");
  expectRefsResolve(doc, doc["definitions"], "#/definitions/");
  for (const model::Strategy* s : registry().all()) {
    const auto& info = s->info();
    const std::string def = "io.minimcp.v1alpha1." + info.kind;
    ASSERT_TRUE(doc["definitions"].contains(def)) << def;
    const json gvk = {{"group", "minimcp.io"}, {"kind", info.kind}, {"version", "v1alpha1"}};
    EXPECT_EQ(doc["definitions"][def]["x-kubernetes-group-version-kind"], json::array({gvk}));
    // kubectl 1.20's diff and --dry-run=server look for exactly this: a PATCH with the kind's
    // group-version-kind (one map) and a dryRun query parameter.
    const std::string item = "/apis/minimcp.io/v1alpha1/" +
                             std::string(info.namespaced ? "namespaces/{namespace}/" : "") +
                             info.plural + "/{name}";
    ASSERT_TRUE(doc["paths"].contains(item)) << item;
    const json& patch = doc["paths"][item]["patch"];
    EXPECT_EQ(patch["x-kubernetes-group-version-kind"], gvk);
    EXPECT_TRUE(hasQueryParam(patch, "dryRun"));
    EXPECT_TRUE(hasQueryParam(patch, "fieldValidation"));
    EXPECT_TRUE(hasQueryParam(patch, "force"));
  }
  EXPECT_TRUE(doc["definitions"].contains("io.k8s.api.core.v1.Event"));
  EXPECT_TRUE(doc["paths"].contains("/api/v1/namespaces/{namespace}/events/{name}"));
}

TEST(OpenApiV2, SaysOnlyWhatV2CanSay) {
  const json doc = openApiV2(registry());
  const json& mi = doc["definitions"]["io.minimcp.v1alpha1.MCPInstance"];
  EXPECT_EQ(mi["properties"]["metadata"]["$ref"],
            std::string("#/definitions/") + model::kObjectMetaDefinition);
  // Untyped where unknown fields are kept: kubectl 1.20 then validates nothing below.
  const json& config = mi["properties"]["spec"]["properties"]["config"];
  EXPECT_FALSE(config.contains("type"));
  EXPECT_FALSE(mi["properties"]["status"].contains("properties"));
  EXPECT_EQ(mi["properties"]["spec"]["properties"]["env"]["x-kubernetes-list-map-keys"],
            json::array({"name"}));
  const std::string text = doc.dump();
  EXPECT_EQ(text.find("\"anyOf\""), std::string::npos);
  EXPECT_EQ(text.find("\"nullable\""), std::string::npos);
}

// A minimal protobuf reader for the test: every (field, value) of one message, in order.
std::multimap<int, std::string> fields(const std::string& data) {
  std::multimap<int, std::string> out;
  size_t i = 0;
  auto varint = [&] {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      auto b = static_cast<unsigned char>(data.at(i++));
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  while (i < data.size()) {
    uint64_t tag = varint();
    int field = static_cast<int>(tag >> 3);
    switch (tag & 7) {
      case 0:
        out.emplace(field, std::to_string(varint()));
        break;
      case 1:
        out.emplace(field, data.substr(i, 8));
        i += 8;
        break;
      case 2: {
        size_t len = varint();
        out.emplace(field, data.substr(i, len));
        i += len;
        break;
      }
      default:
        ADD_FAILURE() << "wire type " << (tag & 7);
        return out;
    }
  }
  EXPECT_EQ(i, data.size());
  return out;
}

std::string one(const std::multimap<int, std::string>& m, int field) {
  auto it = m.find(field);
  return it == m.end() ? "" : it->second;
}

// What client-go and kubectl read from the protobuf document, field by field (numbers from
// gnostic's OpenAPIv2.proto).
TEST(OpenApiV2, ProtobufCarriesWhatKubectlReads) {
  const std::string pb = openApiV2Protobuf(openApiV2(registry()));
  auto doc = fields(pb);
  EXPECT_EQ(one(doc, 1), "2.0");
  bool sawPatch = false;
  const auto paths = fields(one(doc, 8));
  for (auto [it, end] = paths.equal_range(2); it != end; ++it) {  // NamedPathItem
    auto named = fields(it->second);
    if (one(named, 1) != "/apis/minimcp.io/v1alpha1/namespaces/{namespace}/mcpinstances/{name}") {
      continue;
    }
    auto op = fields(one(fields(one(named, 2)), 8));  // PathItem.patch
    std::string gvk;
    for (auto [e, eEnd] = op.equal_range(13); e != eEnd; ++e) {  // vendor_extension
      auto ext = fields(e->second);
      if (one(ext, 1) == "x-kubernetes-group-version-kind") gvk = one(fields(one(ext, 2)), 2);
    }
    EXPECT_EQ(json::parse(gvk),
              json({{"group", "minimcp.io"}, {"kind", "MCPInstance"}, {"version", "v1alpha1"}}));
    std::vector<std::string> queryParams;
    for (auto [p, pEnd] = op.equal_range(8); p != pEnd; ++p) {  // ParametersItem
      auto param = fields(one(fields(p->second), 1));
      if (param.count(2) == 0) continue;  // body
      auto query = fields(one(fields(one(param, 2)), 3));
      queryParams.push_back(one(query, 4));
    }
    EXPECT_NE(std::find(queryParams.begin(), queryParams.end(), "dryRun"), queryParams.end());
    sawPatch = true;
  }
  EXPECT_TRUE(sawPatch);
  // Definitions: the MCPInstance schema's spec.ttl keeps its type and description.
  bool sawDefinition = false;
  const auto definitions = fields(one(doc, 9));
  for (auto [it, end] = definitions.equal_range(1); it != end; ++it) {
    auto named = fields(it->second);
    if (one(named, 1) != "io.minimcp.v1alpha1.MCPInstance") continue;
    auto findProp = [](const std::string& schema, const std::string& name) {
      const auto props = fields(one(fields(schema), 25));
      for (auto [p, pEnd] = props.equal_range(1); p != pEnd; ++p) {
        auto prop = fields(p->second);
        if (one(prop, 1) == name) return one(prop, 2);
      }
      return std::string();
    };
    auto ttl = fields(findProp(findProp(one(named, 2), "spec"), "ttl"));
    EXPECT_EQ(one(fields(one(ttl, 22)), 1), "string");
    EXPECT_NE(one(ttl, 4).find("Lifetime"), std::string::npos);
    sawDefinition = true;
  }
  EXPECT_TRUE(sawDefinition);
}

TEST(OpenApiV3, IndexPointsAtEachGroupVersionDocument) {
  const json index = openApiV3Index(registry());
  ASSERT_TRUE(index["paths"].contains("apis/minimcp.io/v1alpha1"));
  ASSERT_TRUE(index["paths"].contains("api/v1"));
  for (const auto& [gv, entry] : index["paths"].items()) {
    const std::string url = entry["serverRelativeURL"];
    EXPECT_EQ(url.rfind("/openapi/v3/" + gv + "?hash=", 0), 0u) << url;
    auto doc = openApiV3(registry(), gv);
    ASSERT_TRUE(doc) << gv;
    EXPECT_EQ((*doc)["openapi"], "3.0.0");
    expectRefsResolve(*doc, (*doc)["components"], "#/components/");
  }
  EXPECT_FALSE(openApiV3(registry(), "apis/apps/v1"));
  // The same document hashes the same: kubectl caches by the URL.
  EXPECT_EQ(openApiV3Index(registry()), index);
}

TEST(OpenApiV3, SchemasAreTheCrdsWithGroupVersionKind) {
  auto doc = openApiV3(registry(), "apis/minimcp.io/v1alpha1");
  ASSERT_TRUE(doc);
  const json& mi = (*doc)["components"]["schemas"]["io.minimcp.v1alpha1.MCPInstance"];
  EXPECT_EQ(
      mi["x-kubernetes-group-version-kind"],
      json::array({{{"group", "minimcp.io"}, {"kind", "MCPInstance"}, {"version", "v1alpha1"}}}));
  const json& crd = model::findKindSchema("MCPInstance")->schema;
  EXPECT_EQ(mi["properties"]["spec"], crd["properties"]["spec"]);
  EXPECT_EQ(mi["properties"]["status"], crd["properties"]["status"]);
  EXPECT_EQ(mi["properties"]["metadata"]["allOf"][0]["$ref"],
            std::string("#/components/schemas/") + model::kObjectMetaDefinition);
  // kubectl 1.32 learns that the server validates fields from PATCH's own parameters, by
  // name: for every kind, fieldValidation is inline there, not a reference.
  for (const model::Strategy* s : registry().all()) {
    const auto& info = s->info();
    const std::string item = "/apis/minimcp.io/v1alpha1/" +
                             std::string(info.namespaced ? "namespaces/{namespace}/" : "") +
                             info.plural + "/{name}";
    const json& patch = (*doc)["paths"][item]["patch"];
    EXPECT_TRUE(hasQueryParam(patch, "fieldValidation")) << item;
    EXPECT_EQ(patch["x-kubernetes-group-version-kind"]["kind"], info.kind) << item;
  }
  // What operations share is defined once and referenced: kubectl parses the whole document
  // again for every object it applies.
  const json& put =
      (*doc)["paths"]["/apis/minimcp.io/v1alpha1/namespaces/{namespace}/mcpinstances/{name}"]
            ["put"];
  EXPECT_EQ(put["requestBody"]["$ref"],
            "#/components/requestBodies/io.minimcp.v1alpha1.MCPInstance");
  EXPECT_EQ(put["responses"]["200"]["$ref"],
            "#/components/responses/io.minimcp.v1alpha1.MCPInstance");
  EXPECT_EQ(put["parameters"][0]["$ref"], "#/components/parameters/dryRun");
  EXPECT_EQ((*doc)["components"]["parameters"]["fieldValidation"]["in"], "query");
  auto core = openApiV3(registry(), "api/v1");
  ASSERT_TRUE(core);
  EXPECT_EQ((*core)["components"]["schemas"]["io.k8s.api.core.v1.Event"]
                   ["x-kubernetes-group-version-kind"][0],
            json({{"group", ""}, {"kind", "Event"}, {"version", "v1"}}));
}

Request withQuery(const std::string& target, const std::string& method = "POST") {
  Request r;
  r.method = method;
  r.target = target;
  parseTarget(target, r.path, r.query);
  return r;
}

TEST(FieldValidation, DirectiveFromTheQuery) {
  EXPECT_EQ(fieldValidationFrom(withQuery("/x")), FieldValidation::Warn);
  EXPECT_EQ(fieldValidationFrom(withQuery("/x?fieldValidation=Strict")), FieldValidation::Strict);
  EXPECT_EQ(fieldValidationFrom(withQuery("/x?fieldValidation=Warn")), FieldValidation::Warn);
  EXPECT_EQ(fieldValidationFrom(withQuery("/x?fieldValidation=Ignore")), FieldValidation::Ignore);
  try {
    fieldValidationFrom(withQuery("/x?fieldValidation=strict"));
    ADD_FAILURE() << "lower case accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), 400);
    EXPECT_NE(std::string(e.what()).find("\"strict\""), std::string::npos) << e.what();
  }
}

TEST(FieldValidation, StrictWarnIgnore) {
  const model::KindInfo& kind = registry().find("MCPInstance")->info();
  const json obj = {{"apiVersion", "minimcp.io/v1alpha1"},
                    {"kind", "MCPInstance"},
                    {"metadata", {{"name", "a"}, {"namespace", "ns"}, {"bogus", 1}}},
                    {"spec", {{"type", "t"}, {"foo", 1}, {"config", {{"free", 1}}}}}};
  json clean = obj;
  clean["metadata"].erase("bogus");
  clean["spec"].erase("foo");

  json strict = obj;
  try {
    checkFields(FieldValidation::Strict, kind, strict);
    ADD_FAILURE() << "Strict accepted unknown fields";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), 400);
    EXPECT_EQ(std::string(e.what()),
              "MCPInstance in version \"v1alpha1\" cannot be handled as a MCPInstance: strict "
              "decoding error: unknown field \"metadata.bogus\", unknown field \"spec.foo\"");
  }
  EXPECT_EQ(strict, obj);

  json warn = obj;
  EXPECT_EQ(
      checkFields(FieldValidation::Warn, kind, warn),
      (std::vector<std::string>{"unknown field \"metadata.bogus\"", "unknown field \"spec.foo\""}));
  EXPECT_EQ(warn, clean);

  json ignore = obj;
  EXPECT_TRUE(checkFields(FieldValidation::Ignore, kind, ignore).empty());
  EXPECT_EQ(ignore, clean);

  json known = clean;
  EXPECT_TRUE(checkFields(FieldValidation::Strict, kind, known).empty());

  // Keys the body repeated (model::duplicateFields): reported, as kube-apiserver does.
  json dup = clean;
  EXPECT_EQ(checkFields(FieldValidation::Warn, kind, dup, {"spec.type"}),
            (std::vector<std::string>{"duplicate field \"spec.type\""}));
  EXPECT_TRUE(checkFields(FieldValidation::Ignore, kind, dup, {"spec.type"}).empty());
  try {
    checkFields(FieldValidation::Strict, kind, dup, {"spec.type"});
    ADD_FAILURE() << "Strict accepted a duplicate field";
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("duplicate field \"spec.type\""), std::string::npos);
  }

  Response r;
  addWarnings(r, {"unknown field \"spec.foo\""});
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Warning");
  EXPECT_EQ(r.headers[0].second, "299 - \"unknown field \\\"spec.foo\\\"\"");
}

const Identity kAdmin{Identity::Role::Admin, "", "admin"};
const Identity kAlice{Identity::Role::Namespace, "alice", "alice-1"};

json review(const Identity& who, const json& spec) {
  Request r = withQuery("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
  r.headers.emplace_back("content-type", "application/json");
  r.body = json{
      {"apiVersion", "authorization.k8s.io/v1"},
      {"kind", "SelfSubjectAccessReview"},
      {"spec",
       spec}}.dump();
  Authorizer authz;
  auto resp = serveSelfReview(r, who, authz);
  EXPECT_TRUE(resp);
  if (!resp) return {};
  EXPECT_EQ(resp->status, 201) << resp->body;
  return json::parse(resp->body);
}

json resource(const std::string& verb, const std::string& resource, const std::string& ns = "",
              const std::string& group = "minimcp.io") {
  return {{"resourceAttributes",
           {{"verb", verb}, {"resource", resource}, {"namespace", ns}, {"group", group}}}};
}

TEST(SelfSubjectAccessReview, TheAuthorizerAnswers) {
  struct Case {
    const Identity* who;
    json spec;
    bool allowed;
  };
  const std::vector<Case> cases = {
      {&kAdmin, resource("create", "mcptypes"), true},
      {&kAdmin, resource("delete", "mcpinstances", "bob"), true},
      {&kAlice, resource("create", "mcpinstances", "alice"), true},
      {&kAlice, resource("create", "mcpinstances", "bob"), false},
      {&kAlice, resource("list", "mcpinstances"), false},  // across namespaces
      {&kAlice, resource("get", "mcptypes"), true},
      {&kAlice, resource("create", "mcptypes"), false},
      {&kAlice, resource("create", "events", "alice", ""), false},
      {&kAlice, resource("list", "events", "alice", ""), true},
      {&kAlice, resource("create", "pods", "alice", ""), false},
      {&kAlice, resource("create", "mcpinstances", "alice", "apps"), false},
      {&kAlice, {{"nonResourceAttributes", {{"verb", "get"}, {"path", "/metrics"}}}}, false},
      {&kAlice, {{"nonResourceAttributes", {{"verb", "get"}, {"path", "/openapi/v3"}}}}, true},
      {&kAdmin, {{"nonResourceAttributes", {{"verb", "get"}, {"path", "/metrics"}}}}, true},
  };
  for (const Case& c : cases) {
    json r = review(*c.who, c.spec);
    EXPECT_EQ(r["kind"], "SelfSubjectAccessReview");
    EXPECT_EQ(r["spec"], c.spec);
    EXPECT_EQ(r["status"]["allowed"], c.allowed) << c.who->name << " " << c.spec.dump();
    if (!c.allowed) {
      EXPECT_FALSE(r["status"].value("reason", "").empty()) << c.spec.dump();
    }
  }
}

std::string protoString(int field, const std::string& v) {
  std::string out(1, static_cast<char>(field << 3 | 2));
  out.push_back(static_cast<char>(v.size()));  // every test value is shorter than 128 bytes
  return out + v;
}

// kubectl sends the review in Kubernetes' protobuf encoding.
TEST(SelfSubjectAccessReview, ReadsTheProtobufKubectlSends) {
  const std::string attrs = protoString(1, "bob") + protoString(2, "create") +
                            protoString(3, "minimcp.io") + protoString(5, "mcpinstances");
  const std::string spec = protoString(1, attrs);
  const std::string obj = protoString(2, spec);
  const std::string typeMeta =
      protoString(1, "authorization.k8s.io/v1") + protoString(2, "SelfSubjectAccessReview");
  Request r = withQuery("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
  r.headers.emplace_back("content-type", "application/vnd.kubernetes.protobuf");
  r.body = std::string("k8s\0", 4) + protoString(1, typeMeta) + protoString(2, obj);
  Authorizer authz;
  for (const auto& [who, allowed] : {std::pair{&kAdmin, true}, std::pair{&kAlice, false}}) {
    auto resp = serveSelfReview(r, *who, authz);
    ASSERT_TRUE(resp);
    json j = json::parse(resp->body);
    EXPECT_EQ(j["spec"]["resourceAttributes"]["namespace"], "bob");
    EXPECT_EQ(j["spec"]["resourceAttributes"]["resource"], "mcpinstances");
    EXPECT_EQ(j["status"]["allowed"], allowed) << who->name;
  }
  r.body = "k8s";
  EXPECT_THROW(serveSelfReview(r, kAdmin, authz), ApiError);
}

// `kubectl auth can-i --list`: the Authorizer's answers written down as rules.
TEST(SelfSubjectRulesReview, RulesFromTheAuthorizer) {
  auto rules = [](const Identity& who, const std::string& ns, bool protobuf) {
    Request r = withQuery("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews");
    if (protobuf) {
      r.headers.emplace_back("content-type", "application/vnd.kubernetes.protobuf");
      r.body = std::string("k8s\0", 4) + protoString(2, protoString(2, protoString(1, ns)));
    } else {
      r.headers.emplace_back("content-type", "application/json");
      r.body = json{{"kind", "SelfSubjectRulesReview"}, {"spec", {{"namespace", ns}}}}.dump();
    }
    Authorizer authz;
    auto resp = serveSelfReview(r, who, authz);
    EXPECT_TRUE(resp);
    if (!resp) return json();
    EXPECT_EQ(resp->status, 201) << resp->body;
    json j = json::parse(resp->body);
    EXPECT_EQ(j["kind"], "SelfSubjectRulesReview");
    EXPECT_EQ(j["spec"]["namespace"], ns);
    EXPECT_EQ(j["status"]["incomplete"], false);
    return j["status"];
  };
  json admin = rules(kAdmin, "alice", true);
  EXPECT_EQ(admin["resourceRules"],
            json::parse(R"([{"verbs":["*"],"apiGroups":["*"],"resources":["*"]}])"));
  EXPECT_EQ(admin["nonResourceRules"], json::parse(R"([{"verbs":["*"],"nonResourceURLs":["*"]}])"));

  auto verbsOf = [](const json& status, const std::string& resource) {
    std::vector<std::string> out;
    for (const auto& r : status["resourceRules"]) {
      if (r["resources"][0] == resource && !r.contains("resourceNames")) {
        out = r["verbs"].get<std::vector<std::string>>();
      }
    }
    return out;
  };
  for (bool protobuf : {false, true}) {
    json own = rules(kAlice, "alice", protobuf);
    EXPECT_EQ(verbsOf(own, "mcpinstances"),
              (std::vector<std::string>{"get", "list", "watch", "create", "update", "patch",
                                        "delete", "connect"}))
        << own.dump();
    EXPECT_EQ(verbsOf(own, "mcpinstances/status"),
              (std::vector<std::string>{"get", "list", "watch"}));
    EXPECT_EQ(verbsOf(own, "events"), (std::vector<std::string>{"get", "list", "watch"}));
    EXPECT_EQ(verbsOf(own, "mcptypes"), (std::vector<std::string>{"get", "list", "watch"}));
    EXPECT_TRUE(verbsOf(own, "tokens").empty());
    bool limits = false;
    for (const auto& r : own["resourceRules"]) {
      if (r["resources"][0] == "limits") {
        EXPECT_EQ(r["resourceNames"], json::array({"alice"}));
        EXPECT_EQ(r["verbs"], json::array({"get"}));
        limits = true;
      }
    }
    EXPECT_TRUE(limits) << own.dump();
    EXPECT_NE(own["nonResourceRules"].dump().find("/openapi/*"), std::string::npos);
    EXPECT_EQ(own["nonResourceRules"].dump().find("/metrics"), std::string::npos);
  }
  // Another namespace: only what every tenant reads (cluster-scoped kinds).
  json other = rules(kAlice, "bob", false);
  EXPECT_TRUE(verbsOf(other, "mcpinstances").empty()) << other.dump();
  EXPECT_EQ(verbsOf(other, "mcptypes"), (std::vector<std::string>{"get", "list", "watch"}));
}

TEST(SelfSubjectReview, SaysWhoTheTokenIs) {
  Authorizer authz;
  for (const Identity* who : {&kAdmin, &kAlice}) {
    Request r = withQuery("/apis/authentication.k8s.io/v1/selfsubjectreviews");
    r.headers.emplace_back("content-type", "application/json");
    r.body = R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})";
    auto resp = serveSelfReview(r, *who, authz);
    ASSERT_TRUE(resp);
    EXPECT_EQ(resp->status, 201);
    json j = json::parse(resp->body);
    EXPECT_EQ(j["status"]["userInfo"]["username"], who->name);
    EXPECT_EQ(j["status"]["userInfo"], userInfo(*who));
  }
  EXPECT_EQ(userInfo(kAlice)["groups"][0], "minimcp:namespace:alice");
  EXPECT_EQ(userInfo(kAdmin)["groups"][0], "minimcp:admins");
  EXPECT_FALSE(serveSelfReview(withQuery("/apis/minimcp.io/v1alpha1/mcptypes"), kAdmin, authz));
  EXPECT_THROW(
      serveSelfReview(withQuery("/apis/authentication.k8s.io/v1/selfsubjectreviews", "GET"), kAdmin,
                      authz),
      ApiError);
}

}  // namespace
}  // namespace minimcp::server
