// The reconciler end to end on this host: a real Controller, SQLite store, LocalProcessRuntime,
// BeastHealthProber and the real echo MCP server (mcp-servers/echo), loaded through the catalog.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "api/crypto/instance_token.h"
#include "api/crypto/master_key.h"
#include "api/model/kinds.h"
#include "api/store/store.h"
#include "reconciler/catalog.h"
#include "reconciler/controller.h"
#include "reconciler/port_allocator.h"
#include "reconciler/runtime/health_prober.h"
#include "reconciler/runtime/local_process_runtime.h"
#include "tests/integration/runtime/test_support.h"

namespace minimcp::reconciler {
namespace {

using nlohmann::json;
using runtime::testing::TempDir;
using runtime::testing::waitFor;
using namespace std::chrono_literals;

namespace fs = std::filesystem;

// The first value of a /proc/PID/status line ("Uid:" → the real uid).
std::string readProcStatus(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field, 0) != 0) continue;
    std::stringstream values(line.substr(field.size()));
    std::string first;
    values >> first;
    return first;
  }
  return "";
}

bool processExists(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class ReconcilerIT : public ::testing::Test {
 protected:
  ReconcilerIT()
      : store_(store::openStore("sqlite:" + dir_ / "store.db")),
        master_(crypto::MasterKey::generate()),
        tokens_(master_) {
    auto r = loadCatalog(*store_, MINIMCP_SOURCE_DIR "/mcp-servers");
    EXPECT_TRUE(std::find(r.created.begin(), r.created.end(), "echo") != r.created.end());
    // Ranges per test process, so parallel test runs do not compete for the same ports.
    portLo_ = static_cast<uint16_t>(32000 + (::getpid() % 400) * 40);
    startController();
  }

  ~ReconcilerIT() override {
    controller_.reset();
    // Stop every process this test started, by pid (runtime first: it reaps its children).
    for (const auto& item : store_->list("mcpinstances", {}).items) {
      runtime_->stop(item["metadata"]["namespace"].get<std::string>() + "/" +
                         item["metadata"]["name"].get<std::string>(),
                     2000ms);
    }
    for (int pid : pids_) {
      if (processExists(pid)) ::kill(pid, SIGKILL);
    }
    prober_.reset();
    runtime_.reset();
  }

  void startController() {
    runtime::LocalRuntimeOptions ro;
    ro.useCgroups = false;
    ro.sandbox = sandbox_;
    runtime_ = std::make_unique<runtime::LocalProcessRuntime>(ro);
    prober_ = std::make_unique<runtime::BeastHealthProber>();
    ControllerOptions o;
    o.node = "it-node";
    o.dataDir = dir_ / "data";
    o.mcpServersDir = MINIMCP_SOURCE_DIR "/mcp-servers";
    o.portLo = portLo_;
    o.portHi = static_cast<uint16_t>(portLo_ + 39);
    o.gatewayBase = "https://127.0.0.1:7443";
    o.usagePeriod = 1s;
    if (ownUids_) {
      // What mcpd does at every start: a fresh allocator, restored from the instance dirs.
      // A range per test process, so parallel runs do not hand out the same ids.
      const uint32_t lo = 100000 + static_cast<uint32_t>(::getpid() % 1000) * 100;
      o.uids = std::make_shared<UidAllocator>(IdRange{lo, lo + 99},
                                              std::make_shared<SystemIdentityUsage>(o.dataDir),
                                              SystemClock::instance());
      o.isolation.sandbox = sandbox_ == runtime::Sandbox::Bwrap ? "bwrap" : "none";
    }
    controller_ = std::make_unique<Controller>(o, *store_, *runtime_, *prober_, tokens_,
                                               SystemClock::instance());
    controller_->start();
  }

  // mcpd stops: the controller goes, the runtime forgets its processes, they keep running.
  void stopController() {
    controller_->stop();
    controller_.reset();
    prober_.reset();
    runtime_.reset();
  }

  json apply(const std::string& name, json spec) {
    spec["type"] = "echo";
    json obj = {{"metadata", {{"name", name}, {"namespace", "it"}}}, {"spec", spec}};
    const auto& strategy = model::mcpInstanceStrategy();
    model::initObjectMeta(obj, strategy.info(), SystemClock::instance());
    strategy.prepareForCreate(obj, SystemClock::instance());
    EXPECT_TRUE(strategy.validate(obj).empty());
    return store_->create("mcpinstances", obj);
  }

  // Read-modify-write with CAS, as the API server does.
  void edit(const std::string& name, const std::function<void(json&)>& change) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      json obj = *store_->get("mcpinstances", "it", name);
      change(obj);
      try {
        store_->update("mcpinstances", obj, store::parseResourceVersion(obj));
        return;
      } catch (const store::StoreError& e) {
        if (e.code() != store::StoreError::Code::Conflict) throw;
      }
    }
    FAIL() << "could not update " << name;
  }

  json status(const std::string& name) {
    auto obj = store_->get("mcpinstances", "it", name);
    return obj ? obj->value("status", json::object()) : json();
  }
  static std::string ready(const json& st) {
    for (const auto& c : st.value("conditions", json::array())) {
      if (c.value("type", "") == "Ready") return c.value("status", "");
    }
    return "";
  }
  bool runningAndReady(const std::string& name) {
    json st = status(name);
    return st.is_object() && st.value("phase", "") == "Running" && ready(st) == "True";
  }
  // Re-reads the store every 20 ms until `pred(status)` holds.
  bool waitStatus(const std::string& name, const std::function<bool(const json&)>& pred,
                  std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      json st = status(name);
      if (st.is_object() && pred(st)) {
        if (int pid = st.value("pid", 0)) pids_.insert(pid);
        return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << name << " status: " << status(name).dump();
    return false;
  }
  bool waitReady(const std::string& name, std::chrono::milliseconds timeout = 10s) {
    return waitStatus(
        name,
        [](const json& st) { return st.value("phase", "") == "Running" && ready(st) == "True"; },
        timeout);
  }
  std::vector<json> events(const std::string& reason) {
    std::vector<json> out;
    for (auto& e : store_->list("events", {.ns = "it"}).items) {
      if (e.value("reason", "") == reason) out.push_back(e);
    }
    return out;
  }
  int eventCount(const std::string& reason, const std::string& object) {
    int n = 0;
    for (auto& e : events(reason)) {
      if (e["involvedObject"]["name"] == object) n += e.value("count", 1);
    }
    return n;
  }

  TempDir dir_;
  std::unique_ptr<store::Store> store_;
  crypto::MasterKey master_;
  crypto::InstanceTokens tokens_;
  uint16_t portLo_ = 0;
  std::unique_ptr<runtime::LocalProcessRuntime> runtime_;
  std::unique_ptr<runtime::BeastHealthProber> prober_;
  std::unique_ptr<Controller> controller_;
  void expectInstancesKeptApart();

  std::set<int> pids_;
  bool ownUids_ = false;
  runtime::Sandbox sandbox_ = runtime::Sandbox::None;
};

TEST_F(ReconcilerIT, LifecycleCrashSuspendResumeDelete) {
  ::setenv("MINIMCP_IT_CANARY", "must-not-leak", 1);
  json created = apply("inbox", {{"config", {{"testHooks", true}}}});
  ASSERT_TRUE(waitReady("inbox"));
  json st = status("inbox");
  const int pid = st["pid"];
  const int port = st["port"];
  EXPECT_EQ(st["url"], "http://127.0.0.1:" + std::to_string(port) + "/mcp");
  EXPECT_EQ(st["gatewayURL"], "https://127.0.0.1:7443/mcp/it/inbox");
  EXPECT_EQ(st["node"], "it-node");
  // The child's environment: built from nothing.
  const std::string environ = readFile("/proc/" + std::to_string(pid) + "/environ");
  EXPECT_NE(environ.find("PORT=" + std::to_string(port)), std::string::npos);
  EXPECT_NE(environ.find("MCP_ID=" + created["metadata"]["uid"].get<std::string>()),
            std::string::npos);
  EXPECT_EQ(environ.find("MINIMCP_IT_CANARY"), std::string::npos);
  ::unsetenv("MINIMCP_IT_CANARY");
  // Usage is sampled into status.
  EXPECT_TRUE(waitStatus("inbox", [](const json& s) { return s.contains("usage"); }));

  // kill -9 → a new process, restartCount 1, an event.
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(waitStatus("inbox", [&](const json& s) {
    return s.value("pid", 0) != 0 && s.value("pid", 0) != pid && s.value("restartCount", 0) == 1;
  }));
  st = status("inbox");
  EXPECT_EQ(st["lastTermination"]["signal"], SIGKILL);
  EXPECT_EQ(st["lastTermination"]["reason"], "Signal");
  // Events follow the status write.
  EXPECT_TRUE(waitFor([&] { return !events("CrashLoopBackOff").empty(); }, 5000ms));
  ASSERT_TRUE(waitReady("inbox"));
  const int second = status("inbox")["pid"];

  // suspend → stopped; resume → running again.
  edit("inbox", [](json& o) { o["spec"]["suspend"] = true; });
  ASSERT_TRUE(waitStatus("inbox", [](const json& s) {
    return s.value("phase", "") == "Suspended" && !s.contains("pid");
  }));
  EXPECT_TRUE(waitFor([&] { return !processExists(second); }, 5000ms));
  edit("inbox", [](json& o) { o["spec"]["suspend"] = false; });
  ASSERT_TRUE(waitReady("inbox"));
  st = status("inbox");
  const int third = st["pid"];
  const int thirdPort = st["port"];
  EXPECT_NE(third, second);
  EXPECT_EQ(st["restartCount"], 1) << "a resume is not a restart";

  // delete → process gone, port free, object gone.
  edit("inbox", [](json& o) {
    o["metadata"]["deletionTimestamp"] = formatRfc3339(SystemClock::instance().now());
  });
  ASSERT_TRUE(waitFor([&] { return !store_->get("mcpinstances", "it", "inbox"); }, 10000ms));
  EXPECT_TRUE(waitFor([&] { return !processExists(third); }, 5000ms));
  EXPECT_TRUE(BindPortChecker().isFree(static_cast<uint16_t>(thirdPort)));
}

TEST_F(ReconcilerIT, TtlExpiresAndStopsTheProcess) {
  apply("short", {{"ttl", "3s"}});
  ASSERT_TRUE(waitReady("short"));
  const int pid = status("short")["pid"];
  ASSERT_TRUE(waitStatus(
      "short", [](const json& s) { return s.value("phase", "") == "Expired" && ready(s).empty(); },
      8s));
  json st = status("short");
  EXPECT_FALSE(st.contains("pid"));
  EXPECT_FALSE(st.contains("port"));
  EXPECT_TRUE(waitFor([&] { return !processExists(pid); }, 5000ms));
  EXPECT_TRUE(waitFor([&] { return eventCount("Expired", "short") == 1; }, 5000ms));
}

TEST_F(ReconcilerIT, RestoreAdoptsRunningProcessesWithoutSpawningTwice) {
  apply("a", {});
  apply("b", {});
  ASSERT_TRUE(waitReady("a"));
  ASSERT_TRUE(waitReady("b"));
  const int pidA = status("a")["pid"];
  const int pidB = status("b")["pid"];

  stopController();
  EXPECT_TRUE(processExists(pidA)) << "mcpd stop leaves instance processes running";
  EXPECT_TRUE(processExists(pidB));

  startController();
  ASSERT_TRUE(waitStatus("a", [&](const json& s) {
    return s.value("pid", 0) == pidA && s.value("phase", "") == "Running" && ready(s) == "True";
  }));
  ASSERT_TRUE(waitStatus("b", [&](const json& s) {
    return s.value("pid", 0) == pidB && s.value("phase", "") == "Running" && ready(s) == "True";
  }));
  // The status above was already true before the new controller looked: wait for its word.
  EXPECT_TRUE(waitFor([&] { return eventCount("Adopted", "a") == 1; }, 5000ms));
  EXPECT_TRUE(waitFor([&] { return eventCount("Adopted", "b") == 1; }, 5000ms));
  EXPECT_TRUE(runningAndReady("a"));
  EXPECT_TRUE(runningAndReady("b"));
  EXPECT_EQ(eventCount("Starting", "a"), 1) << "never spawned twice";
  EXPECT_EQ(eventCount("Starting", "b"), 1);
  EXPECT_EQ(status("a")["restartCount"], 0);

  // The adopted process is watched: killing it is noticed and it is replaced.
  ASSERT_EQ(::kill(pidA, SIGKILL), 0);
  ASSERT_TRUE(waitStatus(
      "a", [&](const json& s) { return s.value("pid", 0) != 0 && s.value("pid", 0) != pidA; }));
  ASSERT_TRUE(waitReady("a"));
}

// What a process running as `uid`/`gid` may do to another instance: each probe's errno (0 when
// it succeeded). Runs in a forked child that drops to the ids, as the instance's own code would.
struct Reach {
  int environ = 0, dir = 0, log = 0, signal = 0, ownDir = 0;
};

Reach reachAs(uid_t uid, gid_t gid, int otherPid, const std::string& otherDir,
              const std::string& otherLog, const std::string& ownDir) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {};
  const pid_t child = ::fork();
  if (child == 0) {
    Reach r;
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(2);
    const std::string environ = "/proc/" + std::to_string(otherPid) + "/environ";
    int fd = ::open(environ.c_str(), O_RDONLY | O_CLOEXEC);
    r.environ = fd >= 0 ? 0 : errno;
    if (fd >= 0) {
      char c;
      if (::read(fd, &c, 1) < 0) r.environ = errno;  // the check may come at read time
    }
    DIR* d = ::opendir(otherDir.c_str());
    r.dir = d ? 0 : errno;
    fd = ::open(otherLog.c_str(), O_RDONLY | O_CLOEXEC);
    r.log = fd >= 0 ? 0 : errno;
    r.signal = ::kill(otherPid, 0) == 0 ? 0 : errno;
    fd = ::open((ownDir + "/written-by-own-uid").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    r.ownDir = fd >= 0 ? 0 : errno;
    ::write(fds[1], &r, sizeof r);
    ::_exit(0);
  }
  ::close(fds[1]);
  Reach r;
  r.environ = r.dir = r.log = r.signal = r.ownDir = -1;
  if (::read(fds[0], &r, sizeof r) != sizeof r) ADD_FAILURE() << "the probe child failed";
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  return r;
}

// Two instances, each its own uid: neither reaches the other's environment, dir, log or process;
// each writes its own dir. Their uids survive a crash of the process and are freed on delete.
void ReconcilerIT::expectInstancesKeptApart() {
  if (::geteuid() != 0) GTEST_SKIP() << "per-instance uids need root";
  stopController();
  ownUids_ = true;
  startController();
  apply("alice", {});
  apply("bob", {});
  ASSERT_TRUE(waitReady("alice"));
  ASSERT_TRUE(waitReady("bob"));
  const fs::path data = dir_ / "data";
  struct Seen {
    int pid;
    uint32_t uid, gid;
    std::string dir, log;
  };
  std::map<std::string, Seen> seen;
  for (const std::string name : {"alice", "bob"}) {
    const json st = status(name);
    const json iso = st["isolation"];
    EXPECT_EQ(iso["mode"], "DynamicUser") << iso.dump();
    EXPECT_EQ(iso["sandbox"], sandbox_ == runtime::Sandbox::Bwrap ? "bwrap" : "none");
    ASSERT_TRUE(iso["uid"].is_number() && iso["gid"].is_number()) << iso.dump();
    seen[name] = {st["pid"].get<int>(), iso["uid"].get<uint32_t>(), iso["gid"].get<uint32_t>(),
                  (data / "instances/it" / name).string(),
                  (data / "logs/it" / name / "output.log").string()};
    struct stat sb {};
    ASSERT_EQ(::stat(seen[name].dir.c_str(), &sb), 0);
    EXPECT_EQ(sb.st_uid, seen[name].uid) << name << "'s dir is its own";
    EXPECT_EQ(sb.st_gid, seen[name].gid);
    EXPECT_EQ(sb.st_mode & 07777, 0700u);
    ASSERT_EQ(::stat(seen[name].log.c_str(), &sb), 0) << "the log exists";
    EXPECT_EQ(sb.st_uid, 0u) << "the log is mcpd's";
    EXPECT_EQ(readProcStatus(seen[name].pid, "Uid:"), std::to_string(seen[name].uid));
  }
  EXPECT_NE(seen["alice"].uid, seen["bob"].uid);
  EXPECT_NE(seen["alice"].gid, seen["bob"].gid);

  for (const auto& [self, other] : {std::pair{"alice", "bob"}, std::pair{"bob", "alice"}}) {
    const Seen& me = seen[self];
    const Seen& them = seen[other];
    const Reach r = reachAs(me.uid, me.gid, them.pid, them.dir, them.log, me.dir);
    EXPECT_EQ(r.environ, EACCES) << self << " reads " << other << "'s /proc/PID/environ";
    EXPECT_EQ(r.dir, EACCES) << self << " lists " << other << "'s dir";
    EXPECT_EQ(r.log, EACCES) << self << " reads " << other << "'s log";
    EXPECT_EQ(r.signal, EPERM) << self << " signals " << other;
    EXPECT_EQ(r.ownDir, 0) << self << " writes its own dir";
  }

  // A crash: a new process, the same uid.
  ASSERT_EQ(::kill(seen["alice"].pid, SIGKILL), 0);
  ASSERT_TRUE(waitStatus("alice", [&](const json& s) {
    return s.value("pid", 0) != 0 && s.value("pid", 0) != seen["alice"].pid;
  }));
  ASSERT_TRUE(waitReady("alice"));
  EXPECT_EQ(status("alice")["isolation"]["uid"], seen["alice"].uid);

  // Deleted: its dir and log go, and with them its hold on the uid.
  edit("bob", [](json& o) {
    o["metadata"]["deletionTimestamp"] = formatRfc3339(SystemClock::instance().now());
  });
  ASSERT_TRUE(waitFor([&] { return !store_->get("mcpinstances", "it", "bob"); }, 10000ms));
  EXPECT_FALSE(fs::exists(seen["bob"].dir));
  EXPECT_FALSE(fs::exists(fs::path(seen["bob"].log).parent_path()));
}

TEST_F(ReconcilerIT, InstancesWithTheirOwnUidsCannotReachEachOther) { expectInstancesKeptApart(); }

TEST_F(ReconcilerIT, SandboxedInstancesWithTheirOwnUidsCannotReachEachOther) {
  if (::access("/usr/bin/bwrap", X_OK) != 0) GTEST_SKIP() << "bubblewrap not installed";
  sandbox_ = runtime::Sandbox::Bwrap;
  expectInstancesKeptApart();
}

}  // namespace
}  // namespace minimcp::reconciler
