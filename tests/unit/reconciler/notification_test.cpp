// The pure parts of notification delivery: which Events become notifications, which sinks get
// them, the CloudEvent body, its signature, and the retry schedule.
#include "reconciler/notification.h"

#include <gtest/gtest.h>

namespace minimcp::reconciler::notify {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace type = model::notification;

json event(const std::string& reason, const std::string& message,
           const std::string& kind = "MCPInstance") {
  return {{"metadata", {{"name", "inbox.abc"}, {"namespace", "alice"}, {"uid", "ev-uid"}}},
          {"involvedObject", {{"kind", kind}, {"name", "inbox"}, {"uid", "mi-uid"}}},
          {"reason", reason},
          {"message", message},
          {"count", 2},
          {"lastTimestamp", "2026-01-01T00:00:05Z"}};
}

TEST(Notification, WhichControllerEventsAreNotifications) {
  struct Case {
    json event;
    std::optional<std::string> want;
  };
  const std::vector<Case> cases = {
      {event("Expired", "instance expired at 2026-01-01T00:00:05Z"), type::kInstanceExpired},
      {event("CrashLoopBackOff", "process exited with code 1; back-off 10s before restarting"),
       type::kCrashLoopBackOff},
      {event("Error", "process exited with code 1; restartPolicy Never: not restarting"),
       type::kInstanceFailed},
      {event("HealthCheckFailed",
             "3 consecutive health checks failed: x; restartPolicy OnFailure: not restarting"),
       type::kInstanceFailed},
      {event("HealthCheckFailed", "3 consecutive health checks failed; restarting"), std::nullopt},
      {event("Started", "process started"), std::nullopt},
      {event("InstanceExpiring", "instance expires at ..."), std::nullopt},
      {event("KeyRotationDue", "rotate it", "APIKey"), std::nullopt},
      {event("Expired", "x", "APIKey"), std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(notificationTypeOf(c.event), c.want) << c.event.dump();
  }
  const Occurrence o =
      occurrenceOfEvent(event("Expired", "instance expired"), type::kInstanceExpired);
  EXPECT_EQ(o.key, "event/ev-uid/2") << "each repeat of an Event is an occurrence";
  EXPECT_EQ(o.ns, "alice");
  EXPECT_EQ(o.name, "inbox");
  EXPECT_EQ(o.uid, "mi-uid");
  EXPECT_EQ(o.plural, "mcpinstances");
  EXPECT_EQ(formatRfc3339(o.time), "2026-01-01T00:00:05Z");
}

TEST(Notification, ASinkReceivesOnlyItsNamespaceAndItsTypes) {
  auto sink = [](std::string ns, std::vector<std::string> events, std::chrono::milliseconds lead) {
    SinkView s;
    s.ns = std::move(ns);
    s.name = "hooks";
    s.uid = "sink-uid";
    s.spec.events = std::move(events);
    s.spec.notifyBefore = lead;
    return s;
  };
  Occurrence expired;
  expired.type = type::kInstanceExpired;
  expired.ns = "alice";
  Occurrence expiring = expired;
  expiring.type = type::kInstanceExpiring;
  expiring.notifyBefore = 3s;

  EXPECT_TRUE(receives(sink("alice", {type::kInstanceExpired}, 1h), expired));
  EXPECT_FALSE(receives(sink("bob", {type::kInstanceExpired}, 1h), expired));
  EXPECT_FALSE(receives(sink("alice", {type::kInstanceFailed}, 1h), expired));
  EXPECT_TRUE(receives(sink("alice", {type::kInstanceExpiring}, 3s), expiring));
  EXPECT_FALSE(receives(sink("alice", {type::kInstanceExpiring}, 1h), expiring))
      << "raised for another sink's lead";
  EXPECT_FALSE(receives(sink("bob", {type::kInstanceExpiring}, 3s), expiring));
  SinkView deleting = sink("alice", {type::kInstanceExpired}, 1h);
  deleting.deleting = true;
  EXPECT_FALSE(receives(deleting, expired));
}

TEST(Notification, CloudEventBody) {
  Occurrence o;
  o.type = type::kInstanceExpiring;
  o.ns = "alice";
  o.kind = "MCPInstance";
  o.plural = "mcpinstances";
  o.name = "inbox";
  o.uid = "mi-uid";
  o.time = *parseRfc3339("2026-01-01T00:00:03Z");
  o.reason = "InstanceExpiring";
  o.message = "instance expires at 2026-01-01T00:00:06Z (notifyBefore 3s)";
  o.extra = {{"expiresAt", "2026-01-01T00:00:06Z"}};
  EXPECT_EQ(cloudEvent(o, "id-1"), json::parse(R"json({
    "specversion": "1.0", "id": "id-1",
    "source": "/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances",
    "type": "io.minimcp.instance.expiring", "subject": "inbox",
    "time": "2026-01-01T00:00:03.000Z", "datacontenttype": "application/json",
    "data": {"namespace": "alice", "kind": "MCPInstance", "name": "inbox", "uid": "mi-uid",
             "reason": "InstanceExpiring",
             "message": "instance expires at 2026-01-01T00:00:06Z (notifyBefore 3s)",
             "expiresAt": "2026-01-01T00:00:06Z"}})json"));
  EXPECT_EQ(cloudEventType(type::kKeyRotationDue), "io.minimcp.apikey.rotationdue");
  EXPECT_EQ(cloudEventType(type::kCrashLoopBackOff), "io.minimcp.instance.crashloopbackoff");
  EXPECT_EQ(cloudEventType(type::kInstanceFailed), "io.minimcp.instance.failed");
  EXPECT_EQ(cloudEventType(type::kInstanceExpired), "io.minimcp.instance.expired");

  o.key = "expiring/mi-uid/x/3000";
  const std::string id = eventId("sink-a", o);
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(eventId("sink-a", o), id) << "the same occurrence keeps its id (and outbox entry)";
  EXPECT_NE(eventId("sink-b", o), id);
  SinkView sink;
  sink.ns = "alice";
  sink.name = "hooks";
  sink.uid = "sink-a";
  RetryPolicy p;
  p.deadline = 1h;
  const json entry = outboxEntry(sink, o, o.time, p);
  EXPECT_EQ(entry["metadata"], json({{"name", id}, {"namespace", "alice"}}));
  EXPECT_EQ(entry["sink"], json({{"name", "hooks"}, {"uid", "sink-a"}}));
  EXPECT_EQ(entry["event"]["id"], id);
  EXPECT_EQ(entry["attempts"], 0);
  EXPECT_EQ(entry["nextAttemptAt"], "2026-01-01T00:00:03.000Z");
  EXPECT_EQ(entry["deadline"], "2026-01-01T01:00:03.000Z");
}

TEST(Notification, SignatureIsHmacSha256OfTheBody) {
  // RFC 4231, test case 2.
  EXPECT_EQ(signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_NE(signature("Jefe", "what do ya want for nothing!"),
            signature("Jefe", "what do ya want for nothing?"));
}

TEST(Notification, RetryBackOffDoublesUpToItsCap) {
  RetryPolicy p;
  p.initial = 1s;
  p.max = 10s;
  std::vector<std::chrono::milliseconds> got;
  for (int failures = 1; failures <= 6; ++failures) got.push_back(retryDelay(failures, p));
  EXPECT_EQ(got, (std::vector<std::chrono::milliseconds>{1s, 2s, 4s, 8s, 10s, 10s}));
  EXPECT_EQ(retryDelay(1000, p), 10s) << "no overflow after many failures";
  EXPECT_EQ(retryDelay(3, p, 0.5), 3600ms) << "jitter shortens by up to a fifth";
  EXPECT_GT(retryDelay(3, p, 0.9999), 3200ms);
}

TEST(Notification, MessagesMarkingAnOccurrenceAreStable) {
  const TimePoint at = *parseRfc3339("2026-01-01T00:00:06Z");
  EXPECT_EQ(expiringMessage(at, 3s), "instance expires at 2026-01-01T00:00:06Z (notifyBefore 3s)");
  EXPECT_EQ(expiringMessage(at, 90min),
            "instance expires at 2026-01-01T00:00:06Z (notifyBefore 90m)");
  EXPECT_EQ(rotationDueMessage(at),
            "the value is older than spec.rotationPeriod: rotate it (due since "
            "2026-01-01T00:00:06Z)");
}

}  // namespace
}  // namespace minimcp::reconciler::notify
