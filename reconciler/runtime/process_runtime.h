// ProcessRuntime: the only way the reconciler starts, watches, measures and stops instance
// processes (Launch / Stop / Restore). The reconciler is tested against a fake of this
// interface; LocalProcessRuntime (local_process_runtime.h) is the real one.
//
// Threading: every method may be called from any thread. Callbacks (onExit, onLimitExceeded) run
// on the runtime's own thread, one at a time; they must be quick and must not call stop() (stop
// blocks; enqueue the key instead, which is what the reconciler does with every event anyway).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "api/util/clock.h"

namespace minimcp::runtime {

// Limits of one instance. Unset means unlimited. Enforcement depends on the host
// (ProcessRuntime::enforcement()): a cgroup enforces memory/cpu/pids in the kernel; otherwise
// memory and cpu are sampled and a violation is reported through onLimitExceeded.
struct ResourceLimits {
  std::optional<uint64_t> memoryBytes;   // RSS of the whole process group / cgroup
  std::optional<uint64_t> cpuMillis;     // 1000 = one full core ("500m" → 500)
  std::optional<uint64_t> maxOpenFiles;  // RLIMIT_NOFILE
  std::optional<uint64_t> maxProcesses;  // pids.max; RLIMIT_NPROC only when a uid is set
};

struct LaunchSpec {
  std::string key;      // "namespace/name": one live process per key
  std::string command;  // absolute, or looked up in the PATH of `env` (never mcpd's own PATH)
  std::vector<std::string> args;
  // The COMPLETE environment of the child, in order. The runtime adds nothing from mcpd's own
  // environment: the caller builds it from nothing (PATH, HOME, PORT, ...).
  std::vector<std::pair<std::string, std::string>> env;
  std::string workingDir;  // must exist
  // Directories the command reads its code from (the mcp-servers dir). A sandbox's private
  // mounts (its own /tmp) must not hide them, so it binds them back, read-only.
  std::vector<std::string> codeDirs;
  // stdout and stderr both go, interleaved, to logDir/output.log (created if missing), rotated
  // when it grows past maxLogBytes into output.log.1 .. output.log.<maxLogFiles>. Empty logDir:
  // output is discarded (/dev/null).
  std::string logDir;
  uint64_t maxLogBytes = 10 * 1024 * 1024;
  int maxLogFiles = 3;
  ResourceLimits limits;
  // Dropped to in the child (setgroups/setgid/setuid) when mcpd runs as root.
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::chrono::milliseconds stopGracePeriod{10000};
  // A socket the child gets as descriptor 3 (a warm-pool process's identity channel), its only
  // inherited descriptor besides 0-2. -1: none. The caller keeps (and closes) its own copy.
  int channelFd = -1;
  // The MCPType of the instance: a start may claim a waiting process of that type's warm pool
  // instead of launching one (Executor::spawn). Empty: never.
  std::string pool;
};

// Names one process across mcpd restarts: the pid alone can be reused by the kernel; the pid
// with its /proc start time cannot. Recorded in status.pid / status.processStartTime.
struct ProcessHandle {
  pid_t pid = 0;
  uint64_t startTime = 0;  // /proc/PID/stat field 22 (clock ticks after boot)
  bool operator==(const ProcessHandle&) const = default;
};

struct ExitInfo {
  pid_t pid = 0;
  std::optional<int> exitCode;  // set when the process called exit()
  std::optional<int> signal;    // set when a signal killed it (never both)
  bool coreDumped = false;
  TimePoint finishedAt{};
  // "Completed" (exit 0), "Error" (exit != 0), "Signaled" (killed by a signal nobody here
  // sent), "OOMKilled" (cgroup memory limit), "Stopped" (stop() was asked), "Unknown" (an
  // adopted process that is not our child: its exit status belongs to its real parent).
  std::string reason;
  bool stopRequested = false;  // stop() was called for it: the reconciler asked for this exit
};

struct Usage {
  double cpuPercent = 0;     // 100 = one core, over the last sampling period
  uint64_t memoryBytes = 0;  // RSS summed over the process group (or cgroup members)
  // CPU time (user + system) of the process group since the process started, reaped children
  // included: what a rate is taken of.
  double cpuSeconds = 0;
  TimePoint sampledAt{};
};

class LaunchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ProcessRuntime {
 public:
  using ExitCallback = std::function<void(const std::string& key, const ExitInfo& info)>;
  // `what` is "memory" or "cpu"; `message` is human readable ("RSS 312Mi over the limit 256Mi
  // on 3 consecutive samples"). Reported once per process; the reconciler stops and restarts
  // it with reason ResourceLimitExceeded.
  using LimitCallback = std::function<void(const std::string& key, const std::string& what,
                                           const std::string& message)>;

  virtual ~ProcessRuntime() = default;

  // Starts the process in its own session and process group, with spec.env as its whole
  // environment, cwd = spec.workingDir. Exit detection is armed before this returns. Throws
  // LaunchError (command not found, bad dir, exec failure, key already running).
  virtual ProcessHandle launch(const LaunchSpec& spec) = 0;

  // Takes over a process launched by an earlier mcpd (Restore). True when `handle.pid` is alive
  // AND its start time equals `handle.startTime`; exit detection, usage sampling, log rotation
  // and stop() then work for it as for a launched one. spec.key names it; its limits, log
  // settings and grace period apply from now on; command/args/env are ignored. Whether the
  // process is the instance's at all (dir, MCP_ID, uid) is the caller's to check first
  // (reconciler/stray_processes.h): adopting makes stop() signal its process group.
  virtual bool adopt(const LaunchSpec& spec, const ProcessHandle& handle) = 0;

  // SIGTERM to the process group, wait up to `grace` (default: the spec's stopGracePeriod) for
  // the process to exit, SIGKILL the group (and every cgroup member), reap. Blocks for at most
  // grace + a few seconds. Returns how it ended, nullopt when the key is unknown (not running).
  // onExit also fires for it, with stopRequested = true.
  virtual std::optional<ExitInfo> stop(const std::string& key,
                                       std::optional<std::chrono::milliseconds> grace = {}) = 0;

  // Files the process of `from` under `to` from now on (its exit, limits, usage and stop() go by
  // `to`); the process itself is not touched. False, changing nothing, when `from` runs nothing
  // or `to` already names a process. A replacement keeps the old process serving this way while
  // the new one starts under the instance's key.
  virtual bool rename(const std::string& from, const std::string& to) = 0;

  // Last sample of the key's process (nullopt until the first sample, or when unknown).
  virtual std::optional<Usage> usage(const std::string& key) const = 0;

  // Handle of the key's running process, nullopt when none.
  virtual std::optional<ProcessHandle> handle(const std::string& key) const = 0;

  // A warm-pool process launched as `from` becomes `to.key`'s process: exit detection, usage,
  // limits, log settings and the grace period follow `to` from now on; to.workingDir becomes
  // uid/gid's own (as a launch gives it) and the process's log file moves to to.logDir (an
  // output.log there is kept as output.log.1, ...). nullopt when `from` runs no process or
  // `to.key` already has one. The caller hands the process its identity. Throws LaunchError
  // when the working directory cannot be given.
  virtual std::optional<ProcessHandle> rekey(const std::string& from, const LaunchSpec& to) {
    (void)from;
    (void)to;
    return std::nullopt;
  }

  // Set once, before the first launch/adopt.
  virtual void onExit(ExitCallback callback) = 0;
  virtual void onLimitExceeded(LimitCallback callback) = 0;

  // How limits are enforced on this host: "cgroup-v2", "cgroup-v1" or "rlimit+sampling".
  // Written into status so a user can see whether the kernel or mcpd enforces the limits.
  virtual std::string enforcement() const = 0;
};

// Log files of `logDir`, oldest first (output.log.N ... output.log.1, output.log), existing
// ones only: what `mcpctl logs` reads.
std::vector<std::string> logFiles(const std::string& logDir);
inline constexpr const char* kLogFileName = "output.log";

}  // namespace minimcp::runtime
