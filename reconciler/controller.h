// Controller: the MCPInstance reconciler. An Informer feeds instance keys into a
// WorkQueue; `workers` threads take them and run reconcile(key) = observe → decide → act →
// record. decide() (decide.h) is the pure part; the Executor runs its actions and remembers
// what only this process knows (exits, probe results); the EventRecorder writes events.
//
// Lifecycle: construct, start(), ... stop(). stop() drains the workers and stops watching;
// instance processes are LEFT RUNNING, and the next Controller adopts them (Restore).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/crypto/instance_token.h"
#include "api/model/kinds.h"
#include "api/registry/event_recorder.h"
#include "api/store/store.h"
#include "api/util/clock.h"
#include "reconciler/controller_metrics.h"
#include "reconciler/decide.h"
#include "reconciler/executor.h"
#include "reconciler/informer.h"
#include "reconciler/isolation.h"
#include "reconciler/key_resolver.h"
#include "reconciler/runtime/health_prober.h"
#include "reconciler/runtime/host_processes.h"
#include "reconciler/runtime/process_runtime.h"
#include "reconciler/stray_processes.h"
#include "reconciler/uid_allocator.h"
#include "reconciler/warm_pool.h"
#include "reconciler/work_queue.h"

namespace minimcp::reconciler {

struct ControllerOptions {
  std::string node = "local";  // status.node, events' source.host
  // Instance dirs: dataDir/instances/<ns>/<name> (cwd and HOME), logs in dataDir/logs/<ns>/<name>.
  std::filesystem::path dataDir;
  // Where the MCPTypes' relative args resolve (and must stay).
  std::filesystem::path mcpServersDir;
  uint16_t portLo = 20000;
  uint16_t portHi = 29999;
  // status.gatewayURL = gatewayBase + "/mcp/<ns>/<name>".
  std::string gatewayBase = "https://127.0.0.1:7443";
  // Instances reach mcpd's API at gatewayBase (MCP_API_URL), trusting this CA (PEM, MCP_API_CA;
  // "": the system's roots).
  std::string apiCaPem;
  int workers = 2;
  // status.usage is refreshed at most this often, a running instance revisited when it is due;
  // a process's first sample is written as soon as the runtime has it (Executor::usageDue).
  std::chrono::milliseconds usagePeriod{60000};
  // nullptr: ports are checked free by binding them.
  std::shared_ptr<PortChecker> portChecker;
  // nullptr: StoreKeyResolver (no decryption: instances with a keyRef stay Pending).
  std::shared_ptr<KeyResolver> keyResolver;
  // How long an Expired instance stays visible before it is removed with its events;
  // nullopt: until deleted.
  std::optional<std::chrono::milliseconds> expiredRetention;
  // Set when several nodes share the store: this node's lease generation (NodeAgent). Then
  // only instances the Scheduler bound to (node, generation) are run here, and a local process
  // of any other instance is stopped (fencing). Unset: every instance is this node's.
  std::function<int64_t()> leaseGeneration;
  // What the controller learns from, and does to, processes it did not launch in this run
  // (recorded processes before adoption, processes left by an earlier run). nullptr: /proc.
  std::shared_ptr<runtime::HostProcesses> hostProcesses;
  // DynamicUser (mcpd is root): each instance runs as the uid/gid this hands it. nullptr: every
  // instance runs as the runtime's user, and `isolation` says which.
  std::shared_ptr<UidAllocator> uids;
  // status.isolation when `uids` is not set; its sandbox is written in either case.
  Isolation isolation;
  // Where reconciles, the work queue, instances and restarts are counted. nullptr: nowhere.
  std::shared_ptr<ControllerMetrics> metrics;
  // MCPTypes' spec.warmPool is honoured: waiting processes are kept and claimed by starts
  // (warm_pool.h). Only with `uids` (each waiting process needs a uid of its own) and without a
  // sandbox (a bwrap sandbox is built around one working directory, fixed before the instance is
  // known); otherwise every start launches anew.
  bool warmPools = true;
  // Where the warm pools are counted (minimcp_warm_pool_*). nullptr: nowhere.
  metrics::Registry* metricsRegistry = nullptr;
};

// The field manager of the controller's writes (metadata.managedFields).
inline constexpr const char* kControllerManager = "mcpd-controller";

class Controller {
 public:
  // Registers the runtime's callbacks: one Controller per runtime at a time. Every reference
  // must outlive the Controller.
  Controller(ControllerOptions options, store::Store& store, runtime::ProcessRuntime& runtime,
             runtime::HealthProber& prober, const crypto::InstanceTokens& tokens,
             const Clock& clock);
  ~Controller();  // stop()
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Watches the store and starts the workers. Instances this node ran before (status.node)
  // are queued first, so their live processes are adopted before anything new is spawned.
  // Processes an earlier run left behind are found first (sweepStrays).
  void start();
  // Stops watching the store and drains the workers (a reconcile in progress finishes; queued
  // keys are dropped). Leaves every instance process running; health probes end when the
  // Controller is destroyed. A stopped Controller is not started again: make a new one.
  void stop();

  // One pass for "ns/name". Public so tests can drive it without workers. The result says
  // when to look again (a status write that lost a race: requeueAfter == 0).
  Result reconcile(const std::string& key);

  // Sweeps for stray processes and queues every instance again (after this node's lease
  // generation changed).
  void resync();

  // Where the process of "ns/name" serves, from this controller's own record: the port of the
  // process it runs here, once healthy (Executor::servingPort). Thread-safe.
  std::optional<uint16_t> servingPort(const std::string& key) const {
    return executor_.servingPort(key);
  }
  // The same, held as one request in flight until the lease's `hold` is released: a process a
  // replacement superseded is stopped once it holds none (or its grace period is over).
  std::optional<ServingLease> acquire(const std::string& key) const {
    return executor_.acquire(key);
  }

  // Wake on request: a request through the gateway found the instance `key` Idle (or put to
  // sleep a moment ago). Its next reconcile starts the process (status.lastWake), once for
  // every request asking meanwhile. `done` is called once, on any thread: with "" when the
  // process serves (acquire() finds it), or with why it will not (its start failed, it is not
  // this node's, it was deleted or suspended, mcpd stops). Thread-safe.
  using WakeDone = std::function<void(const std::string& error)>;
  void wake(const std::string& key, WakeDone done);
  // A request held for the wake of `key` gave up waiting: counted once per wake (timeout).
  void wakeTimedOut(const std::string& key);
  // Whether this controller put the process of `key` to sleep and started none since.
  bool sleeping(const std::string& key) const { return executor_.sleeping(key); }

 private:
  // Everything reconcile() reads, gathered once.
  struct Snapshot {
    std::string key, ns, name;
    nlohmann::json object;  // the MCPInstance; replaced by the stored result of every write
    model::MCPInstanceSpec spec;
    std::optional<model::MCPTypeSpec> type;
    Desired desired;
    Observed observed;
  };
  // What acting did, for record().
  struct Acted {
    bool sideEffects = false;  // a process or port changed: the plan's status must be kept
    bool conflict = false;     // a metadata write lost a race: look again at once
    bool removed = false;      // the object is gone from the store
    std::string failedAction;  // non-empty: this action threw
    std::string error;
  };

  Snapshot observe(const std::string& key, nlohmann::json object);
  KeyResolution resolveKey(const Snapshot& s);
  Acted act(Snapshot& s, Plan& plan);
  void actOne(Snapshot& s, Plan& plan, const Action& a, Acted& acted);
  Result record(Snapshot& s, Plan& plan, const Acted& acted);
  // Counts the instance in its phase, and a restart the written status records.
  void countInstance(const Snapshot& s, const nlohmann::json& oldStatus, const Plan& plan);

  // Bookkeeping helpers.
  void updateFinalizers(Snapshot& s, bool add, Acted& acted);
  // Removes the events about a collected instance (they name it by uid).
  void removeEvents(const Snapshot& s);
  // The instance is gone: removes its dir and logs, then frees its uid (kept while a file of it
  // remains).
  void removeInstanceFiles(const std::string& ns, const std::string& name);
  // The uid/gid the key's process runs as (DynamicUser): the one it holds or has recorded.
  void assignIdentity(const Snapshot& s, runtime::LaunchSpec& spec);
  nlohmann::json isolationOf(const Snapshot& s) const;  // status.isolation
  void spawn(Snapshot& s, Plan& plan);
  ProbeSettings probeSettings(const Snapshot& s) const;
  nlohmann::json decorateStatus(const Snapshot& s, const InstanceStatus& status) const;
  // The runtime's usage of the process into status.usage (when it has sampled it): what it wrote.
  std::optional<runtime::Usage> addUsage(const Snapshot& s, nlohmann::json& status) const;
  void markFailed(const Snapshot& s, Plan& plan, const Acted& acted) const;
  void emit(const Snapshot& s, const std::vector<Event>& events);
  // Stops this node's process of an instance bound elsewhere.
  void fence(const std::string& key, const nlohmann::json& object);
  // Finds the processes an earlier run of mcpd left on this host (in an instance's dir, or
  // under an instance's own uid) that are not the instance's recorded process or part of it.
  // Those of instances gone or not bound to this node are stopped at once; those of this
  // node's instances are handed to the instance's next reconcile (stopStrays), which runs
  // alone for its key and so never mistakes a process being spawned for a stray.
  void sweepStrays();
  // Stops the strays sweepStrays() handed over for `key` that are still not part of its
  // process, with a Warning event on the instance. `object`: null when the instance is gone.
  void stopStrays(const std::string& key, const nlohmann::json* object, bool bound);
  // The marks of the instance's process (dir, MCP_ID, isolation uid).
  InstanceMarks marksOf(const nlohmann::json& object) const;
  // The processes of `key` that strays are measured against: the current one and the one a
  // replacement supersedes, each the runtime's, else the recorded one when it carries the
  // instance's marks.
  std::vector<pid_t> keepersOf(const std::string& key, const nlohmann::json* object) const;
  void worker();
  // Ends the wake of `key` under way, if any: "" it serves, else why not.
  void finishWake(const std::string& key, const std::string& error);

  ControllerOptions options_;
  store::Store& store_;
  runtime::ProcessRuntime& runtime_;
  const crypto::InstanceTokens& tokens_;
  const Clock& clock_;
  std::shared_ptr<KeyResolver> keys_;
  std::shared_ptr<runtime::HostProcesses> host_;
  std::string instancesRoot_;       // DATA_DIR/instances, canonical; "" when there is no data dir
  std::unique_ptr<WarmPool> pool_;  // before executor_, whose callbacks reach it
  std::mutex straysMu_;
  std::map<std::string, std::vector<runtime::ProcessInfo>> strays_;  // key → to stop
  // Wakes under way: since the first request asked, and who waits.
  struct WakeWait {
    std::chrono::steady_clock::time_point since;
    std::vector<WakeDone> waiters;
    bool timedOut = false;  // counted as a timeout already
  };
  std::mutex wakeMu_;
  std::map<std::string, WakeWait> wakes_;
  // Delays are real time whatever clock_ is (tests drive reconcile() directly with a fake one).
  WorkQueue queue_;
  std::shared_ptr<void> queueWatch_;  // before queue_ goes
  std::shared_ptr<void> usageWatch_;  // reads runtime_ at every scrape
  registry::EventRecorder events_;
  Executor executor_;
  Informer informer_;
  std::vector<std::thread> workers_;
  bool started_ = false;
};

}  // namespace minimcp::reconciler
