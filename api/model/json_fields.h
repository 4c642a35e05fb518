// The one set of tolerant reads of JSON documents (objects that may not have been validated, or
// were written by an older version): a missing field, a null, a field of another type or a
// parent that is not an object all read as "not set" — never an exception.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/util/clock.h"

namespace minimcp::model {

// The member `key` of `obj`, or nullptr when absent or null (null means "not set", as with
// omitempty in Go).
const nlohmann::json* member(const nlohmann::json& obj, const std::string& key);
// The member when it is an object, else an empty object (so reads can be chained).
const nlohmann::json& objectField(const nlohmann::json& obj, const std::string& key);
std::string stringField(const nlohmann::json& obj, const std::string& key,
                        const std::string& fallback = "");
int64_t intField(const nlohmann::json& obj, const std::string& key, int64_t fallback = 0);
bool boolField(const nlohmann::json& obj, const std::string& key, bool fallback = false);
// Only the string items of an array member.
std::vector<std::string> stringListField(const nlohmann::json& obj, const std::string& key);
// An RFC 3339 string member; nullopt when absent or malformed.
std::optional<TimePoint> timeField(const nlohmann::json& obj, const std::string& key);
// The value at a dotted path ("spec.server.transport"), or null.
nlohmann::json cellAt(const nlohmann::json& obj, const std::string& dottedPath);

}  // namespace minimcp::model
