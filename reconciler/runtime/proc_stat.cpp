#include "reconciler/runtime/proc_stat.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace minimcp::runtime {
namespace {

// /proc files are small and report st_size 0, so read them with plain read() until EOF.
std::optional<std::string> slurp(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

long pageSize() {
  static const long size = ::sysconf(_SC_PAGESIZE);
  return size;
}

}  // namespace

long clockTicksPerSecond() {
  static const long ticks = ::sysconf(_SC_CLK_TCK);
  return ticks;
}

std::optional<ProcStat> parseProcStat(const std::string& content) {
  // "pid (comm) state ppid ...": comm may contain ") ", so split at the LAST ')'.
  size_t open = content.find('(');
  size_t close = content.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open ||
      close + 2 > content.size()) {
    return std::nullopt;
  }
  ProcStat st;
  st.pid = static_cast<pid_t>(std::strtol(content.c_str(), nullptr, 10));
  // Fields after comm, numbered from 3 (state).
  std::vector<std::string> fields;
  fields.reserve(50);
  size_t pos = close + 2;
  while (pos < content.size()) {
    size_t end = content.find(' ', pos);
    if (end == std::string::npos) end = content.size();
    if (end > pos) fields.push_back(content.substr(pos, end - pos));
    pos = end + 1;
  }
  if (fields.size() < 22) return std::nullopt;  // up to field 24
  auto field = [&](int n) -> const std::string& { return fields[static_cast<size_t>(n - 3)]; };
  auto num = [&](int n) { return std::strtoull(field(n).c_str(), nullptr, 10); };
  if (field(3).empty()) return std::nullopt;
  st.state = field(3)[0];
  st.ppid = static_cast<pid_t>(num(4));
  st.pgrp = static_cast<pid_t>(num(5));
  st.session = static_cast<pid_t>(num(6));
  st.utime = num(14);
  st.stime = num(15);
  st.cutime = num(16);
  st.cstime = num(17);
  st.startTime = num(22);
  long long rssPages = std::strtoll(field(24).c_str(), nullptr, 10);
  st.rssBytes =
      rssPages > 0 ? static_cast<uint64_t>(rssPages) * static_cast<uint64_t>(pageSize()) : 0;
  return st;
}

std::optional<ProcStat> readProcStat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  auto content = slurp("/proc/" + std::to_string(pid) + "/stat");
  if (!content) return std::nullopt;
  return parseProcStat(*content);
}

std::optional<uint64_t> processStartTime(pid_t pid) {
  auto st = readProcStat(pid);
  if (!st) return std::nullopt;
  return st->startTime;
}

bool processAlive(pid_t pid, std::optional<uint64_t> startTime) {
  auto st = readProcStat(pid);
  if (!st || st->zombie()) return false;
  return !startTime || st->startTime == *startTime;
}

std::optional<uint64_t> readVmRssBytes(pid_t pid) {
  auto content = slurp("/proc/" + std::to_string(pid) + "/status");
  if (!content) return std::nullopt;
  size_t at = content->find("\nVmRSS:");
  if (at == std::string::npos) return std::nullopt;  // kernel threads and zombies have none
  return std::strtoull(content->c_str() + at + 7, nullptr, 10) * 1024;
}

std::optional<std::string> readProcCwd(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  const std::string link = "/proc/" + std::to_string(pid) + "/cwd";
  std::string target(4096, '\0');
  ssize_t n = ::readlink(link.c_str(), target.data(), target.size());
  if (n < 0 || static_cast<size_t>(n) >= target.size()) return std::nullopt;
  target.resize(static_cast<size_t>(n));
  return target;
}

std::optional<uid_t> readProcRealUid(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  auto content = slurp("/proc/" + std::to_string(pid) + "/status");
  if (!content) return std::nullopt;
  size_t at = content->find("\nUid:");
  if (at == std::string::npos) return std::nullopt;
  char* end = nullptr;
  const char* begin = content->c_str() + at + 5;
  unsigned long uid = std::strtoul(begin, &end, 10);
  if (end == begin) return std::nullopt;
  return static_cast<uid_t>(uid);
}

std::optional<std::string> readProcEnvVar(pid_t pid, const std::string& name) {
  if (pid <= 0 || name.empty()) return std::nullopt;
  auto content = slurp("/proc/" + std::to_string(pid) + "/environ");
  if (!content) return std::nullopt;
  const std::string prefix = name + "=";
  size_t at = 0;
  while (at < content->size()) {
    size_t end = content->find('\0', at);
    if (end == std::string::npos) end = content->size();
    if (content->compare(at, prefix.size(), prefix) == 0) {
      return content->substr(at + prefix.size(), end - at - prefix.size());
    }
    at = end + 1;
  }
  return std::nullopt;
}

std::vector<ProcStat> scanProcesses() {
  std::vector<ProcStat> out;
  DIR* dir = ::opendir("/proc");
  if (!dir) return out;
  while (dirent* ent = ::readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(ent->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    if (auto st = readProcStat(static_cast<pid_t>(pid))) out.push_back(*st);
  }
  ::closedir(dir);
  return out;
}

}  // namespace minimcp::runtime
