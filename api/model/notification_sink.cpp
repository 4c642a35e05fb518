// NotificationSink: the kind, and where a sink's URL may point. See notification_sink.h.
#include "api/model/notification_sink.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <set>

#include "api/model/kind_strategy.h"
#include "api/model/kinds.h"
#include "api/util/addresses.h"
#include "api/util/ascii.h"
#include "api/util/url.h"

namespace minimcp::model {

using nlohmann::json;

const std::vector<std::string>& notification::eventTypes() {
  static const std::vector<std::string> types = {
      kInstanceExpiring, kInstanceExpired, kInstanceFailed, kCrashLoopBackOff, kKeyRotationDue};
  return types;
}

namespace {

// The longest notifyBefore: a year (an instance's ttl is bounded by the namespace's max TTL).
constexpr std::chrono::hours kMaxNotifyBefore{24 * 366};

// What a sink may not reach of an address that is not public (`reason`, from
// ipv4/ipv6NonPublicReason); loopback only when the admin allows it.
std::string addressProblem(const std::string& reason, SinkUrlPolicy policy, bool* loopback) {
  if (reason.empty()) return "";
  if (reason == kLoopbackAddress) {
    if (loopback) *loopback = true;
    return policy.allowLoopback ? "" : "is a loopback address (mcpd's own host)";
  }
  if (reason == "a link-local address") {
    return "is a link-local address (where cloud metadata services answer)";
  }
  return "is " + reason;
}

uint32_t v4At(const unsigned char* b) {
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
}

// A public DNS name: dotted labels of [a-z0-9-] (not starting or ending with '-'), the last one
// with a letter (so that no numeric form of an address passes: 2130706433, 0x7f.1, 127.1).
bool isPublicDnsName(const std::string& host) {
  if (host.empty() || host.size() > 253 || host.find('.') == std::string::npos) return false;
  size_t start = 0;
  std::string label;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    if (dot == std::string::npos) dot = host.size();
    label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    start = dot + 1;
  }
  return std::any_of(label.begin(), label.end(),
                     [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
}

// What a host names: "" when it may be sent to. `loopback` tells a loopback host apart (plain
// http may go there only).
std::string hostProblem(const std::string& hostIn, SinkUrlPolicy policy, bool& loopback) {
  const std::string host = asciiLower(hostIn);
  loopback = false;
  if (host.starts_with('[')) {
    const std::string literal = host.substr(1, host.size() - 2);
    unsigned char b[16];
    if (inet_pton(AF_INET6, literal.c_str(), b) != 1) return "has a malformed IPv6 address";
    return addressProblem(ipv6NonPublicReason(b), policy, &loopback);
  }
  if (unsigned char b[4]; inet_pton(AF_INET, host.c_str(), b) == 1) {
    return addressProblem(ipv4NonPublicReason(v4At(b)), policy, &loopback);
  }
  if (host == "localhost" || host.ends_with(".localhost")) {
    loopback = true;
    return policy.allowLoopback ? "" : "names mcpd's own host (localhost)";
  }
  if (!isPublicDnsName(host)) {
    return "must name a host by a fully qualified DNS name or an IP address";
  }
  for (std::string_view internal : {".internal", ".local", ".localdomain", ".home.arpa"}) {
    if (host.ends_with(internal)) {
      return "names an internal host (" + std::string(internal.substr(1)) +
             "), such as a cloud metadata service";
    }
  }
  return "";
}

KindInfo notificationSinkInfo() {
  KindInfo k;
  k.kind = "NotificationSink";
  k.plural = kNotificationSinkPlural;
  k.singular = "notificationsink";
  k.shortNames = {"sink", "sinks"};
  k.categories = {"minimcp"};
  k.namespaced = true;
  k.hasStatus = true;
  k.columns = {
      {"URL", "string", ".spec.url", 0, "Where events are sent"},
      {"Events", "string", ".spec.events", 0, "The events the sink receives"},
      {"Last-Delivery", "date", ".status.lastDelivery.time", 0, "The last event it accepted"},
      {"Age", "date", ".metadata.creationTimestamp", 0, ""},
      {"Last-Error", "string", ".status.lastError.message", 1, "The last failed delivery"},
  };
  return k;
}

class NotificationSinkStrategy : public KindStrategy {
 public:
  NotificationSinkStrategy() : KindStrategy(notificationSinkInfo()) {}

  json tableCells(const json& obj, TimePoint now) const override {
    std::string events;
    for (const std::string& e : stringListField(objectField(obj, "spec"), "events")) {
      events += (events.empty() ? "" : ",") + e;
    }
    return json::array({cellAt(obj, "spec.url"), events,
                        ageCell(cellAt(obj, "status.lastDelivery.time"), now),
                        ageCell(cellAt(obj, "metadata.creationTimestamp"), now),
                        cellAt(obj, "status.lastError.message")});
  }

 protected:
  void applyDefaults(json& obj) const override {
    if (obj.is_object() && obj.contains("spec") && obj["spec"].is_object()) {
      setDefault(obj["spec"], "notifyBefore", "1h");
    }
  }

  void validateBody(FieldErrors& errs, const json& obj) const override {
    const json* spec = specToValidate(errs, obj);
    if (!spec) return;
    rejectUnknownFields(errs, *spec, "spec", {"url", "events", "notifyBefore", "signingKeyRef"});
    if (const std::string* url = requiredString(errs, *spec, "url", "spec.url")) {
      if (url->size() > kMaxSinkUrlBytes) {
        errs.tooLong("spec.url", kMaxSinkUrlBytes);
      } else if (hasControlCharacter(*url)) {
        errs.invalidHidden("spec.url", "must not contain control characters");
      } else if (std::string why = sinkUrlProblem(*url, {.allowLoopback = true}); !why.empty()) {
        // Loopback is the admin's to allow: admission (api/server) decides it with the policy.
        errs.invalid("spec.url", *url, why);
      }
    }
    const json* events = member(*spec, "events");
    if (!events) {
      errs.required("spec.events", "name at least one of the event types");
    } else if (expectArray(errs, *events, "spec.events")) {
      if (events->empty()) errs.required("spec.events", "name at least one of the event types");
      std::set<std::string> seen;
      for (size_t i = 0; i < events->size() && i < 16; ++i) {
        const std::string field = indexPath("spec.events", i);
        if (!expectString(errs, (*events)[i], field)) continue;
        const auto& type = (*events)[i].get_ref<const std::string&>();
        const auto& known = notification::eventTypes();
        if (std::find(known.begin(), known.end(), type) == known.end()) {
          errs.notSupported(field, type, known);
        } else if (!seen.insert(type).second) {
          errs.invalid(field, type, "duplicate value");
        }
      }
      if (events->size() > 16) errs.invalid("spec.events", *events, "at most 5 event types");
    }
    if (const std::string* d = optionalString(errs, *spec, "notifyBefore", "spec.notifyBefore")) {
      auto parsed = parseDuration(*d);
      if (!parsed) {
        errs.invalid("spec.notifyBefore", *d,
                     "must be a duration like 1h or 30m (regex used for validation is "
                     "'^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$')");
      } else if (parsed->count() <= 0 || *parsed > kMaxNotifyBefore) {
        errs.invalid("spec.notifyBefore", *d, "must be greater than 0 and at most 8784h");
      }
    }
    if (const json* ref = member(*spec, "signingKeyRef")) {
      if (expectObject(errs, *ref, "spec.signingKeyRef")) {
        rejectUnknownFields(errs, *ref, "spec.signingKeyRef", {"name"});
        if (const std::string* name =
                requiredString(errs, *ref, "name", "spec.signingKeyRef.name")) {
          validateDns1123Subdomain(errs, *name, "spec.signingKeyRef.name");
        }
      }
    }
  }
};

}  // namespace

const Strategy& notificationSinkStrategy() {
  static const NotificationSinkStrategy strategy;
  return strategy;
}

std::string sinkUrlProblem(std::string_view url, SinkUrlPolicy policy) {
  OutboundUrl parsed;
  if (std::string why = outboundUrlProblem(url, parsed); !why.empty()) return why;
  const std::string_view host = parsed.host;
  const bool https = parsed.https;
  bool loopback = false;
  if (std::string why = hostProblem(std::string(host), policy, loopback); !why.empty()) {
    return "host " + std::string(host) + " " + why;
  }
  if (!https && !loopback) {
    return "must be an https:// URL (plain http only to a loopback host the admin allows)";
  }
  return "";
}

std::string sinkAddressProblem(std::string_view ip, SinkUrlPolicy policy) {
  const std::string text(ip);
  if (unsigned char b[4]; inet_pton(AF_INET, text.c_str(), b) == 1) {
    return addressProblem(ipv4NonPublicReason(v4At(b)), policy, nullptr);
  }
  if (unsigned char b[16]; inet_pton(AF_INET6, text.c_str(), b) == 1) {
    return addressProblem(ipv6NonPublicReason(b), policy, nullptr);
  }
  return "is not an IP address";
}

bool NotificationSinkSpec::wants(std::string_view eventType) const {
  return std::find(events.begin(), events.end(), eventType) != events.end();
}

NotificationSinkSpec NotificationSinkSpec::fromJson(const json& spec) {
  NotificationSinkSpec s;
  s.url = stringField(spec, "url");
  s.events = stringListField(spec, "events");
  if (auto d = parseDuration(stringField(spec, "notifyBefore"))) s.notifyBefore = *d;
  s.signingKeyName = stringField(objectField(spec, "signingKeyRef"), "name");
  return s;
}

}  // namespace minimcp::model
