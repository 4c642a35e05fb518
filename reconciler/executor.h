// Executor: the reconciler's hands and short-term memory. It runs plan actions against the
// process runtime, the port allocator and the health probes, and remembers per instance what
// the store cannot know: exits and limit violations the runtime reported, probe results, when
// the current process was spawned or adopted (steady clock), the pending restart time. Runtime
// callbacks and probe results only update that memory and enqueue the key (no
// polling).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/util/clock.h"
#include "reconciler/decide.h"
#include "reconciler/port_allocator.h"
#include "reconciler/runtime/health_prober.h"
#include "reconciler/runtime/host_processes.h"
#include "reconciler/runtime/process_runtime.h"
#include "reconciler/stray_processes.h"

namespace minimcp::reconciler {

struct ProbeSettings {
  std::string path = "/health";
  std::chrono::milliseconds period{30000};
  std::chrono::milliseconds timeout{5000};
};

// Until the first healthy probe, probes run this often (at most `period`), so Running follows
// the server's first healthy answer within this much. A round sends no request while the port
// has no listening socket (ProbeScheduler untilListening: one sock_diag listing per round for
// all starting servers), so a short period stays cheap while a hundred servers start at once.
inline constexpr std::chrono::milliseconds kStartupProbePeriod{10};

// status.usage is rewritten only when it moved this much since the last write (or when that
// write is kUsageMaxAge old): every write is a store write with fsync and a watch event, and
// an idle server's numbers jitter.
inline constexpr double kUsageCpuPoints = 1.0;       // cpuPercent, absolute
inline constexpr double kUsageMemoryFraction = 0.1;  // of the memory last written
inline constexpr std::chrono::minutes kUsageMaxAge{10};
// A process the runtime has not sampled yet (it samples a new one within its first second) is
// looked at again after this, then after the time it has gone without a sample so far (at most
// the usage period): its usage follows its first sample, and a runtime that never samples it
// costs a reconcile per period.
inline constexpr std::chrono::seconds kUsageFirstLook{1};

// Where a start may come from besides a fresh launch: a warm pool's waiting process
// (warm_pool.h). Executor::spawn asks it first whenever the spec names a pool.
class ProcessClaimer {
 public:
  virtual ~ProcessClaimer() = default;
  // A waiting process made spec.key's and handed its identity, or nullopt (then the executor
  // launches `spec`, which the claimer may have changed: its uid/gid).
  virtual std::optional<runtime::ProcessHandle> claim(runtime::LaunchSpec& spec) = 0;
  // The runtime reports the exit of `key`: true when the key is one of the claimer's (then it is
  // no instance's, and nothing else hears of it).
  virtual bool onExit(const std::string& key, const runtime::ExitInfo& info) = 0;
};

// The runtime key under which a superseded process (status.previousProcess) of instance `key`
// runs while it serves or drains; '#' cannot occur in a namespace or name.
inline std::string previousKey(const std::string& key) { return key + "#previous"; }

// Where new gateway requests for an instance go, held for as long as one request is in flight
// (its streamed body included): a superseded process is stopped once nothing holds it.
struct ServingLease {
  uint16_t port = 0;
  std::shared_ptr<const void> hold;
};

class Executor {
 public:
  using Enqueue = std::function<void(const std::string& key)>;

  // Registers the runtime's onExit/onLimitExceeded callbacks (one Executor per runtime).
  // `host` tells whether a recorded process is the instance's before it is adopted.
  Executor(runtime::ProcessRuntime& runtime, runtime::HealthProber& prober,
           const runtime::HostProcesses& host, uint16_t portLo, uint16_t portHi,
           std::shared_ptr<PortChecker> portChecker, const Clock& clock, Enqueue enqueue);
  // Stops probing and detaches from the runtime's callbacks; processes keep running.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Set before the first spawn; must outlive the executor's runtime callbacks (the executor).
  void setClaimer(ProcessClaimer* claimer);
  // Told (on a prober thread, no lock held) when the current process of `key` passes its first
  // health probe: from then on acquire(key) finds it. Set before the first spawn.
  void onServing(std::function<void(const std::string& key)> fn);

  // --- observe
  // What decide() needs besides Desired. `status` is the stored status; where the executor
  // knows better (our live process has another pid, our port differs after a lost status
  // write) it is corrected first. A recorded process this mcpd does not run yet is Adoptable
  // only when it carries every mark of the instance (`marks`, checkRecordedProcess).
  Observed observe(const std::string& key, InstanceStatus status, const InstanceMarks& marks);
  bool probing(const std::string& key) const;
  // The port of the process this mcpd runs for `key` once that process has passed a health
  // probe (the gateway's upstream: never what a status says), else that of the process a
  // replacement superseded while it still serves; nullopt otherwise. Exactly one process gets
  // new requests: once the new one has passed a probe the old one never again does.
  std::optional<uint16_t> servingPort(const std::string& key) const;
  // The same, counted as one request in flight on that process until `hold` is released (its
  // start and end are the instance's traffic: Observed::traffic).
  std::optional<ServingLease> acquire(const std::string& key) const;
  // A request asks to wake `key` (Observed::wakeRequested from the next observe on) ...
  void requestWake(const std::string& key, TimePoint at);
  // ... until a reconcile that saw the ask `seen` recorded its plan (a newer ask stays).
  void clearWake(const std::string& key, std::optional<TimePoint> seen);
  // Whether this mcpd put (or is putting) the key's process to sleep (stopIfIdle) and has not
  // started another since: a request that finds no upstream then wakes it.
  bool sleeping(const std::string& key) const;

  // --- act (each throws on failure: runtime::LaunchError, PortsExhausted, std::runtime_error)
  int allocatePort(const std::string& key);
  // The port a spawn uses: `port` from status when this key holds it or it is free, else a new one.
  int ensurePort(const std::string& key, int port);
  // The one way an instance's process starts: a waiting process of spec.pool's warm pool when
  // one fits (claimedFromPool() then says so), else a fresh launch.
  runtime::ProcessHandle spawn(const runtime::LaunchSpec& spec, int port,
                               const ProbeSettings& probe);
  // Whether the key's current process came from a warm pool.
  bool claimedFromPool(const std::string& key) const;
  // Throws when the process is gone or not the one recorded.
  void adopt(const runtime::LaunchSpec& spec, const runtime::ProcessHandle& handle, int port,
             const ProbeSettings& probe);
  void stop(const std::string& key, std::optional<std::chrono::milliseconds> grace);
  // Stops the process of `key` because it had no traffic for `idleTimeout`, unless a request
  // came meanwhile: checked and, when idle, taken out of service (acquire finds nothing) in one
  // step, then stopped. Returns false (nothing done) when there was traffic.
  bool stopIfIdle(const std::string& key, std::chrono::milliseconds idleTimeout,
                  std::optional<std::chrono::milliseconds> grace);
  // The current process of `key` becomes its previous one (runtime key previousKey(key), its port
  // kept under that key): it serves until the next process spawned for `key` passes a probe.
  // Throws when the runtime runs nothing for `key`.
  void supersede(const std::string& key);
  // After an mcpd restart: takes over the recorded previous process (spec.key is the instance's
  // key). `serving`: it still gets requests until the current process passes a probe.
  void adoptPrevious(runtime::LaunchSpec spec, const runtime::ProcessHandle& handle, int port,
                     bool serving);
  void stopPrevious(const std::string& key, std::optional<std::chrono::milliseconds> grace);
  void releasePort(const std::string& key);
  void startProbing(const std::string& key, int port, const ProbeSettings& probe);

  // --- record
  void setRestartNotBefore(const std::string& key, std::optional<SteadyTimePoint> t);
  // The first sample of a process is written as soon as the runtime has one; after that, usage
  // is written at most every `period` (unless the status changes anyway), and then only when it
  // moved (kUsageCpuPoints, kUsageMemoryFraction) or is kUsageMaxAge old.
  bool usageDue(const std::string& key, std::chrono::milliseconds period) const;
  // When to look at the usage of a running process again: when the next write is due
  // (kUsageFirstLook and after while it has no sample).
  std::chrono::milliseconds usageRecheckAfter(const std::string& key,
                                              std::chrono::milliseconds period) const;
  // Records a status write with a running process and the usage it carried (none: the runtime
  // had no sample yet).
  void usageWritten(const std::string& key, std::optional<runtime::Usage> written);
  // A status whose write lost a race after actions already ran: the next reconcile starts from
  // it, so what those actions recorded (pid, restartCount, lastTermination) is not lost.
  void setPendingStatus(const std::string& key, nlohmann::json status);
  std::optional<nlohmann::json> pendingStatus(const std::string& key) const;
  void clearPendingStatus(const std::string& key);

  // The instance is gone from the store: stop probing, stop a stray process, free its port,
  // drop its memory.
  void forget(const std::string& key);

  PortAllocator& ports() { return ports_; }

 private:
  struct InFlight {
    std::atomic<int> requests{0};
    // Set once new requests go elsewhere: the last request to end enqueues the instance.
    std::atomic<bool> draining{false};
    // Steady clock (time_since_epoch) of the last request's start or end; 0: none yet.
    std::atomic<int64_t> lastActive{0};
  };
  struct Memory {
    std::optional<runtime::ExitInfo> exit;  // the last exit the runtime reported
    std::optional<SteadyTimePoint> exitSteady;
    std::optional<SteadyTimePoint> since;  // spawn/adopt of the current process
    // The process this mcpd launched or adopted for the key: the runtime reports its exit for
    // certain, even if it forgets the key a moment before the report arrives.
    pid_t ownPid = 0;
    HealthObservation health;
    bool everHealthy = false;  // the current process has passed a probe
    std::string keyRejected;   // what its last healthy answer said of its key (Observed)
    bool limitExceeded = false;
    std::string limitMessage;
    std::optional<SteadyTimePoint> restartNotBefore;
    std::optional<SteadyTimePoint> usageAt;
    std::optional<runtime::Usage> usageValue;  // what that write carried (none: no sample)
    std::optional<nlohmann::json> pendingStatus;
    uint64_t probeGeneration = 0;  // 0: not probing
    ProbeSettings probe;
    int probePort = 0;
    bool startupProbes = false;  // still probing every kStartupProbePeriod
    bool claimed = false;        // the current process came from a warm pool
    // Requests the gateway has in flight on this process.
    std::shared_ptr<InFlight> inflight = std::make_shared<InFlight>();
    bool servesAsPrevious = false;    // a superseded process not yet switched away from
    std::optional<TimePoint> wakeAt;  // a wake a request asked for, not yet seen by a reconcile
    bool sleeping = false;            // stopIfIdle took its process out of service
  };
  // Shared with the runtime callbacks so they become no-ops once the executor is gone.
  struct Sink {
    std::mutex mu;
    Executor* executor = nullptr;
  };
  // Whether `m` is a process new requests may go to (as the current one, or as the previous).
  static bool servesAsCurrent(const Memory& m);
  // Under mu_: when the current process last started or had traffic.
  std::optional<SteadyTimePoint> lastActivityLocked(const Memory& m) const;
  static bool servesPrevious(const Memory& m);
  // Under mu_: the process new requests for `key` go to, if any.
  const Memory* servingLocked(const std::string& key) const;

  void onExit(const std::string& key, const runtime::ExitInfo& info);
  void onLimit(const std::string& key, const std::string& what, const std::string& message);
  void onProbe(const std::string& key, uint64_t generation, const runtime::ProbeResult& r);
  // Fresh per-process memory before a spawn/adopt (exit, limit, health).
  void resetProcessMemory(const std::string& key);
  void stopProbing(const std::string& key);
  void scheduleProbes(const std::string& key, uint64_t generation, int port,
                      const ProbeSettings& probe, bool startup);

  runtime::ProcessRuntime& runtime_;
  const runtime::HostProcesses& host_;
  std::shared_ptr<PortChecker> portChecker_;
  PortAllocator ports_;
  const Clock& clock_;
  Enqueue enqueue_;
  std::shared_ptr<Sink> sink_;
  std::atomic<ProcessClaimer*> claimer_{nullptr};
  std::function<void(const std::string&)> onServing_;
  std::unique_ptr<runtime::ProbeScheduler> probes_;

  mutable std::mutex mu_;
  std::map<std::string, Memory> mem_;
  uint64_t nextProbeGeneration_ = 1;
};

}  // namespace minimcp::reconciler
