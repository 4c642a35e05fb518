#include "reconciler/runtime/local_process_runtime.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/error.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "reconciler/runtime/cgroup.h"
#include "reconciler/runtime/proc_stat.h"
#include "reconciler/runtime/sandbox.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace minimcp::runtime {

namespace asio = boost::asio;
namespace bp = boost::process;
namespace fs = std::filesystem;

namespace {

// glibc 2.36's <sys/pidfd.h> lacks extern "C", so its pidfd_open does not link from C++.
int pidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Bound on how long stop() waits for a SIGKILLed process to be gone.
constexpr std::chrono::milliseconds kKillWait{5000};

bool waitReadable(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto now = std::chrono::steady_clock::now();
    // Rounded up: a truncated timeout would end the wait (say, a stop's grace) early.
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
    if (r == 0 && std::chrono::steady_clock::now() >= deadline) return false;
  }
}

std::string resolveCommand(const LaunchSpec& spec) {
  auto executable = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (spec.command.empty()) throw LaunchError("empty command");
  if (spec.command.find('/') != std::string::npos) {
    if (!executable(spec.command)) throw LaunchError("not executable: " + spec.command);
    return spec.command;
  }
  // The child's PATH, never mcpd's: what the instance would find itself.
  std::string path;
  for (const auto& [name, value] : spec.env) {
    if (name == "PATH") path = value;
  }
  size_t pos = 0;
  while (pos <= path.size() && !path.empty()) {
    size_t end = path.find(':', pos);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(pos, end - pos);
    if (!dir.empty()) {
      std::string candidate = dir + "/" + spec.command;
      if (executable(candidate)) return candidate;
    }
    pos = end + 1;
  }
  throw LaunchError("command not found in the instance PATH: " + spec.command);
}

std::string humanBytes(uint64_t b) {
  if (b >= (1ull << 20)) return std::to_string(b >> 20) + "Mi";
  if (b >= 1024) return std::to_string(b >> 10) + "Ki";
  return std::to_string(b);
}

// The user's uid and primary gid, nullopt when there is no such user.
std::optional<std::pair<uid_t, gid_t>> lookupUser(const std::string& name) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
    return std::nullopt;
  }
  return std::make_pair(found->pw_uid, found->pw_gid);
}

std::optional<gid_t> primaryGroup(uid_t uid) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return std::nullopt;
  return found->pw_gid;
}

class FdGuard {
 public:
  explicit FdGuard(int fd = -1) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Whether uid/gid may `bits` (4 read, 2 write, 1 search/execute) on `st`. No supplementary
// groups: the child drops them.
bool permits(const struct stat& st, uid_t uid, gid_t gid, mode_t bits) {
  if (uid == 0) return true;
  if (st.st_uid == uid) return ((st.st_mode >> 6) & bits) == bits;
  if (st.st_gid == gid) return ((st.st_mode >> 3) & bits) == bits;
  return (st.st_mode & bits) == bits;
}

// Adds search permission for others (o+x) to every directory above `path` that uid/gid could
// not pass: an instance reaches its cwd, HOME and its server's files by absolute path (a
// DATA_DIR under a mkdtemp directory is 0700). Never read permission: names stay unlisted.
void makeReachable(const fs::path& path, uid_t uid, gid_t gid) {
  const fs::path target = fs::absolute(path).lexically_normal();
  for (fs::path dir = target.parent_path();; dir = dir.parent_path()) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && !permits(st, uid, gid, 1)) {
      if (::chmod(dir.c_str(), (st.st_mode & 07777) | S_IXOTH) != 0) {
        throw LaunchError("cannot make " + dir.string() + " searchable for uid " +
                          std::to_string(uid) + ": " + std::strerror(errno));
      }
      spdlog::info("runtime: made {} searchable by others (o+x): instances run as uid {}",
                   dir.string(), uid);
    }
    if (dir == dir.parent_path()) break;
  }
}

// The instance's working directory (cwd and HOME) becomes its own: owner uid, group gid, mode
// 0700. Nothing of mcpd's is in it (logs live elsewhere), and no other user can enter it. Done on
// a descriptor opened without following symlinks, so a planted link hands nothing else over.
void giveWorkingDir(const std::string& dir, uid_t uid, gid_t gid) {
  FdGuard fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw LaunchError("working directory " + dir + " is not a directory");
  }
  if ((st.st_uid != uid || st.st_gid != gid) && ::fchown(fd.get(), uid, gid) != 0) {
    throw LaunchError("cannot give uid " + std::to_string(uid) + " the working directory " + dir +
                      ": " + std::strerror(errno));
  }
  if ((st.st_mode & 07777) != 0700 && ::fchmod(fd.get(), 0700) != 0) {
    throw LaunchError("cannot make the working directory " + dir +
                      " private: " + std::strerror(errno));
  }
  makeReachable(dir, uid, gid);
}

// Everything an instance running as uid/gid needs from the file system, set up by mcpd (root)
// before the fork: its working directory (cwd and HOME) its own, the directories above it
// and above its command and path arguments searchable, those files readable. Throws
// LaunchError when a file itself is not readable by the user (its mode is not mcpd's to widen).
void prepareFileAccess(const LaunchSpec& spec, const std::string& exe, uid_t uid, gid_t gid) {
  auto requireFile = [&](const std::string& path, mode_t bits, const char* what) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    if (S_ISDIR(st.st_mode)) bits |= 1;
    if (!permits(st, uid, gid, bits)) {
      throw LaunchError(std::string(what) + " " + path + " is not " +
                        (bits & 4 ? "readable" : "executable") + " by uid " + std::to_string(uid) +
                        " (the user instances run as)");
    }
    return true;
  };
  requireFile(exe, 1, "the command");
  makeReachable(exe, uid, gid);
  for (const auto& arg : spec.args) {
    if (arg.empty() || arg[0] != '/') continue;
    if (requireFile(arg, 4, "the argument")) makeReachable(arg, uid, gid);
  }

  giveWorkingDir(spec.workingDir, uid, gid);
}

}  // namespace

void rotateLogIfNeeded(const std::string& dir, uint64_t maxBytes, int keep) {
  if (dir.empty() || maxBytes == 0) return;
  std::string path = dir + "/" + kLogFileName;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) <= maxBytes) return;
  if (keep > 0) {
    for (int i = keep - 1; i >= 1; --i) {
      std::string from = path + "." + std::to_string(i);
      std::string to = path + "." + std::to_string(i + 1);
      ::rename(from.c_str(), to.c_str());  // missing ones are fine
    }
    std::error_code ec;
    fs::copy_file(path, path + ".1", fs::copy_options::overwrite_existing, ec);
  }
  ::truncate(path.c_str(), 0);
}

void moveLog(const std::string& fromDir, const std::string& toDir, int keep) {
  std::error_code ec;
  fs::create_directories(toDir, ec);
  struct stat st {};
  if (::lstat(toDir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
    throw LaunchError("log directory " + toDir + " is not a directory owned by mcpd");
  }
  const std::string to = toDir + "/" + kLogFileName;
  if (::access(to.c_str(), F_OK) == 0) {
    if (keep > 0) {
      for (int i = keep - 1; i >= 1; --i) {
        ::rename((to + "." + std::to_string(i)).c_str(),
                 (to + "." + std::to_string(i + 1)).c_str());
      }
      ::rename(to.c_str(), (to + ".1").c_str());
    } else {
      ::unlink(to.c_str());
    }
  }
  const std::string from = fromDir + "/" + kLogFileName;
  if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("runtime: cannot move {} to {}: {}", from, to, std::strerror(errno));
  }
  fs::remove_all(fromDir, ec);
}

namespace {

void reownAt(int dirFd, uint32_t from, uint32_t to, dev_t dev, int depth) {
  if (depth > 256) return;  // deeper than any real tree; a hostile one gets no further
  DIR* d = ::fdopendir(dirFd);
  if (!d) {
    ::close(dirFd);
    return;
  }
  while (dirent* ent = ::readdir(d)) {
    const std::string name = ent->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(dirFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_dev != dev) {
      continue;
    }
    if ((st.st_uid == from || st.st_gid == from) &&
        ::fchownat(dirFd, name.c_str(), st.st_uid == from ? to : st.st_uid,
                   st.st_gid == from ? to : st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
      spdlog::warn("runtime: cannot give {} to uid {}: {}", name, to, std::strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
      const int child =
          ::openat(dirFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child >= 0) reownAt(child, from, to, dev, depth + 1);
    }
  }
  ::closedir(d);  // closes dirFd
}

}  // namespace

void reownTree(const std::string& dir, uint32_t from, uint32_t to) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot open " + dir + ": " + std::strerror(errno));
  }
  if ((st.st_uid == from || st.st_gid == from) &&
      ::fchown(fd, st.st_uid == from ? to : st.st_uid, st.st_gid == from ? to : st.st_gid) != 0) {
    spdlog::warn("runtime: cannot give {} to uid {}: {}", dir, to, std::strerror(errno));
  }
  reownAt(fd, from, to, st.st_dev, 0);
}

std::vector<std::string> logFiles(const std::string& logDir) {
  std::vector<std::string> out;
  std::string base = logDir + "/" + kLogFileName;
  std::vector<std::string> rotated;
  for (int i = 1;; ++i) {
    std::string p = base + "." + std::to_string(i);
    if (::access(p.c_str(), F_OK) != 0) break;
    rotated.push_back(p);
  }
  out.assign(rotated.rbegin(), rotated.rend());
  if (::access(base.c_str(), F_OK) == 0) out.push_back(base);
  return out;
}

struct LocalProcessRuntime::Impl {
  struct Entry {
    std::string key;
    ProcessHandle handle;
    bool isChild = false;
    int pidfd = -1;  // owned; poll()ed by stop(), waitid()ed to reap
    std::unique_ptr<asio::posix::stream_descriptor> watcher;  // a dup; io thread only
    std::string logDir;
    uint64_t maxLogBytes = 0;
    int maxLogFiles = 0;
    ResourceLimits limits;
    std::chrono::milliseconds grace{10000};
    std::optional<Cgroup> cgroup;
    // Sampling state (io thread, read under mu by usage()).
    std::optional<uint64_t> lastTicks;
    std::chrono::steady_clock::time_point lastSampleAt{};
    int memoryOver = 0;
    int cpuOver = 0;
    bool violationReported = false;
    std::optional<Usage> usage;
    // Exit state, under mu.
    bool stopRequested = false;
    std::optional<ExitInfo> exit;
    bool finished = false;

    ~Entry() {
      if (pidfd >= 0) ::close(pidfd);
    }
  };
  using EntryPtr = std::shared_ptr<Entry>;

  explicit Impl(LocalRuntimeOptions o)
      : options(std::move(o)),
        clock(options.clock ? options.clock : &fallbackClock),
        work(asio::make_work_guard(io)),
        sampler(io) {
    if (::geteuid() == 0 && options.runAs != "root") {
      runAs = lookupUser(options.runAs);
      if (!runAs) throw std::runtime_error("no such user to run instances as: " + options.runAs);
      if (runAs->first == 0) runAs.reset();
    }
    if (options.useCgroups) {
      cgroups = CgroupManager::detect(options.cgroupParentName);
      cgroups.sweepStale();
    }
    thread = std::thread([this] { io.run(); });
    asio::post(io, [this] { tick(); });
  }

  // Processes and cgroups stay for the next mcpd; only the watching ends. Cancelling every
  // pending wait lets io.run() return by itself, so no handler (and no Entry it holds)
  // outlives the io_context.
  ~Impl() {
    asio::post(io, [this] {
      shuttingDown = true;  // a handler already queued must not re-arm its wait
      sampler.cancel();
      std::lock_guard lock(mu);
      for (auto& [key, e] : entries) {
        if (e->watcher) e->watcher->cancel();
      }
    });
    work.reset();
    if (thread.joinable()) thread.join();
    // Members SIGKILLed a moment ago may still be exiting: give their cgroups a short,
    // bounded chance to empty; whatever stays is swept by the next mcpd.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    while (!pendingCgroups.empty() && std::chrono::steady_clock::now() < deadline) {
      std::vector<Cgroup> still;
      for (const auto& cg : pendingCgroups) {
        if (!removeCgroup(cg)) still.push_back(cg);
      }
      pendingCgroups.swap(still);
      if (!pendingCgroups.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // --- exit detection -------------------------------------------------------------------

  void arm(const EntryPtr& e) {
    asio::post(io, [this, e] {
      int dupFd = ::fcntl(e->pidfd, F_DUPFD_CLOEXEC, 0);
      if (dupFd < 0) {
        spdlog::error("runtime: dup pidfd of {}: {}", e->key, std::strerror(errno));
        return;
      }
      e->watcher = std::make_unique<asio::posix::stream_descriptor>(io, dupFd);
      wait(e);
    });
  }

  void wait(const EntryPtr& e) {
    e->watcher->async_wait(asio::posix::stream_descriptor::wait_read,
                           [this, e](const boost::system::error_code& ec) {
                             if (ec == asio::error::operation_aborted || shuttingDown) return;
                             if (collect(e)) finish(e);
                             std::lock_guard lock(mu);
                             if (!e->exit && !ec) {
                               wait(e);  // spurious wake-up: keep watching
                               return;
                             }
                             e->watcher.reset();
                           });
  }

  void signalGroup(const Entry& e, int sig) {
    // Called only while the leader is unreaped (or not our child), so the pgid is still ours.
    if (::kill(-e.handle.pid, sig) != 0 && errno == ESRCH) ::kill(e.handle.pid, sig);
    if (e.cgroup) {
      for (pid_t p : cgroupMembers(*e.cgroup)) ::kill(p, sig);  // members that left the group
    }
  }

  // Records the exit when the process has exited. True when this call recorded it.
  bool collect(const EntryPtr& e) {
    std::lock_guard lock(mu);
    if (e->exit) return false;
    ExitInfo info;
    info.pid = e->handle.pid;
    siginfo_t si{};
    bool known = false;
    if (e->isChild) {
      // WNOWAIT first: the zombie keeps the pid (and so the pgid) from being reused while the
      // rest of the group is killed.
      int r = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(e->pidfd), &si,
                       WEXITED | WNOHANG | WNOWAIT);
      if (r == 0 && si.si_pid == 0) return false;  // still running
      known = r == 0;
      if (r != 0 && errno != ECHILD) return false;
    } else {
      pollfd p{e->pidfd, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) return false;
    }
    signalGroup(*e, SIGKILL);  // no survivors of a group whose leader is gone
    bool oom = e->cgroup && cgroupOomKilled(*e->cgroup);
    if (known) {
      siginfo_t reaped{};
      ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(e->pidfd), &reaped, WEXITED);
    }
    info.finishedAt = clock->now();
    info.stopRequested = e->stopRequested;
    if (!known) {
      info.reason = "Unknown";
    } else if (si.si_code == CLD_EXITED) {
      info.exitCode = si.si_status;
      info.reason = si.si_status == 0 ? "Completed" : "Error";
    } else {
      info.signal = si.si_status;
      info.coreDumped = si.si_code == CLD_DUMPED;
      info.reason = oom && si.si_status == SIGKILL ? "OOMKilled" : "Signaled";
    }
    if (e->stopRequested) info.reason = "Stopped";
    e->exit = info;
    return true;
  }

  // After collect(): forget the key, drop the cgroup, tell the callback.
  void finish(const EntryPtr& e) {
    ExitInfo info;
    ExitCallback cb;
    std::string key;
    {
      std::lock_guard lock(mu);
      if (e->finished) return;
      e->finished = true;
      info = *e->exit;
      key = e->key;  // rekey() may rename it until now
      auto it = entries.find(e->key);
      if (it != entries.end() && it->second == e) entries.erase(it);
      if (e->cgroup && !removeCgroup(*e->cgroup)) pendingCgroups.push_back(*e->cgroup);
      cb = exitCallback;
    }
    exited.notify_all();
    spdlog::info("runtime: {} pid {} exited: {}{}", key, info.pid, info.reason,
                 info.exitCode ? " code " + std::to_string(*info.exitCode)
                 : info.signal ? " signal " + std::to_string(*info.signal)
                               : std::string());
    if (cb) asio::post(io, [cb, key, info] { cb(key, info); });
  }

  // --- sampling -------------------------------------------------------------------------

  void tick() {
    try {
      sample();
    } catch (const std::exception& ex) {
      spdlog::error("runtime: sampling failed: {}", ex.what());
    }
    sampler.expires_after(options.samplePeriod);
    sampler.async_wait([this](const boost::system::error_code& ec) {
      if (!ec && !shuttingDown) tick();
    });
  }

  void sample() {
    std::vector<EntryPtr> live;
    {
      std::lock_guard lock(mu);
      for (auto& [key, e] : entries) live.push_back(e);
      std::vector<Cgroup> still;
      for (const auto& cg : pendingCgroups) {
        if (!removeCgroup(cg)) still.push_back(cg);
      }
      pendingCgroups.swap(still);
    }
    if (live.empty()) return;
    auto now = std::chrono::steady_clock::now();
    const double tps = static_cast<double>(clockTicksPerSecond());

    // Only a limit mcpd enforces needs a sample every samplePeriod; the rest only feed
    // status.usage, and reading /proc for a hundred idle servers every second is most of an
    // idle mcpd's CPU. Half a period of slack keeps timer jitter from skipping a round.
    std::vector<EntryPtr> due;
    bool scanAll = false;
    for (const auto& e : live) {
      rotateLogIfNeeded(e->logDir, e->maxLogBytes, e->maxLogFiles);
      const auto period = enforcedBySampling(*e) ? options.samplePeriod : options.usageSamplePeriod;
      if (e->lastSampleAt != std::chrono::steady_clock::time_point{} &&
          now - e->lastSampleAt + options.samplePeriod / 2 < period) {
        continue;
      }
      due.push_back(e);
      scanAll = scanAll || !e->cgroup;  // its process group is found by a /proc scan
    }
    if (due.empty()) return;
    std::map<pid_t, ProcStat> byPid;
    if (scanAll) {
      for (const auto& st : scanProcesses()) byPid[st.pid] = st;
    }

    std::vector<std::tuple<std::string, std::string, std::string>> violations;
    for (const auto& e : due) {
      std::vector<pid_t> members;
      if (e->cgroup) {
        members = cgroupMembers(*e->cgroup);
        for (pid_t p : members) {
          if (byPid.count(p)) continue;
          if (auto st = readProcStat(p)) byPid[p] = *st;
        }
      } else {
        for (const auto& [pid, st] : byPid) {
          if (st.pgrp == e->handle.pid) members.push_back(pid);
        }
      }
      uint64_t ticks = 0;
      uint64_t rss = 0;
      for (pid_t p : members) {
        auto it = byPid.find(p);
        if (it == byPid.end()) continue;
        const ProcStat& st = it->second;
        ticks += st.utime + st.stime;
        // Time of reaped children stays in the group's total, so short-lived helpers count.
        if (p == e->handle.pid) ticks += st.cutime + st.cstime;
        if (!st.zombie()) rss += st.rssBytes;
      }

      std::lock_guard lock(mu);
      if (e->exit) continue;
      Usage u;
      u.memoryBytes = rss;
      u.cpuSeconds = static_cast<double>(ticks) / tps;
      u.sampledAt = clock->now();
      if (e->lastTicks) {
        double seconds = std::chrono::duration<double>(now - e->lastSampleAt).count();
        if (seconds > 0 && ticks >= *e->lastTicks) {
          u.cpuPercent = static_cast<double>(ticks - *e->lastTicks) / tps / seconds * 100.0;
        }
      }
      e->lastTicks = ticks;
      e->lastSampleAt = now;
      e->usage = u;

      // Limits the kernel does not enforce for this process are enforced here.
      bool memByKernel = e->cgroup && e->cgroup->memoryLimited;
      bool cpuByKernel = e->cgroup && e->cgroup->cpuLimited;
      if (e->limits.memoryBytes && !memByKernel) {
        e->memoryOver = rss > *e->limits.memoryBytes ? e->memoryOver + 1 : 0;
      }
      if (e->limits.cpuMillis && !cpuByKernel && e->usage) {
        e->cpuOver =
            u.cpuPercent * 10.0 > static_cast<double>(*e->limits.cpuMillis) ? e->cpuOver + 1 : 0;
      }
      if (!e->violationReported) {
        if (e->memoryOver >= options.violationSamples) {
          e->violationReported = true;
          violations.emplace_back(e->key, "memory",
                                  "RSS " + humanBytes(rss) + " over the limit " +
                                      humanBytes(*e->limits.memoryBytes) + " on " +
                                      std::to_string(e->memoryOver) + " consecutive samples");
        } else if (e->cpuOver >= options.violationSamples) {
          e->violationReported = true;
          violations.emplace_back(e->key, "cpu",
                                  "CPU " + std::to_string(static_cast<int>(u.cpuPercent * 10)) +
                                      "m over the limit " + std::to_string(*e->limits.cpuMillis) +
                                      "m on " + std::to_string(e->cpuOver) +
                                      " consecutive samples");
        }
      }
    }
    LimitCallback cb;
    {
      std::lock_guard lock(mu);
      cb = limitCallback;
    }
    for (const auto& [key, what, message] : violations) {
      spdlog::warn("runtime: {} exceeds its {} limit: {}", key, what, message);
      if (cb) cb(key, what, message);
    }
  }

  // A limit the kernel does not enforce for this process: checked on every sample.
  static bool enforcedBySampling(const Entry& e) {
    const bool memByKernel = e.cgroup && e.cgroup->memoryLimited;
    const bool cpuByKernel = e.cgroup && e.cgroup->cpuLimited;
    return (e.limits.memoryBytes && !memByKernel) || (e.limits.cpuMillis && !cpuByKernel);
  }

  // --- launch ---------------------------------------------------------------------------

  ProcessHandle launch(const LaunchSpec& spec) {
    if (spec.key.empty()) throw LaunchError("empty key");
    {
      std::lock_guard lock(mu);
      if (entries.count(spec.key)) throw LaunchError(spec.key + " is already running");
    }
    std::string exe = resolveCommand(spec);
    if (spec.workingDir.empty()) throw LaunchError("empty working directory");

    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    if (auto ids = idsFor(spec)) {
      uid = ids->first;
      gid = ids->second;
    }
    const bool dropping = uid && *uid != 0;
    if (dropping) prepareFileAccess(spec, exe, *uid, *gid);
    // In the sandbox: bwrap runs as the instance's user and execs the command (sandbox.h).
    std::vector<std::string> args = spec.args;
    const bool sandboxed = options.sandbox == Sandbox::Bwrap;
    if (sandboxed) {
      args = bwrapArgs(spec.workingDir, exe, spec.args, spec.codeDirs);
      exe = options.bwrapPath;
    }
    ResourceLimits limits = spec.limits;
    if (sandboxed && limits.maxProcesses) *limits.maxProcesses += kBwrapProcesses;

    FdGuard logFd;
    if (!spec.logDir.empty()) {
      std::error_code ec;
      fs::create_directories(spec.logDir, ec);
      // mcpd writes and rotates the log as root inside a directory the instance can write to:
      // a logs/ that is not mcpd's own directory (a planted symlink) is refused.
      struct stat st {};
      if (dropping && (::lstat(spec.logDir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
                       st.st_uid != ::geteuid())) {
        throw LaunchError("log directory " + spec.logDir + " is not a directory owned by mcpd");
      }
      std::string path = spec.logDir + "/" + kLogFileName;
      logFd.reset(
          ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
    } else {
      logFd.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    }
    if (logFd.get() < 0) throw LaunchError("cannot open the log file in " + spec.logDir);
    FdGuard nullFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (nullFd.get() < 0) throw LaunchError("cannot open /dev/null");

    std::optional<Cgroup> cg;
    if (cgroups.available()) {
      cg = cgroups.create(spec.key, limits);
      if (!cg) spdlog::warn("runtime: no cgroup for {}; limits enforced by sampling", spec.key);
    }
    // The child joins by writing "0" to descriptors opened here: no path handling after fork.
    std::vector<std::unique_ptr<FdGuard>> cgroupFds;
    if (cg) {
      for (const auto& dir : cg->dirs) {
        std::string procs = dir + "/cgroup.procs";
        cgroupFds.push_back(std::make_unique<FdGuard>(::open(procs.c_str(), O_WRONLY | O_CLOEXEC)));
        if (cgroupFds.back()->get() < 0) {
          removeCgroup(*cg);
          throw LaunchError("cannot open " + procs + ": " + std::strerror(errno));
        }
      }
    }
    std::vector<int> joinFds;
    for (const auto& f : cgroupFds) joinFds.push_back(f->get());

    // Everything the child needs is computed before fork: after fork only syscalls.
    std::vector<std::pair<int, rlimit>> rlimits;
    rlimits.push_back({RLIMIT_CORE, rlimit{0, 0}});  // a core dump would hold the API key
    if (spec.limits.maxOpenFiles) {
      rlim_t n = *spec.limits.maxOpenFiles;
      rlimits.push_back({RLIMIT_NOFILE, rlimit{n, n}});
    }
    // RLIMIT_NPROC counts every process of the uid, so it is only a per-instance limit when the
    // instance runs as its own user; otherwise pids.max (cgroup) is the only process limit.
    if (limits.maxProcesses && spec.uid && !(cg && cg->pidsLimited)) {
      rlim_t n = *limits.maxProcesses;
      rlimits.push_back({RLIMIT_NPROC, rlimit{n, n}});
    }
    const char* cwd = spec.workingDir.c_str();
    const int channel = spec.channelFd;
    const int logOut = logFd.get();
    const int nullIn = nullFd.get();

    bp::environment env;  // empty: nothing of mcpd's environment reaches the child
    for (const auto& [name, value] : spec.env) env[name] = value;

    auto setup = [&](auto& exec) {
      auto fail = [&](const char* what) {
        exec.set_error(std::error_code(errno, std::system_category()), what);
        ::_exit(127);
      };
      for (int fd : joinFds) {
        if (::write(fd, "0", 1) != 1) fail("joining the cgroup");
      }
      if (::setsid() < 0) fail("setsid");
      // Signals ignored or blocked in mcpd would otherwise survive exec.
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);
      // bwrap's outer process (the one recorded) would die of the group's SIGTERM at once and
      // take the sandbox down without its grace period: it ignores it; the command gets it
      // back to the default (sandbox.h) and handles it as it would outside.
      if (sandboxed) {
        struct sigaction ign {};
        ign.sa_handler = SIG_IGN;
        ::sigaction(SIGTERM, &ign, nullptr);
      }
      for (const auto& [resource, value] : rlimits) {
        if (::setrlimit(resource, &value) != 0) fail("setrlimit");
      }
      // Groups first (setgid needs root), root's supplementary groups never kept.
      if ((uid || gid) && ::setgroups(0, nullptr) != 0) fail("setgroups");
      if (gid && ::setgid(*gid) != 0) fail("setgid");
      if (uid && ::setuid(*uid) != 0) fail("setuid");
      if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("no_new_privs");
      if (::chdir(cwd) != 0) fail("chdir to the working directory");
      if (::dup2(nullIn, 0) < 0 || ::dup2(logOut, 1) < 0 || ::dup2(logOut, 2) < 0) fail("dup2");
      // Nothing of mcpd's (sockets, store, pidfds) leaks into the instance.
      ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
      // ... but the warm pool's identity channel, which becomes descriptor 3.
      if (channel == 3 && ::fcntl(3, F_SETFD, 0) != 0) fail("keeping the identity channel");
      if (channel >= 0 && channel != 3 && ::dup2(channel, 3) < 0) fail("dup2 identity channel");
    };
    // A child that failed before exec has already exited: reap it here, its pid is lost else.
    auto reapFailed = [](auto& exec, const std::error_code&) {
      if (exec.pid > 0) ::waitpid(exec.pid, nullptr, 0);
    };

    std::error_code ec;
    bp::child child(bp::exe = exe, bp::args = args, env, bp::extend::on_exec_setup = setup,
                    bp::extend::on_error = reapFailed, ec);
    if (ec || !child.valid()) {
      if (cg) removeCgroup(*cg);
      throw LaunchError("cannot start " + spec.command + ": " + ec.message());
    }
    pid_t pid = child.id();
    child.detach();  // reaped through the pidfd, never by Boost

    auto e = std::make_shared<Entry>();
    e->key = spec.key;
    e->isChild = true;
    e->pidfd = pidfdOpen(pid);
    if (e->pidfd < 0) {
      // Cannot happen for an unreaped child; if it does, do not leave an unwatched process.
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      if (cg) removeCgroup(*cg);
      throw LaunchError(std::string("pidfd_open: ") + std::strerror(errno));
    }
    auto st = readProcStat(pid);  // readable even if it already exited: we have not reaped
    e->handle = ProcessHandle{pid, st ? st->startTime : 0};
    configure(*e, spec);
    e->cgroup = cg;
    {
      std::lock_guard lock(mu);
      entries[spec.key] = e;
    }
    arm(e);
    spdlog::info("runtime: {} started pid {} ({})", spec.key, pid,
                 cg ? cgroups.mode() : std::string("rlimit+sampling"));
    return e->handle;
  }

  // Root never runs an instance as root unless told to (runAs "root", or the spec's uid).
  std::optional<std::pair<uid_t, gid_t>> idsFor(const LaunchSpec& spec) const {
    if (::geteuid() != 0) return std::nullopt;
    if (spec.uid)
      return std::make_pair(*spec.uid,
                            spec.gid ? *spec.gid : primaryGroup(*spec.uid).value_or(*spec.uid));
    if (runAs) return std::make_pair(runAs->first, spec.gid.value_or(runAs->second));
    return std::nullopt;
  }

  static void configure(Entry& e, const LaunchSpec& spec) {
    e.logDir = spec.logDir;
    e.maxLogBytes = spec.maxLogBytes;
    e.maxLogFiles = spec.maxLogFiles;
    e.limits = spec.limits;
    e.grace = spec.stopGracePeriod;
  }

  bool adopt(const LaunchSpec& spec, const ProcessHandle& h) {
    if (spec.key.empty() || h.pid <= 0) return false;
    {
      std::lock_guard lock(mu);
      auto it = entries.find(spec.key);
      if (it != entries.end()) return it->second->handle == h;
    }
    // An mcpd start may have made DATA_DIR private again (0700): the adopted instance must
    // still reach its HOME by path (and a dir of an earlier layout becomes its own).
    if (auto ids = idsFor(spec); ids && ids->first != 0 && !spec.workingDir.empty()) {
      try {
        giveWorkingDir(spec.workingDir, ids->first, ids->second);
      } catch (const LaunchError& ex) {
        spdlog::warn("runtime: {}: {}", spec.key, ex.what());
      }
    }
    // Open first, then check: if the pid was reused in between, the start time tells.
    FdGuard pidfd(pidfdOpen(h.pid));
    if (pidfd.get() < 0) return false;
    auto st = readProcStat(h.pid);
    if (!st || st->zombie() || st->startTime != h.startTime) return false;
    auto e = std::make_shared<Entry>();
    e->key = spec.key;
    e->handle = h;
    e->isChild = st->ppid == ::getpid();
    e->pidfd = pidfd.release();
    configure(*e, spec);
    // Only a session leader (what launch() starts) owns its cgroup; anything else adopted
    // must not take the cgroup's other members down when it exits.
    if (st->session == h.pid) e->cgroup = cgroups.forPid(h.pid);
    {
      std::lock_guard lock(mu);
      if (entries.count(spec.key)) return false;
      entries[spec.key] = e;
    }
    arm(e);
    spdlog::info("runtime: {} adopted pid {}", spec.key, h.pid);
    return true;
  }

  std::optional<ProcessHandle> rekey(const std::string& from, const LaunchSpec& to) {
    if (to.key.empty()) return std::nullopt;
    std::string fromLogDir;
    {
      std::lock_guard lock(mu);
      auto it = entries.find(from);
      if (it == entries.end() || it->second->exit || entries.count(to.key)) return std::nullopt;
      fromLogDir = it->second->logDir;
    }
    if (auto ids = idsFor(to); ids && ids->first != 0 && !to.workingDir.empty()) {
      giveWorkingDir(to.workingDir, ids->first, ids->second);
    }
    if (!fromLogDir.empty() && !to.logDir.empty()) moveLog(fromLogDir, to.logDir, to.maxLogFiles);
    std::lock_guard lock(mu);
    auto it = entries.find(from);
    if (it == entries.end() || it->second->exit || entries.count(to.key)) return std::nullopt;
    EntryPtr e = it->second;
    entries.erase(it);
    e->key = to.key;
    configure(*e, to);
    entries[to.key] = e;
    spdlog::info("runtime: {} pid {} is now {}", from, e->handle.pid, to.key);
    return e->handle;
  }

  std::optional<ExitInfo> stop(const std::string& key,
                               std::optional<std::chrono::milliseconds> grace) {
    EntryPtr e;
    {
      std::lock_guard lock(mu);
      auto it = entries.find(key);
      if (it == entries.end()) return std::nullopt;
      e = it->second;
      e->stopRequested = true;
      // Under mu: collect() cannot reap in between, so the group id is still this process's.
      if (!e->exit) signalGroup(*e, SIGTERM);
    }
    waitReadable(e->pidfd, grace.value_or(e->grace));
    {
      std::lock_guard lock(mu);
      if (!e->exit) signalGroup(*e, SIGKILL);
    }
    waitReadable(e->pidfd, kKillWait);
    if (collect(e)) finish(e);
    std::unique_lock lock(mu);
    // The io thread may be between its collect() and finish(): wait for it, bounded.
    exited.wait_for(lock, kKillWait, [&] { return e->finished; });
    if (!e->exit) spdlog::error("runtime: {} pid {} survived SIGKILL", key, e->handle.pid);
    return e->exit;
  }

  LocalRuntimeOptions options;
  std::optional<std::pair<uid_t, gid_t>> runAs;  // set only when root drops to another user
  SystemClock fallbackClock;
  const Clock* clock;
  CgroupManager cgroups;

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::steady_timer sampler;
  std::thread thread;
  bool shuttingDown = false;  // io thread only

  mutable std::mutex mu;
  std::condition_variable exited;
  std::map<std::string, EntryPtr> entries;
  std::vector<Cgroup> pendingCgroups;
  ExitCallback exitCallback;
  LimitCallback limitCallback;
};

LocalProcessRuntime::LocalProcessRuntime(LocalRuntimeOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

LocalProcessRuntime::~LocalProcessRuntime() = default;

ProcessHandle LocalProcessRuntime::launch(const LaunchSpec& spec) { return impl_->launch(spec); }

bool LocalProcessRuntime::adopt(const LaunchSpec& spec, const ProcessHandle& handle) {
  return impl_->adopt(spec, handle);
}

std::optional<ExitInfo> LocalProcessRuntime::stop(const std::string& key,
                                                  std::optional<std::chrono::milliseconds> grace) {
  return impl_->stop(key, grace);
}

bool LocalProcessRuntime::rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->entries.find(from);
  if (it == impl_->entries.end() || from == to || impl_->entries.count(to)) return false;
  auto e = std::move(it->second);
  impl_->entries.erase(it);
  e->key = to;
  impl_->entries[to] = std::move(e);
  return true;
}

std::optional<Usage> LocalProcessRuntime::usage(const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->entries.find(key);
  if (it == impl_->entries.end()) return std::nullopt;
  return it->second->usage;
}

std::optional<ProcessHandle> LocalProcessRuntime::rekey(const std::string& from,
                                                        const LaunchSpec& to) {
  return impl_->rekey(from, to);
}

std::optional<ProcessHandle> LocalProcessRuntime::handle(const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->entries.find(key);
  if (it == impl_->entries.end()) return std::nullopt;
  return it->second->handle;
}

void LocalProcessRuntime::onExit(ExitCallback callback) {
  std::lock_guard lock(impl_->mu);
  impl_->exitCallback = std::move(callback);
}

void LocalProcessRuntime::onLimitExceeded(LimitCallback callback) {
  std::lock_guard lock(impl_->mu);
  impl_->limitCallback = std::move(callback);
}

std::optional<std::pair<uid_t, gid_t>> LocalProcessRuntime::runAsIds() const {
  return impl_->runAs;
}

std::string LocalProcessRuntime::enforcement() const {
  return impl_->cgroups.available() ? impl_->cgroups.mode() : "rlimit+sampling";
}

}  // namespace minimcp::runtime
