// Placement: the pure part of running several mcpd nodes on one store. Which
// nodes hold a live lease, and which node each MCPInstance should be bound to. The Scheduler
// (scheduler.h) reads the store, calls schedule() and writes what it returns.
//
// An instance is bound by two status fields: status.node (the node that runs it) and
// status.nodeGeneration (that node's lease generation at binding time). A node whose lease
// lapsed comes back with a higher generation, so bindings made for its previous life no longer
// name it: it runs nothing it was given before it died, and the scheduler re-binds those
// instances (fencing by lease generation).
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/util/clock.h"

namespace minimcp::reconciler {

inline constexpr const char* kNodes = "nodes";

struct NodeView {
  std::string name;
  std::string phase;  // "Ready" | "Lost"
  int64_t generation = 0;
  int64_t capacity = 0;
  std::optional<TimePoint> renewTime;
  std::chrono::milliseconds leaseDuration{0};

  static NodeView fromJson(const nlohmann::json& node);
  // Ready and renewed within its lease duration.
  bool live(TimePoint now) const;
};

struct InstanceView {
  std::string key;  // "ns/name"
  std::string node;
  int64_t nodeGeneration = 0;  // 0: bound without a generation (single-node mode)

  static InstanceView fromJson(const nlohmann::json& instance);
};

struct Binding {
  std::string key;
  std::string node;
  int64_t generation = 0;
  std::string fromNode;  // "" on first placement
};

struct SchedulePlan {
  std::vector<std::string> lostNodes;      // Ready in the store but their lease lapsed: mark Lost
  std::vector<Binding> bindings;           // in key order
  std::vector<std::string> unschedulable;  // no live node has room
  // Instances per live node once the bindings are written (status.instances).
  std::vector<std::pair<std::string, int64_t>> load;
};

// Keeps every instance bound to a live node of the right generation; binds the others to the
// live node with the most free capacity (capacity − bound instances; ties: fewer instances,
// then name), one at a time so a batch spreads out.
SchedulePlan schedule(const std::vector<NodeView>& nodes,
                      const std::vector<InstanceView>& instances, TimePoint now);

// Whether `instance` (a stored MCPInstance) is this node's to run.
bool boundTo(const nlohmann::json& instance, const std::string& node, int64_t generation);

}  // namespace minimcp::reconciler
