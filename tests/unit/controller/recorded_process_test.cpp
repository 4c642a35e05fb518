// The controller acts only on processes that are the instance's: a recorded pid is adopted (and
// so ever signalled) only with every mark of the instance, and after a crash of mcpd every
// other process found in an instance's dir or under its own uid is stopped, with a Warning.
#include <gmock/gmock.h>

#include <set>

#include "tests/unit/controller/controller_fixture.h"

namespace minimcp::test {
namespace {

using ::testing::_;

const std::string kKey = "alice/inbox";

class RecordedProcessTest : public ControllerTest {
 protected:
  // What an earlier mcpd left in the store for `name`: finalizer, a Running status naming
  // `pid`/`startTime` (0: none recorded), this node.
  void recordProcess(const std::string& name, pid_t pid, uint64_t startTime,
                     json isolation = nullptr) {
    json obj = instance(name);
    obj["metadata"]["finalizers"] = {"minimcp.io/process"};
    if (pid) {
      obj["status"]["pid"] = pid;
      obj["status"]["processStartTime"] = std::to_string(startTime);
      obj["status"]["port"] = 41007;
      obj["status"]["phase"] = "Running";
    }
    obj["status"]["node"] = "node-a";
    if (!isolation.is_null()) obj["status"]["isolation"] = isolation;
    store_->update("mcpinstances", obj, 0);
  }

  // A process the fake host runs that is no instance's business.
  runtime::ProcessInfo hostProcess(pid_t pid) {
    runtime::ProcessInfo p;
    p.pid = pid;
    p.startTime = 99;
    p.ppid = 1;
    p.pgrp = pid;
    p.session = pid;
    p.realUid = 0;
    p.cwd = "/root";
    return p;
  }

  std::vector<pid_t> stoppedPids() const {
    std::vector<pid_t> out;
    for (const auto& p : host_->stopped()) out.push_back(p.pid);
    return out;
  }

  bool runningWithNewProcess(pid_t notThis) {
    auto st = status("inbox");
    return st.value("phase", "") == "Running" && st.value("pid", 0) != 0 &&
           st.value("pid", 0) != notThis;
  }
};

// A status naming a host process (anyone who could write status once could make root mcpd kill
// any process group): the process is neither adopted nor signalled; a new one starts.
TEST_F(RecordedProcessTest, StatusNamingAHostProcessIsNeitherAdoptedNorSignalled) {
  createType();
  createInstance("inbox");
  host_->add(hostProcess(1234));
  recordProcess("inbox", 1234, 99);
  EXPECT_CALL(rt_, adopt(_, _)).Times(0);
  EXPECT_CALL(rt_, stop(_, _)).Times(0);
  auto c = makeController();
  c->start();
  ASSERT_TRUE(eventually([&] { return runningWithNewProcess(1234); })) << status("inbox").dump();
  EXPECT_TRUE(host_->stopped().empty()) << "the host process was signalled";
  EXPECT_TRUE(host_->alive(1234));
  ASSERT_EQ(eventsWithReason("ForeignProcess").size(), 1u);
  const std::string message = eventsWithReason("ForeignProcess")[0].value("message", "");
  EXPECT_NE(message.find("1234"), std::string::npos) << message;
  EXPECT_NE(message.find("working directory"), std::string::npos) << message;
  EXPECT_TRUE(eventsWithReason("Adopted").empty());
  c->stop();
}

// The same for every mark: a status naming a process whose start time, dir, MCP_ID or uid is
// not the instance's is never adopted.
TEST_F(RecordedProcessTest, EachMarkIsCheckedBeforeAdopting) {
  createType();
  createInstance("inbox");
  struct Case {
    const char* name;
    std::function<void(runtime::ProcessInfo&)> spoil;
    const char* reason;  // the event's reason ("" none: a reused pid is a lost process)
  };
  const Case cases[] = {
      {"matching", [](runtime::ProcessInfo&) {}, "Adopted"},
      {"start time", [](runtime::ProcessInfo& p) { p.startTime += 1; }, "ProcessLost"},
      {"cwd", [](runtime::ProcessInfo& p) { p.cwd = "/"; }, "ForeignProcess"},
      {"MCP_ID", [](runtime::ProcessInfo& p) { p.mcpId = "someone-else"; }, "ForeignProcess"},
      {"uid", [](runtime::ProcessInfo& p) { p.realUid = 61001; }, "ForeignProcess"},
      {"gone", nullptr, "ProcessLost"},
  };
  pid_t pid = 7000;
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    ++pid;
    runtime::ProcessHandle h{pid, 5000 + static_cast<uint64_t>(pid)};
    runtime::ProcessInfo p = hostProcessOf("inbox", h.pid, h.startTime);
    p.realUid = 61000;
    if (tc.spoil) {
      tc.spoil(p);
      host_->add(p);
    }
    // The fake runtime adopts whatever it is asked to: only the controller's check stands.
    ON_CALL(rt_, adopt(_, _)).WillByDefault(::testing::Return(true));
    recordProcess("inbox", h.pid, h.startTime,
                  {{"mode", "DynamicUser"}, {"uid", 61000}, {"gid", 61000}});
    const size_t before = eventsWithReason(tc.reason).size();
    auto c = makeController();
    const bool adopting = std::string(tc.reason) == "Adopted";
    EXPECT_CALL(rt_, adopt(_, h)).Times(adopting ? 1 : 0);
    c->reconcile(kKey);
    EXPECT_EQ(eventsWithReason(tc.reason).size(), before + 1);
    if (!adopting) {
      EXPECT_NE(status("inbox").value("pid", 0), pid);
    }
    EXPECT_TRUE(host_->stopped().empty());
    ::testing::Mock::VerifyAndClearExpectations(&rt_);
    host_->remove(pid);
    // Next case from a clean runtime: the controller may have launched a process.
    rt_.stop(kKey, std::nullopt);
    c.reset();
  }
}

// The crash window: mcpd spawned a process and was killed before recording it. The restarted
// mcpd adopts the recorded process, keeps its child, and stops the unrecorded one (with its
// group) with a Warning; nothing else on the host is touched.
TEST_F(RecordedProcessTest, UnrecordedProcessBesideTheRecordedOneIsStoppedOnStart) {
  createType();
  createInstance("inbox");
  const auto recorded = table_.addOrphan();
  host_->add(hostProcessOf("inbox", recorded.pid, recorded.startTime));
  runtime::ProcessInfo child = hostProcessOf("inbox", 9001, 1);  // e.g. a stdio bridge's server
  child.ppid = recorded.pid;
  child.pgrp = recorded.pid;
  child.session = recorded.pid;
  host_->add(child);
  const runtime::ProcessInfo unrecorded = hostProcessOf("inbox", 9100, 2);
  runtime::ProcessInfo unrecordedChild = hostProcessOf("inbox", 9101, 3);
  unrecordedChild.ppid = unrecordedChild.pgrp = unrecordedChild.session = 9100;
  host_->add(unrecorded);
  host_->add(unrecordedChild);
  host_->add(hostProcess(1234));
  recordProcess("inbox", recorded.pid, recorded.startTime);

  EXPECT_CALL(rt_, launch(_)).Times(0);
  auto c = makeController();
  c->start();
  ASSERT_TRUE(eventually([&] {
    return eventsWithReason("StrayProcess").size() == 2u &&
           eventsWithReason("Adopted").size() == 1u && condition("inbox", "Ready") == "True";
  })) << status("inbox").dump();
  EXPECT_EQ(stoppedPids(), (std::vector<pid_t>{9100, 9101}));
  EXPECT_FALSE(host_->alive(9100));
  EXPECT_TRUE(host_->alive(recorded.pid));
  EXPECT_TRUE(host_->alive(9001)) << "the instance's own child was stopped";
  EXPECT_TRUE(host_->alive(1234));
  EXPECT_EQ(status("inbox")["pid"], recorded.pid);
  std::set<std::string> messages;
  for (const json& e : eventsWithReason("StrayProcess")) {
    EXPECT_EQ(e.value("type", ""), "Warning");
    messages.insert(e.value("message", ""));
  }
  for (const char* pid : {"9100", "9101"}) {
    EXPECT_TRUE(messages.count("stopped stray process pid " + std::string(pid) +
                               " found in the instance's directory beside its process pid " +
                               std::to_string(recorded.pid) + ": left by an earlier run of mcpd"))
        << pid;
  }
  // The type's grace period (stopGracePeriodSeconds: 3) between SIGTERM and SIGKILL.
  EXPECT_EQ(host_->graces(), std::vector<std::chrono::milliseconds>{3000ms});
  c->stop();
}

// Killed after the first spawn, before recording it: nothing is recorded, so every process in
// the dir is a stray; then a new one is spawned and recorded.
TEST_F(RecordedProcessTest, ProcessOfAnUnrecordedFirstSpawnIsStoppedAndANewOneStarts) {
  createType();
  createInstance("inbox");
  recordProcess("inbox", 0, 0);
  host_->add(hostProcessOf("inbox", 9100, 2));
  auto c = makeController();
  c->start();
  ASSERT_TRUE(eventually([&] { return runningWithNewProcess(9100); })) << status("inbox").dump();
  EXPECT_EQ(stoppedPids(), std::vector<pid_t>{9100});
  EXPECT_EQ(table_.launches(kKey).size(), 1u);
  ASSERT_EQ(eventsWithReason("StrayProcess").size(), 1u);
  EXPECT_NE(eventsWithReason("StrayProcess")[0].value("message", "").find("no process"),
            std::string::npos);
  c->stop();
}

// A process of an earlier instance of the same name (other MCP_ID) sits in the dir and the
// status names it: not adopted, stopped as a stray, a new process starts.
TEST_F(RecordedProcessTest, ProcessOfAnEarlierInstanceOfTheSameNameIsStopped) {
  createType();
  createInstance("inbox");
  runtime::ProcessInfo old = hostProcessOf("inbox", 9100, 2);
  old.mcpId = "uid-of-a-deleted-instance";
  host_->add(old);
  recordProcess("inbox", 9100, 2);
  EXPECT_CALL(rt_, adopt(_, _)).Times(0);
  auto c = makeController();
  c->start();
  ASSERT_TRUE(eventually([&] { return runningWithNewProcess(9100); })) << status("inbox").dump();
  EXPECT_EQ(stoppedPids(), std::vector<pid_t>{9100});
  EXPECT_EQ(eventsWithReason("StrayProcess").size(), 1u);
  c->stop();
}

// Processes of an instance that no longer exists are stopped at start, on a single node too
// (no lease), and nothing of the host's.
TEST_F(RecordedProcessTest, ProcessesOfADeletedInstanceAreStoppedOnStart) {
  createType();
  runtime::ProcessInfo gone = hostProcess(9100);
  gone.cwd = instanceDirOf("inbox");
  gone.mcpId = "uid-of-a-deleted-instance";
  host_->add(gone);
  host_->add(hostProcess(1234));
  auto c = makeController();
  c->start();
  EXPECT_EQ(stoppedPids(), std::vector<pid_t>{9100});
  EXPECT_TRUE(host_->alive(1234));
  c->stop();
}

// With a uid of its own (isolation DynamicUser), a process of the instance that left its dir
// is still found, by uid, and stopped; a uid two instances claim identifies neither.
TEST_F(RecordedProcessTest, ProcessUnderTheInstancesOwnUidIsStoppedWherever) {
  createType();
  createInstance("inbox");
  createInstance("mail");
  const auto recorded = table_.addOrphan();
  runtime::ProcessInfo p = hostProcessOf("inbox", recorded.pid, recorded.startTime);
  p.realUid = 61000;
  host_->add(p);
  runtime::ProcessInfo escaped = hostProcess(9100);
  escaped.realUid = 61000;
  escaped.cwd = "/tmp";
  host_->add(escaped);
  runtime::ProcessInfo shared = hostProcess(9200);
  shared.realUid = 65534;  // SharedUser: every instance runs as it
  shared.cwd = "/tmp";
  host_->add(shared);
  recordProcess("inbox", recorded.pid, recorded.startTime,
                {{"mode", "DynamicUser"}, {"uid", 61000}, {"gid", 61000}});
  recordProcess("mail", 0, 0, {{"mode", "SharedUser"}, {"uid", 65534}, {"gid", 65534}});

  auto c = makeController();
  c->start();
  ASSERT_TRUE(eventually([&] {
    return eventsWithReason("StrayProcess").size() == 1u && condition("inbox", "Ready") == "True";
  }));
  EXPECT_EQ(stoppedPids(), std::vector<pid_t>{9100});
  EXPECT_TRUE(host_->alive(9200));
  EXPECT_NE(eventsWithReason("StrayProcess")[0].value("message", "").find("uid"),
            std::string::npos);
  c->stop();
}

// A stray that survives SIGKILL is reported as such, not as stopped.
TEST_F(RecordedProcessTest, AStrayThatCannotBeStoppedIsReported) {
  createType();
  createInstance("inbox");
  recordProcess("inbox", 0, 0);
  host_->add(hostProcessOf("inbox", 9100, 2), /*unkillable=*/true);
  auto c = makeController();
  c->start();
  ASSERT_TRUE(eventually([&] { return eventsWithReason("StrayProcess").size() == 1u; }));
  EXPECT_NE(eventsWithReason("StrayProcess")[0].value("message", "").find("could not stop"),
            std::string::npos);
  c->stop();
}

// Resync (a new lease generation) sweeps again, on a running controller: a process appearing
// in the dir beside the running one is stopped, the running one is not.
TEST_F(RecordedProcessTest, ResyncSweepsAgainAndSparesTheRunningProcess) {
  createType();
  createInstance("inbox");
  auto c = makeController();
  c->start();
  ASSERT_TRUE(eventually([&] { return condition("inbox", "Ready") == "True"; }));
  const auto running = table_.live(kKey);
  ASSERT_TRUE(running);
  host_->add(hostProcessOf("inbox", running->pid, running->startTime));
  host_->add(hostProcessOf("inbox", 9100, 2));
  c->resync();
  ASSERT_TRUE(eventually([&] { return eventsWithReason("StrayProcess").size() == 1u; }));
  EXPECT_EQ(stoppedPids(), std::vector<pid_t>{9100});
  EXPECT_EQ(table_.live(kKey), running);
  c->stop();
}

}  // namespace
}  // namespace minimcp::test
