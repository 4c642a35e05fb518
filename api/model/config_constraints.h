// Instance config that reaches the filesystem, confined by the type. An MCPType's
//   spec.configConstraints: [{field: root, kind: directory, allowedRoots: [/srv/shared]}]
// says that config.<field> (a string, or a list of strings) names directories that must resolve,
// symlinks followed, inside the instance's own directory or inside one of allowedRoots. A
// relative value is relative to the instance's directory (the process's working directory).
//
// The API checks what an instance writes, on the API host's filesystem (a path that does not
// exist yet resolves as far as it exists). The launch checks the merged config again on the
// node's filesystem, where every path must exist, and hands the server the resolved paths, so a
// symlink planted after the write is caught and never followed.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/model/kinds.h"

namespace minimcp::model {

// An absolute path as the filesystem resolves it (symlinks and ".." followed), or nullopt when
// it cannot be resolved.
using ResolvePath =
    std::function<std::optional<std::filesystem::path>(const std::filesystem::path&)>;

// The API's resolver: as far as the path exists (std::filesystem::weakly_canonical).
std::optional<std::filesystem::path> resolveExisting(const std::filesystem::path& p);
// The launch's resolver: realpath; the whole path must exist and be a directory.
std::optional<std::filesystem::path> resolveDirectory(const std::filesystem::path& p);

struct ConfigViolation {
  std::string field;  // inside config: "root", "root[1]"
  nlohmann::json value;
  std::string message;
};

// Checks config.<field> of `config` against each of `type`'s constraints. Fields absent (or null)
// in `config` are not checked. When `resolved` is given, it receives `config` with every checked
// path replaced by what it resolved to. Empty result: every constrained value is allowed.
std::vector<ConfigViolation> checkConfigConstraints(const MCPTypeSpec& type,
                                                    const nlohmann::json& config,
                                                    const std::filesystem::path& instanceDir,
                                                    const ResolvePath& resolve,
                                                    nlohmann::json* resolved = nullptr);

}  // namespace minimcp::model
