// Printing meta.k8s.io/v1 Table responses the way kubectl does.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace minimcp::client {

struct TableOptions {
  bool wide = false;           // -o wide: also columns with priority > 0
  bool withNamespace = false;  // -A: a NAMESPACE column first
  bool showLabels = false;     // --show-labels: a LABELS column last
  bool noHeaders = false;
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

using Rows = std::vector<std::vector<std::string>>;

// The header (unless noHeaders) and one line per row, as strings: headers upper-cased, `date`
// columns holding RFC 3339 timestamps turned into ages, null cells empty (as kubectl prints them).
Rows tableRows(const nlohmann::json& table, const TableOptions& options);
// Only the data rows (for watch events that carry a Table of their own).
Rows tableDataRows(const nlohmann::json& table, const TableOptions& options);

// Display width of each column (UTF-8 aware).
std::vector<size_t> columnWidths(const Rows& rows);
// One line: every column but the last padded to its width plus `padding` spaces, like kubectl's
// tabwriter (padding 3 for get, 2 for describe); trailing spaces trimmed; no newline.
std::string formatRow(const std::vector<std::string>& row, const std::vector<size_t>& widths,
                      size_t padding = 3);
// All rows, each ending in '\n'.
std::string alignColumns(const Rows& rows, size_t padding = 3);

}  // namespace minimcp::client
