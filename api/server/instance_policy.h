// MCPInstance admission that needs the instance's MCPType: the spec.env names the
// type allows (api/model/env_policy.h) and the type's config constraints
// (api/model/config_constraints.h). A refusal is 422 Invalid naming the field
// (spec.env[2].name, spec.config.root); dry runs are checked the same way.
//
// - Type not found: only the checks that need no type apply (the strategy refuses loader and
//   reserved names); the launch applies the whole policy once the type exists.
// - Update: a name or config value already stored is not checked again against the type's
//   allowlist or constraints (as Kubernetes ratchets CRD validation): the type may have
//   narrowed since, and the launch drops or refuses what it no longer allows. Loader and
//   reserved names are refused whatever was stored.
#pragma once

#include <filesystem>
#include <memory>

#include "api/server/rest_handler.h"
#include "api/store/store.h"

namespace minimcp::server {

// `dataDir`: mcpd's data directory, where instance directories are (DATA_DIR/instances/NS/NAME).
std::shared_ptr<const AdmissionPlugin> instancePolicyAdmission(store::Store& store,
                                                               std::filesystem::path dataDir);

}  // namespace minimcp::server
