// Per-instance cgroups: v2 where the host delegated a subtree with the memory
// controller, v1 where the memory (and optionally cpu, pids) hierarchies are writable. All
// instance cgroups live under <mcpd's own cgroup>/minimcp/, so they stay inside whatever the
// host already confines mcpd to.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "reconciler/runtime/process_runtime.h"

namespace minimcp::runtime {

// One instance's cgroup: a single dir on v2, one dir per controller on v1.
struct Cgroup {
  std::vector<std::string> dirs;  // every dir to join and, later, to remove
  std::string memoryDir;          // where members and OOM kills are read
  bool v2 = false;
  bool memoryLimited = false;
  bool cpuLimited = false;
  bool pidsLimited = false;
};

class CgroupManager {
 public:
  // Looks at /proc/self/mountinfo and /proc/self/cgroup, and tries to create the minimcp
  // parent dirs. available() is false when neither v2 nor v1 memory can be used.
  static CgroupManager detect(const std::string& parentName = "minimcp");

  bool available() const { return !mode_.empty(); }
  // "cgroup-v2", "cgroup-v1" or "" (unavailable).
  const std::string& mode() const { return mode_; }

  // Creates a fresh cgroup named after `key` with `limits` written. nullopt on any failure
  // (the caller then falls back to sampling for this process).
  std::optional<Cgroup> create(const std::string& key, const ResourceLimits& limits) const;

  // The cgroup of a running process when it lies under our parent dirs (for adopt).
  std::optional<Cgroup> forPid(pid_t pid) const;

  // Removes empty instance cgroups left by an earlier mcpd (older than `minAgeSeconds`, so
  // that a dir another runtime is just about to use is left alone).
  void sweepStale(int minAgeSeconds = 60) const;

 private:
  std::string mode_;
  std::string v2Parent_;      // .../minimcp (v2)
  std::string memoryParent_;  // .../minimcp under the memory hierarchy (v1)
  std::string cpuParent_;     // may be empty (v1 without a writable cpu hierarchy)
  std::string pidsParent_;    // may be empty
};

// Pids of every process in the cgroup (its cgroup.procs).
std::vector<pid_t> cgroupMembers(const Cgroup& cg);
// True when the kernel OOM-killed a process of this cgroup (v1 memory.oom_control,
// v2 memory.events "oom_kill N").
bool cgroupOomKilled(const Cgroup& cg);
// rmdir of every dir; false when one is still busy (members not gone yet).
bool removeCgroup(const Cgroup& cg);

}  // namespace minimcp::runtime
