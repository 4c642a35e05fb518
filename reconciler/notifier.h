// Notifier: tells NotificationSinks what happened in their namespace, at least once, through an
// outbox in the store (reconciler/notification.h), so an event survives mcpd being killed at
// any moment. One notifier acts per store: the holder of the "minimcp-notifier" lock.
//
// Each pass, on store changes and timers (at most every `minPassInterval`, at least every
// `resync`):
//  1. Events the controller recorded since the stored cursor (InstanceExpired, InstanceFailed,
//     CrashLoopBackOff) become outbox entries for the sinks that receive them; then the cursor
//     moves past them.
//  2. Timed occurrences: an instance that expires within a sink's notifyBefore (InstanceExpiring)
//     and an APIKey past its status.rotateBy (KeyRotationDue; the key's RotationDue condition
//     turns True). Their entries are enqueued first, then an Event is recorded whose name marks
//     the occurrence as done (a crash in between enqueues again; the entry's name is the same).
//  3. Due outbox entries are POSTed to their sink (signed with its signingKeyRef, decrypted
//     through the audited key resolver); a 2xx removes the entry, anything else retries with
//     exponential back-off until the entry's deadline. The sink's status shows the last delivery
//     and the last error (written with guaranteedUpdate).
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "api/metrics/registry.h"
#include "api/registry/event_recorder.h"
#include "api/secrets/key_resolver.h"
#include "api/store/store.h"
#include "api/util/clock.h"
#include "reconciler/notification.h"

namespace minimcp::reconciler {

// How an event reaches a sink: one POST, bounded by `timeout`. The real one (mcpd) connects only
// to addresses model::sinkAddressProblem allows and follows no redirects.
class WebhookTransport {
 public:
  struct Result {
    int status = 0;     // the HTTP status; 0 when there was no answer
    std::string error;  // why there was no answer (no secret in it)
  };
  virtual ~WebhookTransport() = default;
  virtual Result post(const std::string& url, const std::map<std::string, std::string>& headers,
                      const std::string& body, std::chrono::milliseconds timeout) = 0;
};

struct NotifierOptions {
  std::string node;  // events' source.host; "mcpd/<node>" in the audit log
  notify::RetryPolicy retry;
  std::chrono::milliseconds attemptTimeout{5000};  // one POST, connection included
  std::chrono::milliseconds resync{30000};
  std::chrono::milliseconds minPassInterval{200};
  metrics::Registry* metrics = nullptr;  // deliveries by result, pending entries
};

class Notifier {
 public:
  // Everything passed must outlive the notifier.
  Notifier(store::Store& store, const Clock& clock, const secrets::KeyResolver& keys,
           WebhookTransport& transport, NotifierOptions options);
  ~Notifier();  // stop()
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  void start();
  void stop();

  // Takes the lock if free, then one pass when leading; returns when the next pass is due.
  // Not concurrently with the background thread (tests call it instead of start()).
  std::chrono::milliseconds runOnce();

 private:
  struct Metrics;
  struct Pass;
  void loop();
  std::chrono::milliseconds pass();
  void fanOutEvents(Pass& p);
  void timedOccurrences(Pass& p);
  void enqueue(const notify::Occurrence& o, Pass& p);
  void deliver(const nlohmann::json& entry, Pass& p);
  void recordOutcome(const notify::SinkView& sink, const nlohmann::json& entry, bool delivered,
                     int status, const std::string& error);
  std::optional<std::string> signingKey(const notify::SinkView& sink, std::string& why);

  store::Store& store_;
  const Clock& clock_;
  const secrets::KeyResolver& keys_;
  WebhookTransport& transport_;
  NotifierOptions options_;
  registry::EventRecorder events_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<store::ExclusiveLock> lock_;
  // Decrypted signing keys by "ns/name", with the APIKey version they were read at: one
  // decryption (and one audit record) per key version, wiped when replaced and at the end.
  struct CachedKey {
    std::string uid;
    int64_t version = 0;
    std::string value;
  };
  std::map<std::string, CachedKey> signingKeys_;
  // InstanceExpiring occurrences (by outbox key) whose Event this notifier saw or wrote: later
  // passes skip reading it back. Only instances still listed are kept.
  std::set<std::string> announced_;
  // What a pass reads of each instance ("ns/name"), as last seen by the subscription: a change
  // of anything else (status) does not start a pass.
  struct WatchedInstance {
    std::optional<TimePoint> expiresAt;
    bool deleting = false;
    bool operator==(const WatchedInstance&) const = default;
  };
  std::map<std::string, WatchedInstance> watched_;  // under mu_
  std::unique_ptr<store::Subscription> sub_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool dirty_ = false;
  std::thread thread_;
};

}  // namespace minimcp::reconciler
