// The MCPType catalog: mcp-servers/<type>/mcptype.yaml manifests, loaded into the
// store when mcpd starts so the shipped types are always there and up to date.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp::reconciler {

// The field manager the catalog applies with (metadata.managedFields).
inline constexpr const char* kCatalogManager = "minimcp-catalog";

struct CatalogResult {
  std::vector<std::string> created;
  std::vector<std::string> updated;  // spec changed: generation + 1
  std::vector<std::string> unchanged;
  std::vector<std::string> skipped;  // "<file>: <why>" for invalid manifests (also logged)
};

// Reads every <mcpServersDir>/*/mcptype.yaml (each may hold several MCPType documents) and
// server-side applies each as kCatalogManager through the registry strategy (initObjectMeta,
// prepareForCreate/prepareForUpdate, validate): created when absent, updated only in the fields
// the catalog still owns. A field a user changed (apply, update or patch) is theirs: the catalog
// leaves it, this start and every later one. An invalid manifest is logged and skipped, never
// fatal; a store failure (Unavailable) throws.
CatalogResult loadCatalog(store::Store& store, const std::filesystem::path& mcpServersDir,
                          const Clock& clock = SystemClock::instance());

}  // namespace minimcp::reconciler
