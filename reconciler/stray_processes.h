// Which host processes are an instance's, decided from what /proc says of them
// (runtime::HostProcesses) without I/O, so every case is unit-tested.
//
// The runtime starts every instance process in its own session, with cwd = the instance dir
// DATA_DIR/instances/<ns>/<name> and MCP_ID = the instance's metadata.uid in its environment,
// as the instance's own uid when it has one (status.isolation.uid). status.pid and
// status.processStartTime name that process; anything may have written them (an admin, a
// restore from backup), so the controller adopts or signals a recorded pid only when the
// process carries every one of those marks (checkRecordedProcess). A process claimed from a
// warm pool (warm_pool.h) has MCP_POOL_ID instead of MCP_ID in its environment; its instance's
// own uid stands in for the MCP_ID mark.
//
// After a crash of mcpd an instance may have processes nobody recorded (spawned just before
// the crash). On every start (and resync) the controller groups the host's processes by
// instance (processesByInstance); each one that is not part of the instance's recorded
// process (strayProcesses) is stopped.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reconciler/runtime/host_processes.h"
#include "reconciler/runtime/process_runtime.h"

namespace minimcp::reconciler {

// The marks of one instance's process.
struct InstanceMarks {
  std::string dir;           // the instance dir, canonical (as /proc/PID/cwd shows it)
  std::string mcpId;         // metadata.uid
  std::optional<uid_t> uid;  // status.isolation.uid, when recorded
};

enum class ProcessCheck {
  Ours,            // the recorded process, with every mark of the instance
  Gone,            // no such live process
  OtherStartTime,  // the pid now names another process (reused)
  OtherDir,        // its working directory is not the instance dir
  OtherMcpId,      // its environment has no MCP_ID of this instance
  OtherUid,        // it does not run as the instance's uid
};
// For events: "its working directory is not the instance directory", ...
std::string_view describe(ProcessCheck check);

// Whether `found` (what /proc says of recorded.pid; nullopt: no such live process) is the
// instance's process `recorded`.
ProcessCheck checkRecordedProcess(const std::optional<runtime::ProcessInfo>& found,
                                  const runtime::ProcessHandle& recorded,
                                  const InstanceMarks& marks);

// Looks a process up by pid (nullopt: gone).
using ProcessLookup = std::function<std::optional<runtime::ProcessInfo>(pid_t)>;

// True when `p` is the process `keeper` itself, shares its session or process group, or
// descends from it (an instance's own children, e.g. the server a stdio bridge spawns).
bool partOf(const runtime::ProcessInfo& p, pid_t keeper, const ProcessLookup& lookup);

// The processes of `found` that are not part of any of `keepers` (every one when there is none:
// an instance has its current process and, while a replacement drains it, the old one).
std::vector<runtime::ProcessInfo> strayProcesses(const std::vector<runtime::ProcessInfo>& found,
                                                 const std::vector<pid_t>& keepers,
                                                 const ProcessLookup& lookup);
inline std::vector<runtime::ProcessInfo> strayProcesses(
    const std::vector<runtime::ProcessInfo>& found, std::optional<pid_t> keeper,
    const ProcessLookup& lookup) {
  return strayProcesses(found, keeper ? std::vector<pid_t>{*keeper} : std::vector<pid_t>{}, lookup);
}

// An instance with a uid of its own (isolation DynamicUser).
struct UidOwner {
  std::string key;    // "ns/name"
  std::string mcpId;  // its metadata.uid
};

// `all` grouped by instance key "ns/name": a process belongs to the instance whose dir (under
// `instancesRoot`, canonical) holds its cwd, else to the instance that owns its real uid in
// `ownUids`, unless its environment (read through `inspect`) carries another MCP_ID: the same
// uid number may be another mcpd's instance on this host. `self` (mcpd) is never anyone's.
std::map<std::string, std::vector<runtime::ProcessInfo>> processesByInstance(
    const std::vector<runtime::ProcessInfo>& all, const std::string& instancesRoot,
    const std::map<uid_t, UidOwner>& ownUids, pid_t self, const ProcessLookup& inspect);

}  // namespace minimcp::reconciler
