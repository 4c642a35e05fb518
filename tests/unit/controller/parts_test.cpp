// The controller's parts on their own: events, informer, launch environment, catalog.
#include <set>
#include <thread>
#include <utility>

#include "api/model/schemas.h"
#include "api/registry/event_recorder.h"
#include "api/registry/managed_fields.h"
#include "reconciler/catalog.h"
#include "reconciler/informer.h"
#include "reconciler/launch_env.h"
#include "tests/unit/controller/controller_fixture.h"

namespace minimcp::test {
namespace {

using registry::EventRecorder;

TEST_F(ControllerTest, IdenticalEventsFold) {
  json inst = createInstance("inbox");
  EventRecorder rec(*store_, clock_, "node-a");
  rec.record(inst, "Warning", "CrashLoopBackOff", "exited with code 1");
  clock_.advance(5s);
  rec.record(inst, "Warning", "CrashLoopBackOff", "exited with code 1");
  rec.record(inst, "Normal", "Started", "something else");
  auto evs = eventsWithReason("CrashLoopBackOff");
  ASSERT_EQ(evs.size(), 1u);
  const json& e = evs[0];
  EXPECT_EQ(e["count"], 2);
  EXPECT_EQ(e["kind"], "Event");
  EXPECT_EQ(e["apiVersion"], "minimcp.io/v1alpha1");
  EXPECT_EQ(e["metadata"]["name"],
            EventRecorder::eventName("inbox", "CrashLoopBackOff", "exited with code 1"));
  EXPECT_EQ(e["involvedObject"]["kind"], "MCPInstance");
  EXPECT_EQ(e["involvedObject"]["uid"], inst["metadata"]["uid"]);
  EXPECT_EQ(e["involvedObject"]["namespace"], "alice");
  EXPECT_EQ(e["source"], json({{"component", "mcpd"}, {"host", "node-a"}}));
  EXPECT_EQ(*parseRfc3339(e["lastTimestamp"]) - *parseRfc3339(e["firstTimestamp"]), 5s);
  EXPECT_EQ(events().size(), 2u);

  // A recreated instance (same name, new uid) starts a new series.
  store_->remove("mcpinstances", "alice", "inbox", 0);
  json again = createInstance("inbox");
  rec.record(again, "Warning", "CrashLoopBackOff", "exited with code 1");
  evs = eventsWithReason("CrashLoopBackOff");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0]["count"], 1);
  EXPECT_EQ(evs[0]["involvedObject"]["uid"], again["metadata"]["uid"]);
}

// What an Informer enqueued, taken out in order.
class EnqueuedKeys {
 public:
  reconciler::Informer::Enqueue enqueue() {
    return [this](const std::string& key) {
      std::lock_guard lock(mu_);
      keys_.push_back(key);
    };
  }
  std::vector<std::string> taken() {
    std::lock_guard lock(mu_);
    return std::exchange(keys_, {});
  }

 private:
  std::mutex mu_;
  std::vector<std::string> keys_;
};

TEST_F(ControllerTest, InformerEnqueuesInstancesOfChangedTypesAndKeys) {
  EnqueuedKeys keys;
  createType();
  createInstance("a", {{"keyRef", {{"name", "k1"}}}});
  reconciler::Informer inf(*store_, keys.enqueue());
  auto listed = inf.start();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_TRUE(keys.taken().empty()) << "start() lists without enqueuing";
  createInstance("b");
  EXPECT_EQ(keys.taken(), std::vector<std::string>{"alice/b"});
  EXPECT_EQ(inf.keysForType("echo"), (std::vector<std::string>{"alice/a", "alice/b"}));

  json type = *store_->get("mcptypes", "", "echo");
  type["spec"]["description"] = "x";
  store_->update("mcptypes", type, 0);
  auto k = keys.taken();
  EXPECT_EQ(std::set<std::string>(k.begin(), k.end()),
            (std::set<std::string>{"alice/a", "alice/b"}));

  store_->create("apikeys", {{"metadata", {{"name", "k1"}, {"namespace", "alice"}}}});
  EXPECT_EQ(keys.taken(), std::vector<std::string>{"alice/a"});
  store_->create("apikeys", {{"metadata", {{"name", "k1"}, {"namespace", "bob"}}}});
  EXPECT_TRUE(keys.taken().empty()) << "another namespace's key of the same name";

  store_->remove("mcpinstances", "alice", "b", 0);
  EXPECT_EQ(keys.taken(), std::vector<std::string>{"alice/b"});
  EXPECT_EQ(inf.keysForType("echo"), std::vector<std::string>{"alice/a"});
  inf.stop();
  createInstance("c");
  EXPECT_TRUE(keys.taken().empty()) << "nothing after stop()";
}

TEST_F(ControllerTest, InformerSkipsTheEchoOfAnOwnWriteButNothingElse) {
  EnqueuedKeys keys;
  createType();
  createInstance("a");
  reconciler::Informer inf(*store_, keys.enqueue());
  inf.start();
  const std::vector<std::string> enqueued{"alice/a"};
  auto withUsage = [&](int cpu) {
    json obj = *store_->get("mcpinstances", "alice", "a");
    obj["status"]["usage"] = {{"cpuSeconds", cpu}};
    return obj;
  };

  json own = withUsage(1);
  {
    auto quiet = inf.expectOwnWrite(own);
    store_->update("mcpinstances", own, 0);
    EXPECT_TRUE(keys.taken().empty()) << "the echo of the expected write";
    json again = withUsage(2);
    store_->update("mcpinstances", again, 0);
    EXPECT_EQ(keys.taken(), enqueued) << "one write, one echo";
  }
  {
    json other = withUsage(3);
    auto quiet = inf.expectOwnWrite(other);
    std::thread([&] { store_->update("mcpinstances", other, 0); }).join();
    EXPECT_EQ(keys.taken(), enqueued) << "the same object written by another thread";
    json differs = withUsage(4);
    auto quiet2 = inf.expectOwnWrite(withUsage(5));
    store_->update("mcpinstances", differs, 0);
    EXPECT_EQ(keys.taken(), enqueued) << "another status than the expected one";
    json spec = withUsage(5);
    spec["spec"]["ttl"] = "2h";
    spec["metadata"]["generation"] = 7;
    auto quiet3 = inf.expectOwnWrite(withUsage(5));
    store_->update("mcpinstances", spec, 0);
    EXPECT_EQ(keys.taken(), enqueued) << "another generation than the expected one";
  }
  json after = withUsage(6);
  { auto quiet = inf.expectOwnWrite(after); }
  store_->update("mcpinstances", after, 0);
  EXPECT_EQ(keys.taken(), enqueued) << "after the guard is gone";
  inf.stop();
}

TEST(LaunchEnv, PathArgumentsStayInsideTheServersDir) {
  TempDir dir;
  const auto servers = dir.path() / "servers";
  std::filesystem::create_directories(servers / "echo");
  std::filesystem::create_directories(dir.path() / "outside");
  std::filesystem::create_symlink(dir.path() / "outside", servers / "escape");
  const auto root = std::filesystem::canonical(servers);
  using reconciler::resolveArg;
  EXPECT_EQ(resolveArg("echo/server.js", servers), (root / "echo/server.js").string());
  EXPECT_EQ(resolveArg("./lib/x.js", servers), (root / "lib/x.js").string());
  EXPECT_EQ(resolveArg("--name", servers), "--name");
  EXPECT_EQ(resolveArg("filesystem", servers), "filesystem") << "a plain word is not a path";
  EXPECT_EQ(resolveArg("https://api.example.com/v1", servers), "https://api.example.com/v1");
  EXPECT_THROW(resolveArg("echo/../../x.js", servers), reconciler::LaunchEnvError);
  EXPECT_THROW(resolveArg("/etc/passwd", servers), reconciler::LaunchEnvError);
  EXPECT_THROW(resolveArg("escape/x.js", servers), reconciler::LaunchEnvError) << "symlink out";
}

TEST(LaunchEnv, CommandResolvesOnTheGivenPathOnly) {
  TempDir dir;
  EXPECT_EQ(reconciler::resolveCommand("sh", "/usr/bin:/bin", dir.path()), "/usr/bin/sh");
  EXPECT_FALSE(reconciler::resolveCommand("sh", dir.path().string(), dir.path()));
  EXPECT_FALSE(reconciler::resolveCommand("no-such-command-xyz", "/usr/bin:/bin", dir.path()));
}

TEST(LaunchEnv, KeyGoesIntoTheAuthVariableAndCannotBeOverridden) {
  TempDir dir;
  model::MCPTypeSpec type;
  type.server.command = "sh";
  type.auth.type = "api-key";
  type.auth.env = "API_KEY";
  type.env = {{"API_KEY", "from-type"}, {"HOME", "/elsewhere"}};
  model::MCPInstanceSpec inst;
  inst.env = {{"MCP_ACCESS_TOKEN", "forged"}, {"API_KEY", "forged"}};
  reconciler::LaunchContext ctx;
  ctx.key = "alice/inbox";
  ctx.uid = "u1";
  ctx.port = 41000;
  ctx.accessToken = "mcpi_token";
  ctx.apiKey = "the-key";
  ctx.dataDir = dir.path();
  ctx.mcpServersDir = dir.path();
  auto spec = reconciler::buildLaunchSpec(type, inst, ctx);
  std::map<std::string, std::string> env(spec.env.begin(), spec.env.end());
  EXPECT_EQ(env["API_KEY"], "the-key");
  EXPECT_EQ(env["MCP_ACCESS_TOKEN"], "mcpi_token");
  EXPECT_EQ(env["HOME"], "/elsewhere") << "the type may set HOME";
  EXPECT_EQ(spec.env[0].first, "PATH");

  type.server.command = "definitely-not-installed";
  EXPECT_THROW(reconciler::buildLaunchSpec(type, inst, ctx), reconciler::LaunchEnvError);
}

TEST_F(ControllerTest, CatalogCreatesUpdatesAndSkipsInvalidManifests) {
  const auto cat = dir_.path() / "catalog";
  std::filesystem::create_directories(cat / "good");
  std::filesystem::create_directories(cat / "bad");
  std::filesystem::create_directories(cat / "noyaml");
  auto writeGood = [&](const std::string& description) {
    std::ofstream(cat / "good" / "mcptype.yaml")
        << "apiVersion: minimcp.io/v1alpha1\nkind: MCPType\nmetadata: {name: good}\n"
           "spec:\n  description: "
        << description << "\n  server: {command: node, args: [good/server.js]}\n";
  };
  writeGood("one");
  std::ofstream(cat / "bad" / "mcptype.yaml")
      << "apiVersion: minimcp.io/v1alpha1\nkind: MCPType\nmetadata: {name: bad}\n"
         "spec:\n  server: {command: node, args: [/etc/passwd]}\n";

  auto r = reconciler::loadCatalog(*store_, cat, clock_);
  EXPECT_EQ(r.created, std::vector<std::string>{"good"});
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].find("spec.server.args"), std::string::npos) << r.skipped[0];
  json good = *store_->get("mcptypes", "", "good");
  EXPECT_EQ(good["metadata"]["generation"], 1);
  EXPECT_EQ(good["spec"]["healthCheck"]["path"], "/health") << "defaults applied";
  EXPECT_FALSE(store_->get("mcptypes", "", "bad"));

  r = reconciler::loadCatalog(*store_, cat, clock_);
  EXPECT_EQ(r.unchanged, std::vector<std::string>{"good"});
  writeGood("two");
  r = reconciler::loadCatalog(*store_, cat, clock_);
  EXPECT_EQ(r.updated, std::vector<std::string>{"good"});
  json updated = *store_->get("mcptypes", "", "good");
  EXPECT_EQ(updated["metadata"]["generation"], 2);
  EXPECT_EQ(updated["spec"]["description"], "two");
  EXPECT_EQ(updated["metadata"]["uid"], good["metadata"]["uid"]);
}

// A user's change to a catalog type (here a merge patch's Update, as the REST handler records
// it) survives every later load; the catalog still updates the fields it owns.
TEST_F(ControllerTest, CatalogLeavesAUsersFieldsAndUpdatesItsOwn) {
  const auto cat = dir_.path() / "catalog";
  std::filesystem::create_directories(cat / "good");
  auto writeGood = [&](const std::string& args) {
    std::ofstream(cat / "good" / "mcptype.yaml")
        << "apiVersion: minimcp.io/v1alpha1\nkind: MCPType\nmetadata: {name: good}\n"
           "spec:\n  description: shipped\n  server: {command: node, args: ["
        << args << "]}\n";
  };
  writeGood("good/server.js");
  ASSERT_EQ(reconciler::loadCatalog(*store_, cat, clock_).created,
            std::vector<std::string>{"good"});

  json live = *store_->get("mcptypes", "", "good");
  json mine = live;
  mine["spec"]["description"] = "mine";
  const registry::FieldWriter user{"kubectl-edit", "minimcp.io/v1alpha1", "",
                                   "2027-01-01T00:00:00Z", true};
  mine = registry::recordUpdate(&live, mine, model::findKindSchema("MCPType")->objectSchema, user);
  store_->update("mcptypes", mine, store::parseResourceVersion(live));

  for (int start = 0; start < 2; ++start) {
    auto r = reconciler::loadCatalog(*store_, cat, clock_);
    EXPECT_EQ(r.unchanged, std::vector<std::string>{"good"}) << "start " << start;
    EXPECT_EQ((*store_->get("mcptypes", "", "good"))["spec"]["description"], "mine");
  }
  writeGood("good/v2.js");
  auto r = reconciler::loadCatalog(*store_, cat, clock_);
  EXPECT_EQ(r.updated, std::vector<std::string>{"good"});
  json after = *store_->get("mcptypes", "", "good");
  EXPECT_EQ(after["spec"]["description"], "mine");
  EXPECT_EQ(after["spec"]["server"]["args"], json::array({"good/v2.js"}));
}

// A type stored before fields had owners: the catalog adopts it once and keeps updating it.
TEST_F(ControllerTest, CatalogAdoptsATypeWrittenBeforeFieldsHadOwners) {
  const auto cat = dir_.path() / "catalog";
  std::filesystem::create_directories(cat / "good");
  std::ofstream(cat / "good" / "mcptype.yaml")
      << "apiVersion: minimcp.io/v1alpha1\nkind: MCPType\nmetadata: {name: good}\n"
         "spec:\n  description: new\n  server: {command: node, args: [good/server.js]}\n";
  ASSERT_EQ(reconciler::loadCatalog(*store_, cat, clock_).created.size(), 1u);
  json live = *store_->get("mcptypes", "", "good");
  json legacy = live;
  legacy["metadata"].erase("managedFields");
  legacy["spec"]["description"] = "old";
  store_->update("mcptypes", legacy, store::parseResourceVersion(live));
  auto r = reconciler::loadCatalog(*store_, cat, clock_);
  EXPECT_EQ(r.updated, std::vector<std::string>{"good"});
  json after = *store_->get("mcptypes", "", "good");
  EXPECT_EQ(after["spec"]["description"], "new");
  ASSERT_EQ(after["metadata"]["managedFields"].size(), 1u);
  EXPECT_EQ(after["metadata"]["managedFields"][0]["manager"], reconciler::kCatalogManager);
}

TEST(Catalog, ShippedManifestsAreValid) {
  TempDir dir;
  auto store = store::openStore("sqlite:" + (dir.path() / "s.db").string());
  auto r = reconciler::loadCatalog(*store, MINIMCP_SOURCE_DIR "/mcp-servers");
  EXPECT_TRUE(r.skipped.empty()) << r.skipped[0];
  EXPECT_TRUE(store->get("mcptypes", "", "echo"));
}

}  // namespace
}  // namespace minimcp::test
