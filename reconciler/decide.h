// decide(): the pure heart of the MCPInstance reconciler. Given what the user wants
// (Desired) and what is true now (Observed), it returns a Plan: the actions to run, the new
// status, the events to emit and when to look again. No I/O, no clock reads: every transition is
// covered by table-driven unit tests with a fake clock.
//
// Status fields decide() reads and writes (JSON names under `status`):
//   phase                 Pending|Starting|Running|Degraded|Idle|Suspended|Expired|Failed|
//                         Terminating
//   observedGeneration    metadata.generation this status describes
//   conditions[]          Ready, KeyAvailable (False also while the running instance reports its
//                         upstream refuses the key: Degraded, Ready=False, no restart), Expired,
//                         and the summary pair Reconciling and
//                         Stalled (setSummaryConditions) (metav1.Condition shape, each with the
//                         observedGeneration it was computed for; lastTransitionTime changes only
//                         when `status` flips)
//   pid, processStartTime the process decide() believes is ours. decide() clears both when it
//                         stops a process or sees it gone; the EXECUTOR fills them after Spawn.
//                         processStartTime is opaque here (the runtime's /proc start time).
//   port                  decide() clears it with ReleasePort; the EXECUTOR fills it after
//                         AllocatePort (and `url`, which toJson() drops whenever port is 0).
//   startedAt             set by decide() on Spawn.
//   restartCount          +1 on every restart of a failed process (crash, failed health check,
//                         resource limit). Not on replace (spec/key/token change), resume, or when
//                         a process lost while mcpd was down is respawned (nothing was seen to
//                         fail).
//   lastTermination       {exitCode, signal, reason, finishedAt}: exitCode and signal are told
//                         apart (one of them is null). reason: Completed (exit 0), Error (exit≠0),
//                         Signal, OOMKilled, or HealthCheckFailed/ResourceLimitExceeded when we
//                         killed it (then exitCode and signal are null).
//   idleSince             when the instance went Idle: no gateway traffic for its idleTimeout,
//                         so its process was stopped and its port released (an intended state:
//                         no Ready condition, Reconciling and Stalled False with reason Idle).
//                         Absent in every other phase.
//   lastWake              {time, reason}: the last wake of an Idle instance (reason "Request":
//                         a request through the gateway asked for it).
// Bookkeeping fields (kept few):
//   launchedWith          {generation, specHash, keyVersion, tokenGeneration}: what the running
//                         process was started with; a difference means "replace". keyVersion
//                         advances without one to a version holding the refresh token the
//                         process itself reported (KeyResolution::reportedByUid).
//   healthySince          when the current process first passed a probe (absent: not yet). Drives
//                         Starting → Running and the 10-minute CrashLoopBackOff reset.
//   crashLoop             {crashes, nextRestartAt}: consecutive failures, and (while waiting to
//                         restart) the wall time of the next attempt, so a restart of mcpd keeps
//                         the schedule.
//   previousProcess       {pid, processStartTime, port, reason, failure, drainUntil}: the process a
//                         replacement (spec, key or token change of a healthy process) supersedes.
//                         It serves every request until the new one (pid/port above) passes its
//                         first probe; then, drainUntil set, it finishes the requests it has in
//                         flight (at most stopGracePeriodSeconds) and is stopped. `failure`: why
//                         the new one failed meanwhile (it is retried with the crash-loop back-off;
//                         the old one keeps serving). Recorded so that an mcpd restart in the
//                         middle stops it instead of leaking it.
// Fields decide() does not know (node, url, gatewayURL, expiresAt, usage, ...) survive
// fromJson()/toJson() unchanged.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/model/kinds.h"
#include "api/util/clock.h"

namespace minimcp::reconciler {

using SteadyTimePoint = std::chrono::steady_clock::time_point;

// Our finalizer: the object is not removed before its process is stopped and its port released.
inline constexpr const char* kFinalizer = "minimcp.io/process";

// Condition types and phases, spelled once.
namespace cond {
inline constexpr const char* kReady = "Ready";
inline constexpr const char* kKeyAvailable = "KeyAvailable";
inline constexpr const char* kExpired = "Expired";
inline constexpr const char* kReconciling = "Reconciling";
inline constexpr const char* kStalled = "Stalled";
}  // namespace cond
namespace phase = model::phase;

// ---------------------------------------------------------------------------------------------
// Desired

enum class RestartPolicy { Always, OnFailure, Never };
// "Always" | "OnFailure" | "Never"; anything else (including empty) is Always, the default.
RestartPolicy parseRestartPolicy(std::string_view s);

enum class KeyState { NotRequired, Available, NotFound, DecryptFailed, TypeMismatch };

struct KeyResolution {
  KeyState state = KeyState::NotRequired;
  int64_t version = 0;  // APIKey status.version when Available
  std::string message;  // why not available; never the key itself
  // This version holds a refresh token that the instance with uid `reportedByUid` reported (its
  // OAuth 2.0 provider rotated it) while running with version `reportedFromVersion`: a process of
  // that instance launched with that version is current with this one (launchedWith.keyVersion
  // advances; no replacement). Empty/0 for a value a user wrote.
  std::string reportedByUid = {};
  int64_t reportedFromVersion = 0;
};

struct HealthSettings {
  std::chrono::seconds period{30};
  std::chrono::seconds timeout{5};
  int failureThreshold = 3;
  std::chrono::seconds startupTimeout{30};
  // From an MCPType's spec.healthCheck; missing fields keep the defaults above.
  static HealthSettings fromJson(const nlohmann::json& healthCheck);
};

struct TypeResolution {
  bool found = false;
  std::string message;  // e.g. `MCPType "gmail" not found`
  HealthSettings health;
  // spec.stopGracePeriodSeconds: also how long a superseded process may finish its requests.
  std::chrono::seconds stopGrace{10};
};

struct Desired {
  std::string ns;
  std::string name;
  std::string uid;
  int64_t generation = 0;
  // launchHash() of what the process is built from; empty → compare `generation` instead.
  std::string specHash;
  bool deleting = false;      // metadata.deletionTimestamp set
  bool hasFinalizer = false;  // metadata.finalizers contains kFinalizer
  bool suspend = false;
  RestartPolicy restartPolicy = RestartPolicy::Always;
  std::optional<TimePoint> expiresAt;
  // How long an Expired instance stays visible before it is collected (like a Job's
  // ttlSecondsAfterFinished); nullopt = kept until deleted.
  std::optional<std::chrono::milliseconds> expiredRetention;
  int64_t tokenGeneration = 0;
  // spec.idleTimeout, else its MCPType's; 0: never idle.
  std::chrono::milliseconds idleTimeout{0};
  TypeResolution type;
  KeyResolution key;
};

// Fills the instance-only fields of Desired from an MCPInstance object and its spec, parsed once
// by the caller: metadata (namespace, name, uid, generation, deletionTimestamp, finalizers),
// spec.suspend, spec.restartPolicy, spec.tokenGeneration, spec.idleTimeout (the type's default is
// the caller's), and expiresAt from status.expiresAt
// (else spec.expiresAt). Type, key and specHash are the caller's (they need other objects).
Desired desiredFromInstance(const nlohmann::json& instance, const model::MCPInstanceSpec& spec);

// A digest of everything the process is launched from: the instance spec without the fields that
// must not restart it (suspend, ttl, expiresAt, restartPolicy, idleTimeout, tokenGeneration — the
// last has its own comparison; the type's idleTimeout neither) and the type's spec without its
// descriptive fields. Extending a TTL then does not restart the process; changing config, env,
// keyRef or the type's command does.
std::string launchHash(const nlohmann::json& instanceSpec, const nlohmann::json& typeSpec);

// ---------------------------------------------------------------------------------------------
// Status

struct Condition {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
  TimePoint lastTransitionTime{};
  int64_t observedGeneration = 0;
  bool operator==(const Condition&) const = default;
};

struct Termination {
  std::optional<int> exitCode;
  std::optional<int> signal;
  std::string reason;  // Completed | Error | Signal | OOMKilled | HealthCheckFailed | ...
  TimePoint finishedAt{};
  bool operator==(const Termination&) const = default;
};

struct LaunchRecord {
  int64_t generation = 0;
  std::string specHash;
  int64_t keyVersion = 0;
  int64_t tokenGeneration = 0;
  bool operator==(const LaunchRecord&) const = default;
};

struct CrashLoopRecord {
  int crashes = 0;                         // consecutive failures in the current series
  std::optional<TimePoint> nextRestartAt;  // set while a restart is pending
  bool operator==(const CrashLoopRecord&) const = default;
};

// The process a replacement supersedes (status.previousProcess).
struct PreviousProcess {
  int pid = 0;
  std::string processStartTime;
  int port = 0;
  std::string reason;                   // why it is replaced ("key changed (version 1 → 2)")
  std::string failure;                  // why its replacement failed last ("": it has not)
  std::optional<TimePoint> drainUntil;  // set at the switch: stopped by then at the latest
  bool operator==(const PreviousProcess&) const = default;
};

struct WakeRecord {
  TimePoint time{};
  std::string reason;  // "Request": a request through the gateway
  bool operator==(const WakeRecord&) const = default;
};

struct InstanceStatus {
  std::string phase;  // empty: never reconciled
  int64_t observedGeneration = 0;
  std::vector<Condition> conditions;
  int pid = 0;
  std::string processStartTime;
  int port = 0;
  std::optional<TimePoint> startedAt;
  int restartCount = 0;
  std::optional<Termination> lastTermination;
  std::optional<LaunchRecord> launchedWith;
  std::optional<TimePoint> healthySince;
  CrashLoopRecord crashLoop;
  std::optional<PreviousProcess> previous;
  std::optional<TimePoint> idleSince;
  std::optional<WakeRecord> lastWake;
  // The status object this was read from: fields decide() does not model pass through toJson().
  nlohmann::json passthrough = nlohmann::json::object();

  static InstanceStatus fromJson(const nlohmann::json& status);
  nlohmann::json toJson() const;
  const Condition* condition(std::string_view type) const;
  bool operator==(const InstanceStatus&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Observed

enum class ProcessState {
  None,       // the runtime has no process for this instance
  Running,    // the runtime owns a live process (pid and start time match status)
  Exited,     // the runtime saw it exit (facts below)
  Adoptable,  // mcpd restarted: no handle, and status.pid + processStartTime name a live process
              // with every mark of the instance (stray_processes.h checkRecordedProcess)
};

struct ProcessFacts {
  ProcessState state = ProcessState::None;
  // Running: when this mcpd spawned or adopted it (the startup timeout counts from here).
  std::optional<SteadyTimePoint> since;
  // Exited:
  std::optional<int> exitCode;  // normal exit
  std::optional<int> signal;    // killed by a signal
  bool oomKilled = false;       // the cgroup's OOM killer did it
  TimePoint finishedAt{};
  std::optional<SteadyTimePoint> finishedSteady;
  // None, yet status.pid names a live process that is not the instance's: why not (e.g. "its
  // working directory is not the instance directory"). It is neither adopted nor signalled.
  std::string foreign;
};

enum class Health { Unknown, Healthy, Unhealthy };

// What is known now of status.previousProcess: state None (gone), Running (the runtime watches
// it), Adoptable (mcpd restarted; it carries every mark of the instance); never Exited.
struct PreviousFacts {
  ProcessState state = ProcessState::None;
  int inflight = 0;     // gateway requests it is still answering
  std::string foreign;  // None, yet its pid is a live process that is not the instance's: why
};

// The gateway's traffic to the current process (requests and open streams in flight), which
// decides when an instance with an idleTimeout goes Idle.
struct TrafficFacts {
  int inflight = 0;
  // The later of the process's start (spawn/adopt by this mcpd) and the last request's start or
  // end; unset: unknown (nothing is idle then).
  std::optional<SteadyTimePoint> lastActivity;
};

// The prober's view of the current process (counters reset on each new process).
struct HealthObservation {
  Health last = Health::Unknown;
  int consecutiveFailures = 0;
  std::string message;  // of the last failure
};

// The KeyAvailable reason and message for a key rejection an instance reported: a known reason
// (RefreshTokenRejected, ClientRejected, ScopeRejected, TokenURLRefused, TokenURLAddressRefused,
// TokenRequestRejected) keeps its name, anything else becomes KeyRejected.
std::pair<std::string, std::string> keyRejectionCondition(std::string_view reported);

struct Observed {
  InstanceStatus status;
  ProcessFacts process;
  PreviousFacts previous;
  HealthObservation health;
  // The current process's last healthy answer said its upstream refuses its key for good
  // (/health {"key": {"available": false, "reason"}}, e.g. a revoked OAuth 2.0 refresh token):
  // that reason as the instance spelled it (bounded), "" when it did not. decide() keeps only
  // the reasons it knows (keyRejectionCondition) and writes its own message: status stays the
  // controller's words.
  std::string keyRejected;
  bool limitExceeded = false;
  std::string limitMessage;  // e.g. "memory 600Mi over limit 512Mi"
  // Plan::restartNotBefore of the previous reconcile, kept in memory by the executor: a pending
  // restart waits on the steady clock; after an mcpd restart status.crashLoop.nextRestartAt
  // (wall time) stands in.
  std::optional<SteadyTimePoint> restartNotBefore;
  TrafficFacts traffic;
  // A request through the gateway asked this node to wake the instance (wall time of the ask);
  // an Idle instance starts, any other ignores it.
  std::optional<TimePoint> wakeRequested;
};

// ---------------------------------------------------------------------------------------------
// Plan

enum class ActionType {
  EnsureFinalizer,  // add kFinalizer to metadata.finalizers (an update, not a status write)
  Adopt,            // take over status.pid (the runtime opens a pidfd, watches its exit)
  Stop,             // SIGTERM the group (reason Idle: only while still without traffic), wait
                    // stopGracePeriodSeconds, SIGKILL, reap
  ReleasePort,      // free `port`
  AllocatePort,     // reserve a port for the instance; the executor writes status.port/url
  Spawn,            // launch on status.port; the executor writes status.pid/processStartTime
  RemoveFinalizer,  // drop kFinalizer: the store then removes the object
  Collect,          // remove an instance expired for longer than its retention, and its events
  // Make before break: the current process becomes status.previousProcess (it keeps serving
  // until the new one passes a probe) and gives up the instance's key, port and probes.
  Supersede,
  AdoptPrevious,  // take over status.previousProcess after an mcpd restart
  StopPrevious,   // stop status.previousProcess (drained, or the instance goes) and free its port
};
std::string_view toString(ActionType t);

struct Action {
  ActionType type;
  std::string reason;  // Stop: Deleted|Expired|Suspended|Idle|Replaced|HealthCheckFailed|
                       //       ResourceLimitExceeded|Completed; StopPrevious: Drained|Deleted|
                       //       Expired|Suspended|Replaced
  int port = 0;        // ReleasePort
  bool operator==(const Action&) const = default;
};

struct Event {
  std::string type;  // Normal | Warning
  std::string reason;
  std::string message;
  bool operator==(const Event&) const = default;
};

struct Result {
  // Something is missing (type, key): executor calls queue.addRateLimited(key).
  bool retryWithBackoff = false;
  // A timer (expiry, backoff, startup deadline): executor calls queue.addAfter(key, d).
  // Both may be set; with neither the key is done (queue.forget).
  std::optional<std::chrono::milliseconds> requeueAfter;
  bool done() const { return !retryWithBackoff && !requeueAfter; }
};

struct Plan {
  std::vector<Action> actions;  // run in order; stop at the first failure and retry
  InstanceStatus status;        // write with the object's resourceVersion if it changed
  std::vector<Event> events;    // emit once the status write succeeded
  Result result;
  // Keep in memory and pass back as Observed::restartNotBefore.
  std::optional<SteadyTimePoint> restartNotBefore;

  bool has(ActionType t) const;
};

Plan decide(const Desired& desired, const Observed& observed, TimePoint now,
            SteadyTimePoint steadyNow);

// The summary conditions GitOps tools read (kstatus, which Flux and `kubectl wait`-style tools
// use: Reconciling=True → InProgress, Stalled=True → Failed, else Ready decides), derived from
// the phase and the Ready condition, so that every status reads as what it is:
//   Ready=True                                   Reconciling=False Stalled=False → Current
//   Ready=False Starting|Terminating|Rescheduled,
//     or no Ready yet                            Reconciling=True                → InProgress
//   Ready=False any other reason (a crash loop,
//     a failed health check, a missing type or
//     key, a failed spawn, restartPolicy gave up) Stalled=True                   → Failed
//   Suspended, Expired, or Failed with reason
//     Completed (ended on purpose)               Ready removed, both False       → Current
//   Idle (no traffic; the next request wakes it) Ready removed, both False       → Current
//   Ready=True served by the previous process
//     while its replacement starts               Reconciling=True Replacing      → InProgress
//     ... and the replacement failed             Stalled=True ReplacementFailed  → Failed
// (a Ready=False that stays would read as InProgress forever). decide() applies it to every plan
// once the instance carries our finalizer; whoever changes Ready after decide() (the controller
// when an action fails) applies it again.
void setSummaryConditions(InstanceStatus& status, int64_t generation, TimePoint now);

}  // namespace minimcp::reconciler
