#include "reconciler/catalog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "api/model/kinds.h"
#include "api/model/yaml.h"
#include "api/registry/managed_fields.h"
#include "api/util/api_error.h"
#include "reconciler/informer.h"

namespace minimcp::reconciler {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string joinCauses(const std::vector<Cause>& causes) {
  std::string out;
  for (const auto& c : causes) out += (out.empty() ? "" : "; ") + c.field + ": " + c.message;
  return out;
}

std::vector<fs::path> manifests(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const fs::path p = entry.path() / "mcptype.yaml";
    if (entry.is_directory() && fs::is_regular_file(p)) out.push_back(p);
  }
  if (ec) spdlog::warn("catalog: cannot read {}: {}", dir.string(), ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

// Server-side applies one MCPType document as kCatalogManager, yielding every field another
// manager owns (a user's change wins, and stays through restarts). Returns "" or why it was
// skipped.
std::string apply(store::Store& store, json doc, const Clock& clock, CatalogResult& result) {
  const model::Strategy& strategy = model::mcpTypeStrategy();
  const auto& info = strategy.info();
  if (!doc.is_object() || doc.value("kind", "") != info.kind) {
    return "not an MCPType document";
  }
  const std::string name = doc.contains("metadata") && doc["metadata"].is_object()
                               ? doc["metadata"].value("name", "")
                               : "";
  const json& schema = registry::ownershipSchema(info);
  const registry::FieldWriter writer =
      registry::fieldWriter(info, kCatalogManager, "", clock.now());
  std::optional<json> old = name.empty() ? std::nullopt : store.get(kTypes, "", name);
  try {
    if (!old) {
      json obj = registry::applyConfiguration(nullptr, std::move(doc), schema, writer,
                                              registry::OnConflict::Yield);
      model::initObjectMeta(obj, info, clock);
      strategy.prepareForCreate(obj, clock);
      if (auto causes = strategy.validate(obj); !causes.empty()) return joinCauses(causes);
      store.create(kTypes, obj);
      result.created.push_back(name);
      return "";
    }
  } catch (const ApiError& e) {
    return e.what();
  }
  json live = *old;
  if (registry::decodeManagedFields(live).empty()) {
    // Written before fields had owners, when the catalog replaced the whole spec at every
    // start: the catalog adopts all of it once, so that the shipped manifest still updates it.
    live["metadata"]["managedFields"] =
        registry::encodeManagedFields({{kCatalogManager, "Apply", info.apiVersion(), writer.time,
                                        "", registry::fieldSetOf(live, schema, writer)}});
  }
  json obj;
  try {
    obj = registry::applyConfiguration(&live, std::move(doc), schema, writer,
                                       registry::OnConflict::Yield);
  } catch (const ApiError& e) {
    return e.what();
  }
  strategy.prepareForUpdate(obj, *old, clock);
  auto causes = strategy.validate(obj);
  auto more = strategy.validateUpdate(obj, *old);
  causes.insert(causes.end(), more.begin(), more.end());
  if (!causes.empty()) return joinCauses(causes);
  if (obj == *old) {
    result.unchanged.push_back(name);
    return "";
  }
  const bool specChanged = obj["spec"] != (*old)["spec"];
  if (specChanged) {
    obj["metadata"]["generation"] = old->at("metadata").value("generation", int64_t{1}) + 1;
  }
  store.update(kTypes, obj, store::parseResourceVersion(*old));
  (specChanged ? result.updated : result.unchanged).push_back(name);
  return "";
}

}  // namespace

CatalogResult loadCatalog(store::Store& store, const fs::path& mcpServersDir, const Clock& clock) {
  CatalogResult result;
  for (const fs::path& file : manifests(mcpServersDir)) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    std::vector<json> docs;
    try {
      docs = model::parseYamlDocuments(text.str());
    } catch (const std::exception& e) {
      result.skipped.push_back(file.string() + ": " + e.what());
      spdlog::warn("catalog: {} skipped: {}", file.string(), e.what());
      continue;
    }
    for (json& doc : docs) {
      std::string why;
      try {
        why = apply(store, std::move(doc), clock, result);
      } catch (const store::StoreError& e) {
        // Another mcpd loading the same catalog at the same moment: it wrote it.
        if (e.code() != store::StoreError::Code::AlreadyExists &&
            e.code() != store::StoreError::Code::Conflict)
          throw;
      }
      if (!why.empty()) {
        result.skipped.push_back(file.string() + ": " + why);
        spdlog::warn("catalog: {} skipped: {}", file.string(), why);
      }
    }
  }
  spdlog::info("catalog: {} MCPTypes created, {} updated, {} unchanged, {} skipped",
               result.created.size(), result.updated.size(), result.unchanged.size(),
               result.skipped.size());
  return result;
}

}  // namespace minimcp::reconciler
