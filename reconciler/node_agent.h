// NodeAgent: this mcpd's Node object and its heartbeat lease, after the kubelet's
// node lease. start() registers the node (creating its Node object, or taking it over after a
// restart); a thread then renews status.renewTime every renewPeriod.
//
// Generations: a node that comes back after its lease lapsed (or finds that the scheduler
// marked it Lost) takes generation + 1. Instances bound to its previous generation are no
// longer its own (placement.h); `onFenced` runs so the controller stops their processes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp::reconciler {

struct NodeAgentOptions {
  std::string name;
  std::string address;   // spec.address: where peers reach this node's API and gateway
  std::string caBundle;  // spec.caBundle: PEM of the CA behind address's certificate
  int64_t capacity = 50;
  std::chrono::seconds leaseDuration{15};
  std::chrono::milliseconds renewPeriod{0};  // 0: leaseDuration / 3
};

class NodeAgent {
 public:
  NodeAgent(store::Store& store, const Clock& clock, NodeAgentOptions options,
            std::function<void()> onFenced = {});
  ~NodeAgent();  // stop()
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  // Registers the node (throws StoreError when the store cannot be written), then renews the
  // lease in the background.
  void start();
  void stop();

  // The lease generation instances are bound with; stable between fencings.
  int64_t generation() const { return generation_.load(); }
  const std::string& name() const { return options_.name; }

  // One renewal (the background thread's step; public for tests). False when the store failed.
  bool renew();

 private:
  // Writes the Node as Ready with a fresh lease. `bump`: take a new generation.
  void registerNode(bool bump);
  nlohmann::json nodeObject(int64_t generation) const;
  void loop();

  store::Store& store_;
  const Clock& clock_;
  NodeAgentOptions options_;
  std::function<void()> onFenced_;
  std::atomic<int64_t> generation_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace minimcp::reconciler
