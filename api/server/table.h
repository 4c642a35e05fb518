// The meta.k8s.io/v1 Table response kubectl asks for (Accept: ...;as=Table;g=meta.k8s.io;v=v1).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/model/strategy.h"

namespace minimcp::server {

enum class IncludeObject { None, Metadata, Object };

// True when the Accept header names a meta.k8s.io Table.
bool wantsTable(const std::string& accept);
// From the includeObject query parameter ("" → Metadata, kube's default).
IncludeObject parseIncludeObject(const std::string& param);

// columnDefinitions: Name, then the strategy's columns.
nlohmann::json tableColumns(const model::KindInfo& info);
// One row: the name and the strategy's cells, plus the object as asked.
nlohmann::json tableRow(const model::Strategy& strategy, const nlohmann::json& obj, TimePoint now,
                        IncludeObject include);
// A whole Table; `listMeta` becomes its metadata (resourceVersion, continue).
nlohmann::json buildTable(const model::Strategy& strategy, const std::vector<nlohmann::json>& objs,
                          TimePoint now, IncludeObject include, nlohmann::json listMeta);

}  // namespace minimcp::server
