// ProcHostProcesses against this host's /proc: what it reads of a process (the marks the
// controller checks before adopting one), and how it stops strays (the group, SIGKILL after the
// grace period, never a process whose start time differs).
#include "reconciler/runtime/host_processes.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "tests/integration/runtime/test_support.h"

namespace minimcp::runtime {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;
using testing::waitFor;

class HostProcessesTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (pid_t pid : children_) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    testing::expectNoChildren();
  }

  // `script` under /bin/sh as the leader of its own session, in the temp dir, with only the
  // given environment (as the runtime starts an instance).
  pid_t start(const std::string& script, const std::vector<std::string>& env) {
    const std::string cwd = dir_.path();
    std::vector<char*> argv = {const_cast<char*>("/bin/sh"), const_cast<char*>("-c"),
                               const_cast<char*>(script.c_str()), nullptr};
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setsid();
      if (::chdir(cwd.c_str()) != 0) ::_exit(126);
      ::execve("/bin/sh", argv.data(), envp.data());
      ::_exit(127);
    }
    children_.push_back(pid);
    return pid;
  }

  // Reaps `pid` (our child) once it has exited; true when it did within the timeout.
  bool reaped(pid_t pid, std::chrono::milliseconds timeout = 5000ms) {
    return waitFor([&] { return ::waitpid(pid, nullptr, WNOHANG) == pid; }, timeout);
  }

  std::vector<pid_t> childrenOf(pid_t parent) {
    std::vector<pid_t> out;
    for (const auto& p : host_.list()) {
      if (p.ppid == parent) out.push_back(p.pid);
    }
    return out;
  }

  TempDir dir_;
  ProcHostProcesses host_;
  std::vector<pid_t> children_;
};

TEST_F(HostProcessesTest, InspectReadsTheMarksOfAnInstanceProcess) {
  const pid_t pid = start("exec sleep 1000", {"PATH=/usr/bin:/bin", "MCP_ID=uid-123", "X=1"});
  ASSERT_TRUE(waitFor([&] {
    auto p = host_.inspect(pid);
    return p && p->mcpId == "uid-123";  // after exec: the environment is the new one
  }));
  const auto p = host_.inspect(pid);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->pid, pid);
  EXPECT_EQ(p->ppid, ::getpid());
  EXPECT_EQ(p->pgrp, pid);
  EXPECT_EQ(p->session, pid);
  EXPECT_EQ(p->realUid, ::getuid());
  EXPECT_EQ(p->cwd, std::filesystem::canonical(dir_.path()).string());
  EXPECT_GT(p->startTime, 0u);

  const auto all = host_.list();
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& q) { return q.pid == pid; });
  ASSERT_NE(it, all.end());
  EXPECT_EQ(it->cwd, p->cwd);
  EXPECT_FALSE(it->mcpId) << "list() does not read environments";

  EXPECT_FALSE(host_.inspect(::getpid())->mcpId) << "no MCP_ID here";
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(waitFor([&] { return !host_.inspect(pid); })) << "a zombie is not a live process";
}

TEST_F(HostProcessesTest, StopTermsTheGroupThenKillsWhatIgnoresIt) {
  // The leader and its child both ignore SIGTERM (the disposition is inherited).
  const pid_t pid = start("trap '' TERM; sleep 1000 & wait", {"PATH=/usr/bin:/bin"});
  std::vector<pid_t> kids;
  ASSERT_TRUE(waitFor([&] { return !(kids = childrenOf(pid)).empty(); }));
  const pid_t child = kids[0];
  auto victim = host_.inspect(pid);
  ASSERT_TRUE(victim);

  const auto begin = std::chrono::steady_clock::now();
  EXPECT_TRUE(host_.stop({*victim}, 300ms).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - begin, 300ms) << "SIGKILL before the grace period";
  EXPECT_TRUE(reaped(pid));
  EXPECT_TRUE(waitFor([&] { return !host_.inspect(child); })) << "the group's member survived";
}

TEST_F(HostProcessesTest, StopEndsAQuickProcessWithoutWaitingTheGracePeriod) {
  const pid_t pid = start("exec sleep 1000", {"PATH=/usr/bin:/bin"});
  auto victim = host_.inspect(pid);
  ASSERT_TRUE(victim);
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_TRUE(host_.stop({*victim}, 10s).empty());
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
  EXPECT_TRUE(reaped(pid));
}

TEST_F(HostProcessesTest, StopNeverSignalsAProcessWithAnotherStartTime) {
  const pid_t pid = start("exec sleep 1000", {"PATH=/usr/bin:/bin"});
  auto victim = host_.inspect(pid);
  ASSERT_TRUE(victim);
  victim->startTime += 1;  // what the sweep saw was another process that had this pid
  EXPECT_TRUE(host_.stop({*victim}, 100ms).empty());
  EXPECT_TRUE(host_.inspect(pid)) << "a process that merely reuses the pid was stopped";
  ProcessInfo gone;
  gone.pid = 999999999;
  EXPECT_TRUE(host_.stop({gone}, 100ms).empty());
}

}  // namespace
}  // namespace minimcp::runtime
