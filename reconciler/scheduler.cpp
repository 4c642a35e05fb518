#include "reconciler/scheduler.h"

#include <spdlog/spdlog.h>

#include <map>

#include "api/model/strategy.h"
#include "api/registry/guaranteed_update.h"
#include "reconciler/decide.h"
#include "reconciler/informer.h"

namespace minimcp::reconciler {

using nlohmann::json;

namespace {

constexpr const char* kLockName = "minimcp-scheduler";

bool isRace(const store::StoreError& e) {
  return e.code() == store::StoreError::Code::Conflict ||
         e.code() == store::StoreError::Code::NotFound;
}

// Writes `obj` only over the version it was computed from (`read`): the plan was made from one
// snapshot of every node and instance, so a newer object means a new pass, not a re-applied write.
constexpr const char* kSchedulerManager = "mcpd-scheduler";

json writeIfUnchanged(store::Store& store, const Clock& clock, const std::string& resource,
                      const json& read, json obj) {
  registry::UpdateOptions options;
  options.fieldManager = kSchedulerManager;
  options.clock = &clock;
  return *registry::updateIfUnchanged(store, resource, read,
                                      registry::Change::write(std::move(obj)), options)
              .object;
}

}  // namespace

Scheduler::Scheduler(store::Store& store, const Clock& clock, SchedulerOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      events_(store, clock, options_.node) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
  sub_ = store_.subscribe([this](const store::WatchEvent& ev) {
    // New instances and node changes need a pass; status writes of running instances do not.
    if (!leading_.load()) return;  // a follower only tries the lock, every period
    if (ev.resource == kNodes ||
        (ev.resource == kInstances && ev.type == store::EventType::Added)) {
      std::lock_guard lock(mu_);
      dirty_ = true;
      cv_.notify_all();
    }
  });
  std::lock_guard lock(mu_);
  stopping_ = false;
  dirty_ = true;
  thread_ = std::thread([this] { loop(); });
}

void Scheduler::stop() {
  sub_.reset();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  lock_.reset();
  leading_ = false;
}

bool Scheduler::runOnce() {
  std::unique_ptr<store::ExclusiveLock>& held = lock_;
  try {
    if (held && !held->held()) {
      spdlog::warn("scheduler: lost the scheduler lock on node {}", options_.node);
      held.reset();
    }
    if (!held) {
      held = store_.tryLock(kLockName);
      if (held) spdlog::info("scheduler: node {} is the scheduler", options_.node);
    }
    if (held && !pass()) {
      // A race lost to a node or an instance: the next pass, at once, starts from its write.
      std::lock_guard lock(mu_);
      dirty_ = true;
    }
  } catch (const std::exception& e) {
    spdlog::warn("scheduler: {}", e.what());
  }
  leading_ = held != nullptr;
  return leading_;
}

bool Scheduler::pass() {
  const store::ListResult nodeList = store_.list(kNodes, {});
  const store::ListResult instanceList = store_.list(kInstances, {});
  std::vector<NodeView> nodes;
  std::map<std::string, const json*> nodeByName;
  for (const json& n : nodeList.items) {
    nodes.push_back(NodeView::fromJson(n));
    nodeByName[nodes.back().name] = &n;
  }
  std::vector<InstanceView> instances;
  std::map<std::string, const json*> byKey;
  for (const json& i : instanceList.items) {
    instances.push_back(InstanceView::fromJson(i));
    byKey[instances.back().key] = &i;
  }
  const TimePoint now = clock_.now();
  const SchedulePlan plan = schedule(nodes, instances, now);

  // Instances move off a node only once its Node says Lost: a node renewing its lease at this
  // moment makes this write fail, and the pass starts over with it alive.
  for (const std::string& name : plan.lostNodes) {
    const json& n = *nodeByName.at(name);
    json lost = n;
    lost["status"]["phase"] = "Lost";
    try {
      writeIfUnchanged(store_, clock_, kNodes, n, std::move(lost));
      spdlog::warn("scheduler: node {} lost its lease (last renewed {})", name,
                   n["status"].value("renewTime", "never"));
    } catch (const store::StoreError& e) {
      if (isRace(e)) return false;
      throw;
    }
  }
  for (const Binding& b : plan.bindings) {
    try {
      bind(*byKey.at(b.key), b);
    } catch (const store::StoreError& e) {
      if (isRace(e)) return false;
      throw;
    }
  }
  for (const auto& key : plan.unschedulable) {
    spdlog::warn("scheduler: {}: no live node has room", key);
  }
  // status.instances, for `mcpctl get nodes`: a count, so it goes onto whatever is newest.
  auto instancesOf = [](const json& node) {
    return node.value("status", json::object()).value("instances", int64_t{-1});
  };
  registry::UpdateOptions absentIsFine;
  absentIsFine.ignoreNotFound = true;
  absentIsFine.fieldManager = kSchedulerManager;
  absentIsFine.clock = &clock_;
  for (const auto& [name, count] : plan.load) {
    if (instancesOf(*nodeByName.at(name)) == count) continue;
    registry::guaranteedUpdate(
        store_, kNodes, "", name,
        [&](const json* current) {
          if (!current || instancesOf(*current) == count) return registry::Change::keep();
          json counted = *current;
          counted["status"]["instances"] = count;
          return registry::Change::write(std::move(counted));
        },
        absentIsFine);
  }
  return true;
}

void Scheduler::bind(const json& instance, const Binding& b) {
  json obj = instance;
  json& st = obj["status"];
  if (!st.is_object()) st = json::object();
  st["node"] = b.node;
  st["nodeGeneration"] = b.generation;
  std::string message;
  if (!b.fromNode.empty()) {
    // The old node's process is gone with it (or will be stopped when it comes back): the new
    // node starts its own.
    for (const char* f : {"pid", "processStartTime", "port", "url", "startedAt", "healthySince",
                          "usage", "limitEnforcement"}) {
      st.erase(f);
    }
    st["phase"] = "Pending";
    message = "node " + b.fromNode + " is not live; moved to node " + b.node;
    model::setCondition(obj, "Ready", "False", "Rescheduled", message, clock_.now());
    // The old node's verdict (a crash loop, say) no longer holds: in progress until the new
    // node has started it.
    InstanceStatus summary = InstanceStatus::fromJson(obj["status"]);
    setSummaryConditions(summary, summary.observedGeneration, clock_.now());
    obj["status"] = summary.toJson();
  }
  const json stored = writeIfUnchanged(store_, clock_, kInstances, instance, std::move(obj));
  if (b.fromNode.empty()) {
    spdlog::info("scheduler: {} bound to node {}", b.key, b.node);
  } else {
    spdlog::warn("scheduler: {}: {}", b.key, message);
    events_.record(stored, "Warning", "Rescheduled", message);
  }
}

void Scheduler::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    dirty_ = false;
    lock.unlock();
    runOnce();
    lock.lock();
    cv_.wait_for(lock, options_.period, [this] { return stopping_ || dirty_; });
  }
}

}  // namespace minimcp::reconciler
