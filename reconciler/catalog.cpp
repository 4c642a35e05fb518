#include "reconciler/catalog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "api/model/kinds.h"
#include "api/model/yaml.h"
#include "api/registry/generic_store.h"
#include "api/registry/guaranteed_update.h"
#include "api/registry/managed_fields.h"
#include "api/util/api_error.h"
#include "reconciler/informer.h"

namespace minimcp::reconciler {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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

// A type stored before fields had owners, when the catalog replaced the whole spec at every
// start: the catalog adopts all of it once (an Apply entry owning every field), so that the
// shipped manifest still updates it rather than yielding to "before-first-apply".
void adoptUnowned(store::Store& store, const std::string& name, const Clock& clock) {
  const model::KindInfo& info = model::mcpTypeStrategy().info();
  registry::UpdateOptions options;
  options.ownershipRecorded = true;
  registry::guaranteedUpdate(
      store, kTypes, "", name,
      [&](const json* current) {
        if (!registry::decodeManagedFields(*current).empty()) return registry::Change::keep();
        const registry::FieldWriter writer =
            registry::fieldWriter(info, kCatalogManager, "", clock.now());
        json obj = *current;
        obj["metadata"]["managedFields"] = registry::encodeManagedFields(
            {{kCatalogManager, "Apply", info.apiVersion(), writer.time, "",
              registry::fieldSetOf(obj, registry::ownershipSchema(info), writer)}});
        return registry::Change::write(std::move(obj));
      },
      options);
}

// Server-side applies one MCPType document as kCatalogManager through the registry, yielding
// every field another manager owns (a user's change wins, and stays through restarts). Returns
// "" or why it was skipped.
std::string apply(const registry::GenericStore& writes, store::Store& store, json doc,
                  const Clock& clock, CatalogResult& result) {
  const model::Strategy& strategy = model::mcpTypeStrategy();
  if (!doc.is_object() || doc.value("kind", "") != strategy.info().kind) {
    return "not an MCPType document";
  }
  const std::string name = doc.contains("metadata") && doc["metadata"].is_object()
                               ? doc["metadata"].value("name", "")
                               : "";
  if (name.empty()) return "metadata.name: Required value";
  try {
    std::optional<json> old = store.get(kTypes, "", name);
    if (old && registry::decodeManagedFields(*old).empty()) adoptUnowned(store, name, clock);
    registry::WriteRequest r{strategy};
    r.group = model::kGroup;
    r.name = name;
    r.manager = kCatalogManager;
    const registry::WriteResult written = writes.apply(r, doc, registry::OnConflict::Yield);
    const auto generation = [](const json& obj) {
      return obj.value("metadata", json::object()).value("generation", int64_t{0});
    };
    if (written.created) {
      result.created.push_back(name);
    } else if (old && generation(written.object) != generation(*old)) {
      result.updated.push_back(name);
    } else {
      result.unchanged.push_back(name);
    }
    return "";
  } catch (const store::StoreError& e) {
    if (e.code() == store::StoreError::Code::Unavailable) throw;
    return e.what();
  } catch (const ApiError& e) {
    if (e.code() == 503) throw;  // the store is unavailable
    return e.what();
  }
}

}  // namespace

CatalogResult loadCatalog(store::Store& store, const fs::path& mcpServersDir, const Clock& clock) {
  CatalogResult result;
  // Another mcpd loading the same catalog at the same moment is one more writer: the registry's
  // retries make both applies land.
  const registry::GenericStore writes(store, clock);
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
      const std::string why = apply(writes, store, std::move(doc), clock, result);
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
