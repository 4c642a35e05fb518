// The kinds MiniMCP serves: their strategies, and typed views of their specs for the
// reconciler (parsed after defaulting and validation, so they never throw).
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/model/strategy.h"
#include "api/util/clock.h"

namespace minimcp::model {

// One accessor per kind, each defined in that kind's .cpp and listed in Registry::instance().
const Strategy& mcpTypeStrategy();
const Strategy& mcpInstanceStrategy();
const Strategy& eventStrategy();
const Strategy& apiKeyStrategy();            // api/model/apikey.h: the key ring it seals with
const Strategy& nodeStrategy();              // the mcpd hosts of a cluster
const Strategy& notificationSinkStrategy();  // api/model/notification_sink.h

struct EnvVar {
  std::string name;
  std::string value;
  bool operator==(const EnvVar&) const = default;
};

// spec.configConstraints[i] of an MCPType: config.<field> names directories that must resolve
// inside the instance's own directory or one of allowedRoots (api/model/config_constraints.h).
struct ConfigConstraint {
  std::string field;
  std::string kind = "directory";  // the only kind so far
  std::vector<std::string> allowedRoots;
};

// spec.warmPool.size at most: each waiting process holds a node's memory (~60 MiB).
inline constexpr int kMaxWarmPoolSize = 32;

struct MCPTypeSpec {
  struct Server {
    std::string command;
    std::vector<std::string> args;
    std::string transport = "streamable-http";  // or "stdio"
    std::string image;
  };
  struct Auth {
    std::string type = "none";  // none | api-key | oauth2 | bearer-token
    std::string env;            // variable that receives the decrypted key
    std::vector<std::string> scopes;
  };
  struct Resources {
    std::optional<int64_t> cpuMillis;    // from "500m", "1"
    std::optional<int64_t> memoryBytes;  // from "512Mi"
  };
  struct HealthCheck {
    std::string path = "/health";
    int periodSeconds = 30;
    int timeoutSeconds = 5;
    int failureThreshold = 3;
    int startupTimeoutSeconds = 30;
  };

  std::string displayName;
  std::string description;
  Server server;
  Auth auth;
  std::vector<std::string> capabilities;
  nlohmann::json config = nlohmann::json::object();
  std::vector<EnvVar> env;
  // Names its instances may set in spec.env beyond LOG_LEVEL and DEBUG (api/model/env_policy.h).
  std::vector<std::string> instanceEnv;
  std::vector<ConfigConstraint> configConstraints;
  Resources resources;
  HealthCheck healthCheck;
  int stopGracePeriodSeconds = 10;
  // spec.warmPool.size: processes kept started and waiting for an instance's identity.
  int warmPoolSize = 0;
  // spec.idleTimeout: the default of its instances that set none (nullopt: none; 0: never).
  std::optional<std::chrono::milliseconds> idleTimeout;

  // `spec` is the object's .spec. Absent or mistyped fields keep their defaults.
  static MCPTypeSpec fromJson(const nlohmann::json& spec);
};

struct MCPInstanceSpec {
  std::string type;
  std::optional<std::chrono::milliseconds> ttl;
  std::optional<TimePoint> expiresAt;  // spec.expiresAt (not the computed status.expiresAt)
  std::string keyRefName;              // empty: no key
  nlohmann::json config = nlohmann::json::object();
  std::vector<EnvVar> env;
  bool suspend = false;
  std::string restartPolicy = "Always";  // Always | OnFailure | Never
  int64_t tokenGeneration = 0;
  // spec.idleTimeout: no gateway traffic for this long stops the process (phase Idle) until
  // the next request wakes it. nullopt: the type's default; 0: never.
  std::optional<std::chrono::milliseconds> idleTimeout;

  static MCPInstanceSpec fromJson(const nlohmann::json& spec);
};

// When an MCPInstance expires: metadata.creationTimestamp + spec.ttl, or spec.expiresAt;
// nullopt when it never does (or the fields are malformed). This is what status.expiresAt holds.
std::optional<TimePoint> instanceExpiry(const nlohmann::json& obj);

// spec.idleTimeout of an MCPInstance or MCPType spec: "0" → 0 (never), a duration → it,
// absent or malformed → nullopt.
std::optional<std::chrono::milliseconds> idleTimeoutOf(const nlohmann::json& spec);

// Instance phases (status.phase), spelled once for the API and the reconciler.
namespace phase {
inline constexpr const char* kPending = "Pending";
inline constexpr const char* kStarting = "Starting";
inline constexpr const char* kRunning = "Running";
inline constexpr const char* kDegraded = "Degraded";
inline constexpr const char* kSuspended = "Suspended";
// No gateway traffic for spec.idleTimeout: no process, no port; the next request wakes it.
inline constexpr const char* kIdle = "Idle";
inline constexpr const char* kExpired = "Expired";
inline constexpr const char* kFailed = "Failed";
inline constexpr const char* kTerminating = "Terminating";
}  // namespace phase

}  // namespace minimcp::model
