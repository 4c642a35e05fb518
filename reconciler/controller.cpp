#include "reconciler/controller.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <set>

#include "api/model/json_fields.h"
#include "api/model/object_meta.h"
#include "api/registry/guaranteed_update.h"
#include "reconciler/launch_env.h"
#include "reconciler/placement.h"
#include "reconciler/remove_tree.h"
#include "reconciler/stray_processes.h"

namespace minimcp::reconciler {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;

namespace {

bool isRace(const store::StoreError& e) {
  // Conflict: someone wrote first. NotFound: deleted meanwhile. Both: look again.
  return e.code() == store::StoreError::Code::Conflict ||
         e.code() == store::StoreError::Code::NotFound;
}

// Writes what this reconcile decided only onto the object it read: a newer spec (or anything
// else newer) makes the write fail with a race, and the reconcile looks again.
json writeIfUnchanged(store::Store& store, const Clock& clock, const json& read,
                      registry::Change change) {
  registry::UpdateOptions options;
  options.fieldManager = kControllerManager;
  options.clock = &clock;
  return registry::updateIfUnchanged(store, kInstances, read, std::move(change), options)
      .object.value_or(json());
}

using model::objectField;
using model::ObjectMeta;

// Whether two statuses are equal but for status.usage (compared in place: this runs on every
// status write).
bool onlyUsageDiffers(const json& a, const json& b) {
  if (!a.is_object() || !b.is_object()) return false;
  auto without = [](const json& status) { return status.size() - status.count("usage"); };
  if (without(a) != without(b)) return false;
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (it.key() == "usage") continue;
    auto other = b.find(it.key());
    if (other == b.end() || *other != it.value()) return false;
  }
  return true;
}

uint64_t parseStartTime(const std::string& s) {
  try {
    return s.empty() ? 0 : std::stoull(s);
  } catch (const std::exception&) {
    return 0;
  }
}

// How long a stray process gets between SIGTERM and SIGKILL when its type is unknown (the
// runtime's default stop grace period).
constexpr std::chrono::milliseconds kStrayGrace{10000};

// status.isolation.uid, when it names a uid (the "identity" of an instance process).
std::optional<uid_t> isolationUid(const json& object) {
  const json isolation = objectField(objectField(object, "status"), "isolation");
  auto it = isolation.find("uid");
  if (it == isolation.end() || !it->is_number_integer()) return std::nullopt;
  const int64_t uid = it->get<int64_t>();
  if (uid < 0 || uid > std::numeric_limits<uid_t>::max() - 1) return std::nullopt;
  return static_cast<uid_t>(uid);
}

// Uids that identify one instance each: recorded for instances with an identity of their own
// on this node (status.isolation.mode DynamicUser), never root or mcpd's own, and claimed by
// exactly one instance (a shared uid tells nothing about whose a process is).
std::map<uid_t, UidOwner> ownUids(const std::map<std::string, json>& instances,
                                  const std::string& node) {
  std::map<uid_t, UidOwner> owners;
  std::set<uid_t> claimedTwice;
  for (const auto& [key, object] : instances) {
    const json status = objectField(object, "status");
    if (status.value("node", "") != node) continue;  // uids are given out per node
    const json isolation = objectField(status, "isolation");
    if (isolation.value("mode", "") != "DynamicUser") continue;
    const std::optional<uid_t> uid = isolationUid(object);
    if (!uid || *uid == 0 || *uid == ::geteuid()) continue;
    if (!owners.emplace(*uid, UidOwner{key, ObjectMeta(object).uid()}).second) {
      claimedTwice.insert(*uid);
    }
  }
  for (uid_t uid : claimedTwice) owners.erase(uid);
  return owners;
}

}  // namespace

Controller::Controller(ControllerOptions options, store::Store& store,
                       runtime::ProcessRuntime& runtime, runtime::HealthProber& prober,
                       const crypto::InstanceTokens& tokens, const Clock& clock)
    : options_(std::move(options)),
      store_(store),
      runtime_(runtime),
      tokens_(tokens),
      clock_(clock),
      keys_(options_.keyResolver ? options_.keyResolver
                                 : std::make_shared<StoreKeyResolver>(store)),
      host_(options_.hostProcesses ? options_.hostProcesses
                                   : std::make_shared<runtime::ProcHostProcesses>()),
      queue_(SystemClock::instance(), std::chrono::milliseconds(5), std::chrono::seconds(1000),
             options_.metrics ? &options_.metrics->queue() : nullptr),
      queueWatch_(options_.metrics ? options_.metrics->watch(queue_) : nullptr),
      usageWatch_(options_.metrics ? options_.metrics->watchUsage([this](const std::string& key) {
        return runtime_.usage(key);
      })
                                   : nullptr),
      events_(store, clock, options_.node),
      executor_(runtime, prober, *host_, options_.portLo, options_.portHi, options_.portChecker,
                clock, [this](const std::string& key) { queue_.add(key); }),
      informer_(store, [this](const std::string& key) { queue_.add(key); }) {
  // As /proc/PID/cwd shows it (symlinks resolved), for comparing with processes' cwd.
  std::error_code ec;
  instancesRoot_ = fs::weakly_canonical(options_.dataDir / "instances", ec).string();
  if (ec || options_.dataDir.empty()) instancesRoot_.clear();
  if (options_.warmPools && options_.uids && options_.isolation.sandbox == "none" &&
      !options_.dataDir.empty()) {
    WarmPoolOptions popts;
    popts.dataDir = options_.dataDir;
    popts.mcpServersDir = options_.mcpServersDir;
    popts.uids = options_.uids;
    popts.metrics = options_.metricsRegistry;
    pool_ = std::make_unique<WarmPool>(std::move(popts), store_, runtime_, *host_);
    executor_.setClaimer(pool_.get());
  }
  executor_.onServing([this](const std::string& key) { finishWake(key, ""); });
}

Controller::~Controller() { stop(); }

void Controller::start() {
  if (started_) return;
  started_ = true;
  std::vector<std::string> others;
  std::set<std::string> known;
  for (const json& item : informer_.start()) {
    const std::string key = objectKey(item);
    known.insert(key);
    const json status = objectField(item, "status");
    // Restore first: this node's live processes are adopted before anything new starts.
    if (status.value("node", "") == options_.node) {
      queue_.add(key);
    } else {
      others.push_back(key);
    }
  }
  for (const auto& key : others) queue_.add(key);
  // Dirs of instances deleted while mcpd was down: their reconcile finds no object and removes
  // them, which frees their uids.
  std::error_code ec;
  for (const auto& ns : std::filesystem::directory_iterator(options_.dataDir / "instances", ec)) {
    std::error_code inner;
    for (const auto& dir : std::filesystem::directory_iterator(ns.path(), inner)) {
      const std::string key = ns.path().filename().string() + "/" + dir.path().filename().string();
      if (!known.count(key)) queue_.add(key);
    }
  }
  sweepStrays();
  if (pool_) pool_->start();
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { worker(); });
  }
  spdlog::info("reconciler: started on node {} with {} workers", options_.node, workers_.size());
}

void Controller::stop() {
  if (!started_) return;
  started_ = false;
  informer_.stop();
  queue_.shutdown();
  for (auto& t : workers_) t.join();
  workers_.clear();
  // Waiting processes read the end of their channel and exit: none was any instance's.
  if (pool_) pool_->stop();
  std::vector<std::string> waking;
  {
    std::lock_guard lock(wakeMu_);
    for (const auto& [key, wait] : wakes_) waking.push_back(key);
  }
  for (const auto& key : waking) finishWake(key, "mcpd is stopping");
  spdlog::info("reconciler: stopped; instance processes keep running");
}

void Controller::worker() {
  while (auto key = queue_.get()) {
    Result r;
    const auto started = std::chrono::steady_clock::now();
    try {
      r = reconcile(*key);
    } catch (const std::exception& e) {
      spdlog::error("reconciler: {}: {}", *key, e.what());
      r.retryWithBackoff = true;
    }
    if (options_.metrics) {
      const char* result = r.retryWithBackoff            ? "error"
                           : !r.requeueAfter             ? "success"
                           : r.requeueAfter->count() > 0 ? "requeue_after"
                                                         : "requeue";
      options_.metrics->reconciled(
          result,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    if (r.retryWithBackoff) {
      queue_.addRateLimited(*key);
    } else {
      queue_.forget(*key);
    }
    if (r.requeueAfter) queue_.addAfter(*key, *r.requeueAfter);
    queue_.done(*key);
  }
}

// --- wake on request -------------------------------------------------------------------------

void Controller::wake(const std::string& key, WakeDone done) {
  if (executor_.servingPort(key)) {
    done("");  // awake already (the status does not say so yet): no wake to count
    return;
  }
  {
    std::lock_guard lock(wakeMu_);
    auto [it, first] = wakes_.try_emplace(key);
    if (first) it->second.since = std::chrono::steady_clock::now();
    it->second.waiters.push_back(std::move(done));
  }
  executor_.requestWake(key, clock_.now());
  // Woken meanwhile (or never asleep): nothing to wait for. The serving hook may have fired
  // before this waiter was listed, so look after listing it.
  if (executor_.servingPort(key)) {
    finishWake(key, "");
    return;
  }
  queue_.add(key);
}

void Controller::wakeTimedOut(const std::string& key) {
  std::lock_guard lock(wakeMu_);
  auto it = wakes_.find(key);
  if (it == wakes_.end() || it->second.timedOut) return;
  it->second.timedOut = true;
  if (options_.metrics) options_.metrics->woke("timeout", std::nullopt);
}

void Controller::finishWake(const std::string& key, const std::string& error) {
  WakeWait wait;
  {
    std::lock_guard lock(wakeMu_);
    auto it = wakes_.find(key);
    if (it == wakes_.end()) return;
    wait = std::move(it->second);
    wakes_.erase(it);
  }
  if (options_.metrics && !wait.timedOut) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wait.since).count();
    options_.metrics->woke(error.empty() ? "ok" : "failed",
                           error.empty() ? std::optional<double>(seconds) : std::nullopt);
  }
  if (!error.empty()) spdlog::warn("reconciler: {}: wake failed: {}", key, error);
  for (auto& done : wait.waiters) done(error);
}

// --- reconcile = observe → decide → act → record ---------------------------------------------

Result Controller::reconcile(const std::string& key) {
  const auto slash = key.find('/');
  const std::string ns = key.substr(0, slash);
  const std::string name = slash == std::string::npos ? "" : key.substr(slash + 1);
  std::optional<json> object = store_.get(kInstances, ns, name);
  const bool bound = object && (!options_.leaseGeneration ||
                                boundTo(*object, options_.node, options_.leaseGeneration()));
  stopStrays(key, object ? &*object : nullptr, bound);
  if (!object) {
    if (options_.metrics) options_.metrics->instanceGone(key);
    executor_.forget(key);
    removeInstanceFiles(ns, name);
    finishWake(key, "the instance was deleted");
    return {};
  }
  if (!bound) {
    if (options_.metrics) options_.metrics->instanceGone(key);
    fence(key, *object);
    finishWake(key, "the instance is not bound to node " + options_.node);
    return {};
  }
  Snapshot s = observe(key, std::move(*object));
  Plan plan = decide(s.desired, s.observed, clock_.now(), clock_.steadyNow());
  Acted acted = act(s, plan);
  return record(s, plan, acted);
}

Controller::Snapshot Controller::observe(const std::string& key, json object) {
  Snapshot s;
  s.key = key;
  s.ns = ObjectMeta(object).ns();
  s.name = ObjectMeta(object).name();
  s.object = std::move(object);
  const json spec = objectField(s.object, "spec");
  s.spec = model::MCPInstanceSpec::fromJson(spec);
  s.desired = desiredFromInstance(s.object, s.spec);
  s.desired.expiredRetention = options_.expiredRetention;

  std::optional<json> type =
      s.spec.type.empty() ? std::nullopt : store_.get(kTypes, "", s.spec.type);
  if (type) {
    const json typeSpec = objectField(*type, "spec");
    s.type = model::MCPTypeSpec::fromJson(typeSpec);
    s.desired.type.found = true;
    s.desired.type.health = HealthSettings::fromJson(objectField(typeSpec, "healthCheck"));
    s.desired.type.stopGrace = std::chrono::seconds(s.type->stopGracePeriodSeconds);
    if (!s.spec.idleTimeout && s.type->idleTimeout) s.desired.idleTimeout = *s.type->idleTimeout;
    s.desired.specHash = launchHash(spec, typeSpec);
  } else {
    s.desired.type.message = "MCPType \"" + s.spec.type + "\" not found";
  }
  s.desired.key = resolveKey(s);

  json status = objectField(s.object, "status");
  if (auto pending = executor_.pendingStatus(key)) {
    // Ours, except expiresAt, which the API server moves when the ttl changes.
    if (status.contains("expiresAt")) {
      (*pending)["expiresAt"] = status["expiresAt"];
    } else {
      pending->erase("expiresAt");
    }
    status = std::move(*pending);
  }
  s.observed = executor_.observe(key, InstanceStatus::fromJson(status), marksOf(s.object));
  // A process the runtime already ran when this controller started: watch its health too.
  if (s.observed.process.state == ProcessState::Running && !executor_.probing(key)) {
    executor_.startProbing(key, s.observed.status.port, probeSettings(s));
  }
  return s;
}

KeyResolution Controller::resolveKey(const Snapshot& s) {
  if (s.spec.keyRefName.empty()) {
    KeyResolution r;
    if (s.type && s.type->auth.type != "none" && !s.type->auth.env.empty()) {
      r.state = KeyState::NotFound;
      r.message = "MCPType \"" + s.spec.type + "\" needs an API key (auth " + s.type->auth.type +
                  "): set spec.keyRef";
    }
    return r;
  }
  return keys_->resolve(s.ns, s.spec.keyRefName, s.spec.type);
}

Controller::Acted Controller::act(Snapshot& s, Plan& plan) {
  Acted acted;
  for (const Action& a : plan.actions) {
    try {
      actOne(s, plan, a, acted);
    } catch (const store::StoreError& e) {
      if (!isRace(e)) throw;
      acted.conflict = true;
    } catch (const std::exception& e) {
      acted.failedAction = std::string(toString(a.type));
      acted.error = e.what();
      spdlog::warn("reconciler: {}: {} failed: {}", s.key, acted.failedAction, acted.error);
    }
    if (acted.conflict || acted.removed || !acted.failedAction.empty()) break;
  }
  return acted;
}

void Controller::actOne(Snapshot& s, Plan& plan, const Action& a, Acted& acted) {
  switch (a.type) {
    case ActionType::EnsureFinalizer:
      updateFinalizers(s, true, acted);
      break;
    case ActionType::RemoveFinalizer:
      // Its process is stopped (Stop comes first): nothing writes into its dir any more.
      if (s.desired.deleting) removeInstanceFiles(s.ns, s.name);
      updateFinalizers(s, false, acted);
      break;
    case ActionType::AllocatePort:
      plan.status.port = executor_.allocatePort(s.key);
      acted.sideEffects = true;
      break;
    case ActionType::Spawn:
      spawn(s, plan);
      acted.sideEffects = true;
      break;
    case ActionType::Adopt: {
      const InstanceStatus& st = s.observed.status;
      runtime::LaunchSpec spec =
          baseLaunchSpec(s.type.value_or(model::MCPTypeSpec{}), s.ns, s.name, options_.dataDir);
      assignIdentity(s, spec);
      executor_.adopt(spec, {st.pid, parseStartTime(st.processStartTime)}, st.port,
                      probeSettings(s));
      acted.sideEffects = true;
      break;
    }
    case ActionType::Stop: {
      std::optional<milliseconds> grace;
      if (s.type) grace = std::chrono::seconds(s.type->stopGracePeriodSeconds);
      if (a.reason == "Idle") {
        // A request that arrived since observe() keeps it awake: look again.
        if (!executor_.stopIfIdle(s.key, s.desired.idleTimeout, grace)) {
          acted.conflict = true;
          break;
        }
        spdlog::info("reconciler: {}: stopped idle process", s.key);
        acted.sideEffects = true;
        break;
      }
      spdlog::info("reconciler: {}: stopping process ({})", s.key, a.reason);
      executor_.stop(s.key, grace);
      acted.sideEffects = true;
      break;
    }
    case ActionType::ReleasePort:
      executor_.releasePort(s.key);
      acted.sideEffects = true;
      break;
    case ActionType::Supersede:
      spdlog::info("reconciler: {}: replacing pid {} ({}); it serves until the new one is ready",
                   s.key, s.observed.status.pid, a.reason);
      executor_.supersede(s.key);
      acted.sideEffects = true;
      break;
    case ActionType::AdoptPrevious: {
      const PreviousProcess& prev = *s.observed.status.previous;
      runtime::LaunchSpec spec =
          baseLaunchSpec(s.type.value_or(model::MCPTypeSpec{}), s.ns, s.name, options_.dataDir);
      assignIdentity(s, spec);
      executor_.adoptPrevious(spec, {prev.pid, parseStartTime(prev.processStartTime)}, prev.port,
                              !prev.drainUntil);
      acted.sideEffects = true;
      break;
    }
    case ActionType::StopPrevious: {
      std::optional<milliseconds> grace;
      if (s.type) grace = std::chrono::seconds(s.type->stopGracePeriodSeconds);
      spdlog::info("reconciler: {}: stopping its old process ({})", s.key, a.reason);
      executor_.stopPrevious(s.key, grace);
      acted.sideEffects = true;
      break;
    }
    case ActionType::Collect:
      spdlog::info("reconciler: {}: expired at {}, removing it and its events", s.key,
                   objectField(s.object, "status").value("expiresAt", "?"));
      writeIfUnchanged(store_, clock_, s.object, registry::Change::remove());
      acted.removed = true;
      removeEvents(s);
      removeInstanceFiles(s.ns, s.name);
      break;
  }
}

Result Controller::record(Snapshot& s, Plan& plan, const Acted& acted) {
  if (acted.removed) {
    if (options_.metrics) options_.metrics->instanceGone(s.key);
    executor_.forget(s.key);
    emit(s, plan.events);
    return {};
  }
  // Lost a race: look again at once. What already happened is kept for that next look.
  auto lostRace = [&] {
    if (acted.sideEffects) {
      executor_.setPendingStatus(s.key, decorateStatus(s, plan.status));
      executor_.setRestartNotBefore(s.key, plan.restartNotBefore);
      emit(s, plan.events);
    }
    Result r;
    r.requeueAfter = milliseconds::zero();
    return r;
  };
  if (acted.conflict) return lostRace();
  if (!acted.failedAction.empty()) markFailed(s, plan, acted);

  json status = decorateStatus(s, plan.status);
  const json old = objectField(s.object, "status");
  bool usageSampled = false;
  std::optional<runtime::Usage> usage;
  if (plan.status.pid && (status != old || executor_.usageDue(s.key, options_.usagePeriod))) {
    usage = addUsage(s, status);
    usageSampled = true;
  }
  if (status != old) {
    json updated = s.object;
    updated["status"] = status;
    // A usage refresh changes nothing a reconcile looks at: its echo from the store is not
    // worth one (with many running instances these refreshes are most of the writes at rest).
    std::shared_ptr<void> quiet;
    if (onlyUsageDiffers(status, old)) quiet = informer_.expectOwnWrite(updated);
    try {
      s.object =
          writeIfUnchanged(store_, clock_, s.object, registry::Change::write(std::move(updated)));
    } catch (const store::StoreError& e) {
      if (!isRace(e)) throw;
      return lostRace();
    }
  }
  countInstance(s, old, plan);
  executor_.clearPendingStatus(s.key);
  executor_.clearWake(s.key, s.observed.wakeRequested);
  const std::string& ph = plan.status.phase;
  if (ph != phase::kIdle && ph != phase::kStarting && ph != phase::kRunning) {
    // A wake under way that this instance will not finish (its start failed, it was suspended).
    const Condition* ready = plan.status.condition(cond::kReady);
    finishWake(s.key, "the instance is " + ph +
                          (ready && !ready->message.empty() ? ": " + ready->message : ""));
  }
  executor_.setRestartNotBefore(s.key, plan.restartNotBefore);
  if (usageSampled) executor_.usageWritten(s.key, usage);
  emit(s, plan.events);

  Result r = plan.result;
  // A running process is revisited when its usage is due: counted from the last usage write,
  // not from this reconcile, or every reconcile in between would put the refresh off.
  if (plan.status.pid) {
    const milliseconds recheck = executor_.usageRecheckAfter(s.key, options_.usagePeriod);
    if (!r.requeueAfter || *r.requeueAfter > recheck) r.requeueAfter = recheck;
  }
  return r;
}

namespace {

// When the object's spec was last written: the newest managedFields entry of its main resource
// (an apply, an update), else its creation.
TimePoint appliedAt(const json& object) {
  const json meta = objectField(object, "metadata");
  std::optional<TimePoint> at = parseRfc3339(model::stringField(meta, "creationTimestamp"));
  if (auto mf = meta.find("managedFields"); mf != meta.end() && mf->is_array()) {
    for (const auto& e : *mf) {
      if (!e.is_object() || !model::stringField(e, "subresource").empty()) continue;
      auto t = parseRfc3339(model::stringField(e, "time"));
      if (t && (!at || *t > *at)) at = t;
    }
  }
  return at.value_or(TimePoint{});
}

}  // namespace

void Controller::countInstance(const Snapshot& s, const json& oldStatus, const Plan& plan) {
  if (!options_.metrics) return;
  options_.metrics->instance(s.key, plan.status.phase, s.spec.type);
  const Condition* ready = plan.status.condition(cond::kReady);
  options_.metrics->readiness(
      s.key, s.spec.type, s.desired.generation,
      ready && ready->status == "True" && plan.status.observedGeneration == s.desired.generation,
      appliedAt(s.object), clock_.now());
  if (plan.status.phase == phase::kIdle &&
      (!oldStatus.is_object() || oldStatus.value("phase", "") != phase::kIdle)) {
    options_.metrics->wentIdle();
  }
  const int before = oldStatus.is_object() ? oldStatus.value("restartCount", 0) : 0;
  if (plan.status.restartCount > before) {
    options_.metrics->restarted(plan.status.lastTermination ? plan.status.lastTermination->reason
                                                            : "Unknown");
  }
}

void Controller::resync() {
  sweepStrays();
  try {
    for (const json& item : store_.list(kInstances, {}).items) queue_.add(objectKey(item));
  } catch (const std::exception& e) {
    spdlog::warn("reconciler: resync: {}", e.what());
  }
}

void Controller::removeEvents(const Snapshot& s) {
  const std::string uid = s.desired.uid;
  if (uid.empty()) return;
  try {
    const store::ListResult events =
        store_.list("events", {.ns = s.ns, .fieldSelector = "involvedObject.uid=" + uid});
    for (const json& e : events.items) {
      try {
        store_.remove("events", s.ns, ObjectMeta(e).name(), 0);
      } catch (const store::StoreError& err) {
        if (err.code() != store::StoreError::Code::NotFound) throw;
      }
    }
  } catch (const std::exception& e) {
    spdlog::warn("reconciler: {}: cannot remove its events: {}", s.key, e.what());
  }
}

InstanceMarks Controller::marksOf(const json& object) const {
  InstanceMarks m;
  const std::string ns = ObjectMeta(object).ns();
  const std::string name = ObjectMeta(object).name();
  if (!instancesRoot_.empty() && !ns.empty() && !name.empty()) {
    m.dir = instancesRoot_ + "/" + ns + "/" + name;
  }
  m.mcpId = ObjectMeta(object).uid();
  m.uid = isolationUid(object);
  return m;
}

std::vector<pid_t> Controller::keepersOf(const std::string& key, const json* object) const {
  std::vector<pid_t> keepers;
  // The current process, and the one a replacement supersedes (status.previousProcess).
  const std::pair<std::string, const char*> slots[] = {{key, ""},
                                                       {previousKey(key), "previousProcess"}};
  for (const auto& [runtimeKey, field] : slots) {
    if (auto h = runtime_.handle(runtimeKey)) {
      keepers.push_back(h->pid);
      continue;
    }
    if (!object) continue;
    const json status = objectField(*object, "status");
    const json recordedIn = *field ? objectField(status, field) : status;
    const runtime::ProcessHandle recorded{recordedIn.value("pid", 0),
                                          parseStartTime(recordedIn.value("processStartTime", ""))};
    if (recorded.pid <= 0) continue;
    if (checkRecordedProcess(host_->inspect(recorded.pid), recorded, marksOf(*object)) ==
        ProcessCheck::Ours) {
      keepers.push_back(recorded.pid);
    }
  }
  return keepers;
}

void Controller::sweepStrays() {
  // Processes first, instances second: every instance a process was found for is in the list
  // unless it was deleted meanwhile.
  const std::vector<runtime::ProcessInfo> all = host_->list();
  std::map<std::string, json> instances;
  try {
    for (json& item : store_.list(kInstances, {}).items) {
      instances.emplace(objectKey(item), std::move(item));
    }
  } catch (const std::exception& e) {
    spdlog::warn("reconciler: cannot look for stray processes: {}", e.what());
    return;
  }
  std::map<pid_t, runtime::ProcessInfo> byPid;
  for (const auto& p : all) byPid.emplace(p.pid, p);
  const ProcessLookup lookup = [&byPid](pid_t pid) -> std::optional<runtime::ProcessInfo> {
    auto it = byPid.find(pid);
    return it == byPid.end() ? std::nullopt : std::optional(it->second);
  };
  if (instancesRoot_.empty()) return;
  const auto grouped =
      processesByInstance(all, instancesRoot_, ownUids(instances, options_.node), ::getpid(),
                          [this](pid_t pid) { return host_->inspect(pid); });

  std::vector<runtime::ProcessInfo> notOurs;  // of instances gone or bound elsewhere
  for (const auto& [key, found] : grouped) {
    auto it = instances.find(key);
    const json* object = it == instances.end() ? nullptr : &it->second;
    const bool bound = object && (!options_.leaseGeneration ||
                                  boundTo(*object, options_.node, options_.leaseGeneration()));
    std::vector<runtime::ProcessInfo> strays =
        strayProcesses(found, keepersOf(key, bound ? object : nullptr), lookup);
    if (strays.empty()) continue;
    if (bound) {
      {
        std::lock_guard lock(straysMu_);
        strays_[key] = std::move(strays);
      }
      queue_.add(key);
      continue;
    }
    // The runtime's own process of an unbound instance is fenced by its reconcile.
    const std::string boundNode =
        object ? objectField(*object, "status").value("node", "") : std::string();
    const std::string why = !object             ? "the instance no longer exists"
                            : boundNode.empty() ? "the instance is not bound to a node"
                            : boundNode == options_.node
                                ? "it was bound to an earlier lease of this node"
                                : "the instance now belongs to node " + boundNode;
    for (const auto& p : strays) {
      const std::string message = "stopped pid " + std::to_string(p.pid) + " left on node " +
                                  options_.node + " by an earlier run of mcpd: " + why;
      spdlog::warn("reconciler: {}: {}", key, message);
      if (object) events_.record(*object, "Warning", "Fenced", message);
      notOurs.push_back(p);
    }
  }
  if (!notOurs.empty()) host_->stop(notOurs, kStrayGrace);
}

void Controller::stopStrays(const std::string& key, const json* object, bool bound) {
  std::vector<runtime::ProcessInfo> suspects;
  {
    std::lock_guard lock(straysMu_);
    auto it = strays_.find(key);
    if (it == strays_.end()) return;
    suspects = std::move(it->second);
    strays_.erase(it);
  }
  // Still the processes the sweep saw (same pid, same start time)?
  std::vector<runtime::ProcessInfo> current;
  for (const auto& p : suspects) {
    if (auto now = host_->inspect(p.pid); now && now->startTime == p.startTime) {
      current.push_back(*now);
    }
  }
  const ProcessLookup lookup = [this](pid_t pid) { return host_->inspect(pid); };
  const std::vector<pid_t> keepers = keepersOf(key, bound ? object : nullptr);
  // Said in each stray's event: the process of the instance it was found beside, if any.
  const std::string beside = keepers.empty()
                                 ? std::string(" while no process of the instance is recorded")
                                 : " beside its process pid " + std::to_string(keepers.front());
  const std::vector<runtime::ProcessInfo> strays = strayProcesses(current, keepers, lookup);
  if (strays.empty()) return;
  std::chrono::milliseconds grace = kStrayGrace;
  if (object) {
    const std::string typeName = objectField(*object, "spec").value("type", "");
    if (auto type = typeName.empty() ? std::nullopt : store_.get(kTypes, "", typeName)) {
      grace = std::chrono::seconds(
          model::MCPTypeSpec::fromJson(objectField(*type, "spec")).stopGracePeriodSeconds);
    }
  }
  const std::vector<pid_t> survivors = host_->stop(strays, grace);
  const std::string dir = object ? marksOf(*object).dir : std::string();
  for (const auto& p : strays) {
    const bool survived = std::find(survivors.begin(), survivors.end(), p.pid) != survivors.end();
    const bool inDir = !dir.empty() && p.cwd.rfind(dir, 0) == 0;
    const std::string message =
        std::string(survived ? "could not stop" : "stopped") + " stray process pid " +
        std::to_string(p.pid) + " found " +
        (inDir ? "in the instance's directory" : "running as the instance's uid") + beside +
        ": left by an earlier run of mcpd";
    spdlog::warn("reconciler: {}: {}", key, message);
    if (object) events_.record(*object, "Warning", "StrayProcess", message);
  }
}

void Controller::fence(const std::string& key, const json& object) {
  const std::optional<runtime::ProcessHandle> h = runtime_.handle(key);
  if (h) {
    const json status = objectField(object, "status");
    const std::string now = status.value("node", "");
    const std::string message = "stopped pid " + std::to_string(h->pid) + " on node " +
                                options_.node +
                                (now.empty() ? ": the instance is not bound to this node any more"
                                             : ": the instance now belongs to node " + now);
    spdlog::warn("reconciler: {}: {}", key, message);
    executor_.stop(key, std::nullopt);
    events_.record(object, "Warning", "Fenced", message);
  }
  if (runtime_.handle(previousKey(key))) executor_.stopPrevious(key, std::nullopt);
  executor_.forget(key);  // also frees its port
}

// --- helpers ---------------------------------------------------------------------------------

void Controller::updateFinalizers(Snapshot& s, bool add, Acted& acted) {
  json obj = s.object;
  json& meta = obj["metadata"];
  json finalizers = meta.contains("finalizers") && meta["finalizers"].is_array()
                        ? meta["finalizers"]
                        : json::array();
  json kept = json::array();
  for (const auto& f : finalizers) {
    if (!(f.is_string() && f.get<std::string>() == kFinalizer)) kept.push_back(f);
  }
  if (add) kept.push_back(kFinalizer);
  const bool deleting = meta.contains("deletionTimestamp") && !meta["deletionTimestamp"].is_null();
  if (kept.empty() && deleting) {
    // The last finalizer is gone: the delete completes.
    writeIfUnchanged(store_, clock_, s.object, registry::Change::remove());
    acted.removed = true;
    return;
  }
  if (kept.empty()) {
    meta.erase("finalizers");
  } else {
    meta["finalizers"] = std::move(kept);
  }
  s.object = writeIfUnchanged(store_, clock_, s.object, registry::Change::write(std::move(obj)));
}

void Controller::spawn(Snapshot& s, Plan& plan) {
  if (!s.type) throw std::runtime_error("MCPType \"" + s.spec.type + "\" not found");
  const int port = executor_.ensurePort(s.key, plan.status.port);
  plan.status.port = port;
  LaunchContext ctx;
  ctx.key = s.key;
  ctx.uid = s.desired.uid;
  ctx.port = port;
  ctx.accessToken = tokens_.issue(s.desired.uid, s.desired.tokenGeneration);
  ctx.apiUrl = options_.gatewayBase;
  ctx.apiCaPem = options_.apiCaPem;
  if (s.desired.key.state == KeyState::Available && !s.type->auth.env.empty()) {
    ctx.apiKey = keys_->reveal(s.ns, s.spec.keyRefName, s.desired.name);
  }
  ctx.dataDir = options_.dataDir;
  ctx.mcpServersDir = options_.mcpServersDir;
  std::vector<std::string> warnings;
  runtime::LaunchSpec spec = buildLaunchSpec(*s.type, s.spec, ctx, &warnings);
  assignIdentity(s, spec);
  spec.pool = s.spec.type;
  for (const auto& w : warnings) plan.events.push_back({"Warning", "EnvNotPassed", w});
  const runtime::ProcessHandle h = executor_.spawn(spec, port, probeSettings(s));
  plan.status.pid = h.pid;
  plan.status.processStartTime = std::to_string(h.startTime);
  if (executor_.claimedFromPool(s.key)) {
    // Said instead of "Starting", not beside it: one store write less before Ready.
    Event claimed{"Normal", "ClaimedFromPool",
                  "took over pid " + std::to_string(h.pid) + " from the warm pool of " +
                      s.spec.type + " (started before it was needed)"};
    auto starting = std::find_if(plan.events.begin(), plan.events.end(),
                                 [](const Event& e) { return e.reason == "Starting"; });
    if (starting != plan.events.end()) {
      *starting = std::move(claimed);
    } else {
      plan.events.push_back(std::move(claimed));
    }
  }
  spdlog::info("reconciler: {}: {} pid {} on port {}", s.key,
               executor_.claimedFromPool(s.key) ? "claimed" : "spawned", h.pid, port);
}

void Controller::assignIdentity(const Snapshot& s, runtime::LaunchSpec& spec) {
  if (!options_.uids) return;
  std::optional<uint32_t> recorded;
  const json iso = objectField(objectField(s.object, "status"), "isolation");
  if (auto it = iso.find("uid"); it != iso.end() && it->is_number_unsigned()) {
    recorded = it->get<uint32_t>();
  }
  const uint32_t id = options_.uids->reserve(s.key, recorded);
  spec.uid = static_cast<uid_t>(id);
  spec.gid = static_cast<gid_t>(id);
}

json Controller::isolationOf(const Snapshot& s) const {
  if (!options_.uids) return options_.isolation.toJson();
  if (auto id = options_.uids->idOf(s.key)) {
    return Isolation::dynamicUser(*id, options_.isolation.sandbox).toJson();
  }
  // Not started by this mcpd yet: the uid it had stays on record until it starts again.
  const json recorded = objectField(objectField(s.object, "status"), "isolation");
  if (recorded.contains("uid")) return recorded;
  Isolation pending;
  pending.mode = isolation::kDynamicUser;
  pending.sandbox = options_.isolation.sandbox;
  pending.message = "gets a uid and gid of its own when it starts";
  return pending.toJson();
}

void Controller::removeInstanceFiles(const std::string& ns, const std::string& name) {
  if (ns.empty() || name.empty()) return;
  std::string error;
  for (const auto& dir :
       {instanceDir(options_.dataDir, ns, name), instanceLogDir(options_.dataDir, ns, name)}) {
    if (!removeTree(dir, error)) {
      // Its uid stays held: a file of it remains.
      spdlog::warn("reconciler: {}/{}: cannot remove its files: {}", ns, name, error);
      return;
    }
  }
  if (options_.uids) options_.uids->release(ns + "/" + name);
}

ProbeSettings Controller::probeSettings(const Snapshot& s) const {
  ProbeSettings p;
  if (s.type) p.path = s.type->healthCheck.path;
  p.period = s.desired.type.health.period;
  p.timeout = s.desired.type.health.timeout;
  return p;
}

json Controller::decorateStatus(const Snapshot& s, const InstanceStatus& status) const {
  json st = status.toJson();
  st["node"] = options_.node;
  if (status.port) st["url"] = "http://127.0.0.1:" + std::to_string(status.port) + "/mcp";
  st["gatewayURL"] = options_.gatewayBase + "/mcp/" + s.ns + "/" + s.name;
  st["isolation"] = isolationOf(s);
  if (status.pid) {
    st["limitEnforcement"] = runtime_.enforcement();
  } else {
    st.erase("usage");
    st.erase("limitEnforcement");
  }
  return st;
}

std::optional<runtime::Usage> Controller::addUsage(const Snapshot& s, json& status) const {
  std::optional<runtime::Usage> u = runtime_.usage(s.key);
  if (u) {
    status["usage"] = {{"cpuPercent", u->cpuPercent},
                       {"memoryBytes", u->memoryBytes},
                       {"sampledAt", formatRfc3339(u->sampledAt)}};
  }
  return u;
}

void Controller::markFailed(const Snapshot& s, Plan& plan, const Acted& acted) const {
  const std::string reason = acted.failedAction + "Failed";
  InstanceStatus& st = plan.status;
  if (st.previous && !st.previous->drainUntil && acted.failedAction != "StopPrevious" &&
      acted.failedAction != "AdoptPrevious" && acted.failedAction != "Supersede") {
    // The old process still serves: the replacement failed, not the instance.
    st.previous->failure = reason + ": " + acted.error;
    setSummaryConditions(st, s.desired.generation, clock_.now());
    if (!acted.sideEffects) plan.events.clear();
    std::erase_if(plan.events, [](const Event& e) { return e.reason == "Starting"; });
    plan.events.push_back({"Warning", "ReplacementFailed",
                           "the new process failed (" + reason + ": " + acted.error +
                               "); still serving from the old process pid " +
                               std::to_string(st.previous->pid)});
    plan.result = {};
    plan.result.retryWithBackoff = true;
    return;
  }
  if (!st.pid && (st.phase == phase::kStarting || st.phase == phase::kRunning)) {
    st.phase = phase::kPending;
  }
  Condition ready{cond::kReady, "False", reason, acted.error, clock_.now(), s.desired.generation};
  auto it = std::find_if(st.conditions.begin(), st.conditions.end(),
                         [](const Condition& c) { return c.type == cond::kReady; });
  if (it == st.conditions.end()) {
    st.conditions.push_back(ready);
  } else {
    if (it->status == "False") ready.lastTransitionTime = it->lastTransitionTime;
    *it = ready;
  }
  setSummaryConditions(st, s.desired.generation, clock_.now());
  // What decide() announced did not happen (past a failed step); the failure did.
  if (!acted.sideEffects) plan.events.clear();
  std::erase_if(plan.events, [](const Event& e) { return e.reason == "Starting"; });
  plan.events.push_back({"Warning", reason, acted.error});
  plan.result = {};
  plan.result.retryWithBackoff = true;
}

void Controller::emit(const Snapshot& s, const std::vector<Event>& events) {
  for (const Event& e : events) {
    spdlog::info("reconciler: {}: {} {}: {}", s.key, e.type, e.reason, e.message);
    events_.record(s.object, e.type, e.reason, e.message);
  }
}

}  // namespace minimcp::reconciler
