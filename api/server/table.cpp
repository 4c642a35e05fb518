#include "api/server/table.h"

namespace minimcp::server {

bool wantsTable(const std::string& accept) {
  // Any media range of the Accept list that says as=Table for meta.k8s.io.
  size_t pos = 0;
  while (pos <= accept.size()) {
    size_t comma = accept.find(',', pos);
    if (comma == std::string::npos) comma = accept.size();
    std::string range = accept.substr(pos, comma - pos);
    if (range.find("as=Table") != std::string::npos &&
        range.find("g=meta.k8s.io") != std::string::npos) {
      return true;
    }
    pos = comma + 1;
  }
  return false;
}

IncludeObject parseIncludeObject(const std::string& param) {
  if (param == "None") return IncludeObject::None;
  if (param == "Object") return IncludeObject::Object;
  return IncludeObject::Metadata;
}

nlohmann::json tableColumns(const model::KindInfo& info) {
  auto cols = nlohmann::json::array();
  cols.push_back({{"name", "Name"},
                  {"type", "string"},
                  {"format", "name"},
                  {"description", "Name must be unique within a namespace."},
                  {"priority", 0}});
  for (const auto& c : info.columns) {
    cols.push_back({{"name", c.name},
                    {"type", c.type == "date" ? "string" : c.type},
                    {"format", c.type == "date" ? "date" : ""},
                    {"description", c.description},
                    {"priority", c.priority}});
  }
  return cols;
}

nlohmann::json tableRow(const model::Strategy& strategy, const nlohmann::json& obj, TimePoint now,
                        IncludeObject include) {
  auto cells = nlohmann::json::array();
  cells.push_back(obj.value("/metadata/name"_json_pointer, std::string()));
  auto extra = strategy.tableCells(obj, now);
  if (extra.is_array()) {
    for (auto& c : extra) cells.push_back(c);
  }
  nlohmann::json row = {{"cells", std::move(cells)}};
  if (include == IncludeObject::Object) {
    row["object"] = obj;
  } else if (include == IncludeObject::Metadata) {
    row["object"] = {{"kind", "PartialObjectMetadata"},
                     {"apiVersion", "meta.k8s.io/v1"},
                     {"metadata", obj.value("metadata", nlohmann::json::object())}};
  }
  return row;
}

nlohmann::json buildTable(const model::Strategy& strategy, const std::vector<nlohmann::json>& objs,
                          TimePoint now, IncludeObject include, nlohmann::json listMeta) {
  auto rows = nlohmann::json::array();
  for (const auto& o : objs) rows.push_back(tableRow(strategy, o, now, include));
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", std::move(listMeta)},
          {"columnDefinitions", tableColumns(strategy.info())},
          {"rows", std::move(rows)}};
}

}  // namespace minimcp::server
