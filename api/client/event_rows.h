// `events`: kubectl events' table (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE), built without I/O.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/client/table.h"

namespace minimcp::client {

// --types values; throws std::invalid_argument "valid --types are Normal or Warning".
void checkEventTypes(const std::vector<std::string>& types);

// The items of an EventList of the given types (case-insensitive; empty keeps all), oldest
// first by lastTimestamp (else eventTime), as kubectl events prints them in every format.
std::vector<nlohmann::json> sortedEvents(const nlohmann::json& eventList,
                                         const std::vector<std::string>& types);

// The events of an EventList, oldest first (by lastTimestamp, else eventTime), keeping only the
// given types (case-insensitive; empty keeps all). LAST SEEN is the age of the last occurrence
// followed by "(xN over AGE)" for repeated events; OBJECT is "Kind/name"; with
// `allNamespaces` a NAMESPACE column comes first. No header row here.
Rows eventRows(const nlohmann::json& eventList, bool allNamespaces,
               const std::vector<std::string>& types, std::chrono::system_clock::time_point now);

// The header row matching eventRows.
std::vector<std::string> eventHeader(bool allNamespaces);

}  // namespace minimcp::client
