// YAML ↔ JSON. Plain scalars resolve by the YAML 1.2 core schema (null, true/false, ints,
// floats); quoted scalars stay strings. Output uses YAML::Emitter directly so strings that
// would read back as something else ("true", "1", "null", "") are quoted.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace minimcp::model {

// Parses every document of a multi-document YAML stream (empty documents are skipped).
// Throws ApiError::BadRequest with "line L, column C" on a syntax error, or when nesting
// exceeds `maxDepth`.
std::vector<nlohmann::json> parseYamlDocuments(const std::string& text, int maxDepth = 64);

// Parses a body that is either JSON or YAML (one document). Throws ApiError::BadRequest naming
// line and column.
nlohmann::json parseJsonOrYaml(const std::string& text, int maxDepth = 64);

std::string toYaml(const nlohmann::json& value);

}  // namespace minimcp::model
