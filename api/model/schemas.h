// The OpenAPI v3 schema of every kind the server serves, compiled into the binary from one
// source: the CRDs in crds/ (MCPType, MCPInstance, APIKey, NotificationSink) and api/model/schemas/ for the kinds
// that have no CRD (Event, Node). The OpenAPI documents, `kubectl explain`, fieldValidation and
// server-side apply's list semantics (x-kubernetes-list-type) all read them from here.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace minimcp::model {

// OpenAPI name of the shared ObjectMeta definition, as kube-apiserver publishes it.
inline constexpr const char* kObjectMetaDefinition =
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

struct KindSchema {
  std::string group;    // "minimcp.io"
  std::string version;  // "v1alpha1"
  std::string kind;     // "MCPInstance"
  std::string plural;   // "mcpinstances"
  std::string source;   // the file it came from, e.g. "mcpinstances.minimcp.io.yaml"
  // The CRD's openAPIV3Schema, as written.
  nlohmann::json schema;
  // The same with metadata's properties completed by ObjectMeta: the schema of a whole object,
  // which unknown-field detection and list semantics walk.
  nlohmann::json objectSchema;
};

// Every kind's schema, parsed once.
const std::vector<KindSchema>& kindSchemas();

// By kind ("MCPInstance") or plural ("mcpinstances"); nullptr when there is none.
const KindSchema* findKindSchema(const std::string& kindOrPlural);

// Shared definitions keyed by OpenAPI name (kObjectMetaDefinition...).
const nlohmann::json& schemaDefinitions();

// The schema of the value at `path` ({"spec", "env"}) inside an object schema, looking through
// arrays' items for numeric segments; nullptr when the schema does not declare it.
const nlohmann::json* schemaAt(const nlohmann::json& objectSchema,
                               const std::vector<std::string>& path);

// Fields of `obj` that `schema` does not declare, named as kube-apiserver names them
// ("spec.foo", "spec.env[0].bar"), in document order. A subtree under
// x-kubernetes-preserve-unknown-fields (or additionalProperties) accepts any field.
std::vector<std::string> unknownFields(const nlohmann::json& schema, const nlohmann::json& obj);

// Removes those fields from `obj` (kube-apiserver's pruning) and returns their names.
std::vector<std::string> pruneUnknownFields(const nlohmann::json& schema, nlohmann::json& obj);

}  // namespace minimcp::model
