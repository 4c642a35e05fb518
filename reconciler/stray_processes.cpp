#include "reconciler/stray_processes.h"

#include <algorithm>

namespace minimcp::reconciler {

std::string_view describe(ProcessCheck check) {
  switch (check) {
    case ProcessCheck::Ours:
      return "it is the instance's process";
    case ProcessCheck::Gone:
      return "no such process is running";
    case ProcessCheck::OtherStartTime:
      return "the pid now names a process started at another time";
    case ProcessCheck::OtherDir:
      return "its working directory is not the instance directory";
    case ProcessCheck::OtherMcpId:
      return "its environment does not carry the instance's MCP_ID";
    case ProcessCheck::OtherUid:
      return "it does not run as the instance's uid";
  }
  return "?";
}

ProcessCheck checkRecordedProcess(const std::optional<runtime::ProcessInfo>& found,
                                  const runtime::ProcessHandle& recorded,
                                  const InstanceMarks& marks) {
  if (!found || recorded.pid <= 0 || found->pid != recorded.pid) return ProcessCheck::Gone;
  if (found->startTime != recorded.startTime) return ProcessCheck::OtherStartTime;
  if (marks.dir.empty() || found->cwd != marks.dir) return ProcessCheck::OtherDir;
  if (marks.mcpId.empty()) return ProcessCheck::OtherMcpId;
  if (found->mcpId != marks.mcpId) {
    // A warm-pool process claimed for the instance got its MCP_ID over its channel, not in its
    // environment, which names only its pool slot; the instance's own uid (one per instance)
    // together with the instance dir as its cwd is what makes it the instance's.
    const bool claimed = !found->mcpId && found->poolId && marks.uid && found->realUid == marks.uid;
    if (!claimed) return ProcessCheck::OtherMcpId;
  }
  if (marks.uid && found->realUid != marks.uid) return ProcessCheck::OtherUid;
  return ProcessCheck::Ours;
}

bool partOf(const runtime::ProcessInfo& p, pid_t keeper, const ProcessLookup& lookup) {
  if (keeper <= 1) return false;
  if (p.pid == keeper || p.session == keeper || p.pgrp == keeper) return true;
  // Up the parent chain, bounded (a chain is short; a cycle cannot happen but costs nothing).
  pid_t parent = p.ppid;
  for (int hops = 0; hops < 64 && parent > 1; ++hops) {
    if (parent == keeper) return true;
    const std::optional<runtime::ProcessInfo> up = lookup(parent);
    if (!up) return false;
    parent = up->ppid;
  }
  return false;
}

std::vector<runtime::ProcessInfo> strayProcesses(const std::vector<runtime::ProcessInfo>& found,
                                                 const std::vector<pid_t>& keepers,
                                                 const ProcessLookup& lookup) {
  std::vector<runtime::ProcessInfo> out;
  for (const runtime::ProcessInfo& p : found) {
    const bool kept =
        std::any_of(keepers.begin(), keepers.end(), [&](pid_t k) { return partOf(p, k, lookup); });
    if (!kept) out.push_back(p);
  }
  return out;
}

std::map<std::string, std::vector<runtime::ProcessInfo>> processesByInstance(
    const std::vector<runtime::ProcessInfo>& all, const std::string& instancesRoot,
    const std::map<uid_t, UidOwner>& ownUids, pid_t self, const ProcessLookup& inspect) {
  std::map<std::string, std::vector<runtime::ProcessInfo>> out;
  const std::string prefix =
      instancesRoot.empty() || instancesRoot.back() == '/' ? instancesRoot : instancesRoot + "/";
  for (const runtime::ProcessInfo& p : all) {
    if (p.pid <= 1 || p.pid == self) continue;
    std::string key;
    if (!prefix.empty() && p.cwd.rfind(prefix, 0) == 0) {
      // cwd = <root>/<ns>/<name>[/...]; a removed dir reads "<dir> (deleted)".
      std::string rest = p.cwd.substr(prefix.size());
      const auto slash = rest.find('/');
      if (slash != std::string::npos && slash > 0) {
        auto end = rest.find('/', slash + 1);
        std::string name = rest.substr(slash + 1, end == std::string::npos ? end : end - slash - 1);
        if (end == std::string::npos) {
          const std::string deleted = " (deleted)";
          if (name.size() > deleted.size() &&
              name.compare(name.size() - deleted.size(), deleted.size(), deleted) == 0) {
            name.resize(name.size() - deleted.size());
          }
        }
        if (!name.empty()) key = rest.substr(0, slash) + "/" + name;
      }
    }
    if (key.empty() && p.realUid) {
      if (auto it = ownUids.find(*p.realUid); it != ownUids.end()) {
        const std::optional<runtime::ProcessInfo> seen = inspect(p.pid);
        if (!seen) continue;  // gone
        if (seen->mcpId && *seen->mcpId != it->second.mcpId) continue;
        key = it->second.key;
      }
    }
    if (!key.empty()) out[key].push_back(p);
  }
  return out;
}

}  // namespace minimcp::reconciler
