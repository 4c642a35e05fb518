// LocalProcessRuntime: ProcessRuntime for processes on this host (Boost.Process v1 launch,
// pidfd exit detection, cgroup or sampling limits). Boost stays out of this header.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "reconciler/runtime/process_runtime.h"

namespace minimcp::runtime {

enum class Sandbox { None, Bwrap };

struct LocalRuntimeOptions {
  // false: never create cgroups, enforce limits by sampling (what a host without writable
  // cgroups gets; tests use it to exercise the fallback on any host).
  bool useCgroups = true;
  // Instance cgroups go under <mcpd's own cgroup>/<cgroupParentName>/ in every hierarchy.
  std::string cgroupParentName = "minimcp";
  // Sampled-limit checks (limits no cgroup enforces) and log rotation run this often.
  std::chrono::milliseconds samplePeriod{1000};
  // Every other process (no limit, or all in the kernel) is sampled this often: its usage
  // only feeds status.usage. Rounded to samplePeriod ticks.
  std::chrono::milliseconds usageSamplePeriod{10000};
  // The integration guide's policy: over the limit on this many consecutive samples.
  int violationSamples = 3;
  // Timestamps (finishedAt, sampledAt). nullptr: the system clock.
  const Clock* clock = nullptr;
  // When mcpd runs as root, an instance whose LaunchSpec names no uid runs as this user (its
  // uid and primary gid), never as root. "root" keeps instances root (an explicit opt-out).
  // An unknown user makes the constructor throw std::runtime_error. Ignored when not root.
  std::string runAs = "nobody";
  // Bwrap: every instance runs in a bubblewrap sandbox (sandbox.h): read-only root, private
  // /tmp and /proc, its working directory the only writable path.
  Sandbox sandbox = Sandbox::None;
  std::string bwrapPath = "/usr/bin/bwrap";
};

class LocalProcessRuntime : public ProcessRuntime {
 public:
  explicit LocalProcessRuntime(LocalRuntimeOptions options = {});
  // Leaves every process running (they are adopted by the next mcpd); only stops watching.
  ~LocalProcessRuntime() override;

  LocalProcessRuntime(const LocalProcessRuntime&) = delete;
  LocalProcessRuntime& operator=(const LocalProcessRuntime&) = delete;

  ProcessHandle launch(const LaunchSpec& spec) override;
  bool adopt(const LaunchSpec& spec, const ProcessHandle& handle) override;
  std::optional<ExitInfo> stop(const std::string& key,
                               std::optional<std::chrono::milliseconds> grace = {}) override;
  bool rename(const std::string& from, const std::string& to) override;
  std::optional<Usage> usage(const std::string& key) const override;
  std::optional<ProcessHandle> handle(const std::string& key) const override;
  std::optional<ProcessHandle> rekey(const std::string& from, const LaunchSpec& to) override;
  void onExit(ExitCallback callback) override;
  void onLimitExceeded(LimitCallback callback) override;
  std::string enforcement() const override;
  // The uid/gid instances without a uid of their own run as; nullopt when they keep mcpd's
  // (mcpd is not root, or runAs is "root").
  std::optional<std::pair<uid_t, gid_t>> runAsIds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Size rotation by copy-and-truncate: `dir/output.log` over `maxBytes` is copied to
// output.log.1 (older ones shift up, at most `keep` kept) and truncated. The child keeps its
// O_APPEND descriptor, so rotation needs no cooperation and survives mcpd restarts (a pipe
// through mcpd would not). Lines written between the copy and the truncate are lost.
void rotateLogIfNeeded(const std::string& dir, uint64_t maxBytes, int keep);

// Moves `fromDir/output.log` to `toDir/output.log` (created mcpd's own if missing), an
// output.log already there shifted to output.log.1 (older ones up, at most `keep`), then removes
// fromDir with what is left in it. The writer's O_APPEND descriptor follows the file.
void moveLog(const std::string& fromDir, const std::string& toDir, int keep);

// Every entry under `dir` (itself included, never following a symlink nor leaving its file
// system) owned by uid or gid `from` gets uid/gid `to`: the files of an instance whose uid
// changed. Walked through directory descriptors, so a name swapped for a symlink meanwhile hands
// nothing else over. Throws std::runtime_error when `dir` cannot be opened.
void reownTree(const std::string& dir, uint32_t from, uint32_t to);

}  // namespace minimcp::runtime
