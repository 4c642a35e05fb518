// YAML ↔ JSON. Plain scalars resolve by the YAML 1.2 core schema (null, true/false, ints,
// floats); quoted scalars stay strings. Output uses YAML::Emitter directly so strings that
// would read back as something else ("true", "1", "null", "") are quoted.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace minimcp::model {

// Parses every document of a multi-document YAML stream (empty documents are skipped).
// Throws ApiError::BadRequest with "line L, column C" on a syntax error, when nesting exceeds
// `maxDepth`, or for a number JSON cannot hold (beyond 64-bit integers, 1e400, .inf, .nan).
std::vector<nlohmann::json> parseYamlDocuments(const std::string& text, int maxDepth = 64);

// Parses JSON (only). Throws ApiError::BadRequest naming line and column on a syntax error, and
// for numbers the API cannot hold: integers beyond 64 signed bits, floats that overflow.
nlohmann::json parseJson(const std::string& text, int maxDepth = 64);

// Parses a body that is either JSON or YAML (one document). Throws ApiError::BadRequest naming
// line and column.
nlohmann::json parseJsonOrYaml(const std::string& text, int maxDepth = 64);

// Keys a JSON body repeats within one object, named by path ("spec.ttl", "spec.env[0].name"), in
// document order: parseJson keeps the last of them, and fieldValidation reports them. Always
// empty for YAML, whose parser refuses repeated keys.
std::vector<std::string> duplicateFields(const std::string& text);

std::string toYaml(const nlohmann::json& value);

}  // namespace minimcp::model
