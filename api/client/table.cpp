#include "api/client/table.h"

#include <algorithm>

#include "api/util/ascii.h"
#include "api/util/clock.h"

namespace minimcp::client {

using nlohmann::json;

namespace {

size_t displayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;  // count code points, not continuation bytes
  }
  return n;
}

std::string cellText(const json& cell, const std::string& type,
                     std::chrono::system_clock::time_point now) {
  if (cell.is_null()) return "";  // kubectl prints a missing value as an empty cell
  if (cell.is_string()) {
    const auto& s = cell.get_ref<const std::string&>();
    if (type == "date") {
      if (auto t = parseRfc3339(s)) {
        auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - *t);
        return humanDuration(std::max(age, std::chrono::milliseconds(0)));
      }
    }
    return s;
  }
  return cell.dump();
}

std::string labelsText(const json& object) {
  const json* labels = nullptr;
  if (object.is_object() && object.contains("metadata") && object["metadata"].is_object() &&
      object["metadata"].contains("labels")) {
    labels = &object["metadata"]["labels"];
  }
  if (!labels || !labels->is_object() || labels->empty()) return "<none>";
  std::string out;
  for (auto it = labels->begin(); it != labels->end(); ++it) {
    if (!out.empty()) out += ",";
    out += it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
  }
  return out;
}

std::string namespaceOf(const json& object) {
  if (object.is_object() && object.contains("metadata") && object["metadata"].is_object()) {
    return object["metadata"].value("namespace", "");
  }
  return "";
}

struct Column {
  size_t index;
  std::string name;
  std::string type;
};

std::vector<Column> visibleColumns(const json& table, const TableOptions& options) {
  std::vector<Column> cols;
  const json defs = table.value("columnDefinitions", json::array());
  for (size_t i = 0; i < defs.size(); ++i) {
    if (!options.wide && defs[i].value("priority", 0) > 0) continue;
    cols.push_back({i, defs[i].value("name", ""), defs[i].value("type", "string")});
  }
  return cols;
}

}  // namespace

Rows tableDataRows(const json& table, const TableOptions& options) {
  Rows out;
  auto cols = visibleColumns(table, options);
  for (const auto& row : table.value("rows", json::array())) {
    const json cells = row.value("cells", json::array());
    const json object = row.value("object", json::object());
    std::vector<std::string> line;
    if (options.withNamespace) line.push_back(namespaceOf(object));
    for (const auto& c : cols) {
      line.push_back(c.index < cells.size() ? cellText(cells[c.index], c.type, options.now)
                                            : "<none>");
    }
    if (options.showLabels) line.push_back(labelsText(object));
    out.push_back(std::move(line));
  }
  return out;
}

Rows tableRows(const json& table, const TableOptions& options) {
  Rows out;
  if (!options.noHeaders) {
    std::vector<std::string> header;
    if (options.withNamespace) header.push_back("NAMESPACE");
    for (const auto& c : visibleColumns(table, options)) header.push_back(asciiUpper(c.name));
    if (options.showLabels) header.push_back("LABELS");
    out.push_back(std::move(header));
  }
  for (auto& row : tableDataRows(table, options)) out.push_back(std::move(row));
  return out;
}

std::vector<size_t> columnWidths(const Rows& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], displayWidth(row[i]));
  }
  return widths;
}

std::string formatRow(const std::vector<std::string>& row, const std::vector<size_t>& widths,
                      size_t padding) {
  std::string line;
  for (size_t i = 0; i < row.size(); ++i) {
    line += row[i];
    if (i + 1 < row.size()) {
      size_t width = i < widths.size() ? widths[i] : 0;
      size_t w = displayWidth(row[i]);
      line.append((width > w ? width - w : 0) + padding, ' ');
    }
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

std::string alignColumns(const Rows& rows, size_t padding) {
  auto widths = columnWidths(rows);
  std::string out;
  for (const auto& row : rows) out += formatRow(row, widths, padding) + "\n";
  return out;
}

}  // namespace minimcp::client
