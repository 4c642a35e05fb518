#include "reconciler/runtime/host_processes.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "reconciler/runtime/proc_stat.h"

namespace minimcp::runtime {

namespace {

// After SIGKILL, how long stop() waits for the victims to be gone.
constexpr std::chrono::milliseconds kKillWait{2000};

int pidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

std::optional<ProcessInfo> fromStat(const ProcStat& st) {
  if (st.zombie()) return std::nullopt;
  ProcessInfo p;
  p.pid = st.pid;
  p.startTime = st.startTime;
  p.ppid = st.ppid;
  p.pgrp = st.pgrp;
  p.session = st.session;
  p.realUid = readProcRealUid(st.pid);
  p.cwd = readProcCwd(st.pid).value_or("");
  return p;
}

// A victim held by a pidfd: signals reach the process named by pid + start time, never a
// process that took its pid meanwhile.
struct Held {
  ProcessInfo info;
  int pidfd = -1;
  bool exited() const {
    pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }
  // To its group too when it leads one: even once the leader has exited, its pid stays
  // allocated while the group has members, so the group id still names its group.
  void signal(int sig) const {
    if (info.pgrp == info.pid) ::kill(-info.pid, sig);
    pidfdSendSignal(pidfd, sig);
  }
};

// Waits until every held process has exited or `timeout` passes. True when all exited.
bool waitAll(const std::vector<Held>& held, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    bool all = true;
    for (const Held& h : held) all = all && h.exited();
    if (all) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

std::optional<ProcessInfo> ProcHostProcesses::inspect(pid_t pid) const {
  auto st = readProcStat(pid);
  if (!st) return std::nullopt;
  auto p = fromStat(*st);
  if (p) {
    p->mcpId = readProcEnvVar(pid, "MCP_ID");
    p->poolId = readProcEnvVar(pid, "MCP_POOL_ID");
  }
  return p;
}

std::vector<ProcessInfo> ProcHostProcesses::list() const {
  std::vector<ProcessInfo> out;
  for (const ProcStat& st : scanProcesses()) {
    if (auto p = fromStat(st)) out.push_back(std::move(*p));
  }
  return out;
}

std::vector<pid_t> ProcHostProcesses::stop(const std::vector<ProcessInfo>& victims,
                                           std::chrono::milliseconds grace) {
  std::vector<Held> held;
  for (const ProcessInfo& v : victims) {
    if (v.pid <= 1 || v.pid == ::getpid()) continue;
    const int fd = pidfdOpen(v.pid);
    if (fd < 0) continue;  // gone
    // Opened first, checked second: a pid reused before the open shows another start time.
    auto st = readProcStat(v.pid);
    if (!st || st->zombie() || st->startTime != v.startTime) {
      ::close(fd);
      continue;
    }
    ProcessInfo now = v;
    now.pgrp = st->pgrp;
    held.push_back({now, fd});
  }
  for (const Held& h : held) h.signal(SIGTERM);
  waitAll(held, grace);
  // No survivors in a group whose leader is gone (as the runtime does for its own processes).
  for (const Held& h : held) h.signal(SIGKILL);
  waitAll(held, kKillWait);
  std::vector<pid_t> survivors;
  for (const Held& h : held) {
    if (!h.exited()) survivors.push_back(h.info.pid);
    ::close(h.pidfd);
  }
  return survivors;
}

}  // namespace minimcp::runtime
