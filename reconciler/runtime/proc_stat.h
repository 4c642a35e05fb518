// /proc readers shared by the runtime: start time (PID-reuse guard), state (zombie or alive),
// RSS and CPU ticks, and the marks of an instance process (cwd, real uid, environment). Linux only.
// Every reader returns nullopt when the process is gone or the file cannot be parsed, never throws.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace minimcp::runtime {

// The fields of /proc/PID/stat the runtime needs (proc(5) numbering in comments).
struct ProcStat {
  pid_t pid = 0;
  char state = '?';        // (3) R S D Z T t X I ...
  pid_t ppid = 0;          // (4)
  pid_t pgrp = 0;          // (5)
  pid_t session = 0;       // (6)
  uint64_t utime = 0;      // (14) clock ticks
  uint64_t stime = 0;      // (15)
  uint64_t cutime = 0;     // (16) of reaped children
  uint64_t cstime = 0;     // (17)
  uint64_t startTime = 0;  // (22) clock ticks after boot: with the pid, names one process
  uint64_t rssBytes = 0;   // (24) pages * page size

  bool zombie() const { return state == 'Z' || state == 'X'; }
};

// Parses the content of a /proc/PID/stat file (the comm field may hold spaces and ')').
std::optional<ProcStat> parseProcStat(const std::string& content);
std::optional<ProcStat> readProcStat(pid_t pid);

// Start time of `pid` (field 22), nullopt when there is no such process.
std::optional<uint64_t> processStartTime(pid_t pid);

// True when `pid` exists, is not a zombie and (when given) started at `startTime`.
bool processAlive(pid_t pid, std::optional<uint64_t> startTime = std::nullopt);

// VmRSS of /proc/PID/status in bytes (the same counter as stat's rss, kept for callers that
// want the status file's view).
std::optional<uint64_t> readVmRssBytes(pid_t pid);

// Target of /proc/PID/cwd (nullopt when unreadable or gone).
std::optional<std::string> readProcCwd(pid_t pid);

// Real uid (first field of the Uid: line of /proc/PID/status).
std::optional<uid_t> readProcRealUid(pid_t pid);

// Value of `name` in /proc/PID/environ: the environment the process was started with (nullopt
// when absent, unreadable or gone).
std::optional<std::string> readProcEnvVar(pid_t pid, const std::string& name);

// Every process currently in /proc (one pass; processes that vanish mid-scan are skipped).
std::vector<ProcStat> scanProcesses();

// Clock ticks per second (sysconf(_SC_CLK_TCK)).
long clockTicksPerSecond();

}  // namespace minimcp::runtime
