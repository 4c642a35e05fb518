// WarmPool: per MCPType (spec.warmPool.size), processes started before any instance needs them,
// waiting for an identity (mcp-servers/lib/identity.js). A start of an instance of that type
// claims one instead of launching node anew (Executor::spawn), so the node start is off the
// critical path.
//
// Why it is sound:
// - Each waiting process runs as a uid of its own from the instance range (UidAllocator, key
//   "~pool/<type>/<slot>"), never root and never another process's. On claim that uid is handed
//   over to the instance (UidAllocator::handOver): the instance's files are given to it first
//   (reownTree), the instance's earlier uid is released, and the process becomes the instance's
//   in the runtime (rekey: exit detection, limits, logs). One uid, one instance, as for a launch.
// - The identity (port, token, key, config: the whole launch environment) goes over a socketpair
//   whose other end only that process holds (descriptor 3, every other descriptor closed at
//   exec). mcpd writes it once and closes its end; it keeps no way to write again, so a process
//   serves exactly one instance in its life. Nothing of it is in argv or in the environment block
//   /proc shows; only the instance's own uid (the process itself) could read its memory.
// - A process that never got an identity holds nothing secret. When mcpd goes away its end
//   closes and every waiting process exits by itself; the next mcpd stops whatever is still
//   running in DATA_DIR/pool and removes the pool's directories before it fills the pool again.
// - Waiting processes are not instances: they are counted in /metrics
//   (minimcp_warm_pool_*{type}), never in the store.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "api/metrics/registry.h"
#include "api/model/kinds.h"
#include "api/store/store.h"
#include "reconciler/executor.h"
#include "reconciler/runtime/host_processes.h"
#include "reconciler/runtime/process_runtime.h"
#include "reconciler/uid_allocator.h"

namespace minimcp::reconciler {

struct WarmPoolOptions {
  std::filesystem::path dataDir;
  std::filesystem::path mcpServersDir;
  // Required: every waiting process runs as a uid of its own.
  std::shared_ptr<UidAllocator> uids;
  // A change of an MCPType (a pool's size, its spec, its deletion) is seen at once through the
  // store's watch; the types are also read again this often, in case of a missed change.
  std::chrono::milliseconds resync{60000};
  // A type whose waiting processes fail (launch error, exit before "ready") is refilled no sooner
  // than this, doubling per failure in a row.
  std::chrono::milliseconds backoffMin{1000};
  std::chrono::milliseconds backoffMax{60000};
  // A claimed process is replaced this long after the claim, not at once (see claim()).
  std::chrono::milliseconds refillDelay{250};
  // Where minimcp_warm_pool_* are rendered. nullptr: nowhere.
  metrics::Registry* metrics = nullptr;
};

class WarmPool : public ProcessClaimer {
 public:
  // Every reference must outlive the pool.
  WarmPool(WarmPoolOptions options, store::Store& store, runtime::ProcessRuntime& runtime,
           runtime::HostProcesses& host);
  ~WarmPool() override;  // stop()
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;

  // Stops what an earlier run left in DATA_DIR/pool, then fills the pools in the background.
  void start();
  // Stops filling and closes every channel: the waiting processes exit without serving.
  void stop();

  // A ready process of spec.pool's type launched exactly as `spec` would be (command, args,
  // limits, grace period), made spec.key's, its identity sent; spec.uid/gid become its uid.
  // nullopt when none fits (spec.uid/gid may still have changed: the instance took the uid of a
  // process that failed during the claim, and its files with it).
  std::optional<runtime::ProcessHandle> claim(runtime::LaunchSpec& spec) override;
  bool onExit(const std::string& key, const runtime::ExitInfo& info) override;

  struct TypeStats {
    int size = 0;      // spec.warmPool.size
    int starting = 0;  // launched, not ready yet
    int ready = 0;     // waiting for an identity
    uint64_t claims = 0;
  };
  std::map<std::string, TypeStats> stats() const;

 private:
  struct Slot {
    std::string key, type, id;
    int channel = -1;  // mcpd's end
    uint32_t uid = 0;
    bool ready = false;
    bool dead = false;
    std::string signature;
  };
  struct TypeState {
    int size = 0;
    std::optional<model::MCPTypeSpec> spec;
    std::string signature;  // of a launch of this type now
    int failures = 0;
    std::chrono::steady_clock::time_point notBefore{};
    uint64_t claims = 0;
  };

  void run();
  void cleanLeftovers();
  void readTypes();
  void readChannels(const std::vector<std::pair<std::string, int>>& readable);
  void converge();
  void launchSlot(const std::string& type, const model::MCPTypeSpec& spec);
  // Stops the slot's process, frees its uid (unless handed over) and removes its directories.
  void retire(Slot& slot);
  void failed(const std::string& type, const std::string& why);  // under mu_
  void wake();
  void renderMetrics();

  WarmPoolOptions options_;
  store::Store& store_;
  runtime::ProcessRuntime& runtime_;
  runtime::HostProcesses& host_;
  int wakeFd_ = -1;
  std::unique_ptr<store::Subscription> typesWatch_;

  mutable std::mutex mu_;
  bool stopping_ = false;
  std::map<std::string, Slot> slots_;  // by key
  std::map<std::string, TypeState> types_;
  std::thread thread_;

  struct Metrics;
  std::unique_ptr<Metrics> metrics_;
  std::shared_ptr<void> scrapeHook_;
};

// What must be equal for a waiting process to serve a launch: command, args, limits, grace.
std::string launchSignature(const runtime::LaunchSpec& spec);

}  // namespace minimcp::reconciler
