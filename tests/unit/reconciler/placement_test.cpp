// schedule(): which node each instance goes to, and which nodes count as lost. Table-driven.
#include "reconciler/placement.h"

#include <gtest/gtest.h>

#include "tests/unit/reconciler/fake_clock.h"

namespace minimcp::reconciler {
namespace {

using namespace std::chrono_literals;

const TimePoint kNow = TimePoint(test::FakeClock::kEpoch);

NodeView node(const std::string& name, int64_t capacity, std::chrono::milliseconds sinceRenew = 0ms,
              int64_t gen = 1, const std::string& phase = "Ready") {
  NodeView n;
  n.name = name;
  n.phase = phase;
  n.generation = gen;
  n.capacity = capacity;
  n.renewTime = kNow - sinceRenew;
  n.leaseDuration = 10s;
  return n;
}

InstanceView inst(const std::string& key, const std::string& node = "", int64_t gen = 0) {
  return {key, node, gen};
}

struct Row {
  const char* name;
  std::vector<NodeView> nodes;
  std::vector<InstanceView> instances;
  std::vector<std::string> wantBindings = {};  // "key->node@gen<-from"
  std::vector<std::string> wantLost = {};
  std::vector<std::string> wantUnschedulable = {};
};

std::string show(const Binding& b) {
  return b.key + "->" + b.node + "@" + std::to_string(b.generation) +
         (b.fromNode.empty() ? "" : "<-" + b.fromNode);
}

TEST(Placement, ScheduleTable) {
  const std::vector<Row> rows = {
      {"unbound goes to the emptiest node",
       {node("a", 10), node("b", 10)},
       {inst("ns/x", "a", 1), inst("ns/y")},
       {"ns/y->b@1"}},
      {"a batch spreads over nodes",
       {node("a", 10), node("b", 10), node("c", 10)},
       {inst("ns/1"), inst("ns/2"), inst("ns/3"), inst("ns/4")},
       {"ns/1->a@1", "ns/2->b@1", "ns/3->c@1", "ns/4->a@1"}},
      {"free capacity, not count, decides",
       {node("a", 2), node("b", 10)},
       {inst("ns/x", "b", 1), inst("ns/y", "b", 1), inst("ns/z")},
       {"ns/z->b@1"}},
      {"a lapsed lease makes the node lost and moves its instances",
       {node("a", 10, 11s), node("b", 10)},
       {inst("ns/x", "a", 1), inst("ns/y", "b", 1)},
       {"ns/x->b@1<-a"},
       {"a"}},
      {"exactly at the lease edge the node is still live",
       {node("a", 10, 10s)},
       {inst("ns/x", "a", 1)},
       {}},
      {"a node already Lost is not reported again",
       {node("a", 10, 60s, 1, "Lost"), node("b", 10)},
       {inst("ns/x", "a", 1)},
       {"ns/x->b@1<-a"}},
      {"a binding to an older generation is re-bound (the node came back)",
       {node("a", 10, 0ms, 2), node("b", 10, 0ms, 1)},
       {inst("ns/x", "a", 1), inst("ns/y", "b", 1), inst("ns/z", "b", 1)},
       {"ns/x->a@2<-a"}},
      {"generation 0 (single-node binding) stays where it is",
       {node("a", 10)},
       {inst("ns/x", "a", 0)},
       {}},
      {"an unknown node counts as dead",
       {node("a", 10)},
       {inst("ns/x", "gone", 3)},
       {"ns/x->a@1<-gone"}},
      {"no room anywhere", {node("a", 1)}, {inst("ns/x", "a", 1), inst("ns/y")}, {}, {}, {"ns/y"}},
      {"capacity 0 takes nothing",
       {node("a", 0), node("b", 1)},
       {inst("ns/x"), inst("ns/y")},
       {"ns/x->b@1"},
       {},
       {"ns/y"}},
      {"no live node: nothing is bound",
       {node("a", 10, 30s)},
       {inst("ns/x", "a", 1)},
       {},
       {"a"},
       {"ns/x"}},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    const SchedulePlan plan = schedule(r.nodes, r.instances, kNow);
    std::vector<std::string> got;
    for (const Binding& b : plan.bindings) got.push_back(show(b));
    EXPECT_EQ(got, r.wantBindings);
    EXPECT_EQ(plan.lostNodes, r.wantLost);
    EXPECT_EQ(plan.unschedulable, r.wantUnschedulable);
  }
}

TEST(Placement, LoadCountsBoundAndNewlyBound) {
  const SchedulePlan plan =
      schedule({node("a", 10), node("b", 10)}, {inst("ns/x", "a", 1), inst("ns/y")}, kNow);
  ASSERT_EQ(plan.load.size(), 2u);
  EXPECT_EQ(plan.load[0], (std::pair<std::string, int64_t>{"a", 1}));
  EXPECT_EQ(plan.load[1], (std::pair<std::string, int64_t>{"b", 1}));
}

TEST(Placement, ViewsReadStoredObjects) {
  const nlohmann::json n = {{"metadata", {{"name", "a"}}},
                            {"spec", {{"capacity", 7}}},
                            {"status",
                             {{"phase", "Ready"},
                              {"leaseGeneration", 4},
                              {"renewTime", "2026-01-01T00:00:00.250Z"},
                              {"leaseDurationSeconds", 2}}}};
  const NodeView v = NodeView::fromJson(n);
  EXPECT_EQ(v.capacity, 7);
  EXPECT_EQ(v.generation, 4);
  EXPECT_TRUE(v.live(kNow + 2250ms));
  EXPECT_FALSE(v.live(kNow + 2251ms));

  const nlohmann::json i = {{"metadata", {{"namespace", "ns"}, {"name", "x"}}},
                            {"status", {{"node", "a"}, {"nodeGeneration", 4}}}};
  EXPECT_TRUE(boundTo(i, "a", 4));
  EXPECT_FALSE(boundTo(i, "a", 5));
  EXPECT_FALSE(boundTo(i, "b", 4));
  EXPECT_FALSE(boundTo({{"metadata", {{"namespace", "ns"}, {"name", "x"}}}}, "a", 1));
}

}  // namespace
}  // namespace minimcp::reconciler
