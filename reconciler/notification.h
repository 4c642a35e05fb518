// The pure parts of NotificationSink delivery (reconciler/notifier.h runs them): what happened
// (an Occurrence), which sinks receive it, the CloudEvent they get, its signature, the outbox
// entry that carries it until a sink accepts it, and the retry schedule.
//
// Outbox entries are stored documents (resource kOutbox, in the sink's namespace, never served
// by the API):
//   {metadata: {name: <eventId>, namespace}, sink: {name, uid}, event: <the CloudEvent>,
//    attempts: 0, nextAttemptAt: RFC 3339, deadline: RFC 3339, lastError: "..."}
// The name is the CloudEvent's id: derived from the sink and the occurrence, so enqueueing the
// same occurrence again (after a crash between enqueue and the mark that it was done) finds the
// pending entry, and a receiver that saw it already can tell by the id.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/model/notification_sink.h"
#include "api/util/clock.h"

namespace minimcp::reconciler::notify {

inline constexpr const char* kOutbox = "notificationoutbox";
inline constexpr const char* kSignatureHeader = "X-MiniMCP-Signature";
inline constexpr const char* kContentType = "application/cloudevents+json";

// Something a sink may be told about.
struct Occurrence {
  std::string type;  // model::notification::k*
  std::string key;   // unique per occurrence: "event/<uid>/<count>", "expiring/<uid>/<at>/<lead>"
  std::string ns;
  std::string kind;    // MCPInstance | APIKey
  std::string plural;  // mcpinstances | apikeys
  std::string name;
  std::string uid;
  TimePoint time;
  std::string reason;                               // the Event's reason
  std::string message;                              // the Event's message
  nlohmann::json extra = nlohmann::json::object();  // expiresAt, notifyBefore, rotateBy
  std::chrono::milliseconds notifyBefore{0};        // InstanceExpiring: the lead it was for
};

struct SinkView {
  std::string ns, name, uid;
  model::NotificationSinkSpec spec;
  bool deleting = false;
  static SinkView fromJson(const nlohmann::json& sink);
};

// The notification type of an Event the controller recorded about an MCPInstance (Expired →
// InstanceExpired, CrashLoopBackOff → CrashLoopBackOff, a failure with restartPolicy saying not
// to restart → InstanceFailed); nullopt for every other Event, including the InstanceExpiring
// and KeyRotationDue Events the notifier records itself.
std::optional<std::string> notificationTypeOf(const nlohmann::json& event);
// The Occurrence an Event stands for (notificationTypeOf it must be set). Each repeat of an
// Event (its count) is an occurrence of its own.
Occurrence occurrenceOfEvent(const nlohmann::json& event, const std::string& type);

// Whether `sink` receives `o`: same namespace, subscribed to its type, not being deleted; an
// InstanceExpiring occurrence only by the sinks whose notifyBefore it was raised for.
bool receives(const SinkView& sink, const Occurrence& o);

// The CloudEvents 1.0 structured-mode body (application/cloudevents+json):
//   {specversion: "1.0", id, source: "/apis/minimcp.io/v1alpha1/namespaces/NS/PLURAL",
//    type: "io.minimcp.instance.expiring" ..., subject: NAME, time, datacontenttype,
//    data: {namespace, kind, name, uid, reason, message, ...extra}}
nlohmann::json cloudEvent(const Occurrence& o, const std::string& id);
// "io.minimcp.instance.expiring", "io.minimcp.apikey.rotationdue", ...
std::string cloudEventType(std::string_view notificationType);
// The event id (and outbox entry name) of `o` for the sink with uid `sinkUid`: 32 hex digits.
std::string eventId(const std::string& sinkUid, const Occurrence& o);

// The X-MiniMCP-Signature value: "sha256=" + hex(HMAC-SHA256(key, body)).
std::string signature(std::string_view key, std::string_view body);

struct RetryPolicy {
  std::chrono::milliseconds initial{1000};               // after the first failure
  std::chrono::milliseconds max{5 * 60000};              // the longest wait between two attempts
  std::chrono::milliseconds deadline{24 * 3600 * 1000};  // from enqueue: then given up
};
// The wait after the `failures`-th failed attempt (1, 2, ...): initial doubling up to max,
// shortened by up to a fifth by `jitter` in [0, 1) so that many failed entries spread out.
std::chrono::milliseconds retryDelay(int failures, const RetryPolicy& p, double jitter = 0);

// A new outbox entry for `sink` carrying `o`.
nlohmann::json outboxEntry(const SinkView& sink, const Occurrence& o, TimePoint now,
                           const RetryPolicy& p);

// InstanceExpiring: the message of the Event recorded for an instance expiring at `expiresAt`,
// told `lead` ahead (stable, so the Event's name marks the occurrence as done).
std::string expiringMessage(TimePoint expiresAt, std::chrono::milliseconds lead);
// KeyRotationDue: the same for an APIKey due since `rotateBy`.
std::string rotationDueMessage(TimePoint rotateBy);

}  // namespace minimcp::reconciler::notify
