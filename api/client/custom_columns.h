// kubectl's -o custom-columns=HEADER:PATH,... and -o custom-columns-file=FILE printers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/client/table.h"

namespace minimcp::client {

struct CustomColumn {
  std::string header;
  std::string fieldSpec;  // a JSONPath template, e.g. "{.metadata.name}"
};

// "NAME:.metadata.name,PHASE:.status.phase". Throws std::invalid_argument with kubectl's
// message for a spec without ':' or with a path kubectl does not accept.
std::vector<CustomColumn> parseCustomColumns(const std::string& spec);

// A custom-columns file: one line of headers, one line of paths, both whitespace-separated.
std::vector<CustomColumn> parseCustomColumnsFile(const std::string& text);

// The header row (unless `noHeaders`) and one row per object (each item of a List): every value
// a column's path finds, joined by ","; "<none>" when it finds nothing. Throws
// JsonPathError when a path does not parse or fails on an object.
Rows customColumnRows(const std::vector<CustomColumn>& columns, const nlohmann::json& object,
                      bool noHeaders);

// Rows aligned like kubectl's tabwriter for these printers (cells at least 6 wide with padding
// 3), each line ending in '\n'.
std::string alignCustomColumns(const Rows& rows);

}  // namespace minimcp::client
