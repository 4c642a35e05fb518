#include "reconciler/placement.h"

#include <algorithm>
#include <map>

#include "api/model/kind_strategy.h"
#include "reconciler/informer.h"

namespace minimcp::reconciler {

using nlohmann::json;

using model::intField;
using model::objectField;
using model::stringField;

namespace {}  // namespace

NodeView NodeView::fromJson(const json& node) {
  NodeView n;
  n.name = stringField(objectField(node, "metadata"), "name");
  const json& st = objectField(node, "status");
  n.phase = stringField(st, "phase");
  n.generation = intField(st, "leaseGeneration");
  n.renewTime = parseRfc3339(stringField(st, "renewTime"));
  n.leaseDuration = std::chrono::seconds(intField(st, "leaseDurationSeconds"));
  n.capacity = intField(objectField(node, "spec"), "capacity");
  return n;
}

bool NodeView::live(TimePoint now) const {
  return phase == "Ready" && renewTime && *renewTime + leaseDuration >= now;
}

InstanceView InstanceView::fromJson(const json& instance) {
  InstanceView v;
  v.key = objectKey(instance);
  const json& st = objectField(instance, "status");
  v.node = stringField(st, "node");
  v.nodeGeneration = intField(st, "nodeGeneration");
  return v;
}

SchedulePlan schedule(const std::vector<NodeView>& nodes,
                      const std::vector<InstanceView>& instances, TimePoint now) {
  SchedulePlan plan;
  std::map<std::string, const NodeView*> live;
  for (const NodeView& n : nodes) {
    if (n.live(now)) {
      live[n.name] = &n;
    } else if (n.phase == "Ready") {
      plan.lostNodes.push_back(n.name);
    }
  }
  std::map<std::string, int64_t> load;
  for (const auto& [name, n] : live) load[name] = 0;
  std::vector<const InstanceView*> unbound;
  for (const InstanceView& i : instances) {
    auto it = live.find(i.node);
    const bool placed =
        it != live.end() && (i.nodeGeneration == 0 || i.nodeGeneration == it->second->generation);
    if (placed) {
      ++load[i.node];
    } else {
      unbound.push_back(&i);
    }
  }
  std::sort(unbound.begin(), unbound.end(),
            [](const InstanceView* a, const InstanceView* b) { return a->key < b->key; });
  for (const InstanceView* i : unbound) {
    const NodeView* best = nullptr;
    for (const auto& [name, n] : live) {
      const int64_t free = n->capacity - load[name];
      if (free <= 0) continue;
      if (!best) {
        best = n;
        continue;
      }
      const int64_t bestFree = best->capacity - load[best->name];
      if (free > bestFree || (free == bestFree && load[name] < load[best->name])) best = n;
    }
    if (!best) {
      plan.unschedulable.push_back(i->key);
      continue;
    }
    ++load[best->name];
    plan.bindings.push_back({i->key, best->name, best->generation, i->node});
  }
  plan.load.assign(load.begin(), load.end());
  return plan;
}

bool boundTo(const json& instance, const std::string& node, int64_t generation) {
  const InstanceView v = InstanceView::fromJson(instance);
  return v.node == node && (v.nodeGeneration == 0 || v.nodeGeneration == generation);
}

}  // namespace minimcp::reconciler
