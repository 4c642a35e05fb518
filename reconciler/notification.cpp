#include "reconciler/notification.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "api/crypto/encoding.h"
#include "api/model/json_fields.h"
#include "api/model/object_meta.h"
#include "api/model/strategy.h"
#include "api/util/random.h"

namespace minimcp::reconciler::notify {

using nlohmann::json;
using std::chrono::milliseconds;
namespace type = model::notification;

namespace {

// The words decide() closes the event of a failure with when restartPolicy keeps the process
// down (reconciler/decide.cpp, scheduleRestart): the instance's phase becomes Failed.
constexpr std::string_view kNotRestarting = ": not restarting";

std::string durationText(milliseconds d) {
  using namespace std::chrono;
  if (d % hours(1) == milliseconds(0)) return std::to_string(d / hours(1)) + "h";
  if (d % minutes(1) == milliseconds(0)) return std::to_string(d / minutes(1)) + "m";
  if (d % seconds(1) == milliseconds(0)) return std::to_string(d / seconds(1)) + "s";
  return std::to_string(d.count()) + "ms";
}

}  // namespace

SinkView SinkView::fromJson(const json& sink) {
  const model::ObjectMeta meta(sink);
  SinkView v;
  v.ns = meta.ns();
  v.name = meta.name();
  v.uid = meta.uid();
  v.deleting = meta.deleting();
  v.spec = model::NotificationSinkSpec::fromJson(model::objectField(sink, "spec"));
  return v;
}

std::optional<std::string> notificationTypeOf(const json& event) {
  const json& involved = model::objectField(event, "involvedObject");
  if (model::stringField(involved, "kind") != "MCPInstance") return std::nullopt;
  const std::string reason = model::stringField(event, "reason");
  if (reason == "Expired") return type::kInstanceExpired;
  if (reason == "CrashLoopBackOff") return type::kCrashLoopBackOff;
  if (model::stringField(event, "message").ends_with(kNotRestarting)) {
    return type::kInstanceFailed;
  }
  return std::nullopt;
}

Occurrence occurrenceOfEvent(const json& event, const std::string& notificationType) {
  const json& involved = model::objectField(event, "involvedObject");
  Occurrence o;
  o.type = notificationType;
  o.ns = model::ObjectMeta(event).ns();
  o.kind = model::stringField(involved, "kind");
  o.plural = o.kind == "APIKey" ? "apikeys" : "mcpinstances";
  o.name = model::stringField(involved, "name");
  o.uid = model::stringField(involved, "uid");
  o.reason = model::stringField(event, "reason");
  o.message = model::stringField(event, "message");
  const auto at = model::timeField(event, "lastTimestamp");
  o.time = at ? *at : TimePoint{};
  o.key = "event/" + model::ObjectMeta(event).uid() + "/" +
          std::to_string(model::intField(event, "count", 1));
  return o;
}

bool receives(const SinkView& sink, const Occurrence& o) {
  if (sink.deleting || sink.ns != o.ns || !sink.spec.wants(o.type)) return false;
  if (o.type == type::kInstanceExpiring) return sink.spec.notifyBefore == o.notifyBefore;
  return true;
}

std::string cloudEventType(std::string_view notificationType) {
  if (notificationType == type::kInstanceExpiring) return "io.minimcp.instance.expiring";
  if (notificationType == type::kInstanceExpired) return "io.minimcp.instance.expired";
  if (notificationType == type::kInstanceFailed) return "io.minimcp.instance.failed";
  if (notificationType == type::kCrashLoopBackOff) return "io.minimcp.instance.crashloopbackoff";
  if (notificationType == type::kKeyRotationDue) return "io.minimcp.apikey.rotationdue";
  return "io.minimcp." + std::string(notificationType);
}

json cloudEvent(const Occurrence& o, const std::string& id) {
  json data = {{"namespace", o.ns}, {"kind", o.kind},     {"name", o.name},
               {"uid", o.uid},      {"reason", o.reason}, {"message", o.message}};
  for (const auto& [k, v] : o.extra.items()) data[k] = v;
  return {{"specversion", "1.0"},
          {"id", id},
          {"source",
           "/apis/" + std::string(model::kApiVersion) + "/namespaces/" + o.ns + "/" + o.plural},
          {"type", cloudEventType(o.type)},
          {"subject", o.name},
          {"time", formatRfc3339Millis(o.time)},
          {"datacontenttype", "application/json"},
          {"data", std::move(data)}};
}

std::string eventId(const std::string& sinkUid, const Occurrence& o) {
  return sha256Hex(sinkUid + "\n" + o.key).substr(0, 32);
}

std::string signature(std::string_view key, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int macLen = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &macLen)) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return "sha256=" + crypto::hexEncode({reinterpret_cast<const char*>(mac), macLen});
}

milliseconds retryDelay(int failures, const RetryPolicy& p, double jitter) {
  milliseconds d = p.initial;
  for (int i = 1; i < failures && d < p.max; ++i) d *= 2;
  d = std::min(d, p.max);
  jitter = std::clamp(jitter, 0.0, 1.0);
  return d - milliseconds(static_cast<int64_t>(std::floor(d.count() * jitter / 5)));
}

json outboxEntry(const SinkView& sink, const Occurrence& o, TimePoint now, const RetryPolicy& p) {
  const std::string id = eventId(sink.uid, o);
  const auto deadline = addChecked(now, p.deadline).value_or(now);
  return {{"metadata", {{"name", id}, {"namespace", sink.ns}}},
          {"sink", {{"name", sink.name}, {"uid", sink.uid}}},
          {"event", cloudEvent(o, id)},
          {"attempts", 0},
          {"nextAttemptAt", formatRfc3339Millis(now)},
          {"deadline", formatRfc3339Millis(deadline)},
          {"lastError", ""}};
}

std::string expiringMessage(TimePoint expiresAt, milliseconds lead) {
  return "instance expires at " + formatRfc3339(expiresAt) + " (notifyBefore " +
         durationText(lead) + ")";
}

std::string rotationDueMessage(TimePoint rotateBy) {
  return "the value is older than spec.rotationPeriod: rotate it (due since " +
         formatRfc3339(rotateBy) + ")";
}

}  // namespace minimcp::reconciler::notify
