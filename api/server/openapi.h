// The OpenAPI documents kubectl reads, built from the kinds' schemas (api/model/schemas.h):
// /openapi/v2 (one Swagger 2.0 document; JSON, or the protobuf encoding kubectl asks for) and
// /openapi/v3 (an index of group-versions, and one OpenAPI 3.0 document per group-version).
// kubectl uses them for `explain`, client-side validation, and to learn that PATCH takes
// dryRun and fieldValidation (the x-kubernetes-group-version-kind of each operation).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/model/strategy.h"

namespace minimcp::server {

// The Swagger 2.0 document of every kind, as kube-apiserver publishes CRDs: definitions named
// like io.minimcp.v1alpha1.MCPInstance, metadata a $ref to ObjectMeta, v3-only constructs
// (anyOf, nullable) removed, x-kubernetes-preserve-unknown-fields subtrees left untyped.
nlohmann::json openApiV2(const model::Registry& registry);

// `doc` (a Swagger 2.0 document such as openApiV2's) in the protobuf encoding of gnostic's
// openapi.v2.Document, what client-go decodes from /openapi/v2.
std::string openApiV2Protobuf(const nlohmann::json& doc);

// /openapi/v3: {"paths": {"apis/minimcp.io/v1alpha1": {"serverRelativeURL": "...?hash=H"}, ...}}.
nlohmann::json openApiV3Index(const model::Registry& registry);

// The OpenAPI 3.0 document of one group-version ("apis/minimcp.io/v1alpha1", "api/v1");
// nullopt for any other.
std::optional<nlohmann::json> openApiV3(const model::Registry& registry,
                                        const std::string& groupVersionPath);

}  // namespace minimcp::server
