#include "reconciler/node_agent.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "api/model/kinds.h"
#include "api/registry/guaranteed_update.h"
#include "reconciler/placement.h"

namespace minimcp::reconciler {

using nlohmann::json;
using std::chrono::milliseconds;

// The field manager of the node agent's writes (metadata.managedFields).
constexpr const char* kNodeAgentManager = "mcpd-node-agent";

NodeAgent::NodeAgent(store::Store& store, const Clock& clock, NodeAgentOptions options,
                     std::function<void()> onFenced)
    : store_(store), clock_(clock), options_(std::move(options)), onFenced_(std::move(onFenced)) {
  if (options_.renewPeriod <= milliseconds::zero()) {
    options_.renewPeriod = std::chrono::duration_cast<milliseconds>(options_.leaseDuration) / 3;
  }
}

NodeAgent::~NodeAgent() { stop(); }

json NodeAgent::nodeObject(int64_t generation) const {
  return {{"apiVersion", model::kApiVersion},
          {"kind", "Node"},
          {"metadata", {{"name", options_.name}}},
          {"spec",
           {{"address", options_.address},
            {"caBundle", options_.caBundle},
            {"capacity", options_.capacity}}},
          {"status",
           {{"phase", "Ready"},
            {"leaseGeneration", generation},
            {"renewTime", formatRfc3339Millis(clock_.now())},
            {"leaseDurationSeconds", options_.leaseDuration.count()}}}};
}

void NodeAgent::registerNode(bool bump) {
  int64_t gen = 0;
  registry::UpdateOptions upsert;
  upsert.ignoreNotFound = true;
  upsert.fieldManager = kNodeAgentManager;
  upsert.clock = &clock_;
  registry::guaranteedUpdate(
      store_, kNodes, "", options_.name,
      [&](const json* cur) {
        if (!cur) {
          // Never reuse a generation this process already ran with (the object may have been
          // deleted by hand while we ran).
          gen = std::max<int64_t>(1, generation_.load() + (bump ? 1 : 0));
          json obj = nodeObject(gen);
          model::initObjectMeta(obj, model::nodeStrategy().info(), clock_);
          return registry::Change::write(std::move(obj));
        }
        const NodeView seen = NodeView::fromJson(*cur);
        const bool lapsed = !seen.live(clock_.now());
        gen = std::max<int64_t>(
            std::max(seen.generation, generation_.load()) + (bump || lapsed ? 1 : 0), 1);
        json obj = *cur;
        json fresh = nodeObject(gen);
        obj["spec"] = fresh["spec"];
        obj["status"] = fresh["status"];
        return registry::Change::write(std::move(obj));
      },
      upsert);
  generation_ = gen;
}

void NodeAgent::start() {
  registerNode(false);
  spdlog::info("node {}: registered (lease generation {}, lease {}s, capacity {})", options_.name,
               generation_.load(), options_.leaseDuration.count(), options_.capacity);
  std::lock_guard lock(mu_);
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void NodeAgent::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool NodeAgent::renew() {
  try {
    bool lost = false;
    std::string phase;
    int64_t seenGeneration = 0;
    registry::UpdateOptions options;
    options.ignoreNotFound = true;
    options.timeout = std::chrono::duration_cast<milliseconds>(options_.renewPeriod);
    options.fieldManager = kNodeAgentManager;
    options.clock = &clock_;
    registry::guaranteedUpdate(
        store_, kNodes, "", options_.name,
        [&](const json* cur) {
          const NodeView seen = cur ? NodeView::fromJson(*cur) : NodeView{};
          phase = cur ? seen.phase : "absent";
          seenGeneration = seen.generation;
          lost = !cur || seen.phase != "Ready" || seen.generation != generation_.load();
          if (lost) return registry::Change::keep();
          json obj = *cur;
          obj["status"]["renewTime"] = formatRfc3339Millis(clock_.now());
          obj["status"]["leaseDurationSeconds"] = options_.leaseDuration.count();
          return registry::Change::write(std::move(obj));
        },
        options);
    if (lost) {
      // Deleted, marked Lost by the scheduler, or taken over: whatever was bound to the
      // previous generation has been (or will be) moved elsewhere.
      const int64_t before = generation_.load();
      registerNode(true);
      spdlog::warn("node {}: lease was lost (phase {}, generation {}); rejoined as generation {}",
                   options_.name, phase, seenGeneration, generation_.load());
      if (generation_.load() != before && onFenced_) onFenced_();
    }
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("node {}: lease renewal failed: {}", options_.name, e.what());
    return false;
  }
}

void NodeAgent::loop() {
  milliseconds wait = options_.renewPeriod;
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, wait, [this] { return stopping_; })) {
    lock.unlock();
    const bool ok = renew();
    lock.lock();
    // A failed renewal is retried sooner, so one blip does not cost a whole period of the lease.
    wait = ok ? options_.renewPeriod : std::max(milliseconds(100), options_.renewPeriod / 4);
  }
}

}  // namespace minimcp::reconciler
