// The Notifier over a real SQLite store with a fake clock and a recording transport: what is
// sent to which sink, when, retried how, signed with what, and what the sink's status says.
#include "reconciler/notifier.h"

#include <deque>

#include "api/crypto/master_key.h"
#include "api/model/apikey.h"
#include "api/model/notification_sink.h"
#include "api/registry/event_recorder.h"
#include "api/secrets/audit_log.h"
#include "api/secrets/key_resolver.h"
#include "reconciler/webhook_transport.h"
#include "tests/mocks/scripted_resolver.h"
#include "tests/unit/controller/controller_fixture.h"

namespace minimcp::test {
namespace {

using reconciler::Notifier;
using reconciler::WebhookTransport;
namespace notify = reconciler::notify;

class RecordingTransport : public WebhookTransport {
 public:
  struct Post {
    std::string url;
    std::map<std::string, std::string> headers;
    json body;
    std::string raw;
  };
  Result post(const std::string& url, const std::map<std::string, std::string>& headers,
              const std::string& body, std::chrono::milliseconds) override {
    posts.push_back({url, headers, json::parse(body), body});
    if (answers.empty()) return {200, ""};
    Result r = answers.front();
    answers.pop_front();
    return r;
  }
  std::vector<Post> posts;
  std::deque<Result> answers;
};

class MemoryAuditLog : public secrets::AuditLog {
 public:
  void append(const secrets::AuditRecord& r) override { records.push_back(r); }
  std::vector<secrets::AuditRecord> records;
};

class NotifierTest : public ControllerTest {
 protected:
  NotifierTest() : ring_(crypto::MasterKey::generate()), keys_(*store_, ring_, audit_, clock_) {
    model::setApiKeyKeyRing(&ring_);
  }
  ~NotifierTest() override { model::setApiKeyKeyRing(nullptr); }

  std::unique_ptr<Notifier> notifier(notify::RetryPolicy retry = {},
                                     WebhookTransport* transport = nullptr,
                                     std::chrono::milliseconds attemptTimeout = 5000ms) {
    reconciler::NotifierOptions o;
    o.node = "node-a";
    o.retry = retry;
    o.attemptTimeout = attemptTimeout;
    return std::make_unique<Notifier>(*store_, clock_, keys_, transport ? *transport : transport_,
                                      o);
  }

  json createSink(const std::string& ns, const std::string& name, json spec) {
    return storeObject(*store_, model::notificationSinkStrategy(),
                       {{"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", spec}}, clock_);
  }
  json sink(const std::string& ns, const std::string& name) {
    auto s = store_->get(model::kNotificationSinkPlural, ns, name);
    return s ? *s : json();
  }
  size_t outbox() { return store_->list(notify::kOutbox, {}).items.size(); }
  std::vector<std::string> typesPosted() {
    std::vector<std::string> out;
    for (const auto& p : transport_.posts) out.push_back(p.body["type"]);
    return out;
  }

  crypto::KeyRing ring_;
  MemoryAuditLog audit_;
  secrets::KeyResolver keys_;
  RecordingTransport transport_;
};

TEST_F(NotifierTest, InstanceExpiringOnceAtItsLeadAndOnlyToItsNamespace) {
  auto n = notifier();
  n->runOnce();  // the first pass starts reading events from now
  createSink("alice", "hooks",
             {{"url", "https://hooks.example.com/a"},
              {"events", {"InstanceExpiring", "InstanceExpired"}},
              {"notifyBefore", "3s"}});
  createSink("alice", "early",
             {{"url", "https://hooks.example.com/early"},
              {"events", {"InstanceExpiring"}},
              {"notifyBefore", "1h"}});
  createSink("bob", "hooks",
             {{"url", "https://hooks.example.com/b"},
              {"events", {"InstanceExpiring", "InstanceExpired"}},
              {"notifyBefore", "3s"}});
  const json inst = createInstance("inbox", {{"ttl", "6s"}});

  // The 1h sink hears at once (the instance expires within its lead); the 3s one waits.
  EXPECT_LE(n->runOnce(), 3000ms);
  ASSERT_EQ(transport_.posts.size(), 1u);
  EXPECT_EQ(transport_.posts[0].url, "https://hooks.example.com/early");
  clock_.advance(2s);
  n->runOnce();
  EXPECT_EQ(transport_.posts.size(), 1u);
  clock_.advance(1s);
  n->runOnce();
  ASSERT_EQ(transport_.posts.size(), 2u);
  const auto& post = transport_.posts[1];
  EXPECT_EQ(post.url, "https://hooks.example.com/a");
  EXPECT_EQ(post.headers.at("Content-Type"), "application/cloudevents+json");
  EXPECT_EQ(post.headers.count("X-MiniMCP-Signature"), 0u) << "no signingKeyRef: unsigned";
  EXPECT_EQ(post.body["type"], "io.minimcp.instance.expiring");
  EXPECT_EQ(post.body["subject"], "inbox");
  EXPECT_EQ(post.body["data"]["uid"], inst["metadata"]["uid"]);
  EXPECT_EQ(post.body["data"]["expiresAt"], "2026-01-01T00:00:06Z");
  EXPECT_EQ(eventsWithReason("InstanceExpiring").size(), 2u) << "one Event per lead";
  EXPECT_EQ(outbox(), 0u);

  // Passes later: nothing again.
  clock_.advance(1s);
  n->runOnce();
  n->runOnce();
  EXPECT_EQ(transport_.posts.size(), 2u);
  EXPECT_EQ(sink("alice", "hooks")["status"]["lastDelivery"]["type"],
            "io.minimcp.instance.expiring");
  EXPECT_EQ(sink("alice", "hooks")["status"]["pending"], 0);

  // The controller's Expired event: to alice's sink only.
  registry::EventRecorder(*store_, clock_, "node-a")
      .record(inst, "Normal", "Expired", "instance expired at 2026-01-01T00:00:06Z");
  n->runOnce();
  ASSERT_EQ(transport_.posts.size(), 3u);
  EXPECT_EQ(transport_.posts[2].url, "https://hooks.example.com/a");
  EXPECT_EQ(transport_.posts[2].body["type"], "io.minimcp.instance.expired");
  for (const auto& p : transport_.posts) EXPECT_NE(p.url, "https://hooks.example.com/b");
}

TEST_F(NotifierTest, FailedDeliveriesAreRetriedWithBackOffThenGivenUpAtTheDeadline) {
  notify::RetryPolicy retry;
  retry.initial = 1s;
  retry.max = 4s;
  retry.deadline = 20s;
  auto n = notifier(retry);
  n->runOnce();
  createSink("alice", "hooks",
             {{"url", "https://hooks.example.com/a"}, {"events", {"InstanceFailed"}}});
  const json inst = createInstance("inbox");
  transport_.answers = {
      {500, ""}, {0, "cannot connect to https://hooks.example.com: refused"}, {503, ""}};
  registry::EventRecorder(*store_, clock_, "node-a")
      .record(inst, "Warning", "Error",
              "process exited with code 1; restartPolicy Never: not restarting");
  n->runOnce();
  ASSERT_EQ(transport_.posts.size(), 1u);
  EXPECT_EQ(outbox(), 1u);
  json st = sink("alice", "hooks")["status"];
  EXPECT_EQ(st["lastError"]["message"], "the sink answered HTTP 500");
  EXPECT_EQ(st["lastError"]["attempts"], 1);
  EXPECT_EQ(st["pending"], 1);
  // Not before the back-off.
  clock_.advance(500ms);
  n->runOnce();
  EXPECT_EQ(transport_.posts.size(), 1u);
  for (auto wait : {500ms, 2000ms, 4000ms}) {
    clock_.advance(wait);
    n->runOnce();
  }
  ASSERT_EQ(transport_.posts.size(), 4u);
  for (const auto& p : transport_.posts) EXPECT_EQ(p.raw, transport_.posts[0].raw) << "same event";
  EXPECT_EQ(outbox(), 0u);
  st = sink("alice", "hooks")["status"];
  EXPECT_EQ(st["lastDelivery"]["attempts"], 4);
  EXPECT_EQ(st["lastDelivery"]["statusCode"], 200);
  EXPECT_EQ(st["lastDelivery"]["id"], transport_.posts[0].body["id"]);
  EXPECT_EQ(st["lastError"]["message"], "the sink answered HTTP 503");

  // A sink that never answers: given up at the deadline, and said so.
  registry::EventRecorder(*store_, clock_, "node-a")
      .record(inst, "Warning", "CrashLoopBackOff", "not subscribed: never sent");
  registry::EventRecorder(*store_, clock_, "node-a")
      .record(inst, "Warning", "Error", "again; restartPolicy Never: not restarting");
  for (int i = 0; i < 30; ++i) transport_.answers.push_back({500, ""});
  n->runOnce();
  EXPECT_EQ(outbox(), 1u);
  for (int i = 0; i < 10 && outbox() > 0; ++i) {
    clock_.advance(4s);
    n->runOnce();
  }
  EXPECT_EQ(outbox(), 0u);
  EXPECT_THAT(sink("alice", "hooks")["status"]["lastError"]["message"].get<std::string>(),
              ::testing::StartsWith("gave up after "));
  for (const auto& p : transport_.posts) {
    EXPECT_EQ(p.body["type"], "io.minimcp.instance.failed");
  }
}

// The real transport with a DNS that hangs: the attempt fails at its timeout (getaddrinfo cannot
// be interrupted; the lookup is abandoned), the sink's status says why, and it is retried with
// back-off like any failed delivery. What the name resolves to still meets the egress check.
TEST_F(NotifierTest, AHangingDnsLookupFailsTheAttemptWhichIsRetriedWithBackOff) {
  auto dns = std::make_shared<ScriptedResolver>();
  reconciler::HttpWebhookTransport http(model::SinkUrlPolicy{}, dns);
  notify::RetryPolicy retry;
  retry.initial = 1s;
  retry.max = 4s;
  retry.deadline = 60s;
  auto n = notifier(retry, &http, 100ms);
  n->runOnce();
  createSink("alice", "hooks",
             {{"url", "https://hooks.example.com/a"}, {"events", {"InstanceFailed"}}});
  registry::EventRecorder(*store_, clock_, "node-a")
      .record(createInstance("inbox"), "Warning", "Error",
              "process exited with code 1; restartPolicy Never: not restarting");
  const auto start = std::chrono::steady_clock::now();
  n->runOnce();  // the DNS never answers
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "bounded by the attempt's timeout";
  EXPECT_EQ(dns->hosts(), std::vector<std::string>{"hooks.example.com"});
  EXPECT_EQ(outbox(), 1u);
  json st = sink("alice", "hooks")["status"];
  EXPECT_EQ(st["lastError"]["message"],
            "cannot connect to https://hooks.example.com: DNS lookup of hooks.example.com timed "
            "out after 100 ms");
  EXPECT_EQ(st["lastError"]["attempts"], 1);
  EXPECT_EQ(st["pending"], 1);
  // Not again before the back-off.
  clock_.advance(500ms);
  n->runOnce();
  EXPECT_EQ(dns->hosts().size(), 1u);
  clock_.advance(500ms);
  n->runOnce();  // the second attempt's lookup hangs too
  EXPECT_EQ(dns->hosts().size(), 2u);
  EXPECT_EQ(sink("alice", "hooks")["status"]["lastError"]["attempts"], 2);
  // Both answers come late, after their attempts gave up: dropped, nothing changes.
  dns->answerPending({{"93.184.215.14"}, ""});
  EXPECT_EQ(outbox(), 1u);
  EXPECT_EQ(sink("alice", "hooks")["status"]["lastError"]["attempts"], 2);
  // The third attempt's answer comes at once, with an address the egress check refuses.
  dns->answerAtOnce({{"10.1.2.3"}, ""});
  clock_.advance(2s);
  n->runOnce();
  EXPECT_EQ(dns->hosts().size(), 3u);
  st = sink("alice", "hooks")["status"];
  EXPECT_EQ(st["lastError"]["attempts"], 3);
  EXPECT_THAT(st["lastError"]["message"].get<std::string>(),
              ::testing::StartsWith(
                  "cannot connect to https://hooks.example.com: the host resolves to 10.1.2.3 "))
      << st;
  EXPECT_EQ(outbox(), 1u) << "still retried until its deadline";
}

TEST_F(NotifierTest, SignedWithTheKeyDecryptedOnceAndAudited) {
  auto n = notifier();
  n->runOnce();
  storeObject(*store_, model::apiKeyStrategy(),
              {{"metadata", {{"name", "hook-key"}, {"namespace", "alice"}}},
               {"spec", {{"type", "webhook"}, {"value", "s3cret-signing-key"}}}},
              clock_);
  createSink("alice", "hooks",
             {{"url", "https://hooks.example.com/a"},
              {"events", {"InstanceExpired"}},
              {"signingKeyRef", {{"name", "hook-key"}}}});
  createSink("alice", "unkeyed",
             {{"url", "https://hooks.example.com/u"},
              {"events", {"InstanceExpired"}},
              {"signingKeyRef", {{"name", "missing"}}}});
  const json inst = createInstance("inbox");
  registry::EventRecorder rec(*store_, clock_, "node-a");
  rec.record(inst, "Normal", "Expired", "instance expired at 1");
  rec.record(inst, "Normal", "Expired", "instance expired at 1");  // a repeat: count 2
  n->runOnce();
  ASSERT_EQ(transport_.posts.size(), 2u) << "the unkeyed sink's event waits for its key";
  for (const auto& p : transport_.posts) {
    EXPECT_EQ(p.headers.at("X-MiniMCP-Signature"), notify::signature("s3cret-signing-key", p.raw));
    EXPECT_EQ(p.url, "https://hooks.example.com/a");
  }
  EXPECT_NE(transport_.posts[0].body["id"], transport_.posts[1].body["id"]);
  ASSERT_EQ(audit_.records.size(), 1u) << "decrypted once for both";
  EXPECT_EQ(audit_.records[0].sink, "alice/hooks");
  EXPECT_EQ(audit_.records[0].apiKey, "alice/hook-key");
  EXPECT_EQ(audit_.records[0].result, "ok");
  const json unkeyed = sink("alice", "unkeyed")["status"];
  EXPECT_THAT(unkeyed["lastError"]["message"].get<std::string>(),
              ::testing::HasSubstr("signing key: APIKey \"missing\" not found"));
  EXPECT_EQ(unkeyed["pending"], 2);
  for (const json& s : {sink("alice", "hooks"), unkeyed}) {
    EXPECT_EQ(s.dump().find("s3cret"), std::string::npos);
  }
}

TEST_F(NotifierTest, KeyRotationDueIsAnEventAConditionAndANotification) {
  auto n = notifier();
  n->runOnce();
  createSink("alice", "hooks",
             {{"url", "https://hooks.example.com/a"}, {"events", {"KeyRotationDue"}}});
  storeObject(*store_, model::apiKeyStrategy(),
              {{"metadata", {{"name", "gmail-key"}, {"namespace", "alice"}}},
               {"spec", {{"type", "gmail"}, {"value", "v1"}, {"rotationPeriod", "1h"}}}},
              clock_);
  EXPECT_LE(n->runOnce(), 3600s);
  EXPECT_TRUE(transport_.posts.empty());
  clock_.advance(1h);
  n->runOnce();
  ASSERT_EQ(transport_.posts.size(), 1u);
  EXPECT_EQ(transport_.posts[0].body["type"], "io.minimcp.apikey.rotationdue");
  EXPECT_EQ(transport_.posts[0].body["source"],
            "/apis/minimcp.io/v1alpha1/namespaces/alice/apikeys");
  EXPECT_EQ(transport_.posts[0].body["data"]["rotateBy"], "2026-01-01T01:00:00Z");
  const auto key = store_->get(model::kApiKeyPlural, "alice", "gmail-key");
  EXPECT_EQ((*model::findCondition(*key, model::kConditionRotationDue))["status"], "True");
  EXPECT_EQ(eventsWithReason("KeyRotationDue").size(), 1u);
  EXPECT_EQ(eventsWithReason("KeyRotationDue")[0]["involvedObject"]["kind"], "APIKey");
  clock_.advance(1h);
  n->runOnce();
  EXPECT_EQ(transport_.posts.size(), 1u) << "once per rotateBy";
}

TEST_F(NotifierTest, AnEventEnqueuedBeforeACrashIsDeliveredByTheNextNotifier) {
  auto first = notifier();
  first->runOnce();
  createSink("alice", "hooks",
             {{"url", "https://hooks.example.com/a"}, {"events", {"InstanceExpired"}}});
  const json inst = createInstance("inbox");
  transport_.answers = {{0, "cannot connect"}};
  registry::EventRecorder(*store_, clock_, "node-a").record(inst, "Normal", "Expired", "gone");
  first->runOnce();
  EXPECT_EQ(outbox(), 1u);
  first.reset();  // its lock goes with it, as with a killed process

  auto second = notifier();
  clock_.advance(2s);
  second->runOnce();
  ASSERT_EQ(transport_.posts.size(), 2u);
  EXPECT_EQ(transport_.posts[1].raw, transport_.posts[0].raw);
  EXPECT_EQ(outbox(), 0u);
  second->runOnce();
  EXPECT_EQ(transport_.posts.size(), 2u) << "the cursor moved: not sent again";
}

}  // namespace
}  // namespace minimcp::test
