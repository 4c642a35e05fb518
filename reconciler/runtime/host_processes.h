// HostProcesses: what the controller may learn about, and do to, processes it did not launch in
// this run: the recorded process of an instance before it is adopted, and processes an earlier
// run of mcpd left in an instance's directory or under its uid. The decisions about them are
// pure (reconciler/stray_processes.h) and unit-tested against a fake of this interface;
// ProcHostProcesses reads /proc and sends the signals.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace minimcp::runtime {

// One process as /proc shows it.
struct ProcessInfo {
  pid_t pid = 0;
  uint64_t startTime = 0;  // /proc/PID/stat field 22: with the pid, names one process
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
  std::optional<uid_t> realUid;  // nullopt: unreadable
  // Target of /proc/PID/cwd ("" when unreadable; a removed directory reads "… (deleted)").
  std::string cwd;
  // MCP_ID of /proc/PID/environ. Filled by inspect() only (list() leaves it unset); nullopt
  // when the variable is absent or the environment unreadable.
  std::optional<std::string> mcpId;
  // MCP_POOL_ID of /proc/PID/environ (a warm-pool process), as mcpId.
  std::optional<std::string> poolId;

  bool operator==(const ProcessInfo&) const = default;
};

class HostProcesses {
 public:
  virtual ~HostProcesses() = default;

  // The live process `pid` (nullopt: no such process, or a zombie), every field filled.
  virtual std::optional<ProcessInfo> inspect(pid_t pid) const = 0;

  // Every live process (zombies left out), without mcpId.
  virtual std::vector<ProcessInfo> list() const = 0;

  // Stops each victim that is still the process named by its pid and start time: SIGTERM to it
  // (and to its process group when it leads one), up to `grace` for all of them to exit, then
  // SIGKILL the same way, and a short bounded wait. Returns the pids still alive after that.
  virtual std::vector<pid_t> stop(const std::vector<ProcessInfo>& victims,
                                  std::chrono::milliseconds grace) = 0;
};

class ProcHostProcesses : public HostProcesses {
 public:
  std::optional<ProcessInfo> inspect(pid_t pid) const override;
  std::vector<ProcessInfo> list() const override;
  std::vector<pid_t> stop(const std::vector<ProcessInfo>& victims,
                          std::chrono::milliseconds grace) override;
};

}  // namespace minimcp::runtime
