// NotificationSink: a namespaced webhook that mcpd sends CloudEvents to about the namespace's
// instances and API keys (reconciler/notifier.h delivers them).
//
//   spec: {url, events: [InstanceExpiring, ...], notifyBefore: 1h, signingKeyRef: {name}}
//   status: {lastDelivery: {time, id, type, attempts, statusCode},
//            lastError: {time, id, type, attempts, message}, pending}
//
// The URL is a tenant's way to make mcpd send requests, so where it may point is checked twice:
// here, on what the URL names (sinkUrlProblem), and at delivery, on every address its host
// resolves to (sinkAddressProblem): loopback only when the admin allows it, never a private,
// link-local, cloud metadata or otherwise special address.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace minimcp::model {

inline constexpr const char* kNotificationSinkPlural = "notificationsinks";
inline constexpr size_t kMaxSinkUrlBytes = 2048;
inline constexpr std::chrono::hours kDefaultNotifyBefore{1};

// The event types a sink subscribes to (spec.events).
namespace notification {
inline constexpr const char* kInstanceExpiring = "InstanceExpiring";
inline constexpr const char* kInstanceExpired = "InstanceExpired";
inline constexpr const char* kInstanceFailed = "InstanceFailed";
inline constexpr const char* kCrashLoopBackOff = "CrashLoopBackOff";
inline constexpr const char* kKeyRotationDue = "KeyRotationDue";
const std::vector<std::string>& eventTypes();
}  // namespace notification

// Where a sink may send to. The admin's choice (mcpd --notification-allow-loopback), not a
// tenant's.
struct SinkUrlPolicy {
  bool allowLoopback = false;  // 127.0.0.0/8, ::1 and localhost, over https or plain http
};

// Why `url` cannot be a sink's URL ("" when it can): an absolute https URL (plain http only to
// loopback, when allowed) with a host name or an IP literal, no user info, no fragment; a host
// that names a loopback (unless allowed), private, link-local, metadata or special address, or a
// name that is not a public DNS name (localhost, *.internal, numeric forms such as 2130706433),
// is refused.
std::string sinkUrlProblem(std::string_view url, SinkUrlPolicy policy);

// Why mcpd may not connect to the IP address `ip` (textual, v4 or v6, as a resolver returns it)
// for a sink ("" when it may).
std::string sinkAddressProblem(std::string_view ip, SinkUrlPolicy policy);

// A sink's spec, parsed after defaulting and validation (tolerant: absent fields stay empty).
struct NotificationSinkSpec {
  std::string url;
  std::vector<std::string> events;
  std::chrono::milliseconds notifyBefore = kDefaultNotifyBefore;
  std::string signingKeyName;  // "" = unsigned

  bool wants(std::string_view eventType) const;
  static NotificationSinkSpec fromJson(const nlohmann::json& spec);
};

}  // namespace minimcp::model
