#include "reconciler/launch_env.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>
#include <utility>
#include <vector>

#include "api/model/config_constraints.h"
#include "api/model/env_policy.h"

namespace minimcp::reconciler {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path instanceDir(const fs::path& dataDir, const std::string& ns, const std::string& name) {
  return dataDir / "instances" / ns / name;
}

fs::path instanceLogDir(const fs::path& dataDir, const std::string& ns, const std::string& name) {
  return dataDir / "logs" / ns / name;
}

namespace {

// An ordered environment where setting an existing name replaces its value in place.
class Env {
 public:
  void set(const std::string& name, const std::string& value) {
    auto it =
        std::find_if(vars_.begin(), vars_.end(), [&](const auto& v) { return v.first == name; });
    if (it != vars_.end()) {
      it->second = value;
    } else {
      vars_.emplace_back(name, value);
    }
  }
  std::vector<std::pair<std::string, std::string>> take() { return std::move(vars_); }

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
};

bool isInside(const fs::path& child, const fs::path& dir) {
  auto rel = child.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

// Canonical form of `dir`, falling back to the absolute lexical form when it does not exist.
fs::path canonicalDir(const fs::path& dir) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::absolute(dir), ec);
  return ec ? fs::absolute(dir).lexically_normal() : c;
}

// Creates `dir` below `base` (which exists), every missing level mcpd's own (0700): an instance
// gets only the search bit on the levels above its dir (the runtime adds it), never a listing.
void ensureDir(const fs::path& base, const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(base, ec);
  fs::path at = base;
  for (const auto& part : dir.lexically_relative(base)) {
    at /= part;
    if (fs::create_directory(at, ec)) {
      fs::permissions(at, fs::perms::owner_all, fs::perm_options::replace, ec);
    }
    if (ec) throw LaunchEnvError("cannot create " + at.string() + ": " + ec.message());
  }
}

}  // namespace

std::optional<fs::path> resolveCommand(const std::string& command, const std::string& path,
                                       const fs::path& mcpServersDir) {
  auto executable = [](const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
  };
  if (command.empty()) return std::nullopt;
  if (command.find('/') != std::string::npos) {
    fs::path p = command;
    if (p.is_relative()) p = canonicalDir(mcpServersDir) / p;
    p = p.lexically_normal();
    return executable(p) ? std::optional(p) : std::nullopt;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    // An empty entry means the current directory to execvp; cwd is the instance dir, which
    // holds nothing runnable, so skip it rather than guess.
    if (!dir.empty() && fs::path(dir).is_absolute()) {
      fs::path p = fs::path(dir) / command;
      if (executable(p)) return p;
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::string resolveArg(const std::string& arg, const fs::path& mcpServersDir) {
  const bool pathLike = !arg.empty() && arg[0] != '-' && arg.find('/') != std::string::npos &&
                        arg.find("://") == std::string::npos;
  if (!pathLike) return arg;
  const fs::path root = canonicalDir(mcpServersDir);
  fs::path p = fs::path(arg).is_absolute() ? fs::path(arg) : root / arg;
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(p, ec);
  if (ec) resolved = p.lexically_normal();
  if (!isInside(resolved, root)) {
    throw LaunchEnvError("argument \"" + arg + "\" resolves outside the mcp-servers directory " +
                         root.string());
  }
  return resolved.string();
}

runtime::LaunchSpec baseLaunchSpec(const model::MCPTypeSpec& type, const std::string& ns,
                                   const std::string& name, const fs::path& dataDir) {
  runtime::LaunchSpec spec;
  spec.key = ns + "/" + name;
  spec.workingDir = instanceDir(dataDir, ns, name).string();
  spec.logDir = instanceLogDir(dataDir, ns, name).string();
  if (type.resources.memoryBytes) spec.limits.memoryBytes = *type.resources.memoryBytes;
  if (type.resources.cpuMillis) spec.limits.cpuMillis = *type.resources.cpuMillis;
  spec.stopGracePeriod = std::chrono::seconds(type.stopGracePeriodSeconds);
  return spec;
}

runtime::LaunchSpec buildLaunchSpec(const model::MCPTypeSpec& type,
                                    const model::MCPInstanceSpec& instance,
                                    const LaunchContext& ctx, std::vector<std::string>* warnings) {
  const auto slash = ctx.key.find('/');
  const std::string ns = ctx.key.substr(0, slash);
  const std::string name = slash == std::string::npos ? "" : ctx.key.substr(slash + 1);
  runtime::LaunchSpec spec = baseLaunchSpec(type, ns, name, ctx.dataDir);
  ensureDir(ctx.dataDir, spec.workingDir);
  ensureDir(ctx.dataDir, spec.logDir);
  auto warn = [&](const std::string& message) {
    if (warnings) {
      warnings->push_back(message);
    } else {
      spdlog::warn("reconciler: {}: {}", ctx.key, message);
    }
  };

  json config = type.config.is_object() ? type.config : json::object();
  config.merge_patch(instance.config.is_object() ? instance.config : json::object());
  json confined;
  auto violations = model::checkConfigConstraints(type, config, spec.workingDir,
                                                  model::resolveDirectory, &confined);
  if (!violations.empty()) {
    std::string message;
    for (const auto& v : violations) {
      message += (message.empty() ? "" : "; ") + ("config." + v.field) + " " + v.value.dump() +
                 ": " + v.message;
    }
    throw LaunchEnvError(message);
  }

  Env env;
  env.set("PATH", kInstancePath);
  env.set("HOME", spec.workingDir);
  env.set("PORT", std::to_string(ctx.port));
  env.set("MCP_ID", ctx.uid);
  env.set("MCP_INSTANCE", ctx.key);
  if (!type.auth.env.empty() && ctx.apiKey) env.set(type.auth.env, *ctx.apiKey);
  env.set("MCP_ACCESS_TOKEN", ctx.accessToken);
  if (!ctx.apiUrl.empty()) env.set("MCP_API_URL", ctx.apiUrl);
  if (!ctx.apiCaPem.empty()) env.set("MCP_API_CA", ctx.apiCaPem);
  env.set("MCP_CONFIG", confined.dump());
  env.set("LOG_LEVEL", "info");
  env.set("NODE_ENV", "production");
  for (const auto& v : type.env) {
    if (auto why = model::reservedEnvReason(v.name, type.auth.env)) {
      warn("MCPType \"" + instance.type + "\" spec.env " + v.name + " is not passed: " + *why);
      continue;
    }
    env.set(v.name, v.value);
  }
  for (const auto& v : instance.env) {
    if (auto why = model::instanceEnvRefusal(v.name, type, instance.type)) {
      warn("spec.env " + v.name + " is not passed: " + *why);
      continue;
    }
    env.set(v.name, v.value);
  }

  auto command = resolveCommand(type.server.command, kInstancePath, ctx.mcpServersDir);
  if (!command) {
    throw LaunchEnvError("command \"" + type.server.command + "\" not found on " + kInstancePath);
  }
  spec.command = command->string();
  for (const auto& a : type.server.args) spec.args.push_back(resolveArg(a, ctx.mcpServersDir));
  spec.codeDirs.push_back(canonicalDir(ctx.mcpServersDir).string());
  spec.env = env.take();
  return spec;
}

fs::path poolDir(const fs::path& dataDir, const std::string& type, const std::string& slot) {
  return dataDir / "pool" / type / slot;
}

fs::path poolLogDir(const fs::path& dataDir, const std::string& type, const std::string& slot) {
  return dataDir / "pool-logs" / type / slot;
}

runtime::LaunchSpec buildPoolLaunchSpec(const model::MCPTypeSpec& type, const std::string& typeName,
                                        const std::string& slot, const fs::path& dataDir,
                                        const fs::path& mcpServersDir) {
  runtime::LaunchSpec spec;
  spec.key = std::string(kPoolKeyPrefix) + typeName + "/" + slot;
  spec.workingDir = poolDir(dataDir, typeName, slot).string();
  spec.logDir = poolLogDir(dataDir, typeName, slot).string();
  ensureDir(dataDir, spec.workingDir);
  ensureDir(dataDir, spec.logDir);
  if (type.resources.memoryBytes) spec.limits.memoryBytes = *type.resources.memoryBytes;
  if (type.resources.cpuMillis) spec.limits.cpuMillis = *type.resources.cpuMillis;
  spec.stopGracePeriod = std::chrono::seconds(type.stopGracePeriodSeconds);
  Env env;
  env.set("PATH", kInstancePath);
  env.set("HOME", spec.workingDir);
  env.set("LOG_LEVEL", "info");
  env.set("NODE_ENV", "production");
  for (const auto& v : type.env) {
    if (!model::reservedEnvReason(v.name, type.auth.env)) env.set(v.name, v.value);
  }
  env.set("MCP_POOL_ID", slot);
  env.set("MCP_IDENTITY_FD", "3");
  auto command = resolveCommand(type.server.command, kInstancePath, mcpServersDir);
  if (!command) {
    throw LaunchEnvError("command \"" + type.server.command + "\" not found on " + kInstancePath);
  }
  spec.command = command->string();
  for (const auto& a : type.server.args) spec.args.push_back(resolveArg(a, mcpServersDir));
  spec.codeDirs.push_back(canonicalDir(mcpServersDir).string());
  spec.env = env.take();
  return spec;
}

}  // namespace minimcp::reconciler
