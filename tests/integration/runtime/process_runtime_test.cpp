// LocalProcessRuntime against real processes (/bin/sh scripts, sleep, node).
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <set>
#include <vector>

#include "reconciler/runtime/local_process_runtime.h"
#include "tests/integration/runtime/test_support.h"

namespace minimcp::runtime {
namespace {

using namespace std::chrono_literals;
using testing::ExitCollector;
using testing::readText;
using testing::TempDir;
using testing::waitFor;

constexpr const char* kPath = "/usr/local/bin:/usr/bin:/bin";

class ProcessRuntimeTest : public ::testing::Test {
 protected:
  void TearDown() override { testing::expectNoChildren(); }

  LaunchSpec shell(const std::string& key, const std::string& script) {
    LaunchSpec spec;
    spec.key = key;
    spec.command = "/bin/sh";
    spec.args = {"-c", script};
    spec.env = {{"PATH", kPath}, {"HOME", dir_.path()}};
    spec.workingDir = dir_.path();
    spec.logDir = dir_ / "logs";
    spec.stopGracePeriod = 2s;
    return spec;
  }

  // Reads a pid a script wrote into `file` in the working dir.
  pid_t pidFromFile(const std::string& file) {
    pid_t pid = 0;
    waitFor([&] {
      pid = static_cast<pid_t>(std::atoi(readText(dir_ / file).c_str()));
      return pid > 0;
    });
    return pid;
  }

  bool fileExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

  TempDir dir_;
  ExitCollector exits_;
};

TEST_F(ProcessRuntimeTest, EnforcementIsReported) {
  LocalProcessRuntime rt;
  std::string mode = rt.enforcement();
  EXPECT_TRUE(mode == "cgroup-v2" || mode == "cgroup-v1" || mode == "rlimit+sampling") << mode;
  std::printf("[ INFO     ] limit enforcement on this host: %s\n", mode.c_str());
  LocalRuntimeOptions noCgroups;
  noCgroups.useCgroups = false;
  EXPECT_EQ(LocalProcessRuntime(noCgroups).enforcement(), "rlimit+sampling");
}

TEST_F(ProcessRuntimeTest, ExitCodeIsReportedWithoutSignal) {
  LocalProcessRuntime rt;
  exits_.attach(rt);
  auto h = rt.launch(shell("ns/exit3", "exit 3"));
  EXPECT_GT(h.pid, 0);
  EXPECT_GT(h.startTime, 0u);
  auto info = exits_.wait("ns/exit3");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->pid, h.pid);
  EXPECT_EQ(info->exitCode, 3);
  EXPECT_FALSE(info->signal);
  EXPECT_EQ(info->reason, "Error");
  EXPECT_FALSE(info->stopRequested);
  EXPECT_FALSE(readProcStat(h.pid)) << "the child was not reaped";
  EXPECT_FALSE(rt.handle("ns/exit3"));
  EXPECT_FALSE(rt.stop("ns/exit3")) << "an exited key is no longer known";
}

TEST_F(ProcessRuntimeTest, ARenamedProcessKeepsRunningAndIsKnownByItsNewKeyOnly) {
  LocalProcessRuntime rt;
  exits_.attach(rt);
  auto old = rt.launch(shell("ns/mi", "exec sleep 30"));
  EXPECT_FALSE(rt.rename("ns/none", "ns/mi#previous")) << "nothing runs under ns/none";
  ASSERT_TRUE(rt.rename("ns/mi", "ns/mi#previous"));
  EXPECT_FALSE(rt.handle("ns/mi"));
  EXPECT_EQ(rt.handle("ns/mi#previous"), old);
  // The key is free for the next process; a taken key is never overwritten.
  auto next = rt.launch(shell("ns/mi", "exec sleep 30"));
  EXPECT_FALSE(rt.rename("ns/mi", "ns/mi#previous"));
  EXPECT_EQ(rt.handle("ns/mi"), next);
  auto info = rt.stop("ns/mi#previous", 2s);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->pid, old.pid);
  auto reported = exits_.wait("ns/mi#previous");  // the exit is reported under the new key
  ASSERT_TRUE(reported);
  EXPECT_EQ(reported->pid, old.pid);
  EXPECT_EQ(rt.handle("ns/mi"), next);
  rt.stop("ns/mi", 2s);
}

TEST_F(ProcessRuntimeTest, ZeroExitIsCompleted) {
  LocalProcessRuntime rt;
  exits_.attach(rt);
  rt.launch(shell("ns/ok", "true"));
  auto info = exits_.wait("ns/ok");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->exitCode, 0);
  EXPECT_EQ(info->reason, "Completed");
}

TEST_F(ProcessRuntimeTest, SignalIsReportedWithoutExitCode) {
  LocalProcessRuntime rt;
  exits_.attach(rt);
  auto h = rt.launch(shell("ns/segv", "kill -SEGV $$"));
  auto info = exits_.wait("ns/segv");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->signal, SIGSEGV);
  EXPECT_FALSE(info->exitCode);
  EXPECT_EQ(info->reason, "Signaled");
  EXPECT_FALSE(info->coreDumped) << "RLIMIT_CORE is 0: a dump could hold the API key";
  EXPECT_FALSE(readProcStat(h.pid));
}

TEST_F(ProcessRuntimeTest, StopKillsAProcessIgnoringSigtermAfterTheGrace) {
  LocalProcessRuntime rt;
  exits_.attach(rt);
  auto h = rt.launch(shell("ns/stubborn", "trap '' TERM; touch ready; exec sleep 1000"));
  ASSERT_TRUE(waitFor([&] { return fileExists(dir_ / "ready"); }));
  auto started = std::chrono::steady_clock::now();
  auto info = rt.stop("ns/stubborn", 300ms);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(info);
  EXPECT_EQ(info->signal, SIGKILL);
  EXPECT_FALSE(info->exitCode);
  EXPECT_EQ(info->reason, "Stopped");
  EXPECT_TRUE(info->stopRequested);
  EXPECT_GE(took, 300ms) << "SIGKILL came before the grace period ended";
  EXPECT_LT(took, 3s);
  EXPECT_FALSE(readProcStat(h.pid));
  auto cb = exits_.wait("ns/stubborn");
  ASSERT_TRUE(cb) << "onExit fires for stopped processes too";
  EXPECT_TRUE(cb->stopRequested);
}

TEST_F(ProcessRuntimeTest, StopOfAPoliteProcessTakesNoGrace) {
  LocalProcessRuntime rt;
  auto h = rt.launch(shell("ns/polite", "exec sleep 1000"));
  auto started = std::chrono::steady_clock::now();
  auto info = rt.stop("ns/polite", 5s);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->signal, SIGTERM);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_FALSE(readProcStat(h.pid));
}

TEST_F(ProcessRuntimeTest, StopKillsTheWholeGroupIncludingGrandchildren) {
  LocalProcessRuntime rt;
  auto h = rt.launch(
      shell("ns/forker", "sh -c \"trap '' TERM; exec sleep 1000\" & echo $! > gc.pid; wait"));
  pid_t grandchild = pidFromFile("gc.pid");
  ASSERT_GT(grandchild, 0);
  ASSERT_TRUE(waitFor([&] { return processAlive(grandchild); }));
  auto st = readProcStat(grandchild);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->pgrp, h.pid) << "the grandchild shares the instance's process group";
  auto info = rt.stop("ns/forker", 300ms);
  ASSERT_TRUE(info);
  EXPECT_FALSE(readProcStat(h.pid));
  // Its parent is gone, so init reaps it: gone, or at most a zombie awaiting init.
  EXPECT_TRUE(waitFor([&] { return !processAlive(grandchild); }, 2000ms))
      << "grandchild " << grandchild << " survived the stop";
}

TEST_F(ProcessRuntimeTest, LeaderExitTakesItsGroupAlong) {
  LocalProcessRuntime rt;
  exits_.attach(rt);
  rt.launch(shell("ns/leaver",
                  "sleep 1000 & echo $! > gc.pid; while [ ! -e go ]; do sleep 0.05; done; exit 4"));
  pid_t grandchild = pidFromFile("gc.pid");
  ASSERT_GT(grandchild, 0);
  std::ofstream(dir_ / "go").close();
  auto info = exits_.wait("ns/leaver");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->exitCode, 4);
  EXPECT_TRUE(waitFor([&] { return !processAlive(grandchild); }, 2000ms))
      << "a crashed server's helper would keep its port";
}

TEST_F(ProcessRuntimeTest, CgroupCatchesAGrandchildThatLeftTheGroup) {
  LocalProcessRuntime rt;
  if (rt.enforcement() == "rlimit+sampling") GTEST_SKIP() << "no writable cgroup on this host";
  rt.launch(shell("ns/escaper", "setsid sleep 1000 & echo $! > gc.pid; wait"));
  pid_t escaped = pidFromFile("gc.pid");
  ASSERT_GT(escaped, 0);
  ASSERT_TRUE(waitFor([&] {
    auto st = readProcStat(escaped);
    return st && st->session == escaped;  // setsid has run: a group and session of its own
  }));
  ASSERT_TRUE(rt.stop("ns/escaper", 300ms));
  EXPECT_TRUE(waitFor([&] { return !processAlive(escaped); }, 2000ms));
}

TEST_F(ProcessRuntimeTest, EnvironmentIsBuiltFromNothing) {
  ::setenv("MINIMCP_PLANTED_SECRET", "do-not-leak", 1);
  // A descriptor without O_CLOEXEC, as a careless library would leave one.
  int leaky = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 0);
  LocalProcessRuntime rt;
  LaunchSpec spec;
  spec.key = "ns/env";
  spec.command = "sleep";  // looked up in the spec's PATH
  spec.args = {"1000"};
  spec.env = {{"PATH", kPath}, {"HOME", dir_.path()}, {"PORT", "20001"}, {"EMPTY", ""}};
  spec.workingDir = dir_.path();
  spec.logDir = dir_ / "logs";
  auto h = rt.launch(spec);
  ::close(leaky);
  ::unsetenv("MINIMCP_PLANTED_SECRET");
  std::string proc = "/proc/" + std::to_string(h.pid);
  // Until exec, /proc shows the forked copy of this test: wait for sleep itself.
  ASSERT_TRUE(waitFor([&] {
    return readText(proc + "/cmdline").find("sleep") == 0 ||
           readText(proc + "/cmdline").find("/sleep") != std::string::npos;
  }));
  std::string environ = readText(proc + "/environ");
  std::set<std::string> vars;
  std::stringstream ss(environ);
  std::string item;
  while (std::getline(ss, item, '\0')) vars.insert(item);
  EXPECT_EQ(environ.find("MINIMCP_PLANTED_SECRET"), std::string::npos);
  std::set<std::string> want = {std::string("PATH=") + kPath, "HOME=" + dir_.path(), "PORT=20001",
                                "EMPTY="};
  EXPECT_EQ(vars, want);

  std::error_code ec;
  EXPECT_EQ(std::filesystem::read_symlink(proc + "/cwd", ec).string(), dir_.path());
  auto st = readProcStat(h.pid);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->session, h.pid) << "setsid: own session";
  EXPECT_EQ(st->pgrp, h.pid) << "setsid: own process group";
  std::string status = readText(proc + "/status");
  EXPECT_NE(status.find("NoNewPrivs:\t1"), std::string::npos);
  // Until exec completes the child still holds mcpd's close-on-exec descriptors; a leaked
  // descriptor (no close-on-exec) would stay past it, so wait for exec, then compare.
  auto openFds = [&] {
    std::set<std::string> fds;
    for (const auto& entry : std::filesystem::directory_iterator(proc + "/fd", ec)) {
      fds.insert(entry.path().filename().string());
    }
    return fds;
  };
  const std::set<std::string> stdio = {"0", "1", "2"};
  waitFor([&] { return openFds() == stdio; }, 2s);
  EXPECT_EQ(openFds(), stdio) << "mcpd descriptors leaked";
  ASSERT_TRUE(rt.stop("ns/env", 2s));
}

TEST_F(ProcessRuntimeTest, LaunchErrors) {
  LocalProcessRuntime rt;
  auto spec = shell("ns/bad", "exit 0");
  spec.command = "no-such-command-anywhere";
  EXPECT_THROW(rt.launch(spec), LaunchError);
  spec = shell("ns/bad", "exit 0");
  spec.env = {{"HOME", dir_.path()}};
  spec.command = "sh";  // no PATH in the instance environment: mcpd's PATH is not used
  EXPECT_THROW(rt.launch(spec), LaunchError);
  spec = shell("ns/bad", "exit 0");
  spec.workingDir = dir_ / "missing";
  EXPECT_THROW(rt.launch(spec), LaunchError);

  auto running = shell("ns/twice", "exec sleep 1000");
  rt.launch(running);
  EXPECT_THROW(rt.launch(running), LaunchError);
  EXPECT_TRUE(rt.stop("ns/twice", 2s));
  EXPECT_FALSE(rt.stop("ns/unknown"));
}

TEST_F(ProcessRuntimeTest, AdoptChecksPidAndStartTimeAndWatchesTheProcess) {
  ProcessHandle h;
  pid_t grandchild = 0;
  {
    LocalProcessRuntime first;
    h = first.launch(shell("ns/adoptee", "sleep 1000 & echo $! > gc.pid; wait; exec sleep 1000"));
    grandchild = pidFromFile("gc.pid");
  }  // like mcpd exiting: the processes stay
  ASSERT_GT(grandchild, 0);
  ASSERT_TRUE(processAlive(h.pid, h.startTime)) << "the process died with its runtime";

  LocalProcessRuntime second;
  exits_.attach(second);
  EXPECT_TRUE(processAlive(h.pid, h.startTime));
  EXPECT_FALSE(processAlive(h.pid, h.startTime + 1));
  LaunchSpec spec = shell("ns/adoptee", "");
  EXPECT_FALSE(second.adopt(spec, ProcessHandle{h.pid, h.startTime + 1})) << "pid reused";
  EXPECT_FALSE(second.adopt(spec, ProcessHandle{999999999, h.startTime}));
  ASSERT_TRUE(second.adopt(spec, h));
  EXPECT_EQ(second.handle("ns/adoptee"), h);

  // A process that is not our child (its parent is the shell): exit seen, status unknown.
  auto gcStart = processStartTime(grandchild);
  ASSERT_TRUE(gcStart);
  ASSERT_TRUE(second.adopt(shell("ns/orphan", ""), ProcessHandle{grandchild, *gcStart}));
  ::kill(grandchild, SIGKILL);
  auto gcExit = exits_.wait("ns/orphan");
  ASSERT_TRUE(gcExit);
  EXPECT_EQ(gcExit->reason, "Unknown");
  EXPECT_FALSE(gcExit->exitCode);

  auto info = second.stop("ns/adoptee", 2s);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->signal, SIGTERM);
  EXPECT_FALSE(readProcStat(h.pid));
}

TEST_F(ProcessRuntimeTest, ExitDetectionLatency) {
  LocalProcessRuntime rt;
  exits_.attach(rt);
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) {
    std::string key = "ns/latency" + std::to_string(i);
    auto h = rt.launch(shell(key, "exec sleep 1000"));
    auto killedAt = std::chrono::steady_clock::now();
    ::kill(h.pid, SIGKILL);
    auto info = exits_.wait(key, 2000ms);
    ASSERT_TRUE(info) << key;
    EXPECT_EQ(info->signal, SIGKILL);
    ms.push_back(std::chrono::duration<double, std::milli>(exits_.at(key) - killedAt).count());
  }
  std::sort(ms.begin(), ms.end());
  double median = (ms[9] + ms[10]) / 2;
  std::printf("[ INFO     ] kill -9 -> onExit latency over 20: median %.3f ms, max %.3f ms\n",
              median, ms.back());
  EXPECT_LT(median, 100.0);
}

TEST_F(ProcessRuntimeTest, OutputGoesToRotatedLogFiles) {
  LocalRuntimeOptions options;
  options.samplePeriod = 50ms;
  LocalProcessRuntime rt(options);
  // The hundred lines go out in one write, so the sampler cannot rotate between them and the
  // first rotated file holds all of them.
  auto spec = shell("ns/logger",
                    "echo to-stderr >&2; lines=$(i=0; while [ $i -lt 100 ]; do "
                    "echo \"line $i ........................................\"; i=$((i+1)); "
                    "done); printf '%s\\n' \"$lines\"; exec sleep 1000");
  spec.maxLogBytes = 1000;
  spec.maxLogFiles = 2;
  rt.launch(spec);
  std::string log = spec.logDir + "/output.log";
  ASSERT_TRUE(waitFor([&] { return fileExists(log + ".1"); })) << "never rotated";
  std::string rotated = readText(log + ".1");
  EXPECT_NE(rotated.find("to-stderr"), std::string::npos) << "stderr is logged too";
  EXPECT_NE(rotated.find("line 99"), std::string::npos);
  EXPECT_TRUE(waitFor([&] { return std::filesystem::file_size(log) <= spec.maxLogBytes; }));
  EXPECT_EQ(logFiles(spec.logDir), (std::vector<std::string>{log + ".1", log}));
  ASSERT_TRUE(rt.stop("ns/logger", 2s));

  // Shifting keeps at most maxLogFiles old files.
  for (int i = 0; i < 4; ++i) {
    std::ofstream(log, std::ios::app) << std::string(1500, 'a' + i) << "\n";
    rotateLogIfNeeded(spec.logDir, 1000, 2);
  }
  EXPECT_EQ(logFiles(spec.logDir), (std::vector<std::string>{log + ".2", log + ".1", log}));
  EXPECT_EQ(readText(log + ".1")[0], 'd');
  EXPECT_EQ(readText(log + ".2")[0], 'c');
  EXPECT_FALSE(fileExists(log + ".3"));
}

TEST_F(ProcessRuntimeTest, UsageIsSampledFromProc) {
  LocalRuntimeOptions options;
  options.samplePeriod = 50ms;
  options.usageSamplePeriod = 100ms;  // no limits: sampled at the slower usage rate
  LocalProcessRuntime rt(options);
  rt.launch(shell("ns/busy", "while :; do :; done"));
  std::optional<Usage> u;
  EXPECT_TRUE(waitFor(
      [&] {
        u = rt.usage("ns/busy");
        return u && u->cpuPercent > 20;
      },
      5000ms))
      << "cpu " << (u ? u->cpuPercent : -1);
  ASSERT_TRUE(u);
  std::printf("[ INFO     ] busy loop: cpu %.1f%%, rss %llu bytes\n", u->cpuPercent,
              static_cast<unsigned long long>(u->memoryBytes));
  EXPECT_GT(u->memoryBytes, 0u);
  EXPECT_GT(u->sampledAt.time_since_epoch().count(), 0);
  ASSERT_TRUE(rt.stop("ns/busy", 2s));
  EXPECT_FALSE(rt.usage("ns/busy"));
}

// A memory hog in node (the runtime the MCP servers use): 16 MiB buffers, filled so the pages
// are really resident, kept alive.
LaunchSpec memoryHog(LaunchSpec spec, int megabytes) {
  spec.command = "node";
  spec.args = {"-e", "const a=[];for(let i=0;i<" + std::to_string(megabytes / 16) +
                         ";i++)a.push(Buffer.alloc(16<<20,1));setInterval(()=>{},1000)"};
  return spec;
}

bool haveNode() {
  for (const char* dir : {"/usr/local/bin/node", "/usr/bin/node", "/bin/node"}) {
    if (::access(dir, X_OK) == 0) return true;
  }
  return false;
}

TEST_F(ProcessRuntimeTest, MemoryLimitInTheKernelOomKills) {
  LocalProcessRuntime rt;
  if (rt.enforcement() == "rlimit+sampling") GTEST_SKIP() << "no writable cgroup on this host";
  if (!haveNode()) GTEST_SKIP() << "node not installed";
  exits_.attach(rt);
  auto spec = memoryHog(shell("ns/hog", ""), 320);
  spec.limits.memoryBytes = 128ull << 20;
  rt.launch(spec);
  auto info = exits_.wait("ns/hog", 15000ms);
  ASSERT_TRUE(info) << "not killed within 15 s";
  EXPECT_EQ(info->signal, SIGKILL);
  EXPECT_EQ(info->reason, "OOMKilled");
}

TEST_F(ProcessRuntimeTest, MemoryLimitBySamplingReportsAViolation) {
  if (!haveNode()) GTEST_SKIP() << "node not installed";
  LocalRuntimeOptions options;
  options.useCgroups = false;
  options.samplePeriod = 50ms;
  LocalProcessRuntime rt(options);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, std::string>> seen;
  rt.onLimitExceeded([&](const std::string& key, const std::string& what, const std::string&) {
    std::lock_guard lock(mu);
    seen.emplace_back(key, what);
    cv.notify_all();
  });
  auto spec = memoryHog(shell("ns/hog", ""), 256);
  spec.limits.memoryBytes = 96ull << 20;
  rt.launch(spec);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 15s, [&] { return !seen.empty(); })) << "no violation reported";
    EXPECT_EQ(seen[0], (std::pair<std::string, std::string>{"ns/hog", "memory"}));
  }
  auto u = rt.usage("ns/hog");
  ASSERT_TRUE(u);
  EXPECT_GT(u->memoryBytes, 96ull << 20);
  ASSERT_TRUE(rt.stop("ns/hog", 2s));  // what the reconciler does next
  std::lock_guard lock(mu);
  EXPECT_EQ(seen.size(), 1u) << "reported once, not on every sample";
}

TEST_F(ProcessRuntimeTest, CpuLimitBySamplingReportsAViolation) {
  LocalRuntimeOptions options;
  options.useCgroups = false;
  options.samplePeriod = 50ms;
  LocalProcessRuntime rt(options);
  std::atomic<bool> cpu{false};
  rt.onLimitExceeded([&](const std::string&, const std::string& what, const std::string&) {
    if (what == "cpu") cpu = true;
  });
  auto spec = shell("ns/spin", "while :; do :; done");
  spec.limits.cpuMillis = 100;
  rt.launch(spec);
  EXPECT_TRUE(waitFor([&] { return cpu.load(); }, 5000ms));
  ASSERT_TRUE(rt.stop("ns/spin", 2s));
}

// --- uid/gid drop when root ---------------------------------------------------------------------

std::pair<uid_t, gid_t> idsOf(const char* user) {
  passwd* pw = ::getpwnam(user);
  if (!pw) return {0, 0};
  return {pw->pw_uid, pw->pw_gid};
}

TEST_F(ProcessRuntimeTest, RootRunsInstancesAsNobodyInAUsableDirectory) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root drops privileges";
  const auto nobody = idsOf("nobody");
  ASSERT_NE(nobody.first, 0u) << "no user nobody on this host";
  LocalProcessRuntime rt;
  ASSERT_TRUE(rt.runAsIds());
  EXPECT_EQ(*rt.runAsIds(), nobody);
  exits_.attach(rt);
  // Laid out as mcpd does: DATA_DIR/instances/<ns>/<name> and DATA_DIR/logs/<ns>/<name> (0700,
  // root's), under a 0700 mkdtemp directory the instance could not pass before.
  const std::string inst = dir_ / "data/instances/ns/drop";
  const std::string logs = dir_ / "data/logs/ns/drop";
  std::filesystem::create_directories(inst);
  std::filesystem::create_directories(logs);
  for (const std::string& d :
       {dir_.path(), dir_ / "data", dir_ / "data/instances", dir_ / "data/instances/ns", inst,
        dir_ / "data/logs", dir_ / "data/logs/ns", logs}) {
    ::chmod(d.c_str(), 0700);
  }
  const std::string script = dir_ / "script.sh";  // a server file outside the instance dir
  {
    std::FILE* f = std::fopen(script.c_str(), "w");
    ASSERT_TRUE(f);
    std::fputs(
        "echo \"$(id -u) $(id -g) $(id -G)\" > \"$HOME/ids\"\n"
        "echo hello from the instance\n"
        "mkdir \"$HOME/cache\" || exit 4\n"
        // The log is mcpd's, out of the instance's reach.
        "{ echo x >> \"$LOGS/output.log\"; } 2>/dev/null && exit 5\n"
        "ls \"$LOGS\" >/dev/null 2>&1 && exit 6\n"
        "exit 0\n",
        f);
    std::fclose(f);
    ::chmod(script.c_str(), 0644);
  }
  LaunchSpec spec;
  spec.key = "ns/drop";
  spec.command = "/bin/sh";
  spec.args = {script};
  spec.env = {{"PATH", kPath}, {"HOME", inst}, {"LOGS", logs}};
  spec.workingDir = inst;
  spec.logDir = logs;
  auto h = rt.launch(spec);
  auto info = exits_.wait("ns/drop");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->pid, h.pid);
  EXPECT_EQ(info->exitCode, 0) << readText(logs + "/output.log");
  const std::string n = std::to_string(nobody.first), g = std::to_string(nobody.second);
  EXPECT_EQ(readText(inst + "/ids"), n + " " + g + " " + g + "\n") << "no supplementary group kept";
  EXPECT_EQ(readText(logs + "/output.log"), "hello from the instance\n");
  struct stat st {};
  ASSERT_EQ(::stat((logs + "/output.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "mcpd writes the log";
  ASSERT_EQ(::stat(logs.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u) << "the log dir stays mcpd's";
  ASSERT_EQ(::stat((dir_ / "data/logs").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u) << "no instance passes into the logs";
  ASSERT_EQ(::stat(inst.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, nobody.first) << "the instance dir is the instance's";
  EXPECT_EQ(st.st_gid, nobody.second);
  EXPECT_EQ(st.st_mode & 07777, 0700u) << "and nobody else's";
  ASSERT_EQ(::stat((inst + "/cache").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, nobody.first);
  for (const std::string& d :
       {dir_.path(), dir_ / "data", dir_ / "data/instances", dir_ / "data/instances/ns"}) {
    ASSERT_EQ(::stat(d.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0701u) << d << ": searchable, not readable, by others";
  }
}

// An instance with a uid and gid of its own (DynamicUser): its dir is its own, 0700.
TEST_F(ProcessRuntimeTest, InstanceWithItsOwnUidOwnsItsDirectory) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root drops privileges";
  LocalProcessRuntime rt;
  exits_.attach(rt);
  const uid_t id = 61999;  // the range mcpd uses; no test user holds it
  const std::string inst = dir_ / "data/instances/ns/own";
  std::filesystem::create_directories(inst);
  ::chmod(inst.c_str(), 0700);
  auto spec = shell("ns/own", "echo \"$(id -u) $(id -g) $(id -G)\" > ids && touch mine");
  spec.workingDir = inst;
  spec.env = {{"PATH", kPath}, {"HOME", inst}};
  spec.uid = id;
  spec.gid = id;
  rt.launch(spec);
  auto info = exits_.wait("ns/own");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->exitCode, 0) << readText(dir_ / "logs/output.log");
  const std::string i = std::to_string(id);
  EXPECT_EQ(readText(inst + "/ids"), i + " " + i + " " + i + "\n");
  struct stat st {};
  ASSERT_EQ(::stat(inst.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, id);
  EXPECT_EQ(st.st_gid, id);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat((inst + "/mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, id);
}

// A node server as the instance runs it, in the bubblewrap sandbox.
LaunchSpec sandboxedServer(const std::string& key, const std::string& inst, int port,
                           const std::string& script) {
  LaunchSpec spec;
  spec.key = key;
  spec.command = "node";
  spec.args = {script};
  spec.env = {{"PATH", kPath}, {"HOME", inst}, {"PORT", std::to_string(port)}, {"MCP_ID", key}};
  spec.workingDir = inst;
  spec.logDir = inst + "-logs";
  spec.stopGracePeriod = 5s;
  return spec;
}

// What the server finds, served on 127.0.0.1:PORT; on SIGTERM it notes it and exits 0.
constexpr const char* kSandboxProbe = R"JS(
const fs = require('fs'), http = require('http');
const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'ok'; } catch (e) { return e.code; } };
const facts = {
  own: tryWrite(process.env.HOME + '/own'),
  root: tryWrite('/sandbox-escape'),
  usr: tryWrite('/usr/sandbox-escape'),
  tmp: tryWrite('/tmp/minimcp-sandbox-private'),
  procs: fs.readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n)).length,
  uid: process.getuid(),
};
process.on('SIGTERM', () => { fs.writeFileSync(process.env.HOME + '/sigterm', 'x'); process.exit(0); });
http.createServer((req, res) => res.end(JSON.stringify(facts)))
  .listen(Number(process.env.PORT), '127.0.0.1');
)JS";

std::string httpGet(int port) {
  std::string out;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string req = "GET / HTTP/1.0\r\n\r\n";
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// Every live process whose process group is `pgid`.
std::vector<pid_t> groupMembers(pid_t pgid) {
  std::vector<pid_t> out;
  for (const auto& st : scanProcesses()) {
    if (st.pgrp == pgid && !st.zombie()) out.push_back(st.pid);
  }
  return out;
}

TEST_F(ProcessRuntimeTest, SandboxedServerServesOnLoopbackWritesOnlyItsDirAndStopsCleanly) {
  if (::access("/usr/bin/bwrap", X_OK) != 0) GTEST_SKIP() << "bubblewrap not installed";
  if (::access("/usr/bin/node", X_OK) != 0) GTEST_SKIP() << "node not installed";
  LocalRuntimeOptions o;
  o.sandbox = Sandbox::Bwrap;
  LocalProcessRuntime rt(o);
  exits_.attach(rt);
  const std::string inst = dir_ / "data/instances/ns/boxed";
  std::filesystem::create_directories(inst);
  // In its own dir: the test's temp dir is under /tmp, which the sandbox hides.
  const std::string script = inst + "/probe.js";
  std::FILE* f = std::fopen(script.c_str(), "w");
  ASSERT_TRUE(f);
  std::fputs(kSandboxProbe, f);
  std::fclose(f);
  ::chmod(script.c_str(), 0644);
  const int port = 33000 + ::getpid() % 2000;
  auto spec = sandboxedServer("ns/boxed", inst, port, script);
  if (::geteuid() == 0) spec.uid = spec.gid = 61998;
  ::unlink("/tmp/minimcp-sandbox-private");
  auto h = rt.launch(spec);
  std::string body;
  ASSERT_TRUE(
      waitFor([&] { return (body = httpGet(port)).find("\"own\"") != std::string::npos; }, 10s))
      << readText(spec.logDir + "/output.log");
  body = body.substr(body.find("\r\n\r\n") + 4);
  EXPECT_NE(body.find("\"own\":\"ok\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"root\":\"EROFS\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"usr\":\"EROFS\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"tmp\":\"ok\""), std::string::npos) << body;
  EXPECT_FALSE(fileExists("/tmp/minimcp-sandbox-private")) << "the sandbox's /tmp is its own";
  EXPECT_FALSE(fileExists("/sandbox-escape"));
  EXPECT_NE(body.find("\"procs\":2,"), std::string::npos)
      << "its /proc: bwrap's init and itself: " << body;
  if (spec.uid) {
    EXPECT_NE(body.find("\"uid\":61998"), std::string::npos) << body;
  }
  // The recorded process is bwrap, in the instance's dir and environment; the server runs in
  // its process group under the same path.
  EXPECT_EQ(std::filesystem::read_symlink("/proc/" + std::to_string(h.pid) + "/cwd").string(),
            inst);
  EXPECT_NE(readText("/proc/" + std::to_string(h.pid) + "/environ").find("MCP_ID=ns/boxed"),
            std::string::npos);
  const auto members = groupMembers(h.pid);
  EXPECT_EQ(members.size(), 3u) << "bwrap, its init and the server";
  for (pid_t p : members) {
    EXPECT_EQ(std::filesystem::read_symlink("/proc/" + std::to_string(p) + "/cwd").string(), inst);
  }

  auto info = rt.stop("ns/boxed");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->reason, "Stopped");
  EXPECT_TRUE(fileExists(inst + "/sigterm")) << "the server got SIGTERM and its grace period";
  EXPECT_TRUE(waitFor([&] { return groupMembers(h.pid).empty(); }, 3s)) << "nothing survives";
  for (pid_t p : members) EXPECT_FALSE(readProcStat(p) && !readProcStat(p)->zombie()) << p;
}

TEST_F(ProcessRuntimeTest, SandboxedExitIsDetectedWithItsCode) {
  if (::access("/usr/bin/bwrap", X_OK) != 0) GTEST_SKIP() << "bubblewrap not installed";
  LocalRuntimeOptions o;
  o.sandbox = Sandbox::Bwrap;
  LocalProcessRuntime rt(o);
  exits_.attach(rt);
  const std::string inst = dir_ / "data/instances/ns/exits";
  std::filesystem::create_directories(inst);
  auto spec = shell("ns/exits", "touch here && exit 3");
  spec.workingDir = inst;
  spec.env = {{"PATH", kPath}, {"HOME", inst}};
  auto h = rt.launch(spec);
  auto info = exits_.wait("ns/exits");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->pid, h.pid);
  EXPECT_EQ(info->exitCode, 3) << readText(dir_ / "logs/output.log");
  EXPECT_TRUE(fileExists(inst + "/here"));
  EXPECT_TRUE(waitFor([&] { return groupMembers(h.pid).empty(); }, 3s));
}

TEST_F(ProcessRuntimeTest, RunAsRootKeepsRootAndUnknownUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root drops privileges";
  LocalRuntimeOptions keep;
  keep.runAs = "root";
  LocalProcessRuntime rt(keep);
  EXPECT_FALSE(rt.runAsIds());
  exits_.attach(rt);
  rt.launch(shell("ns/root", "test \"$(id -u)\" = 0"));
  auto info = exits_.wait("ns/root");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->exitCode, 0);

  LocalRuntimeOptions unknown;
  unknown.runAs = "minimcp-no-such-user";
  EXPECT_THROW(LocalProcessRuntime{unknown}, std::runtime_error);
}

TEST_F(ProcessRuntimeTest, AServerFileTheUserCannotReadIsALaunchError) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root drops privileges";
  LocalProcessRuntime rt;
  exits_.attach(rt);
  const std::string script = dir_ / "private.sh";
  {
    std::FILE* f = std::fopen(script.c_str(), "w");
    ASSERT_TRUE(f);
    std::fputs("exit 0\n", f);
    std::fclose(f);
  }
  ::chmod(script.c_str(), 0600);
  auto spec = shell("ns/private", "");
  spec.args = {script};
  try {
    rt.launch(spec);
    ADD_FAILURE() << "launched a server its user cannot read";
  } catch (const LaunchError& e) {
    EXPECT_NE(std::string(e.what()).find("not readable by uid"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(rt.handle("ns/private"));
  ::chmod(script.c_str(), 0644);
  rt.launch(spec);
  auto info = exits_.wait("ns/private");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->exitCode, 0);
}

}  // namespace
}  // namespace minimcp::runtime
