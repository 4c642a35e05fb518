// How an instance process is launched: the environment built from nothing
// under the env policy (api/model/env_policy.h), config confined by the type's constraints
// (api/model/config_constraints.h), the command resolved on mcpd's own PATH, path arguments kept
// inside the mcp-servers directory, the instance directory as cwd and HOME, limits from the
// type's resources. Pure apart from reading the filesystem (PATH lookup, canonical paths).
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/model/kinds.h"
#include "reconciler/runtime/process_runtime.h"

namespace minimcp::reconciler {

// The launch cannot be built: command not found, an argument escapes the mcp-servers directory.
// The message is safe to show to users (it never contains the key or the token).
class LaunchEnvError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where mcpd looks up a type's command (never in the child's environment), and the PATH every
// instance gets unless its type's env replaces it (an instance's env may not).
inline constexpr const char* kInstancePath = "/usr/local/bin:/usr/bin:/bin";

// DATA_DIR/instances/<ns>/<name> (the instance's own), and DATA_DIR/logs/<ns>/<name> (mcpd's,
// out of the instance's reach).
std::filesystem::path instanceDir(const std::filesystem::path& dataDir, const std::string& ns,
                                  const std::string& name);
std::filesystem::path instanceLogDir(const std::filesystem::path& dataDir, const std::string& ns,
                                     const std::string& name);

struct LaunchContext {
  std::string key;  // "ns/name"
  std::string uid;  // MCP_ID
  int port = 0;
  std::string accessToken;  // MCP_ACCESS_TOKEN
  // mcpd's API, which the instance calls with its access token (to report a refresh token its
  // OAuth 2.0 provider rotated): MCP_API_URL, and MCP_API_CA (PEM; "" = not passed: plain
  // HTTP or a publicly rooted certificate). Not a secret either.
  std::string apiUrl;
  std::string apiCaPem;
  std::optional<std::string> apiKey;  // the decrypted key, put in the type's auth.env
  std::filesystem::path dataDir;
  std::filesystem::path mcpServersDir;
};

// Everything but what is only needed to exec (command, args, env): key, working and log
// directories, limits, grace period. What runtime.adopt() takes.
runtime::LaunchSpec baseLaunchSpec(const model::MCPTypeSpec& type, const std::string& ns,
                                   const std::string& name, const std::filesystem::path& dataDir);

// The complete LaunchSpec. Environment, in order: PATH, HOME, PORT, MCP_ID, MCP_INSTANCE
// ("ns/name"), <auth.env>, MCP_ACCESS_TOKEN, MCP_API_URL and MCP_API_CA (when set), MCP_CONFIG
// (type config merged with the instance config, RFC 7386, the constrained paths replaced by what
// they resolve to), LOG_LEVEL=info, NODE_ENV=production, then the type's env, then the instance's
// env. A later entry replaces an earlier one of the same name. The reserved names (PORT, MCP_*, the
// auth variable) come from mcpd only; an instance's entry the policy does not allow (any more: its
// type may have changed) is not passed, and says why in `warnings` (when given). The command is
// looked up on kInstancePath. Creates the instance and log directories (0700, mcpd's; the runtime
// hands the instance dir to the instance's user). Throws LaunchEnvError, e.g. for a config path
// outside the type's constraints.
runtime::LaunchSpec buildLaunchSpec(const model::MCPTypeSpec& type,
                                    const model::MCPInstanceSpec& instance,
                                    const LaunchContext& ctx,
                                    std::vector<std::string>* warnings = nullptr);

// Warm pools. A waiting process of type T runs in DATA_DIR/pool/T/<slot> (cwd and HOME until
// claimed) and logs to DATA_DIR/pool-logs/T/<slot> (mcpd's); its runtime key is
// kPoolKeyPrefix + "T/<slot>", which no instance key can be ("~" is not in a namespace name).
inline constexpr const char* kPoolKeyPrefix = "~pool/";
std::filesystem::path poolDir(const std::filesystem::path& dataDir, const std::string& type,
                              const std::string& slot);
std::filesystem::path poolLogDir(const std::filesystem::path& dataDir, const std::string& type,
                                 const std::string& slot);

// What a waiting process is launched with: the type's command, args, limits and grace period as
// buildLaunchSpec gives them, and an environment with nothing of any instance: PATH, HOME,
// LOG_LEVEL, NODE_ENV, the type's env, MCP_POOL_ID=<slot> (a mark, not a secret) and
// MCP_IDENTITY_FD=3 (the channel its instance's identity arrives on: mcp-servers/lib/identity.js).
// Creates its directories (0700, mcpd's; the runtime hands the working dir to its uid).
runtime::LaunchSpec buildPoolLaunchSpec(const model::MCPTypeSpec& type, const std::string& typeName,
                                        const std::string& slot,
                                        const std::filesystem::path& dataDir,
                                        const std::filesystem::path& mcpServersDir);

// `command` looked up in `path` (colon-separated) as execvp would; a command containing '/'
// resolves against `mcpServersDir` when relative. nullopt when no executable file matches.
std::optional<std::filesystem::path> resolveCommand(const std::string& command,
                                                    const std::string& path,
                                                    const std::filesystem::path& mcpServersDir);

// A path argument ("echo/server.js", "./lib/x.js": not a flag, contains '/', no scheme) made
// absolute inside `mcpServersDir`; anything else unchanged. Throws LaunchEnvError when the path
// leaves the directory (through "..", an absolute path or a symlink).
std::string resolveArg(const std::string& arg, const std::filesystem::path& mcpServersDir);

}  // namespace minimcp::reconciler
