// Which environment variables an MCPInstance may set (the environment is mcpd's to
// build). The one home of the lists; the API applies them when an instance or a type is written,
// and the launch applies them again, because a type may change after its instances were stored.
//
// An instance's spec.env passes three checks, in this order:
//   1. loader and runtime variables (loaderEnvReason): never, whoever asks;
//   2. reserved names (reservedEnvReason): PORT, MCP_*, the type's auth.env, which mcpd sets;
//   3. the allowlist: LOG_LEVEL and DEBUG, plus the names the type lists in spec.instanceEnv.
// A type's own spec.env (written by the admin, trusted) only has to avoid the reserved names.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/model/kinds.h"

namespace minimcp::model {

// Names every instance may set, whatever its type: the integration guide's debug mode.
const std::vector<std::string>& alwaysAllowedInstanceEnv();

// Why no spec may hand `name` to an instance (it changes how the process loads or runs code,
// where it finds its files, certificates or network), or nullopt. Compared case-insensitively.
std::optional<std::string> loaderEnvReason(const std::string& name);

// Why `name` is mcpd's to set (PORT, MCP_*, `authEnv` when not empty), or nullopt.
// Compared case-insensitively.
std::optional<std::string> reservedEnvReason(const std::string& name, const std::string& authEnv);

// Why an instance of `type` (named `typeName`) may not set `name`, or nullopt when it may.
std::optional<std::string> instanceEnvRefusal(const std::string& name, const MCPTypeSpec& type,
                                              const std::string& typeName);

}  // namespace minimcp::model
