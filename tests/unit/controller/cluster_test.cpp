// Several nodes on one store: NodeAgent leases, the Scheduler's bindings, and the controller
// running only what is bound to it (fencing). Real SQLite store, fake clock, mocked runtime.
#include "reconciler/node_agent.h"
#include "reconciler/scheduler.h"
#include "tests/unit/controller/controller_fixture.h"

namespace minimcp::test {
namespace {

using reconciler::NodeAgent;
using reconciler::NodeAgentOptions;
using reconciler::Scheduler;

class ClusterTest : public ControllerTest {
 protected:
  NodeAgentOptions agentOptions(const std::string& name, int64_t capacity = 10) {
    NodeAgentOptions o;
    o.name = name;
    o.address = "https://" + name + ":7443";
    o.capacity = capacity;
    o.leaseDuration = 10s;
    return o;
  }
  json node(const std::string& name) {
    auto n = store_->get("nodes", "", name);
    return n ? *n : json();
  }
  std::string boundNode(const std::string& instanceName) {
    return status(instanceName).value("node", "");
  }
};

TEST_F(ClusterTest, AgentRegistersAndRenewsItsLease) {
  NodeAgent a(*store_, clock_, agentOptions("a"));
  a.start();
  EXPECT_EQ(a.generation(), 1);
  json n = node("a");
  EXPECT_EQ(n["status"]["phase"], "Ready");
  EXPECT_EQ(n["spec"]["address"], "https://a:7443");
  EXPECT_EQ(n["status"]["leaseDurationSeconds"], 10);
  const std::string first = n["status"]["renewTime"];
  clock_.advance(3s);
  ASSERT_TRUE(a.renew());
  EXPECT_NE(node("a")["status"]["renewTime"], first);
  EXPECT_EQ(a.generation(), 1);
  // The Node is valid as the API server would check it.
  EXPECT_TRUE(model::nodeStrategy().validate(node("a")).empty());
}

TEST_F(ClusterTest, RestartWithinTheLeaseKeepsTheGenerationAfterItBumps) {
  {
    NodeAgent a(*store_, clock_, agentOptions("a"));
    a.start();
  }
  clock_.advance(5s);
  {
    NodeAgent a(*store_, clock_, agentOptions("a"));
    a.start();
    EXPECT_EQ(a.generation(), 1);
  }
  clock_.advance(11s);
  NodeAgent a(*store_, clock_, agentOptions("a"));
  a.start();
  EXPECT_EQ(a.generation(), 2);
}

TEST_F(ClusterTest, SchedulerSpreadsInstancesAndCountsThem) {
  NodeAgent a(*store_, clock_, agentOptions("a")), b(*store_, clock_, agentOptions("b"));
  a.start();
  b.start();
  createType();
  for (const char* n : {"i1", "i2", "i3", "i4"}) createInstance(n);
  Scheduler s(*store_, clock_, {.node = "a"});
  ASSERT_TRUE(s.runOnce());
  EXPECT_EQ(boundNode("i1"), "a");
  EXPECT_EQ(boundNode("i2"), "b");
  EXPECT_EQ(boundNode("i3"), "a");
  EXPECT_EQ(boundNode("i4"), "b");
  EXPECT_EQ(status("i1")["nodeGeneration"], 1);
  EXPECT_EQ(node("a")["status"]["instances"], 2);
  EXPECT_EQ(node("b")["status"]["instances"], 2);
  // Nothing changes on a second pass.
  const int64_t rv = store_->currentResourceVersion();
  ASSERT_TRUE(s.runOnce());
  EXPECT_EQ(store_->currentResourceVersion(), rv);
}

TEST_F(ClusterTest, LapsedNodeIsMarkedLostItsInstancesMoveAndItRejoinsFenced) {
  int fenced = 0;
  NodeAgent a(*store_, clock_, agentOptions("a")),
      b(*store_, clock_, agentOptions("b"), [&] { ++fenced; });
  a.start();
  b.start();
  createType();
  createInstance("i1");
  createInstance("i2");
  Scheduler s(*store_, clock_, {.node = "a"});
  ASSERT_TRUE(s.runOnce());
  ASSERT_EQ(boundNode("i2"), "b");
  // b's process wrote its status before b went silent.
  json i2 = instance("i2");
  i2["status"]["pid"] = 4242;
  i2["status"]["port"] = 41001;
  i2["status"]["phase"] = "Running";
  store_->update("mcpinstances", i2, store::parseResourceVersion(i2));

  clock_.advance(11s);
  ASSERT_TRUE(a.renew());
  ASSERT_TRUE(s.runOnce());
  EXPECT_EQ(node("b")["status"]["phase"], "Lost");
  EXPECT_EQ(boundNode("i2"), "a");
  EXPECT_FALSE(status("i2").contains("pid"));
  EXPECT_FALSE(status("i2").contains("port"));
  EXPECT_EQ(status("i2")["phase"], "Pending");
  EXPECT_EQ(condition("i2", "Ready", "reason"), "Rescheduled");
  EXPECT_EQ(condition("i2", "Reconciling"), "True");  // kstatus: InProgress until it runs again
  EXPECT_EQ(eventsWithReason("Rescheduled").size(), 1u);

  // b comes back: its next renewal finds itself Lost and rejoins with a new generation.
  ASSERT_TRUE(b.renew());
  EXPECT_EQ(fenced, 1);
  EXPECT_EQ(b.generation(), 2);
  EXPECT_EQ(node("b")["status"]["phase"], "Ready");
  EXPECT_EQ(node("b")["status"]["leaseGeneration"], 2);
  // ...and takes new work.
  createInstance("i3");
  ASSERT_TRUE(s.runOnce());
  EXPECT_EQ(boundNode("i3"), "b");
  EXPECT_EQ(status("i3")["nodeGeneration"], 2);
}

TEST_F(ClusterTest, OnlyOneSchedulerLeadsAtATime) {
  auto other = store::openStore("sqlite:" + (dir_.path() / "store.db").string());
  auto s1 = std::make_unique<Scheduler>(*store_, clock_, reconciler::SchedulerOptions{.node = "a"});
  Scheduler s2(*other, clock_, {.node = "b"});
  EXPECT_TRUE(s1->runOnce());
  EXPECT_FALSE(s2.runOnce());
  s1.reset();  // releases the lock
  EXPECT_TRUE(s2.runOnce());
}

TEST_F(ClusterTest, ControllerRunsOnlyWhatIsBoundToItAndFencesTheRest) {
  createType();
  createInstance("inbox");
  const std::string key = "alice/inbox";
  int64_t generation = 1;
  auto o = options();
  o.leaseGeneration = [&] { return generation; };
  auto c = makeController(o);

  // Unbound: nothing runs.
  c->reconcile(key);
  EXPECT_FALSE(table_.live(key));
  EXPECT_FALSE(status("inbox").contains("pid"));

  auto bind = [&](const std::string& node, int64_t gen) {
    json obj = instance("inbox");
    obj["status"]["node"] = node;
    obj["status"]["nodeGeneration"] = gen;
    store_->update("mcpinstances", obj, store::parseResourceVersion(obj));
  };
  bind("node-b", 1);
  c->reconcile(key);
  EXPECT_FALSE(table_.live(key));

  bind("node-a", 1);
  ASSERT_TRUE(reconcileUntil(*c, key, [&] { return table_.live(key).has_value(); }));
  EXPECT_EQ(status("inbox")["node"], "node-a");
  EXPECT_EQ(status("inbox")["nodeGeneration"], 1);

  // Moved away: this node's process is stopped and an event says why.
  bind("node-b", 1);
  c->reconcile(key);
  EXPECT_FALSE(table_.live(key));
  ASSERT_EQ(eventsWithReason("Fenced").size(), 1u);
  EXPECT_NE(eventsWithReason("Fenced")[0]["message"].get<std::string>().find("node-b"),
            std::string::npos);
  EXPECT_EQ(status("inbox")["node"], "node-b");  // the fenced node writes nothing

  // Bound to this node's previous life: not run either.
  generation = 2;
  bind("node-a", 1);
  c->reconcile(key);
  EXPECT_FALSE(table_.live(key));
  bind("node-a", 2);
  EXPECT_TRUE(reconcileUntil(*c, key, [&] { return table_.live(key).has_value(); }));
}

}  // namespace
}  // namespace minimcp::test
