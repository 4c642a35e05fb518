// Per-namespace limits (the guide's checkUserLimits): how many MCPInstances a
// namespace may hold and the longest TTL one may ask for. mcpd's defaults apply unless the
// admin set an override, kept in the internal store resource "limits" (one record per
// namespace, cluster-scoped, named after it) and served at
//   GET|PUT|DELETE /apis/minimcp.io/v1alpha1/limits/{ns}   {"maxInstances":N,"maxTTL":"48h"}
//   GET            /apis/minimcp.io/v1alpha1/limits        (every override)
// Enforced by an admission plugin on MCPInstance writes (403 Forbidden, nothing stored).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "api/server/auth.h"
#include "api/server/authorizer.h"
#include "api/server/http_types.h"
#include "api/server/rest_handler.h"
#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp::server {

inline constexpr const char* kLimitsResource = "limits";
inline constexpr const char* kLimitsPath = "/apis/minimcp.io/v1alpha1/limits";

// 0 = unlimited, for both.
struct NamespaceLimits {
  int64_t maxInstances = 50;
  std::chrono::milliseconds maxTTL = std::chrono::hours(24);
};

class Limits {
 public:
  Limits(store::Store& store, NamespaceLimits defaults, const Clock& clock);

  NamespaceLimits effective(const std::string& ns) const;

  // The limits endpoints, authorized as resource "limits" named after the namespace (writes
  // are the admin's; a namespace token may read its own namespace's limits).
  Response handle(const Request& req, const Identity& who, const Authorizer& authz) const;

  // For RestHandler::addAdmission("mcpinstances", ...):
  // - create: refused once the namespace holds maxInstances objects;
  // - create/update that sets or changes spec.ttl or spec.expiresAt: refused beyond maxTTL
  //   (spec.ttl itself; spec.expiresAt − now);
  // - an instance with neither gets ttl = maxTTL (like a LimitRange default), so the limit
  //   cannot be avoided by leaving the TTL out.
  std::shared_ptr<const AdmissionPlugin> instanceAdmission() const;

 private:
  nlohmann::json present(const std::string& ns) const;

  store::Store& store_;
  NamespaceLimits defaults_;
  const Clock& clock_;
};

// "48h", "1h30m", "90ms", "0s": the shortest spelling parseDuration() reads back.
std::string formatDuration(std::chrono::milliseconds d);

}  // namespace minimcp::server
