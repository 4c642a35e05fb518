#include "reconciler/notifier.h"

#include <openssl/crypto.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <set>

#include "api/model/apikey.h"
#include "api/model/json_fields.h"
#include "api/model/kinds.h"
#include "api/model/object_meta.h"
#include "api/model/strategy.h"
#include "api/registry/guaranteed_update.h"

namespace minimcp::reconciler {

using nlohmann::json;
using std::chrono::milliseconds;
namespace type = model::notification;

namespace {

constexpr const char* kLockName = "minimcp-notifier";
// Where the notifier keeps how far it has read the events (cluster-scoped, never served).
constexpr const char* kState = "notifierstate";

// How the notifier writes API objects (a sink's status, a key's condition): as its own field
// manager.
registry::UpdateOptions notifierWrites(const Clock& clock) {
  registry::UpdateOptions options;
  options.fieldManager = "mcpd-notifier";
  options.clock = &clock;
  return options;
}
constexpr const char* kEventsCursor = "events";
constexpr const char* kEvents = "events";
constexpr const char* kInstances = "mcpinstances";

milliseconds until(TimePoint from, TimePoint to) {
  if (to <= from) return milliseconds(0);
  return std::chrono::ceil<milliseconds>(to - from);
}

bool isCode(const store::StoreError& e, store::StoreError::Code c) { return e.code() == c; }

}  // namespace

struct Notifier::Metrics {
  explicit Metrics(metrics::Registry& r)
      : deliveries(prometheus::BuildCounter()
                       .Name("minimcp_notification_deliveries_total")
                       .Help("Attempts to deliver an event to a NotificationSink, by result: "
                             "success (2xx), failure (retried), expired (given up at the "
                             "deadline), dropped (the sink is gone)")
                       .Register(r.families())),
        pending(prometheus::BuildGauge()
                    .Name("minimcp_notification_pending")
                    .Help("Events in the outbox waiting for delivery")
                    .Register(r.families())
                    .Add({})) {
    for (const char* result : {"success", "failure", "expired", "dropped"}) {
      byResult[result] = &deliveries.Add({{"result", result}});
    }
  }
  void count(const std::string& result) { byResult.at(result)->Increment(); }

  prometheus::Family<prometheus::Counter>& deliveries;
  prometheus::Gauge& pending;
  std::map<std::string, prometheus::Counter*> byResult;
};

struct Notifier::Pass {
  TimePoint now;
  milliseconds next;
  std::vector<notify::SinkView> sinks;      // not being deleted
  std::map<std::string, json> sinkObjects;  // "ns/name" → the sink as listed
  std::mt19937 jitter{std::random_device{}()};
};

Notifier::Notifier(store::Store& store, const Clock& clock, const secrets::KeyResolver& keys,
                   WebhookTransport& transport, NotifierOptions options)
    : store_(store),
      clock_(clock),
      keys_(keys),
      transport_(transport),
      options_(std::move(options)),
      events_(store, clock, options_.node) {
  if (options_.metrics) metrics_ = std::make_unique<Metrics>(*options_.metrics);
}

Notifier::~Notifier() {
  stop();
  for (auto& [name, key] : signingKeys_) OPENSSL_cleanse(key.value.data(), key.value.size());
}

void Notifier::start() {
  sub_ = store_.subscribe([this](const store::WatchEvent& ev) {
    if (ev.resource == kInstances) {
      // Running instances write their status all the time (probes, usage samples); a pass
      // reads only whether an instance exists, its expiry and whether it is being deleted.
      const model::ObjectMeta meta(ev.object);
      const std::string key = meta.ns() + "/" + meta.name();
      std::lock_guard lock(mu_);
      if (ev.type == store::EventType::Deleted) {
        watched_.erase(key);
      } else {
        const WatchedInstance now{model::instanceExpiry(ev.object), meta.deleting()};
        auto [it, added] = watched_.try_emplace(key, now);
        if (!added && it->second == now) return;
        it->second = now;
      }
      dirty_ = true;
      cv_.notify_all();
    } else if (ev.resource == kEvents || ev.resource == model::kApiKeyPlural ||
               ev.resource == model::kNotificationSinkPlural) {
      std::lock_guard lock(mu_);
      dirty_ = true;
      cv_.notify_all();
    }
  });
  std::lock_guard lock(mu_);
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void Notifier::stop() {
  sub_.reset();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  lock_.reset();
}

void Notifier::loop() {
  while (true) {
    const milliseconds wait = runOnce();
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [this] { return stopping_ || dirty_; });
    if (stopping_) return;
    if (dirty_) {
      // Changes come in bursts (a reconcile writes status and events): one pass for a burst.
      cv_.wait_for(lock, options_.minPassInterval, [this] { return stopping_; });
      if (stopping_) return;
      dirty_ = false;
    }
  }
}

milliseconds Notifier::runOnce() {
  try {
    if (lock_ && !lock_->held()) {
      spdlog::warn("notifier: lost the notifier lock on node {}", options_.node);
      lock_.reset();
    }
    if (!lock_) {
      lock_ = store_.tryLock(kLockName);
      if (!lock_) return std::min(options_.resync, milliseconds(2000));
      spdlog::info("notifier: node {} delivers notifications", options_.node);
    }
    return pass();
  } catch (const std::exception& e) {
    spdlog::warn("notifier: {}", e.what());
    return milliseconds(1000);
  }
}

milliseconds Notifier::pass() {
  Pass p;
  p.now = clock_.now();
  p.next = options_.resync;
  for (const json& s : store_.list(model::kNotificationSinkPlural, {}).items) {
    notify::SinkView v = notify::SinkView::fromJson(s);
    p.sinkObjects[v.ns + "/" + v.name] = s;
    if (!v.deleting) p.sinks.push_back(std::move(v));
  }
  fanOutEvents(p);
  timedOccurrences(p);

  std::map<std::string, int64_t> pending;  // by "ns/name" of the sink
  int64_t total = 0;
  for (const json& entry : store_.list(notify::kOutbox, {}).items) {
    const auto at = model::timeField(entry, "nextAttemptAt");
    if (!at || *at <= p.now) {
      deliver(entry, p);
    } else {
      p.next = std::min(p.next, until(p.now, *at));
    }
  }
  // What is left after this pass's deliveries.
  for (const json& entry : store_.list(notify::kOutbox, {}).items) {
    ++pending[model::ObjectMeta(entry).ns() + "/" +
              model::stringField(model::objectField(entry, "sink"), "name")];
    ++total;
  }
  if (metrics_) metrics_->pending.Set(static_cast<double>(total));
  for (const notify::SinkView& sink : p.sinks) {
    const int64_t n = pending[sink.ns + "/" + sink.name];
    const json& listed = p.sinkObjects[sink.ns + "/" + sink.name];
    if (model::intField(model::objectField(listed, "status"), "pending", 0) == n &&
        model::member(model::objectField(listed, "status"), "pending")) {
      continue;
    }
    try {
      registry::guaranteedUpdate(
          store_, model::kNotificationSinkPlural, sink.ns, sink.name,
          [&](const json* cur) {
            if (!cur || model::ObjectMeta(*cur).uid() != sink.uid) return registry::Change::keep();
            json obj = *cur;
            if (obj["status"].is_object() && obj["status"].value("pending", int64_t(-1)) == n) {
              return registry::Change::keep();
            }
            obj["status"]["pending"] = n;
            return registry::Change::write(std::move(obj));
          },
          notifierWrites(clock_));
    } catch (const std::exception& e) {
      spdlog::warn("notifier: status of sink {}/{}: {}", sink.ns, sink.name, e.what());
    }
  }
  return p.next;
}

void Notifier::fanOutEvents(Pass& p) {
  const std::optional<json> state = store_.get(kState, "", kEventsCursor);
  int64_t cursor = state ? model::intField(*state, "resourceVersion", 0) : 0;
  int64_t last = cursor;
  std::vector<json> changed;
  if (!state) {
    // The first notifier of this store starts from now: sinks hear of what happens next.
    last = store_.currentResourceVersion();
  } else {
    try {
      for (store::WatchEvent& ev : store_.changesSince(kEvents, "", cursor)) {
        last = std::max(last, ev.resourceVersion);
        if (ev.type != store::EventType::Deleted) changed.push_back(std::move(ev.object));
      }
    } catch (const store::StoreError& e) {
      if (!isCode(e, store::StoreError::Code::Gone)) throw;
      // Too far behind for the history: every event written since, from a list.
      store::ListResult all = store_.list(kEvents, {});
      for (json& ev : all.items) {
        if (store::parseResourceVersion(ev) > cursor) changed.push_back(std::move(ev));
      }
      last = std::max(last, all.resourceVersion);
    }
  }
  if (!p.sinks.empty()) {
    for (const json& ev : changed) {
      if (auto t = notify::notificationTypeOf(ev)) enqueue(notify::occurrenceOfEvent(ev, *t), p);
    }
  }
  if (state && last == cursor) return;
  registry::UpdateOptions opts;
  opts.ignoreNotFound = true;
  registry::guaranteedUpdate(
      store_, kState, "", kEventsCursor,
      [&](const json*) {
        return registry::Change::write(
            json{{"metadata", {{"name", kEventsCursor}}}, {"resourceVersion", last}});
      },
      opts);
}

void Notifier::enqueue(const notify::Occurrence& o, Pass& p) {
  for (const notify::SinkView& sink : p.sinks) {
    if (!notify::receives(sink, o)) continue;
    try {
      store_.create(notify::kOutbox, notify::outboxEntry(sink, o, p.now, options_.retry));
      spdlog::info("notifier: {} for {}/{} queued for sink {}", o.type, o.ns, o.name, sink.name);
    } catch (const store::StoreError& e) {
      // Enqueued before a crash and not delivered yet: the entry is already there.
      if (!isCode(e, store::StoreError::Code::AlreadyExists)) throw;
    }
  }
}

void Notifier::timedOccurrences(Pass& p) {
  // InstanceExpiring, for each lead some sink of the namespace asked for.
  std::map<std::string, std::set<milliseconds>> leads;
  for (const notify::SinkView& s : p.sinks) {
    if (s.spec.wants(type::kInstanceExpiring)) leads[s.ns].insert(s.spec.notifyBefore);
  }
  std::set<std::string> announced;  // of this pass: what is no longer listed is forgotten
  if (!leads.empty()) {
    for (const json& inst : store_.list(kInstances, {}).items) {
      const model::ObjectMeta meta(inst);
      auto nsLeads = leads.find(meta.ns());
      if (nsLeads == leads.end() || meta.deleting()) continue;
      const std::optional<TimePoint> expiresAt = model::instanceExpiry(inst);
      if (!expiresAt || p.now >= *expiresAt) continue;
      for (const milliseconds lead : nsLeads->second) {
        const TimePoint fireAt = *expiresAt - lead;
        if (p.now < fireAt) {
          p.next = std::min(p.next, until(p.now, fireAt));
          continue;
        }
        std::string key = "expiring/" + meta.uid() + "/" + formatRfc3339(*expiresAt) + "/" +
                          std::to_string(lead.count());
        // Announced already (its Event seen or written by this notifier): no store read.
        if (announced_.count(key)) {
          announced.insert(std::move(key));
          continue;
        }
        const std::string message = notify::expiringMessage(*expiresAt, lead);
        const auto done = store_.get(
            kEvents, meta.ns(),
            registry::EventRecorder::eventName(meta.name(), "InstanceExpiring", message));
        if (done && model::cellAt(*done, "involvedObject.uid") == meta.uid()) {
          announced.insert(std::move(key));
          continue;
        }
        notify::Occurrence o;
        o.type = type::kInstanceExpiring;
        o.key = key;
        o.ns = meta.ns();
        o.kind = "MCPInstance";
        o.plural = kInstances;
        o.name = meta.name();
        o.uid = meta.uid();
        o.time = p.now;
        o.reason = "InstanceExpiring";
        o.message = message;
        o.extra = {{"expiresAt", formatRfc3339(*expiresAt)}, {"notifyBefore", humanDuration(lead)}};
        o.notifyBefore = lead;
        enqueue(o, p);
        events_.record(inst, "Normal", "InstanceExpiring", message);
        announced.insert(std::move(key));
      }
    }
  }
  announced_ = std::move(announced);

  // KeyRotationDue: every APIKey past status.rotateBy, told once per rotateBy (a new value
  // moves it), whether or not a sink listens; the Event is the reminder too.
  for (const json& key : store_.list(model::kApiKeyPlural, {}).items) {
    const model::ObjectMeta meta(key);
    const std::optional<TimePoint> rotateBy =
        model::timeField(model::objectField(key, "status"), "rotateBy");
    if (!rotateBy || meta.deleting()) continue;
    if (p.now < *rotateBy) {
      p.next = std::min(p.next, until(p.now, *rotateBy));
      continue;
    }
    const std::string message = notify::rotationDueMessage(*rotateBy);
    const auto done =
        store_.get(kEvents, meta.ns(),
                   registry::EventRecorder::eventName(meta.name(), "KeyRotationDue", message));
    if (done && model::cellAt(*done, "involvedObject.uid") == meta.uid()) continue;
    notify::Occurrence o;
    o.type = type::kKeyRotationDue;
    o.key = "rotation/" + meta.uid() + "/" + formatRfc3339(*rotateBy);
    o.ns = meta.ns();
    o.kind = "APIKey";
    o.plural = model::kApiKeyPlural;
    o.name = meta.name();
    o.uid = meta.uid();
    o.time = p.now;
    o.reason = "KeyRotationDue";
    o.message = message;
    o.extra = {{"rotateBy", formatRfc3339(*rotateBy)}};
    enqueue(o, p);
    events_.record(key, "Warning", "KeyRotationDue", message);
    // The condition the strategy computes on writes, brought up to date without one.
    try {
      registry::guaranteedUpdate(
          store_, model::kApiKeyPlural, meta.ns(), meta.name(),
          [&](const json* cur) {
            if (!cur || model::ObjectMeta(*cur).uid() != meta.uid()) {
              return registry::Change::keep();
            }
            const json* was = model::findCondition(*cur, model::kConditionRotationDue);
            if (was && model::stringField(*was, "status") == "True") {
              return registry::Change::keep();
            }
            json obj = *cur;
            model::setCondition(obj, model::kConditionRotationDue, "True", "RotationPeriodElapsed",
                                "the value is older than spec.rotationPeriod; set a new value",
                                p.now);
            return registry::Change::write(std::move(obj));
          },
          notifierWrites(clock_));
    } catch (const std::exception& e) {
      spdlog::warn("notifier: RotationDue of {}/{}: {}", meta.ns(), meta.name(), e.what());
    }
  }
}

std::optional<std::string> Notifier::signingKey(const notify::SinkView& sink, std::string& why) {
  const std::string& keyName = sink.spec.signingKeyName;
  const std::optional<json> obj = store_.get(model::kApiKeyPlural, sink.ns, keyName);
  const json* key = obj ? &*obj : nullptr;
  const secrets::ResolvedKey state = keys_.check(key, sink.ns, keyName, "");
  if (!state.available()) {
    why = "signing key: " + state.message;
    return std::nullopt;
  }
  const std::string uid = model::ObjectMeta(*key).uid();
  CachedKey& cached = signingKeys_[sink.ns + "/" + keyName];
  if (cached.uid == uid && cached.version == state.version && !cached.value.empty()) {
    return cached.value;
  }
  secrets::ResolvedKey opened =
      keys_.resolveForSink(key, sink.ns, keyName, "mcpd/" + options_.node, sink.name);
  if (!opened.available()) {
    why = "signing key: " + opened.message;
    return std::nullopt;
  }
  OPENSSL_cleanse(cached.value.data(), cached.value.size());
  cached = CachedKey{uid, opened.version, opened.value};
  return cached.value;
}

void Notifier::deliver(const json& entry, Pass& p) {
  const model::ObjectMeta meta(entry);
  const json& sinkRef = model::objectField(entry, "sink");
  const std::string sinkName = model::stringField(sinkRef, "name");
  const int64_t rv = store::parseResourceVersion(entry);
  auto listed = p.sinkObjects.find(meta.ns() + "/" + sinkName);
  if (listed == p.sinkObjects.end() ||
      model::ObjectMeta(listed->second).uid() != model::stringField(sinkRef, "uid")) {
    try {
      store_.remove(notify::kOutbox, meta.ns(), meta.name(), rv);
    } catch (const store::StoreError&) {
    }
    if (metrics_) metrics_->count("dropped");
    return;
  }
  const notify::SinkView sink = notify::SinkView::fromJson(listed->second);
  const std::string body = model::objectField(entry, "event").dump();
  std::map<std::string, std::string> headers = {{"Content-Type", notify::kContentType}};
  std::string error;
  int status = 0;
  bool signable = true;
  if (!sink.spec.signingKeyName.empty()) {
    if (auto key = signingKey(sink, error)) {
      headers[notify::kSignatureHeader] = notify::signature(*key, body);
    } else {
      signable = false;
    }
  }
  if (signable) {
    WebhookTransport::Result r =
        transport_.post(sink.spec.url, headers, body, options_.attemptTimeout);
    status = r.status;
    if (status >= 200 && status < 300) {
      try {
        store_.remove(notify::kOutbox, meta.ns(), meta.name(), rv);
      } catch (const store::StoreError& e) {
        if (!isCode(e, store::StoreError::Code::NotFound)) throw;
      }
      if (metrics_) metrics_->count("success");
      recordOutcome(sink, entry, true, status, "");
      return;
    }
    error = r.error.empty() ? "the sink answered HTTP " + std::to_string(status) : r.error;
  }
  const int attempts = static_cast<int>(model::intField(entry, "attempts", 0)) + 1;
  const milliseconds delay = notify::retryDelay(
      attempts, options_.retry, std::uniform_real_distribution<double>(0, 1)(p.jitter));
  // The back-off counts from the failure, not from the start of the pass: an attempt that took
  // long (a slow sink, a loaded host) must not shorten the wait before the next one.
  const TimePoint failedAt = std::max(p.now, clock_.now());
  const auto deadline = model::timeField(entry, "deadline");
  json next = entry;
  next["attempts"] = attempts;
  if (!deadline || failedAt + delay > *deadline) {
    try {
      store_.remove(notify::kOutbox, meta.ns(), meta.name(), rv);
    } catch (const store::StoreError&) {
    }
    if (metrics_) metrics_->count("expired");
    recordOutcome(sink, next, false, status,
                  "gave up after " + std::to_string(attempts) + " attempts: " + error);
    return;
  }
  next["nextAttemptAt"] = formatRfc3339Millis(failedAt + delay);
  next["lastError"] = error;
  store_.update(notify::kOutbox, std::move(next), rv);
  if (metrics_) metrics_->count("failure");
  json failed = entry;
  failed["attempts"] = attempts;
  recordOutcome(sink, failed, false, status, error);
  p.next = std::min(p.next, until(p.now, failedAt + delay));
}

void Notifier::recordOutcome(const notify::SinkView& sink, const json& entry, bool delivered,
                             int status, const std::string& error) {
  const json& event = model::objectField(entry, "event");
  json outcome = {{"time", formatRfc3339(clock_.now())},
                  {"id", model::stringField(event, "id")},
                  {"type", model::stringField(event, "type")},
                  {"attempts", model::intField(entry, "attempts", 0) + (delivered ? 1 : 0)}};
  if (delivered) {
    outcome["statusCode"] = status;
  } else {
    outcome["message"] = error;
    spdlog::warn("notifier: event {} to sink {}/{}: {}", model::stringField(event, "id"), sink.ns,
                 sink.name, error);
  }
  registry::UpdateOptions opts = notifierWrites(clock_);
  opts.timeout = milliseconds(2000);
  try {
    registry::guaranteedUpdate(
        store_, model::kNotificationSinkPlural, sink.ns, sink.name,
        [&](const json* cur) {
          if (!cur || model::ObjectMeta(*cur).uid() != sink.uid) return registry::Change::keep();
          json obj = *cur;
          if (!obj["status"].is_object()) obj["status"] = json::object();
          obj["status"][delivered ? "lastDelivery" : "lastError"] = outcome;
          return registry::Change::write(std::move(obj));
        },
        opts);
  } catch (const std::exception& e) {
    spdlog::warn("notifier: status of sink {}/{}: {}", sink.ns, sink.name, e.what());
  }
}

}  // namespace minimcp::reconciler
