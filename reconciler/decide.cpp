#include "reconciler/decide.h"

#include <algorithm>
#include <csignal>
#include <cstring>

#include "api/model/json_fields.h"
#include "api/model/object_meta.h"
#include "api/util/random.h"
#include "reconciler/backoff.h"

namespace minimcp::reconciler {

using nlohmann::json;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// Desired helpers

RestartPolicy parseRestartPolicy(std::string_view s) {
  if (s == "OnFailure") return RestartPolicy::OnFailure;
  if (s == "Never") return RestartPolicy::Never;
  return RestartPolicy::Always;
}

HealthSettings HealthSettings::fromJson(const json& hc) {
  HealthSettings h;
  if (!hc.is_object()) return h;
  auto seconds = [&](const char* field, std::chrono::seconds& out) {
    if (auto it = hc.find(field); it != hc.end() && it->is_number() && it->get<double>() > 0) {
      out = std::chrono::seconds(it->get<int64_t>());
    }
  };
  seconds("periodSeconds", h.period);
  seconds("timeoutSeconds", h.timeout);
  seconds("startupTimeoutSeconds", h.startupTimeout);
  if (auto it = hc.find("failureThreshold");
      it != hc.end() && it->is_number_integer() && it->get<int>() > 0) {
    h.failureThreshold = it->get<int>();
  }
  return h;
}

namespace {

std::optional<TimePoint> timeField(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return parseRfc3339(it->get<std::string>());
}

template <typename T>
T valueOr(const json& obj, const char* field, T fallback) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return fallback;
  }
}

}  // namespace

Desired desiredFromInstance(const json& instance, const model::MCPInstanceSpec& spec) {
  Desired d;
  const model::ObjectMeta meta(instance);
  d.ns = meta.ns();
  d.name = meta.name();
  d.uid = meta.uid();
  d.generation = meta.generation();
  d.deleting = meta.deleting();
  d.hasFinalizer = meta.hasFinalizer(kFinalizer);
  d.suspend = spec.suspend;
  d.restartPolicy = parseRestartPolicy(spec.restartPolicy);
  d.tokenGeneration = spec.tokenGeneration;
  if (spec.idleTimeout) d.idleTimeout = *spec.idleTimeout;
  d.expiresAt = model::timeField(model::objectField(instance, "status"), "expiresAt");
  if (!d.expiresAt) d.expiresAt = spec.expiresAt;
  return d;
}

std::string launchHash(const json& instanceSpec, const json& typeSpec) {
  json inst = instanceSpec.is_object() ? instanceSpec : json::object();
  for (const char* f :
       {"suspend", "ttl", "expiresAt", "restartPolicy", "tokenGeneration", "idleTimeout"}) {
    inst.erase(f);
  }
  json type = typeSpec.is_object() ? typeSpec : json::object();
  for (const char* f : {"displayName", "description", "capabilities", "idleTimeout"}) {
    type.erase(f);
  }
  // nlohmann::json orders object keys, so dump() is canonical.
  return sha256Hex(json{{"instance", inst}, {"type", type}}.dump());
}

// ---------------------------------------------------------------------------------------------
// Status <-> JSON

namespace {

json timeJson(const std::optional<TimePoint>& t) {
  return t ? json(formatRfc3339(*t)) : json(nullptr);
}

json optIntJson(const std::optional<int>& v) { return v ? json(*v) : json(nullptr); }

std::optional<int> optInt(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int>();
}

// Writes `value` or removes the field when it is null, so absent stays absent.
void put(json& obj, const char* field, json value) {
  if (value.is_null()) {
    obj.erase(field);
  } else {
    obj[field] = std::move(value);
  }
}

}  // namespace

InstanceStatus InstanceStatus::fromJson(const json& in) {
  InstanceStatus s;
  if (!in.is_object()) return s;
  s.passthrough = in;
  s.phase = valueOr<std::string>(in, "phase", "");
  s.observedGeneration = valueOr<int64_t>(in, "observedGeneration", 0);
  if (auto it = in.find("conditions"); it != in.end() && it->is_array()) {
    for (const auto& c : *it) {
      if (!c.is_object()) continue;
      Condition cond;
      cond.type = valueOr<std::string>(c, "type", "");
      cond.status = valueOr<std::string>(c, "status", "Unknown");
      cond.reason = valueOr<std::string>(c, "reason", "");
      cond.message = valueOr<std::string>(c, "message", "");
      cond.lastTransitionTime = timeField(c, "lastTransitionTime").value_or(TimePoint{});
      cond.observedGeneration = valueOr<int64_t>(c, "observedGeneration", 0);
      s.conditions.push_back(std::move(cond));
    }
  }
  s.pid = valueOr<int>(in, "pid", 0);
  s.processStartTime = valueOr<std::string>(in, "processStartTime", "");
  s.port = valueOr<int>(in, "port", 0);
  s.startedAt = timeField(in, "startedAt");
  s.restartCount = valueOr<int>(in, "restartCount", 0);
  if (auto it = in.find("lastTermination"); it != in.end() && it->is_object()) {
    Termination t;
    t.exitCode = optInt(*it, "exitCode");
    t.signal = optInt(*it, "signal");
    t.reason = valueOr<std::string>(*it, "reason", "");
    t.finishedAt = timeField(*it, "finishedAt").value_or(TimePoint{});
    s.lastTermination = t;
  }
  if (auto it = in.find("launchedWith"); it != in.end() && it->is_object()) {
    LaunchRecord l;
    l.generation = valueOr<int64_t>(*it, "generation", 0);
    l.specHash = valueOr<std::string>(*it, "specHash", "");
    l.keyVersion = valueOr<int64_t>(*it, "keyVersion", 0);
    l.tokenGeneration = valueOr<int64_t>(*it, "tokenGeneration", 0);
    s.launchedWith = l;
  }
  s.healthySince = timeField(in, "healthySince");
  if (auto it = in.find("previousProcess"); it != in.end() && it->is_object()) {
    PreviousProcess p;
    p.pid = valueOr<int>(*it, "pid", 0);
    p.processStartTime = valueOr<std::string>(*it, "processStartTime", "");
    p.port = valueOr<int>(*it, "port", 0);
    p.reason = valueOr<std::string>(*it, "reason", "");
    p.failure = valueOr<std::string>(*it, "failure", "");
    p.drainUntil = timeField(*it, "drainUntil");
    if (p.pid > 0) s.previous = p;
  }
  s.idleSince = timeField(in, "idleSince");
  if (auto it = in.find("lastWake"); it != in.end() && it->is_object()) {
    if (auto t = timeField(*it, "time"))
      s.lastWake = WakeRecord{*t, valueOr<std::string>(*it, "reason", "")};
  }
  if (auto it = in.find("crashLoop"); it != in.end() && it->is_object()) {
    s.crashLoop.crashes = valueOr<int>(*it, "crashes", 0);
    s.crashLoop.nextRestartAt = timeField(*it, "nextRestartAt");
  }
  return s;
}

json InstanceStatus::toJson() const {
  json out = passthrough.is_object() ? passthrough : json::object();
  put(out, "phase", phase.empty() ? json(nullptr) : json(phase));
  out["observedGeneration"] = observedGeneration;
  json conds = json::array();
  for (const auto& c : conditions) {
    conds.push_back({{"type", c.type},
                     {"status", c.status},
                     {"reason", c.reason},
                     {"message", c.message},
                     {"lastTransitionTime", formatRfc3339(c.lastTransitionTime)},
                     {"observedGeneration", c.observedGeneration}});
  }
  out["conditions"] = std::move(conds);
  put(out, "pid", pid ? json(pid) : json(nullptr));
  put(out, "processStartTime", processStartTime.empty() ? json(nullptr) : json(processStartTime));
  put(out, "port", port ? json(port) : json(nullptr));
  if (!port) out.erase("url");  // the loopback URL names the port: gone with it
  put(out, "startedAt", timeJson(startedAt));
  out["restartCount"] = restartCount;
  if (lastTermination) {
    out["lastTermination"] = {{"exitCode", optIntJson(lastTermination->exitCode)},
                              {"signal", optIntJson(lastTermination->signal)},
                              {"reason", lastTermination->reason},
                              {"finishedAt", formatRfc3339(lastTermination->finishedAt)}};
  } else {
    out.erase("lastTermination");
  }
  if (launchedWith) {
    out["launchedWith"] = {{"generation", launchedWith->generation},
                           {"specHash", launchedWith->specHash},
                           {"keyVersion", launchedWith->keyVersion},
                           {"tokenGeneration", launchedWith->tokenGeneration}};
  } else {
    out.erase("launchedWith");
  }
  put(out, "healthySince", timeJson(healthySince));
  if (previous) {
    json p = {{"pid", previous->pid},
              {"processStartTime", previous->processStartTime},
              {"port", previous->port},
              {"reason", previous->reason}};
    if (!previous->failure.empty()) p["failure"] = previous->failure;
    put(p, "drainUntil", timeJson(previous->drainUntil));
    out["previousProcess"] = std::move(p);
  } else {
    out.erase("previousProcess");
  }
  put(out, "idleSince", timeJson(idleSince));
  if (lastWake) {
    out["lastWake"] = {{"time", formatRfc3339(lastWake->time)}, {"reason", lastWake->reason}};
  } else {
    out.erase("lastWake");
  }
  if (crashLoop.crashes || crashLoop.nextRestartAt) {
    json cl = {{"crashes", crashLoop.crashes}};
    put(cl, "nextRestartAt", timeJson(crashLoop.nextRestartAt));
    out["crashLoop"] = std::move(cl);
  } else {
    out.erase("crashLoop");
  }
  return out;
}

const Condition* InstanceStatus::condition(std::string_view type) const {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

std::string_view toString(ActionType t) {
  switch (t) {
    case ActionType::EnsureFinalizer:
      return "EnsureFinalizer";
    case ActionType::Adopt:
      return "Adopt";
    case ActionType::Stop:
      return "Stop";
    case ActionType::ReleasePort:
      return "ReleasePort";
    case ActionType::AllocatePort:
      return "AllocatePort";
    case ActionType::Spawn:
      return "Spawn";
    case ActionType::RemoveFinalizer:
      return "RemoveFinalizer";
    case ActionType::Collect:
      return "Collect";
    case ActionType::Supersede:
      return "Supersede";
    case ActionType::AdoptPrevious:
      return "AdoptPrevious";
    case ActionType::StopPrevious:
      return "StopPrevious";
  }
  return "?";
}

bool Plan::has(ActionType t) const {
  return std::any_of(actions.begin(), actions.end(), [t](const Action& a) { return a.type == t; });
}

// ---------------------------------------------------------------------------------------------
// decide()

namespace {

// Sets a condition; lastTransitionTime moves only when its status flips.
void putCondition(InstanceStatus& st, const char* type, bool status, std::string reason,
                  std::string message, int64_t generation, TimePoint now) {
  const std::string s = status ? "True" : "False";
  for (auto& c : st.conditions) {
    if (c.type != type) continue;
    if (c.status != s) c.lastTransitionTime = now;
    c.status = s;
    c.reason = std::move(reason);
    c.message = std::move(message);
    c.observedGeneration = generation;
    return;
  }
  st.conditions.push_back({type, s, std::move(reason), std::move(message), now, generation});
}

// Durations round up: waking a millisecond early would only reconcile to "not yet" again.
template <typename D>
milliseconds ceilMs(D d) {
  auto ms = std::chrono::ceil<milliseconds>(d);
  return ms < milliseconds::zero() ? milliseconds::zero() : ms;
}

std::string fmtDuration(milliseconds d) {
  if (d < std::chrono::seconds(1)) return std::to_string(d.count()) + "ms";
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 120) return std::to_string(s) + "s";
  return std::to_string(s / 60) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
}

std::string signalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

class Decider {
 public:
  Decider(const Desired& d, const Observed& o, TimePoint now, SteadyTimePoint steadyNow)
      : d_(d), o_(o), now_(now), steadyNow_(steadyNow) {
    plan_.status = o.status;
    launched_ = o.status.launchedWith;
    // The key's version holds the refresh token this instance's process reported (its provider
    // rotated it) from the version it runs with: that process already holds it, so it is
    // current with this version, not replaced for it.
    const KeyResolution& k = d.key;
    if (launched_ && k.state == KeyState::Available && !k.reportedByUid.empty() &&
        k.reportedByUid == d.uid && launched_->keyVersion == k.reportedFromVersion &&
        k.version != launched_->keyVersion) {
      launched_->keyVersion = k.version;
      plan_.status.launchedWith = launched_;
    }
  }

  Plan run() {
    steps();
    servePrevious();
    if (st().phase != phase::kIdle) st().idleSince.reset();
    return std::move(plan_);
  }

 private:
  void steps();
  InstanceStatus& st() { return plan_.status; }

  void setCondition(const char* type, bool status, std::string reason, std::string message) {
    putCondition(st(), type, status, std::move(reason), std::move(message), d_.generation, now_);
  }
  std::string readyReason() const {
    const Condition* c = o_.status.condition(cond::kReady);
    return c ? c->reason : "";
  }
  void setPhase(const char* p) { st().phase = p; }
  bool phaseWas(const char* p) const { return o_.status.phase == p; }
  void event(const char* type, std::string reason, std::string message) {
    plan_.events.push_back({type, std::move(reason), std::move(message)});
  }
  void act(ActionType t, std::string reason = "", int port = 0) {
    plan_.actions.push_back({t, std::move(reason), port});
  }
  void requeueAfter(milliseconds d) {
    if (!plan_.result.requeueAfter || d < *plan_.result.requeueAfter) plan_.result.requeueAfter = d;
  }
  void requeueAtSteady(SteadyTimePoint t) { requeueAfter(ceilMs(t - steadyNow_)); }

  LaunchRecord currentLaunch() const {
    return {d_.generation, d_.specHash, d_.key.state == KeyState::Available ? d_.key.version : 0,
            d_.tokenGeneration};
  }
  // Why the running process no longer matches the spec ("" when it does).
  std::string replaceReason() const;

  // Forgets the process in status (it was stopped or is gone).
  void clearProcess() {
    st().pid = 0;
    st().processStartTime.clear();
    st().healthySince.reset();
  }
  void stopProcess(const std::string& reason) {
    if (running_) act(ActionType::Stop, reason);
    running_ = false;
    clearProcess();
  }
  void releasePort() {
    if (st().port) act(ActionType::ReleasePort, "", st().port);
    st().port = 0;
  }
  void resetCrashLoop() {
    st().crashLoop = {};
    plan_.restartNotBefore.reset();
  }

  void setKeyCondition();
  // The running process reports that its upstream refuses the key it was started with (only for
  // a key that decrypts: a missing one says more; a new version replaces the process anyway).
  bool keyRejected() const {
    const auto& l = launched_;
    return running_ && d_.key.state == KeyState::Available && !o_.keyRejected.empty() && l &&
           l->keyVersion == d_.key.version;
  }
  // Records a failure (termination already recorded) and schedules the restart. Returns false
  // when restartPolicy forbids one (phase Failed has been set).
  // `cause` is the Ready reason and event reason while restarting; `finalReason` replaces it
  // when restartPolicy says no.
  bool scheduleRestart(const std::string& cause, const std::string& finalReason,
                       const std::string& what, bool failure, TimePoint failedAt,
                       std::optional<SteadyTimePoint> failedSteady);
  void spawnOrWait();
  // Running and healthy: Idle once it had no gateway traffic for idleTimeout, else a look then.
  void idleOrWait();

  // status.previousProcess as the runtime sees it now (adopted after an mcpd restart, or gone).
  void observePrevious();
  void stopPrevious(const std::string& reason) {
    if (!st().previous) return;
    if (previousAlive_) act(ActionType::StopPrevious, reason);
    st().previous.reset();
    previousAlive_ = false;
  }
  // Make before break: the healthy current process becomes the previous one, which serves until
  // a new process started now passes its first probe.
  void supersede(const std::string& why);
  // While the previous process serves, the instance is Running and Ready whatever its
  // replacement does; once the replacement serves, the previous one drains and is stopped.
  void servePrevious();
  std::string previousPid() const { return "pid " + std::to_string(plan_.status.previous->pid); }

  const Desired& d_;
  const Observed& o_;
  // What the current process was launched with, as far as it matters now: status.launchedWith,
  // with keyVersion advanced past a refresh token the process itself reported.
  std::optional<LaunchRecord> launched_;
  TimePoint now_;
  SteadyTimePoint steadyNow_;
  Plan plan_;
  bool running_ = false;
  bool previousAlive_ = false;
  std::string failedNow_;  // a failure of the current process this plan records
  CrashLoopBackoff backoff_;
};

std::string Decider::replaceReason() const {
  if (!d_.type.found) return "";  // nothing to replace it with; keep what runs
  const auto& l = launched_;
  if (!l) return "";  // started before launch records existed: nothing to compare
  const LaunchRecord cur = currentLaunch();
  if (!d_.specHash.empty() ? l->specHash != cur.specHash : l->generation != cur.generation) {
    // The hash covers the type too: with the instance's generation unchanged, the type changed.
    if (l->generation == cur.generation) return "its MCPType's spec changed";
    return "spec changed (generation " + std::to_string(l->generation) + " → " +
           std::to_string(cur.generation) + ")";
  }
  // A key that cannot be read right now is no reason to stop a process that has one.
  if (d_.key.state == KeyState::Available && l->keyVersion != cur.keyVersion) {
    return "key changed (API key version " + std::to_string(l->keyVersion) + " → " +
           std::to_string(cur.keyVersion) + ")";
  }
  if (l->tokenGeneration != cur.tokenGeneration) return "access token changed";
  return "";
}

void Decider::setKeyCondition() {
  switch (d_.key.state) {
    case KeyState::NotRequired:
      setCondition(cond::kKeyAvailable, true, "NotRequired", "the instance uses no API key");
      break;
    case KeyState::Available:
      if (keyRejected()) {
        auto [reason, message] = keyRejectionCondition(o_.keyRejected);
        const Condition* was = o_.status.condition(cond::kKeyAvailable);
        if (!was || was->status != "False" || was->reason != reason) {
          event("Warning", reason, message);
        }
        setCondition(cond::kKeyAvailable, false, std::move(reason), std::move(message));
        break;
      }
      setCondition(cond::kKeyAvailable, true, "Decrypted",
                   "API key version " + std::to_string(d_.key.version) + " decrypted");
      break;
    case KeyState::NotFound:
      setCondition(cond::kKeyAvailable, false, "KeyNotFound", d_.key.message);
      break;
    case KeyState::DecryptFailed:
      setCondition(cond::kKeyAvailable, false, "DecryptFailed", d_.key.message);
      break;
    case KeyState::TypeMismatch:
      setCondition(cond::kKeyAvailable, false, "TypeMismatch", d_.key.message);
      break;
  }
}

bool Decider::scheduleRestart(const std::string& cause, const std::string& finalReason,
                              const std::string& what, bool failure, TimePoint failedAt,
                              std::optional<SteadyTimePoint> failedSteady) {
  failedNow_ = what;
  const bool restart = d_.restartPolicy == RestartPolicy::Always ||
                       (d_.restartPolicy == RestartPolicy::OnFailure && failure);
  if (!restart) {
    setPhase(phase::kFailed);
    setCondition(cond::kReady, false, finalReason, what);
    event(failure ? "Warning" : "Normal", finalReason,
          what + "; restartPolicy " +
              (d_.restartPolicy == RestartPolicy::Never ? "Never" : "OnFailure") +
              ": not restarting");
    releasePort();
    resetCrashLoop();
    return false;
  }
  milliseconds healthyFor{0};
  if (o_.status.healthySince && failedAt > *o_.status.healthySince) {
    healthyFor = ceilMs(failedAt - *o_.status.healthySince);
  }
  const int crashes = backoff_.nextCrashCount(o_.status.crashLoop.crashes, healthyFor);
  const milliseconds delay = backoff_.delayFor(crashes);
  st().crashLoop.crashes = crashes;
  st().crashLoop.nextRestartAt = failedAt + delay;
  plan_.restartNotBefore = failedSteady.value_or(steadyNow_) + delay;
  setPhase(phase::kDegraded);
  setCondition(cond::kReady, false, cause, what);
  const milliseconds wait = ceilMs(*plan_.restartNotBefore - steadyNow_);
  event("Warning", cause,
        what + (wait.count() ? "; back-off " + fmtDuration(wait) + " before restarting"
                             : "; restarting"));
  return true;
}

// No process runs: start one if nothing stands in the way.
void Decider::spawnOrWait() {
  const bool restartPending = st().crashLoop.nextRestartAt.has_value();
  if (restartPending) {
    SteadyTimePoint notBefore;
    if (plan_.restartNotBefore) {
      notBefore = *plan_.restartNotBefore;
    } else if (o_.restartNotBefore) {
      notBefore = *o_.restartNotBefore;
    } else {
      // mcpd restarted meanwhile: carry the recorded wall-clock schedule over, bounded so that a
      // clock jump cannot postpone the restart beyond the longest back-off.
      auto left = *st().crashLoop.nextRestartAt - now_;
      left = std::clamp<decltype(left)>(left, decltype(left)::zero(), backoff_.max());
      notBefore = steadyNow_ + std::chrono::duration_cast<SteadyTimePoint::duration>(left);
    }
    if (steadyNow_ < notBefore) {
      setPhase(phase::kDegraded);
      plan_.restartNotBefore = notBefore;
      requeueAtSteady(notBefore);
      return;
    }
  }
  if (!d_.type.found) {
    setPhase(phase::kPending);
    if (readyReason() != "TypeNotFound") event("Warning", "TypeNotFound", d_.type.message);
    setCondition(cond::kReady, false, "TypeNotFound", d_.type.message);
    plan_.result.retryWithBackoff = true;
    return;
  }
  if (d_.key.state != KeyState::NotRequired && d_.key.state != KeyState::Available) {
    const Condition* kc = st().condition(cond::kKeyAvailable);
    const std::string reason = kc ? kc->reason : "KeyNotFound";
    setPhase(phase::kPending);
    if (readyReason() != reason) event("Warning", reason, d_.key.message);
    setCondition(cond::kReady, false, reason, d_.key.message);
    plan_.result.retryWithBackoff = true;
    return;
  }
  if (!st().port) act(ActionType::AllocatePort);
  act(ActionType::Spawn);
  st().startedAt = now_;
  st().launchedWith = currentLaunch();
  st().healthySince.reset();
  plan_.restartNotBefore.reset();
  if (restartPending) {
    // A restart after a failure: Degraded until the new process proves healthy.
    st().crashLoop.nextRestartAt.reset();
    ++st().restartCount;
    setPhase(phase::kDegraded);
    event("Normal", "Starting",
          "restarting process (restart " + std::to_string(st().restartCount) + ")");
  } else {
    setPhase(phase::kStarting);
    setCondition(cond::kReady, false, "Starting", "process started, waiting for a healthy probe");
    event("Normal", "Starting",
          phaseWas(phase::kSuspended) ? "resuming: starting process"
          : phaseWas(phase::kIdle)    ? "waking: a request arrived; starting process"
                                      : "starting process");
  }
  requeueAfter(ceilMs(std::chrono::duration_cast<milliseconds>(d_.type.health.startupTimeout)));
}

void Decider::steps() {
  const ProcessFacts& p = o_.process;
  running_ = p.state == ProcessState::Running || p.state == ProcessState::Adoptable;

  // Deleted: stop, release, let go. Nothing else matters.
  if (d_.deleting) {
    if (!d_.hasFinalizer) return;
    if (p.state == ProcessState::Adoptable) act(ActionType::Adopt);  // to be able to stop it
    observePrevious();
    stopPrevious("Deleted");
    stopProcess("Deleted");
    releasePort();
    act(ActionType::RemoveFinalizer);
    if (!phaseWas(phase::kTerminating)) {
      event("Normal", "Terminating", "instance deleted: stopping process and releasing its port");
    }
    setPhase(phase::kTerminating);
    setCondition(cond::kReady, false, "Terminating", "instance is being deleted");
    st().observedGeneration = d_.generation;
    return;
  }
  // The finalizer must be stored before a process exists, or a delete could orphan it.
  if (!d_.hasFinalizer) {
    act(ActionType::EnsureFinalizer);
    plan_.result.requeueAfter = milliseconds::zero();
    return;
  }
  st().observedGeneration = d_.generation;
  observePrevious();

  // Restore after an mcpd restart.
  std::optional<SteadyTimePoint> since = p.since;
  if (p.state == ProcessState::Adoptable) {
    act(ActionType::Adopt);
    event("Normal", "Adopted",
          "adopted running process pid " + std::to_string(o_.status.pid) + " after mcpd restart");
    if (!since) since = steadyNow_;
  } else if (p.state == ProcessState::None && o_.status.pid && !p.foreign.empty()) {
    event("Warning", "ForeignProcess",
          "status names pid " + std::to_string(o_.status.pid) +
              ", which is not this instance's process (" + p.foreign +
              "): not adopting or signalling it; starting a new one");
    clearProcess();
  } else if (p.state == ProcessState::None && o_.status.pid) {
    // Gone while nobody watched: nothing says it failed, so no restartCount/back-off; start anew.
    event("Warning", "ProcessLost",
          "process pid " + std::to_string(o_.status.pid) +
              " is no longer running (not found after mcpd restart); starting a new one");
    clearProcess();
  }

  setKeyCondition();

  // Expiry: a timer, not polling.
  if (d_.expiresAt && now_ >= *d_.expiresAt) {
    stopPrevious("Expired");
    stopProcess("Expired");
    releasePort();
    resetCrashLoop();
    if (!phaseWas(phase::kExpired)) {
      event("Normal", "Expired", "instance expired at " + formatRfc3339(*d_.expiresAt));
    }
    setPhase(phase::kExpired);
    const std::string msg = "expired at " + formatRfc3339(*d_.expiresAt);
    setCondition(cond::kExpired, true, "Expired", msg);
    // Beyond the times the API holds: never collected.
    const auto collectAt =
        d_.expiredRetention ? addChecked(*d_.expiresAt, *d_.expiredRetention) : std::nullopt;
    if (collectAt) {
      if (now_ >= *collectAt && phaseWas(phase::kExpired) && !o_.status.pid) {
        act(ActionType::Collect, "Expired");
      } else {
        requeueAfter(std::max(ceilMs(*collectAt - now_), std::chrono::milliseconds(1)));
      }
    }
    return;
  }
  setCondition(cond::kExpired, false, "Active",
               d_.expiresAt ? "expires at " + formatRfc3339(*d_.expiresAt) : "no expiry");
  if (d_.expiresAt) requeueAfter(ceilMs(*d_.expiresAt - now_));

  if (d_.suspend) {
    stopPrevious("Suspended");
    stopProcess("Suspended");
    releasePort();
    resetCrashLoop();
    if (!phaseWas(phase::kSuspended)) event("Normal", "Suspended", "instance suspended");
    setPhase(phase::kSuspended);
    return;
  }

  // The process exited on its own and we have not recorded it yet.
  if (p.state == ProcessState::Exited && o_.status.pid) {
    Termination t;
    t.exitCode = p.signal ? std::nullopt : p.exitCode;
    t.signal = p.signal;
    t.finishedAt = p.finishedAt;
    std::string what;
    if (p.oomKilled) {
      t.reason = "OOMKilled";
      what = "process killed by the OOM killer";
    } else if (p.signal) {
      t.reason = "Signal";
      what = "process killed by " + signalName(*p.signal);
    } else if (!p.exitCode) {
      // An adopted process is not our child: its exit status went to its real parent. Not
      // knowing that it succeeded, count it as a failure (OnFailure restarts it).
      t.reason = "Unknown";
      what = "adopted process exited (exit status unknown)";
    } else {
      t.reason = *p.exitCode == 0 ? "Completed" : "Error";
      what = "process exited with code " + std::to_string(*p.exitCode);
    }
    st().lastTermination = t;
    const bool failure = t.reason != "Completed";
    clearProcess();
    running_ = false;
    if (!scheduleRestart("CrashLoopBackOff", failure ? "Error" : "Completed", what, failure,
                         p.finishedAt, p.finishedSteady)) {
      return;
    }
    spawnOrWait();
    return;
  }

  if (!running_ && phaseWas(phase::kIdle) && !o_.status.pid) {
    if (!o_.wakeRequested && d_.idleTimeout > milliseconds::zero()) {
      // Asleep until a request wakes it; a new key, spec or token is used then. (An
      // idleTimeout set to 0 meanwhile means never idle: it starts.)
      setPhase(phase::kIdle);
      return;
    }
    if (o_.wakeRequested) st().lastWake = WakeRecord{*o_.wakeRequested, "Request"};
    resetCrashLoop();
    spawnOrWait();
    return;
  }
  if (!running_) {
    const bool changed = !replaceReason().empty();
    // Failed stays Failed until the spec changes (a fix) — restartPolicy said so.
    if (phaseWas(phase::kFailed) && !changed) return;
    // A new spec, a resume or an extension deserves a prompt start, not the old back-off.
    if (changed || phaseWas(phase::kFailed) || phaseWas(phase::kSuspended) ||
        phaseWas(phase::kExpired)) {
      resetCrashLoop();
    }
    spawnOrWait();
    return;
  }

  // A process runs.
  if (std::string why = replaceReason(); !why.empty()) {
    if (st().healthySince || o_.health.last == Health::Healthy) {
      // It serves (the gateway sends requests to it from its first healthy answer on): keep it
      // serving until its replacement can.
      supersede(why);
      return;
    }
    // Not serving yet (a replacement that has not passed a probe among them): nothing to keep.
    stopProcess("Replaced");
    resetCrashLoop();
    event("Normal", "Replaced", why + ": replacing the process");
    spawnOrWait();
    return;
  }
  if (o_.limitExceeded) {
    stopProcess("ResourceLimitExceeded");
    st().lastTermination = Termination{std::nullopt, std::nullopt, "ResourceLimitExceeded", now_};
    if (scheduleRestart("ResourceLimitExceeded", "ResourceLimitExceeded",
                        "over its resource limit: " + o_.limitMessage, true, now_, std::nullopt)) {
      spawnOrWait();
    }
    return;
  }
  const HealthSettings& hs = d_.type.health;
  const HealthObservation& h = o_.health;
  // Until the first healthy probe only the startup timeout judges the process (as a Kubernetes
  // startup probe gates the liveness probe): a slow start is not a failure.
  if (st().healthySince && h.last == Health::Unhealthy &&
      h.consecutiveFailures >= hs.failureThreshold) {
    stopProcess("HealthCheckFailed");
    st().lastTermination = Termination{std::nullopt, std::nullopt, "HealthCheckFailed", now_};
    if (scheduleRestart("HealthCheckFailed", "HealthCheckFailed",
                        std::to_string(h.consecutiveFailures) +
                            " consecutive health checks failed: " + h.message,
                        true, now_, std::nullopt)) {
      spawnOrWait();
    }
    return;
  }
  if (h.last == Health::Healthy) {
    if (!st().healthySince) {
      st().healthySince = now_;
      event("Normal", "Healthy", "process passed its first health check");
    }
    if (keyRejected()) {
      // Alive but useless until the key changes (which replaces the process): no restart, which
      // would only ask the provider again with the same refused credentials.
      const Condition* kc = st().condition(cond::kKeyAvailable);
      setPhase(phase::kDegraded);
      setCondition(cond::kReady, false, kc->reason, kc->message);
      return;
    }
    setPhase(phase::kRunning);
    setCondition(cond::kReady, true, "Healthy", "process is healthy");
    idleOrWait();
    return;
  }
  if (st().healthySince) return;  // failures below the threshold: hold on
  // Not healthy yet: give it startupTimeoutSeconds.
  const SteadyTimePoint deadline = since.value_or(steadyNow_) + hs.startupTimeout;
  if (steadyNow_ >= deadline) {
    stopProcess("HealthCheckFailed");
    st().lastTermination = Termination{std::nullopt, std::nullopt, "HealthCheckFailed", now_};
    if (scheduleRestart("HealthCheckFailed", "HealthCheckFailed",
                        "not healthy within " + std::to_string(hs.startupTimeout.count()) +
                            "s of start" + (h.message.empty() ? "" : ": " + h.message),
                        true, now_, std::nullopt)) {
      spawnOrWait();
    }
    return;
  }
  if (st().phase != phase::kDegraded) {
    setPhase(phase::kStarting);
    if (!st().condition(cond::kReady)) {
      setCondition(cond::kReady, false, "Starting", "waiting for a healthy probe");
    }
  }
  requeueAtSteady(deadline);
  return;
}

void Decider::idleOrWait() {
  if (d_.idleTimeout <= milliseconds::zero() || st().previous) return;
  const TrafficFacts& t = o_.traffic;
  if (t.inflight > 0 || !t.lastActivity) {
    // Busy (an open stream counts): look again after a quiet period at the earliest.
    requeueAfter(d_.idleTimeout);
    return;
  }
  const SteadyTimePoint idleAt = *t.lastActivity + d_.idleTimeout;
  if (steadyNow_ < idleAt) {
    requeueAtSteady(idleAt);
    return;
  }
  stopProcess("Idle");
  releasePort();
  resetCrashLoop();
  setPhase(phase::kIdle);
  st().idleSince = now_;
  event("Normal", "Idle",
        "no gateway traffic for " + fmtDuration(d_.idleTimeout) +
            ": process stopped and port released; the next request wakes it");
}

void Decider::observePrevious() {
  if (!st().previous) return;
  const PreviousFacts& f = o_.previous;
  if (f.state == ProcessState::Running) {
    previousAlive_ = true;
    return;
  }
  if (f.state == ProcessState::Adoptable) {
    act(ActionType::AdoptPrevious);
    event("Normal", "Adopted", "adopted the old process " + previousPid() + " after mcpd restart");
    previousAlive_ = true;
    return;
  }
  if (!f.foreign.empty()) {
    event("Warning", "ForeignProcess",
          "status names the old process " + previousPid() +
              ", which is not this instance's process (" + f.foreign +
              "): not adopting or signalling it");
  } else {
    event("Normal", "OldProcessStopped", "old process " + previousPid() + " is gone");
  }
  const bool served = !st().previous->drainUntil;
  st().previous.reset();
  // Nothing serves until the new process passes a probe.
  if (served && !st().healthySince) {
    setCondition(cond::kReady, false, "Starting", "process started, waiting for a healthy probe");
  }
}

void Decider::supersede(const std::string& why) {
  // One previous process at a time: a replacement of a replacement that already serves.
  stopPrevious("Replaced");
  act(ActionType::Supersede, why);
  st().previous = PreviousProcess{st().pid, st().processStartTime, st().port, why, "", {}};
  previousAlive_ = true;
  event("Normal", "Replacing",
        "replacing: " + why + "; starting a new process, the old one (" + previousPid() +
            ") serves until it is ready");
  running_ = false;
  clearProcess();
  st().port = 0;  // the new process listens on a port of its own
  resetCrashLoop();
  spawnOrWait();
}

void Decider::servePrevious() {
  if (!st().previous || !previousAlive_) return;
  PreviousProcess& prev = *st().previous;
  if (st().healthySince || prev.drainUntil) {
    // The new process serves (the gateway switched at its first healthy probe): the old one
    // gets no new requests and is stopped once those it has are answered.
    if (!prev.drainUntil) {
      prev.drainUntil = addChecked(now_, d_.type.stopGrace).value_or(now_);
      event("Normal", "Switched",
            "switched to new process pid " + std::to_string(st().pid) + "; the old process " +
                previousPid() + " finishes its requests in flight (at most " +
                std::to_string(d_.type.stopGrace.count()) + "s)");
    }
    const int inflight = o_.previous.inflight;
    if (inflight == 0 || now_ >= *prev.drainUntil) {
      const std::string pid = previousPid();
      stopPrevious("Drained");
      event("Normal", "OldProcessStopped",
            "old process " + pid + " stopped" +
                (inflight ? " with " + std::to_string(inflight) +
                                " requests still in flight after its grace period"
                          : ": its requests in flight were answered"));
    } else {
      requeueAfter(std::max(ceilMs(*prev.drainUntil - now_), milliseconds(1)));
    }
    return;
  }
  // The old process serves; whatever its replacement does, the instance is Running and Ready.
  if (!failedNow_.empty()) {
    prev.failure = failedNow_;
    event("Warning", "ReplacementFailed",
          "the new process failed (" + failedNow_ + "); still serving from the old process " +
              previousPid());
  }
  setPhase(phase::kRunning);
  setCondition(cond::kReady, true, "Healthy",
               "the old process " + previousPid() + " serves while its replacement starts");
}

}  // namespace

std::pair<std::string, std::string> keyRejectionCondition(std::string_view reported) {
  static const std::pair<const char*, const char*> kKnown[] = {
      {"RefreshTokenRejected",
       "the token endpoint rejected the OAuth 2.0 refresh token (invalid_grant): it was revoked "
       "or expired; store a new one (mcpctl oauth2 login)"},
      {"ClientRejected",
       "the token endpoint rejected the OAuth 2.0 client credentials (invalid_client or "
       "unauthorized_client)"},
      {"ScopeRejected", "the token endpoint rejected the requested scopes (invalid_scope)"},
      {"TokenURLRefused",
       "the instance does not send the credentials to this token URL (https only; plain http to "
       "a loopback host only when the MCPType allows it)"},
      {"TokenURLAddressRefused",
       "the token URL's host resolves to an address of this host or its networks (loopback, "
       "private, link-local or another non-public address): the instance does not send the "
       "credentials there (unless the MCPType sets OAUTH2_ALLOW_HTTP_LOOPBACK=true)"},
      {"TokenRequestRejected", "the token endpoint refused to issue an access token"},
  };
  for (const auto& [reason, message] : kKnown) {
    if (reported == reason) return {reason, message};
  }
  return {"KeyRejected", "the instance reports that its upstream refuses the API key"};
}

Plan decide(const Desired& desired, const Observed& observed, TimePoint now,
            SteadyTimePoint steadyNow) {
  Plan plan = Decider(desired, observed, now, steadyNow).run();
  // Without our finalizer decide() has not taken the instance in hand (yet, or any more).
  if (desired.hasFinalizer) setSummaryConditions(plan.status, desired.generation, now);
  return plan;
}

void setSummaryConditions(InstanceStatus& st, int64_t generation, TimePoint now) {
  // Not serving, and meant not to: a Ready=False would read as InProgress forever.
  // Idle (asleep until a request wakes it) reads the same: an intended state, not a failure.
  const bool endedOnPurpose = st.phase == phase::kSuspended || st.phase == phase::kExpired ||
                              st.phase == phase::kIdle ||
                              (st.phase == phase::kFailed && st.lastTermination &&
                               st.lastTermination->reason == "Completed");
  if (endedOnPurpose) {
    std::erase_if(st.conditions, [](const Condition& c) { return c.type == cond::kReady; });
  }
  const Condition* ready = st.condition(cond::kReady);
  std::string readyReason = ready ? ready->reason : "";
  std::string readyMessage = ready ? ready->message : "";
  bool settled = endedOnPurpose || (ready && ready->status == "True");
  // Served by the process a replacement supersedes: the new spec is not live yet.
  if (settled && st.previous && !st.previous->drainUntil) {
    settled = false;
    readyReason = st.previous->failure.empty() ? "Replacing" : "ReplacementFailed";
    readyMessage = st.previous->failure.empty()
                       ? "replacing: " + st.previous->reason
                       : "the new process failed (" + st.previous->failure +
                             "); still serving from the old process pid " +
                             std::to_string(st.previous->pid);
  }
  const bool progressing =
      !settled && (!ready || readyReason == "Starting" || readyReason == "Terminating" ||
                   readyReason == "Rescheduled" || readyReason == "Replacing");
  const bool stalled = !settled && !progressing;
  const std::string phaseReason = st.phase.empty() ? phase::kPending : st.phase;
  const std::string inPhase = "the instance is " + phaseReason;
  if (progressing) {
    putCondition(st, cond::kReconciling, true, ready ? readyReason : phase::kPending,
                 ready ? readyMessage : "waiting for the controller", generation, now);
  } else {
    putCondition(st, cond::kReconciling, false, phaseReason, inPhase, generation, now);
  }
  if (stalled) {
    putCondition(st, cond::kStalled, true, readyReason, readyMessage, generation, now);
  } else {
    putCondition(st, cond::kStalled, false, phaseReason, inPhase, generation, now);
  }
}

}  // namespace minimcp::reconciler
