// Which host processes are an instance's: the check a recorded pid passes before it is adopted
// or signalled, and the sweep's grouping and stray decision after a crash of mcpd.
#include "reconciler/stray_processes.h"

#include <gtest/gtest.h>

#include <map>

namespace minimcp::reconciler {
namespace {

using runtime::ProcessInfo;

constexpr const char* kRoot = "/var/lib/minimcp/instances";
constexpr const char* kDir = "/var/lib/minimcp/instances/alice/inbox";
constexpr const char* kMcpId = "6f1c2a9e-0000-4000-8000-000000000001";

ProcessInfo proc(pid_t pid, uint64_t start, std::string cwd, std::optional<std::string> mcpId,
                 std::optional<uid_t> uid, pid_t ppid = 1, pid_t pgrp = 0, pid_t session = 0) {
  ProcessInfo p;
  p.pid = pid;
  p.startTime = start;
  p.ppid = ppid;
  p.pgrp = pgrp ? pgrp : pid;
  p.session = session ? session : pid;
  p.realUid = uid;
  p.cwd = std::move(cwd);
  p.mcpId = std::move(mcpId);
  return p;
}

// A warm-pool process claimed for the instance: MCP_POOL_ID, no MCP_ID, in the instance dir.
ProcessInfo pooled(uid_t uid) {
  ProcessInfo p = proc(4242, 777, kDir, std::nullopt, uid);
  p.poolId = "3fa9c0d1e2b4";
  return p;
}

TEST(CheckRecordedProcess, EveryMarkMustMatch) {
  const runtime::ProcessHandle recorded{4242, 777};
  const InstanceMarks withUid{kDir, kMcpId, 61000};
  const InstanceMarks noUid{kDir, kMcpId, std::nullopt};
  struct Case {
    const char* name;
    std::optional<ProcessInfo> found;
    InstanceMarks marks;
    ProcessCheck want;
  };
  const Case cases[] = {
      {"matching", proc(4242, 777, kDir, kMcpId, 61000), withUid, ProcessCheck::Ours},
      {"matching, no uid recorded (any uid)", proc(4242, 777, kDir, kMcpId, 0), noUid,
       ProcessCheck::Ours},
      {"gone", std::nullopt, withUid, ProcessCheck::Gone},
      {"wrong start time (pid reused)", proc(4242, 778, kDir, kMcpId, 61000), withUid,
       ProcessCheck::OtherStartTime},
      {"wrong cwd (a host process)", proc(4242, 777, "/root", std::nullopt, 0), withUid,
       ProcessCheck::OtherDir},
      {"cwd below the instance dir", proc(4242, 777, std::string(kDir) + "/sub", kMcpId, 61000),
       withUid, ProcessCheck::OtherDir},
      {"another instance's dir", proc(4242, 777, std::string(kRoot) + "/bob/inbox", kMcpId, 61000),
       withUid, ProcessCheck::OtherDir},
      {"removed dir", proc(4242, 777, std::string(kDir) + " (deleted)", kMcpId, 61000), withUid,
       ProcessCheck::OtherDir},
      {"wrong MCP_ID (an earlier instance of the same name)",
       proc(4242, 777, kDir, "6f1c2a9e-0000-4000-8000-000000000002", 61000), withUid,
       ProcessCheck::OtherMcpId},
      {"no MCP_ID", proc(4242, 777, kDir, std::nullopt, 61000), withUid, ProcessCheck::OtherMcpId},
      {"wrong uid", proc(4242, 777, kDir, kMcpId, 61001), withUid, ProcessCheck::OtherUid},
      {"uid unreadable", proc(4242, 777, kDir, kMcpId, std::nullopt), withUid,
       ProcessCheck::OtherUid},
      {"root while the instance has its own uid", proc(4242, 777, kDir, kMcpId, 0), withUid,
       ProcessCheck::OtherUid},
      {"marks without a dir", proc(4242, 777, "", kMcpId, 61000), InstanceMarks{"", kMcpId, 61000},
       ProcessCheck::OtherDir},
      {"marks without an MCP_ID", proc(4242, 777, kDir, "", 61000), InstanceMarks{kDir, "", 61000},
       ProcessCheck::OtherMcpId},
      {"claimed from a warm pool: its slot's mark and the instance's uid", pooled(61000), withUid,
       ProcessCheck::Ours},
      {"a pool process under another uid", pooled(61001), withUid, ProcessCheck::OtherMcpId},
      {"a pool process while no uid is recorded", pooled(61000), noUid, ProcessCheck::OtherMcpId},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(checkRecordedProcess(c.found, recorded, c.marks), c.want)
        << c.name << ": " << describe(checkRecordedProcess(c.found, recorded, c.marks));
  }
  EXPECT_EQ(checkRecordedProcess(proc(4242, 777, kDir, kMcpId, 61000), {0, 777}, withUid),
            ProcessCheck::Gone)
      << "no pid recorded";
}

// The process tree the sweep decisions below look at, by pid.
class Tree {
 public:
  void add(const ProcessInfo& p) { procs_[p.pid] = p; }
  ProcessLookup lookup() const {
    return [this](pid_t pid) -> std::optional<ProcessInfo> {
      auto it = procs_.find(pid);
      return it == procs_.end() ? std::nullopt : std::optional(it->second);
    };
  }

 private:
  std::map<pid_t, ProcessInfo> procs_;
};

TEST(PartOf, TheKeeperItsSessionGroupAndDescendants) {
  Tree t;
  const ProcessInfo keeper = proc(100, 1, kDir, kMcpId, 61000);
  const ProcessInfo bridgeChild = proc(101, 2, kDir, kMcpId, 61000, 100, 100, 100);
  const ProcessInfo ownGroup = proc(102, 3, kDir, kMcpId, 61000, 100, 102, 100);
  // Left its session (setsid) but is still below the keeper, through an intermediate.
  const ProcessInfo middle = proc(103, 4, "/tmp", kMcpId, 61000, 100, 103, 103);
  const ProcessInfo grandchild = proc(104, 5, kDir, kMcpId, 61000, 103, 104, 104);
  // The crash window: spawned by the earlier mcpd, never recorded.
  const ProcessInfo unrecorded = proc(200, 6, kDir, kMcpId, 61000, 1);
  const ProcessInfo unrecordedChild = proc(201, 7, kDir, kMcpId, 61000, 200, 200, 200);
  for (const auto& p :
       {keeper, bridgeChild, ownGroup, middle, grandchild, unrecorded, unrecordedChild}) {
    t.add(p);
  }
  struct Case {
    const char* name;
    ProcessInfo p;
    bool want;
  };
  const Case cases[] = {
      {"the keeper", keeper, true},
      {"its child in its session and group", bridgeChild, true},
      {"its child in its session, own group", ownGroup, true},
      {"a descendant in another session", grandchild, true},
      {"an unrecorded session", unrecorded, false},
      {"a child of the unrecorded session", unrecordedChild, false},
  };
  for (const Case& c : cases) EXPECT_EQ(partOf(c.p, 100, t.lookup()), c.want) << c.name;
  EXPECT_FALSE(partOf(keeper, 0, t.lookup())) << "no keeper";
  EXPECT_FALSE(partOf(proc(300, 1, kDir, kMcpId, 61000, 1, 1, 1), 1, t.lookup()))
      << "init is nobody's keeper";
}

TEST(StrayProcesses, EverythingButTheKeepersTreeOrEverythingWithoutOne) {
  Tree t;
  const ProcessInfo keeper = proc(100, 1, kDir, kMcpId, 61000);
  const ProcessInfo child = proc(101, 2, kDir, kMcpId, 61000, 100, 100, 100);
  const ProcessInfo unrecorded = proc(200, 3, kDir, kMcpId, 61000);
  const ProcessInfo unrecordedChild = proc(201, 4, kDir, kMcpId, 61000, 200, 200, 200);
  const ProcessInfo escapee = proc(300, 5, "/tmp", std::nullopt, 61000);  // found by uid
  const std::vector<ProcessInfo> found = {keeper, child, unrecorded, unrecordedChild, escapee};
  for (const auto& p : found) t.add(p);

  auto pids = [](const std::vector<ProcessInfo>& ps) {
    std::vector<pid_t> out;
    for (const auto& p : ps) out.push_back(p.pid);
    return out;
  };
  EXPECT_EQ(pids(strayProcesses(found, 100, t.lookup())), (std::vector<pid_t>{200, 201, 300}));
  EXPECT_EQ(pids(strayProcesses(found, std::nullopt, t.lookup())),
            (std::vector<pid_t>{100, 101, 200, 201, 300}))
      << "nothing recorded (or the record is not the instance's): all of them are strays";
  EXPECT_EQ(pids(strayProcesses({keeper, child}, 100, t.lookup())), std::vector<pid_t>{})
      << "one instance, one process group: nothing to stop";
}

TEST(ProcessesByInstance, ByDirectoryThenByOwnUid) {
  const std::map<uid_t, UidOwner> ownUids = {{61000, {"alice/inbox", kMcpId}},
                                             {61001, {"bob/mail", "mail-uid"}}};
  const pid_t self = 50;
  const std::vector<ProcessInfo> all = {
      proc(1, 1, "/", std::nullopt, 0),                                // init: never
      proc(50, 1, kDir, std::nullopt, 0),                              // mcpd itself: never
      proc(100, 1, kDir, std::nullopt, 61000),                         // alice/inbox by dir
      proc(101, 1, std::string(kDir) + "/logs", std::nullopt, 65534),  // a subdirectory
      proc(102, 1, std::string(kRoot) + "/bob/mail (deleted)", std::nullopt, 65534),  // removed
      proc(103, 1, "/tmp", std::nullopt, 61001),                               // bob/mail by uid
      proc(104, 1, "/home/admin", std::nullopt, 1000),                         // a host process
      proc(105, 1, std::string(kRoot) + "/alice", std::nullopt, 65534),        // namespace dir only
      proc(106, 1, std::string(kRoot) + "-old/alice/inbox", std::nullopt, 0),  // another tree
      proc(107, 1, "/srv", std::nullopt, 61002),                               // an unowned uid
      proc(108, 1, "/tmp", "mail-uid", 61001),  // bob/mail by uid and MCP_ID
      // The same uid number, another mcpd's instance on this host: not bob's.
      proc(109, 1, "/tmp/other-mcpd/instances/x/y", "someone-else", 61001),
      proc(110, 1, "/tmp", std::nullopt, 61000),  // gone by the time its environment is read
  };
  Tree t;
  for (const auto& p : all) {
    if (p.pid != 110) t.add(p);
  }
  const auto grouped = processesByInstance(all, kRoot, ownUids, self, t.lookup());
  auto pidsOf = [&](const std::string& key) {
    std::vector<pid_t> out;
    if (auto it = grouped.find(key); it != grouped.end()) {
      for (const auto& p : it->second) out.push_back(p.pid);
    }
    return out;
  };
  EXPECT_EQ(pidsOf("alice/inbox"), (std::vector<pid_t>{100, 101}));
  EXPECT_EQ(pidsOf("bob/mail"), (std::vector<pid_t>{102, 103, 108}));
  EXPECT_EQ(grouped.size(), 2u);
  EXPECT_TRUE(processesByInstance(all, "", {}, self, t.lookup()).empty()) << "no instances root";
}

}  // namespace
}  // namespace minimcp::reconciler
