#include "api/client/custom_columns.h"

#include <sstream>
#include <stdexcept>

#include "api/client/jsonpath.h"

namespace minimcp::client {

using nlohmann::json;

namespace {

CustomColumn makeColumn(const std::string& header, const std::string& path) {
  try {
    return {header, relaxedJsonPathExpression(path)};
  } catch (const JsonPathError& e) {
    throw std::invalid_argument(e.what());
  }
}

std::vector<std::string> splitOnWhitespace(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string word;
  while (in >> word) out.push_back(word);
  return out;
}

}  // namespace

std::vector<CustomColumn> parseCustomColumns(const std::string& spec) {
  if (spec.empty()) {
    throw std::invalid_argument("custom-columns format specified but no custom columns given");
  }
  std::vector<CustomColumn> columns;
  size_t from = 0;
  while (true) {
    size_t comma = spec.find(',', from);
    std::string part =
        spec.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    size_t colon = part.find(':');
    if (colon == std::string::npos) {
      throw std::invalid_argument("unexpected custom-columns spec: " + part +
                                  ", expected <header>:<json-path-expr>");
    }
    columns.push_back(makeColumn(part.substr(0, colon), part.substr(colon + 1)));
    if (comma == std::string::npos) break;
    from = comma + 1;
  }
  return columns;
}

std::vector<CustomColumn> parseCustomColumnsFile(const std::string& text) {
  const char* format =
      " Expected format is one line of space separated headers, one line of space separated "
      "column specs.";
  std::istringstream in(text);
  std::string headerLine, specLine;
  if (!std::getline(in, headerLine)) {
    throw std::invalid_argument(std::string("invalid template, missing header line.") + format);
  }
  if (!std::getline(in, specLine)) {
    throw std::invalid_argument(std::string("invalid template, missing spec line.") + format);
  }
  auto headers = splitOnWhitespace(headerLine);
  auto specs = splitOnWhitespace(specLine);
  if (headers.size() != specs.size()) {
    throw std::invalid_argument("number of headers (" + std::to_string(headers.size()) +
                                ") and field specifications (" + std::to_string(specs.size()) +
                                ") don't match");
  }
  std::vector<CustomColumn> columns;
  for (size_t i = 0; i < headers.size(); ++i) columns.push_back(makeColumn(headers[i], specs[i]));
  return columns;
}

Rows customColumnRows(const std::vector<CustomColumn>& columns, const json& object,
                      bool noHeaders) {
  std::vector<JsonPath> paths;
  for (const auto& c : columns) paths.push_back(JsonPath::parse(c.fieldSpec));
  Rows rows;
  if (!noHeaders) {
    std::vector<std::string> header;
    for (const auto& c : columns) header.push_back(c.header);
    rows.push_back(std::move(header));
  }
  auto addRow = [&](const json& obj) {
    std::vector<std::string> row;
    for (const auto& path : paths) {
      auto results = path.findResults(obj);
      std::string cell;
      if (results.empty() || results[0].empty()) cell = "<none>";
      for (const auto& values : results) {
        for (const auto& v : values) cell += (cell.empty() ? "" : ",") + goValueText(v);
      }
      row.push_back(std::move(cell));
    }
    rows.push_back(std::move(row));
  };
  if (object.is_object() && object.contains("items") && object["items"].is_array() &&
      object.value("kind", "").size() >= 4 &&
      object.value("kind", "").compare(object.value("kind", "").size() - 4, 4, "List") == 0) {
    for (const auto& item : object["items"]) addRow(item);
  } else {
    addRow(object);
  }
  return rows;
}

std::string alignCustomColumns(const Rows& rows) {
  auto widths = columnWidths(rows);
  for (auto& w : widths) w = std::max<size_t>(w, 3);  // tabwriter minwidth 6 = 3 + padding 3
  std::string out;
  for (const auto& row : rows) out += formatRow(row, widths) + "\n";
  return out;
}

}  // namespace minimcp::client
