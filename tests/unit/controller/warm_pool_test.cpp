// WarmPool against a fake runtime (no node): it fills each type's pool from the store, a claim
// takes a ready process launched exactly as the instance would be, hands the instance its uid,
// writes the identity once on the process's channel and closes it, and the pool refills without
// that process; a shrunk pool stops what waits.
#include "reconciler/warm_pool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/store/store.h"
#include "reconciler/launch_env.h"
#include "tests/mocks/runtime_mocks.h"
#include "tests/unit/reconciler/fake_clock.h"

namespace minimcp::reconciler {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Processes that exist only here; a launch's channel gets "ready" at once (the child's copy kept).
class FakeRuntime : public runtime::ProcessRuntime {
 public:
  ~FakeRuntime() override {
    for (auto& [pid, fd] : childEnds_) ::close(fd);
  }
  runtime::ProcessHandle launch(const runtime::LaunchSpec& spec) override {
    std::lock_guard lock(mu_);
    if (running_.count(spec.key)) throw runtime::LaunchError(spec.key + " runs");
    const runtime::ProcessHandle h{next_++, 1};
    running_[spec.key] = h;
    launched_.push_back(spec);
    const int end = ::fcntl(spec.channelFd, F_DUPFD_CLOEXEC, 0);
    childEnds_[h.pid] = end;
    if (::write(end, "ready\n", 6) != 6) throw runtime::LaunchError("write");
    return h;
  }
  bool adopt(const runtime::LaunchSpec&, const runtime::ProcessHandle&) override { return false; }
  std::optional<runtime::ExitInfo> stop(const std::string& key,
                                        std::optional<std::chrono::milliseconds>) override {
    std::lock_guard lock(mu_);
    auto it = running_.find(key);
    if (it == running_.end()) return std::nullopt;
    runtime::ExitInfo info;
    info.pid = it->second.pid;
    info.stopRequested = true;
    info.reason = "Stopped";
    running_.erase(it);
    return info;
  }
  bool rename(const std::string&, const std::string&) override { return false; }
  std::optional<runtime::Usage> usage(const std::string&) const override { return std::nullopt; }
  std::optional<runtime::ProcessHandle> handle(const std::string& key) const override {
    std::lock_guard lock(mu_);
    auto it = running_.find(key);
    return it == running_.end() ? std::nullopt : std::optional(it->second);
  }
  std::optional<runtime::ProcessHandle> rekey(const std::string& from,
                                              const runtime::LaunchSpec& to) override {
    std::lock_guard lock(mu_);
    auto it = running_.find(from);
    if (it == running_.end() || running_.count(to.key)) return std::nullopt;
    const runtime::ProcessHandle h = it->second;
    running_.erase(it);
    running_[to.key] = h;
    return h;
  }
  void onExit(ExitCallback) override {}
  void onLimitExceeded(LimitCallback) override {}
  std::string enforcement() const override { return "test"; }

  // What the process `pid` reads on its channel, to the end.
  std::string readChannel(pid_t pid) {
    int fd;
    {
      std::lock_guard lock(mu_);
      fd = childEnds_.at(pid);
    }
    std::string all;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) all.append(buf, static_cast<size_t>(n));
    return all;
  }
  std::vector<std::string> poolKeys() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& [key, h] : running_) {
      if (key.rfind(kPoolKeyPrefix, 0) == 0) out.push_back(key);
    }
    return out;
  }
  std::optional<runtime::LaunchSpec> launchedAs(pid_t pid) const {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < launched_.size(); ++i) {
      if (static_cast<pid_t>(5000 + i) == pid) return launched_[i];
    }
    return std::nullopt;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, runtime::ProcessHandle> running_;
  std::map<pid_t, int> childEnds_;
  std::vector<runtime::LaunchSpec> launched_;
  pid_t next_ = 5000;
};

class NoIds : public IdentityUsage {
 public:
  std::set<uint32_t> systemIds() override { return {}; }
  std::set<uint32_t> processIds() override { return {}; }
  std::map<std::string, uint32_t> instanceDirOwners() override { return {}; }
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

class WarmPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "minimcp-pool-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ / "servers" / "echo");
    store_ = store::openStore("sqlite:" + (dir_ / "store.db").string());
    putType(2);
    uids_ = std::make_shared<UidAllocator>(IdRange{100, 199}, std::make_shared<NoIds>(), clock_);
    WarmPoolOptions o;
    o.dataDir = dir_ / "data";
    o.mcpServersDir = dir_ / "servers";
    o.uids = uids_;
    o.resync = 20ms;
    o.backoffMin = 20ms;
    o.refillDelay = 0ms;
    pool_ = std::make_unique<WarmPool>(o, *store_, runtime_, host_);
    pool_->start();
  }
  void TearDown() override {
    pool_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void putType(int size) {
    json type = {{"apiVersion", "minimcp.io/v1alpha1"},
                 {"kind", "MCPType"},
                 {"metadata", {{"name", "echo"}}},
                 {"spec",
                  {{"server", {{"command", "node"}, {"args", {"echo/server.js"}}}},
                   {"warmPool", {{"size", size}}}}}};
    if (store_->get("mcptypes", "", "echo")) {
      store_->update("mcptypes", type, 0);
    } else {
      store_->create("mcptypes", type);
    }
  }

  // The spec of instance `key`'s launch, as the controller would build it for an echo instance.
  runtime::LaunchSpec instanceSpec(const std::string& key) {
    model::MCPTypeSpec type = model::MCPTypeSpec::fromJson(
        {{"server", {{"command", "node"}, {"args", {"echo/server.js"}}}}});
    LaunchContext ctx;
    ctx.key = key;
    ctx.uid = "mcp-id-of-" + key;
    ctx.port = 20001;
    ctx.accessToken = "secret-token-of-" + key;
    ctx.dataDir = dir_ / "data";
    ctx.mcpServersDir = dir_ / "servers";
    model::MCPInstanceSpec instance;
    instance.type = "echo";
    runtime::LaunchSpec spec = buildLaunchSpec(type, instance, ctx);
    spec.pool = "echo";
    return spec;
  }

  std::filesystem::path dir_;
  test::FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::shared_ptr<UidAllocator> uids_;
  FakeRuntime runtime_;
  test::FakeHostProcesses host_;
  std::unique_ptr<WarmPool> pool_;
};

TEST_F(WarmPoolTest, AClaimHandsOneReadyProcessItsInstanceOnceAndThePoolRefills) {
  ASSERT_TRUE(eventually([&] { return pool_->stats()["echo"].ready == 2; }));
  const auto before = runtime_.poolKeys();
  ASSERT_EQ(before.size(), 2u);
  const uint32_t earlier = uids_->reserve("ns/a");  // the instance's uid before the claim

  runtime::LaunchSpec spec = instanceSpec("ns/a");
  const std::optional<runtime::ProcessHandle> h = pool_->claim(spec);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(runtime_.handle("ns/a"), h);
  // The process's uid is now the instance's, and only the instance's.
  ASSERT_TRUE(spec.uid.has_value());
  EXPECT_EQ(uids_->idOf("ns/a"), *spec.uid);
  EXPECT_EQ(uids_->holderOf(earlier), std::nullopt);
  // The identity arrived on its channel once, and the channel ended.
  const json identity = json::parse(runtime_.readChannel(h->pid));
  EXPECT_EQ(identity["cwd"], spec.workingDir);
  EXPECT_EQ(identity["env"]["MCP_ACCESS_TOKEN"], "secret-token-of-ns/a");
  EXPECT_EQ(identity["env"]["PORT"], "20001");
  EXPECT_EQ(identity["env"]["MCP_ID"], "mcp-id-of-ns/a");
  // What it was launched with held none of it.
  EXPECT_TRUE(pool_->onExit(before[0], {}));
  EXPECT_FALSE(pool_->onExit("ns/a", {}));

  ASSERT_TRUE(eventually([&] { return pool_->stats()["echo"].ready == 2; }));
  EXPECT_EQ(pool_->stats()["echo"].claims, 1u);
  const auto after = runtime_.poolKeys();
  EXPECT_EQ(after.size(), 2u);

  // A launch that differs (another command line) is never served by a waiting process.
  runtime::LaunchSpec other = instanceSpec("ns/b");
  other.args.push_back("--other");
  EXPECT_FALSE(pool_->claim(other).has_value());
  // Nor is a type without a pool.
  runtime::LaunchSpec unpooled = instanceSpec("ns/c");
  unpooled.pool = "slack";
  EXPECT_FALSE(pool_->claim(unpooled).has_value());
}

TEST_F(WarmPoolTest, WaitingProcessesCarryNoIdentityAndAShrunkPoolStopsThem) {
  ASSERT_TRUE(eventually([&] { return pool_->stats()["echo"].ready == 2; }));
  for (const auto& key : runtime_.poolKeys()) {
    const auto h = runtime_.handle(key);
    ASSERT_TRUE(h);
    const auto spec = runtime_.launchedAs(h->pid);
    ASSERT_TRUE(spec);
    for (const auto& [name, value] : spec->env) {
      EXPECT_TRUE(name != "PORT" && name != "MCP_ACCESS_TOKEN" && name != "MCP_ID" &&
                  name != "MCP_CONFIG")
          << name;
    }
    EXPECT_GE(spec->channelFd, 0);
    EXPECT_TRUE(spec->uid.has_value());
  }
  putType(0);
  ASSERT_TRUE(eventually([&] { return runtime_.poolKeys().empty(); }));
  EXPECT_EQ(pool_->stats()["echo"].size, 0);
  runtime::LaunchSpec spec = instanceSpec("ns/a");
  EXPECT_FALSE(pool_->claim(spec).has_value());
}

}  // namespace
}  // namespace minimcp::reconciler
