#include "reconciler/executor.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <stdexcept>

namespace minimcp::reconciler {

namespace {

uint64_t parseStartTime(const std::string& s) {
  try {
    return s.empty() ? 0 : std::stoull(s);
  } catch (const std::exception&) {
    return 0;
  }
}

// The instance a runtime key belongs to (previousKey(k) → k).
std::string instanceKeyOf(const std::string& runtimeKey) {
  static const std::string suffix = previousKey("");
  if (runtimeKey.size() > suffix.size() &&
      runtimeKey.compare(runtimeKey.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return runtimeKey.substr(0, runtimeKey.size() - suffix.size());
  }
  return runtimeKey;
}

}  // namespace

Executor::Executor(runtime::ProcessRuntime& runtime, runtime::HealthProber& prober,
                   const runtime::HostProcesses& host, uint16_t portLo, uint16_t portHi,
                   std::shared_ptr<PortChecker> portChecker, const Clock& clock, Enqueue enqueue)
    : runtime_(runtime),
      host_(host),
      portChecker_(portChecker ? std::move(portChecker) : std::make_shared<BindPortChecker>()),
      ports_(portLo, portHi, portChecker_),
      clock_(clock),
      enqueue_(std::move(enqueue)),
      sink_(std::make_shared<Sink>()),
      probes_(std::make_unique<runtime::ProbeScheduler>(prober)) {
  sink_->executor = this;
  runtime_.onExit([sink = sink_](const std::string& key, const runtime::ExitInfo& info) {
    std::lock_guard lock(sink->mu);
    if (sink->executor) sink->executor->onExit(key, info);
  });
  runtime_.onLimitExceeded(
      [sink = sink_](const std::string& key, const std::string& what, const std::string& msg) {
        std::lock_guard lock(sink->mu);
        if (sink->executor) sink->executor->onLimit(key, what, msg);
      });
}

Executor::~Executor() {
  probes_.reset();  // no probe result is delivered after this
  std::lock_guard lock(sink_->mu);
  sink_->executor = nullptr;
}

// --- callbacks ------------------------------------------------------------------------------

void Executor::setClaimer(ProcessClaimer* claimer) { claimer_ = claimer; }

void Executor::onServing(std::function<void(const std::string& key)> fn) {
  onServing_ = std::move(fn);
}

void Executor::onExit(const std::string& key, const runtime::ExitInfo& info) {
  if (ProcessClaimer* c = claimer_.load(); c && c->onExit(key, info)) return;
  {
    std::lock_guard lock(mu_);
    Memory& m = mem_[key];
    m.exit = info;
    m.exitSteady = clock_.steadyNow();
  }
  // A stop we asked for is handled by the reconcile that asked.
  if (!info.stopRequested) enqueue_(instanceKeyOf(key));
}

void Executor::onLimit(const std::string& key, const std::string& what,
                       const std::string& message) {
  {
    std::lock_guard lock(mu_);
    Memory& m = mem_[key];
    m.limitExceeded = true;
    m.limitMessage = what + ": " + message;
  }
  enqueue_(instanceKeyOf(key));
}

void Executor::onProbe(const std::string& key, uint64_t generation, const runtime::ProbeResult& r) {
  bool changed = false;
  bool serving = false;
  {
    std::lock_guard lock(mu_);
    auto it = mem_.find(key);
    if (it == mem_.end() || it->second.probeGeneration != generation) return;  // stale
    Memory& m = it->second;
    HealthObservation& h = m.health;
    if (r.healthy) {
      serving = !m.everHealthy;
      m.everHealthy = true;
      // Idleness counts from when the process began to serve, not from its spawn: a start
      // slower than idleTimeout must not put it back to sleep before the requests that woke it
      // reach it.
      if (serving) m.inflight->lastActive = clock_.steadyNow().time_since_epoch().count();
      changed = h.last != Health::Healthy || m.keyRejected != r.keyRejected;
      h.last = Health::Healthy;
      h.consecutiveFailures = 0;
      h.message.clear();
      m.keyRejected = r.keyRejected;
    } else {
      h.last = Health::Unhealthy;
      ++h.consecutiveFailures;
      h.message = !r.error.empty() ? r.error : "HTTP status " + std::to_string(r.statusCode);
      // Before the first healthy answer only the startup deadline (a timer) judges the process.
      changed = m.everHealthy;
    }
  }
  if (serving && onServing_) onServing_(key);
  if (changed) enqueue_(key);
}

// --- observe --------------------------------------------------------------------------------

Observed Executor::observe(const std::string& key, InstanceStatus status,
                           const InstanceMarks& marks) {
  Observed o;
  const std::optional<runtime::ProcessHandle> handle = runtime_.handle(key);
  const std::optional<uint16_t> ourPort = ports_.portOf(key);
  bool checkAlive = false;
  bool endStartupProbes = false;
  uint64_t generation = 0;
  int probePort = 0;
  ProbeSettings probe;
  {
    std::lock_guard lock(mu_);
    Memory& m = mem_[key];
    // The first healthy answer ends the quick startup probing. Done here, on the key's
    // worker, so it cannot race with a spawn or stop of the same key.
    if (m.everHealthy && m.startupProbes && m.probeGeneration) {
      m.startupProbes = false;
      endStartupProbes = true;
      generation = m.probeGeneration;
      probePort = m.probePort;
      probe = m.probe;
    }
    ProcessFacts& p = o.process;
    const bool exitedRecorded = m.exit && status.pid && m.exit->pid == status.pid;
    const bool handleExited = handle && m.exit && m.exit->pid == handle->pid;
    if (exitedRecorded && !m.exit->stopRequested) {
      p.state = ProcessState::Exited;
      p.exitCode = m.exit->exitCode;
      p.signal = m.exit->signal;
      p.oomKilled = m.exit->reason == "OOMKilled";
      p.finishedAt = m.exit->finishedAt;
      p.finishedSteady = m.exitSteady;
    } else if (handle && !handleExited) {
      p.state = ProcessState::Running;
      if (status.pid != handle->pid) {
        status.pid = handle->pid;
        status.processStartTime = std::to_string(handle->startTime);
      }
      if (ourPort && status.port != *ourPort) status.port = *ourPort;
      if (!m.since) m.since = clock_.steadyNow();
      p.since = m.since;
    } else if (status.pid && !exitedRecorded && status.pid == m.ownPid) {
      // Ours, and the runtime has forgotten it: its exit report is on the way (and enqueues
      // the key). Until then it is not "lost", which would respawn it without counting.
      p.state = ProcessState::Running;
      p.since = m.since;
    } else if (status.pid && !exitedRecorded) {
      checkAlive = true;
    }
    o.health = m.health;
    o.keyRejected = m.keyRejected;
    o.limitExceeded = m.limitExceeded;
    o.limitMessage = m.limitMessage;
    o.restartNotBefore = m.restartNotBefore;
    o.traffic.inflight = m.inflight->requests.load();
    o.traffic.lastActivity = lastActivityLocked(m);
    o.wakeRequested = m.wakeAt;
  }
  if (endStartupProbes) scheduleProbes(key, generation, probePort, probe, false);
  if (status.previous) {
    const std::string prevKey = previousKey(key);
    const std::optional<runtime::ProcessHandle> prevHandle = runtime_.handle(prevKey);
    bool checkPrevious = false;
    {
      std::lock_guard lock(mu_);
      auto cur = mem_.find(key);
      auto it = mem_.find(prevKey);
      const pid_t pid = status.previous->pid;
      const bool exited = it != mem_.end() && it->second.exit && it->second.exit->pid == pid;
      if (it != mem_.end() && !exited &&
          ((prevHandle && prevHandle->pid == pid) || it->second.ownPid == pid)) {
        o.previous.state = ProcessState::Running;
        o.previous.inflight = it->second.inflight->requests.load();
        // New requests go to the current process from its first healthy answer on.
        if (cur != mem_.end() && servesAsCurrent(cur->second)) {
          it->second.servesAsPrevious = false;
          it->second.inflight->draining = true;
        }
      } else if (!exited && !prevHandle) {
        checkPrevious = true;
      }
    }
    if (checkPrevious) {
      const ProcessCheck check = checkRecordedProcess(
          host_.inspect(status.previous->pid),
          {status.previous->pid, parseStartTime(status.previous->processStartTime)}, marks);
      if (check == ProcessCheck::Ours) {
        o.previous.state = ProcessState::Adoptable;
      } else if (check != ProcessCheck::Gone && check != ProcessCheck::OtherStartTime) {
        o.previous.foreign = std::string(describe(check));
      }
    }
  }
  if (checkAlive) {
    const ProcessCheck check = checkRecordedProcess(
        host_.inspect(status.pid), {status.pid, parseStartTime(status.processStartTime)}, marks);
    if (check == ProcessCheck::Ours) {
      o.process.state = ProcessState::Adoptable;
    } else if (check != ProcessCheck::Gone && check != ProcessCheck::OtherStartTime) {
      // Alive, but not the instance's: never adopted nor signalled.
      o.process.foreign = std::string(describe(check));
    }
  }
  o.status = std::move(status);
  return o;
}

bool Executor::probing(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = mem_.find(key);
  return it != mem_.end() && it->second.probeGeneration != 0;
}

std::optional<SteadyTimePoint> Executor::lastActivityLocked(const Memory& m) const {
  std::optional<SteadyTimePoint> t = m.since;
  const int64_t active = m.inflight->lastActive.load();
  if (active != 0) {
    const SteadyTimePoint a{SteadyTimePoint::duration(active)};
    if (!t || a > *t) t = a;
  }
  return t;
}

bool Executor::servesAsCurrent(const Memory& m) {
  const bool exited = m.exit && m.exit->pid == m.ownPid;
  return m.ownPid != 0 && !exited && !m.sleeping && m.everHealthy && m.probeGeneration != 0 &&
         m.probePort >= 1 && m.probePort <= 65535;
}

bool Executor::servesPrevious(const Memory& m) {
  const bool exited = m.exit && m.exit->pid == m.ownPid;
  return m.servesAsPrevious && m.ownPid != 0 && !exited && m.probePort >= 1 && m.probePort <= 65535;
}

const Executor::Memory* Executor::servingLocked(const std::string& key) const {
  auto cur = mem_.find(key);
  if (cur != mem_.end() && servesAsCurrent(cur->second)) return &cur->second;
  auto prev = mem_.find(previousKey(key));
  if (prev != mem_.end() && servesPrevious(prev->second)) return &prev->second;
  return nullptr;
}

std::optional<uint16_t> Executor::servingPort(const std::string& key) const {
  std::lock_guard lock(mu_);
  const Memory* m = servingLocked(key);
  if (!m) return std::nullopt;
  return static_cast<uint16_t>(m->probePort);
}

std::optional<ServingLease> Executor::acquire(const std::string& key) const {
  std::lock_guard lock(mu_);
  const Memory* m = servingLocked(key);
  if (!m) return std::nullopt;
  if (auto cur = mem_.find(key); cur != mem_.end() && m == &cur->second) {
    // The current process serves: a previous one gets nothing new from now on.
    if (auto prev = mem_.find(previousKey(key)); prev != mem_.end()) {
      prev->second.inflight->draining = true;
    }
  }
  std::shared_ptr<InFlight> inflight = m->inflight;
  ++inflight->requests;
  inflight->lastActive = clock_.steadyNow().time_since_epoch().count();
  // The last request on a draining process wakes its instance's reconcile (which stops it);
  // through the sink, so a request that outlives the executor changes nothing.
  std::shared_ptr<const void> hold(inflight.get(), [inflight, sink = sink_, key](const void*) {
    std::lock_guard lock(sink->mu);
    if (sink->executor) {
      inflight->lastActive = sink->executor->clock_.steadyNow().time_since_epoch().count();
    }
    if (--inflight->requests != 0 || !inflight->draining) return;
    if (sink->executor) sink->executor->enqueue_(key);
  });
  return ServingLease{static_cast<uint16_t>(m->probePort), std::move(hold)};
}

void Executor::requestWake(const std::string& key, TimePoint at) {
  std::lock_guard lock(mu_);
  Memory& m = mem_[key];
  if (!m.wakeAt) m.wakeAt = at;
}

void Executor::clearWake(const std::string& key, std::optional<TimePoint> seen) {
  if (!seen) return;
  std::lock_guard lock(mu_);
  auto it = mem_.find(key);
  if (it != mem_.end() && it->second.wakeAt == seen) it->second.wakeAt.reset();
}

bool Executor::sleeping(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = mem_.find(key);
  return it != mem_.end() && it->second.sleeping;
}

// --- act ------------------------------------------------------------------------------------

int Executor::allocatePort(const std::string& key) { return ports_.reserve(key); }

int Executor::ensurePort(const std::string& key, int port) {
  if (port > 0 && port <= 65535) {
    // Ours, and our process is gone: keep it unless another process took it meanwhile (the
    // server would fail to listen on every restart).
    if (ports_.portOf(key) == port && portChecker_->isFree(static_cast<uint16_t>(port))) {
      return port;
    }
    // Restore: the status names a port this mcpd has not handed out; keep it when still free.
    if (ports_.holderOf(static_cast<uint16_t>(port)) == std::nullopt &&
        portChecker_->isFree(static_cast<uint16_t>(port)) &&
        ports_.markUsed(static_cast<uint16_t>(port), key)) {
      return port;
    }
  }
  ports_.releaseKey(key);
  return ports_.reserve(key);
}

void Executor::resetProcessMemory(const std::string& key) {
  std::lock_guard lock(mu_);
  Memory& m = mem_[key];
  m.exit.reset();
  m.exitSteady.reset();
  m.since.reset();
  m.health = {};
  m.everHealthy = false;
  m.keyRejected.clear();
  m.limitExceeded = false;
  m.limitMessage.clear();
  m.inflight = std::make_shared<InFlight>();
  m.servesAsPrevious = false;
  m.sleeping = false;
}

runtime::ProcessHandle Executor::spawn(const runtime::LaunchSpec& spec, int port,
                                       const ProbeSettings& probe) {
  stopProbing(spec.key);
  // Before launch: a process that dies at once reports its exit before launch() returns.
  resetProcessMemory(spec.key);
  std::optional<runtime::ProcessHandle> claimed;
  runtime::LaunchSpec launch = spec;
  if (ProcessClaimer* c = claimer_.load(); c && !spec.pool.empty()) claimed = c->claim(launch);
  runtime::ProcessHandle h = claimed ? *claimed : runtime_.launch(launch);
  {
    std::lock_guard lock(mu_);
    Memory& m = mem_[spec.key];
    m.since = clock_.steadyNow();
    m.ownPid = h.pid;
    m.claimed = claimed.has_value();
  }
  startProbing(spec.key, port, probe);
  return h;
}

bool Executor::claimedFromPool(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = mem_.find(key);
  return it != mem_.end() && it->second.claimed;
}

void Executor::adopt(const runtime::LaunchSpec& spec, const runtime::ProcessHandle& handle,
                     int port, const ProbeSettings& probe) {
  stopProbing(spec.key);
  resetProcessMemory(spec.key);
  if (!runtime_.adopt(spec, handle)) {
    throw std::runtime_error("process pid " + std::to_string(handle.pid) +
                             " is no longer the one recorded in status");
  }
  {
    std::lock_guard lock(mu_);
    mem_[spec.key].since = clock_.steadyNow();
    mem_[spec.key].ownPid = handle.pid;
    mem_[spec.key].claimed = false;
  }
  if (port > 0 && !ports_.markUsed(static_cast<uint16_t>(port), spec.key)) {
    spdlog::warn("reconciler: {}: adopted process listens on port {}, already held by {}", spec.key,
                 port, ports_.holderOf(static_cast<uint16_t>(port)).value_or("?"));
  }
  startProbing(spec.key, port, probe);
}

void Executor::stop(const std::string& key, std::optional<std::chrono::milliseconds> grace) {
  stopProbing(key);
  runtime_.stop(key, grace);
  std::lock_guard lock(mu_);
  Memory& m = mem_[key];
  m.since.reset();
  m.health = {};
  m.everHealthy = false;
  m.keyRejected.clear();
  m.limitExceeded = false;
  m.limitMessage.clear();
}

bool Executor::stopIfIdle(const std::string& key, std::chrono::milliseconds idleTimeout,
                          std::optional<std::chrono::milliseconds> grace) {
  {
    std::lock_guard lock(mu_);
    Memory& m = mem_[key];
    const std::optional<SteadyTimePoint> last = lastActivityLocked(m);
    if (m.inflight->requests.load() != 0 || !last || clock_.steadyNow() - *last < idleTimeout) {
      return false;
    }
    m.sleeping = true;  // from here on acquire() finds nothing: no request races the stop
  }
  stop(key, grace);
  return true;
}

void Executor::supersede(const std::string& key) {
  const std::string prevKey = previousKey(key);
  if (!runtime_.rename(key, prevKey)) {
    throw std::runtime_error("no process to supersede (or one still superseded)");
  }
  bool wasProbing = false;
  int port = 0;
  {
    // One step for servingPort(): the old process serves before and after it.
    std::lock_guard lock(mu_);
    Memory& cur = mem_[key];
    Memory prev;
    prev.ownPid = cur.ownPid;
    prev.since = cur.since;
    prev.probePort = port = cur.probePort;
    prev.everHealthy = cur.everHealthy;
    prev.inflight = cur.inflight;
    prev.servesAsPrevious = servesAsCurrent(cur);
    mem_[prevKey] = std::move(prev);
    wasProbing = cur.probeGeneration != 0;
    cur.probeGeneration = 0;
    cur.ownPid = 0;
    cur.since.reset();
    cur.health = {};
    cur.everHealthy = false;
    cur.keyRejected.clear();
    cur.inflight = std::make_shared<InFlight>();
  }
  if (wasProbing) probes_->stop(key);  // never under mu_
  ports_.releaseKey(key);
  if (port > 0 && !ports_.markUsed(static_cast<uint16_t>(port), prevKey)) {
    spdlog::warn("reconciler: {}: its old process's port {} is held by {}", key, port,
                 ports_.holderOf(static_cast<uint16_t>(port)).value_or("?"));
  }
}

void Executor::adoptPrevious(runtime::LaunchSpec spec, const runtime::ProcessHandle& handle,
                             int port, bool serving) {
  const std::string key = spec.key;
  spec.key = previousKey(key);
  if (!runtime_.adopt(spec, handle)) {
    throw std::runtime_error("old process pid " + std::to_string(handle.pid) +
                             " is no longer the one recorded in status");
  }
  {
    std::lock_guard lock(mu_);
    Memory prev;
    prev.ownPid = handle.pid;
    prev.since = clock_.steadyNow();
    prev.probePort = port;
    prev.servesAsPrevious = serving;
    mem_[spec.key] = std::move(prev);
  }
  if (port > 0) ports_.markUsed(static_cast<uint16_t>(port), spec.key);
}

void Executor::stopPrevious(const std::string& key,
                            std::optional<std::chrono::milliseconds> grace) {
  const std::string prevKey = previousKey(key);
  {
    std::lock_guard lock(mu_);
    if (auto it = mem_.find(prevKey); it != mem_.end()) it->second.servesAsPrevious = false;
  }
  runtime_.stop(prevKey, grace);
  ports_.releaseKey(prevKey);
  std::lock_guard lock(mu_);
  mem_.erase(prevKey);
}

void Executor::releasePort(const std::string& key) { ports_.releaseKey(key); }

void Executor::startProbing(const std::string& key, int port, const ProbeSettings& probe) {
  uint64_t generation;
  {
    std::lock_guard lock(mu_);
    Memory& m = mem_[key];
    generation = m.probeGeneration = nextProbeGeneration_++;
    m.probe = probe;
    m.probePort = port;
    m.startupProbes = probe.period > kStartupProbePeriod;
  }
  scheduleProbes(key, generation, port, probe, true);
}

void Executor::scheduleProbes(const std::string& key, uint64_t generation, int port,
                              const ProbeSettings& probe, bool startup) {
  runtime::ProbeTarget target;
  target.port = static_cast<uint16_t>(port);
  target.path = probe.path;
  const auto period = startup ? std::min(probe.period, kStartupProbePeriod) : probe.period;
  probes_->start(
      key, target, period, probe.timeout,
      [this, generation](const std::string& k, const runtime::ProbeResult& r) {
        onProbe(k, generation, r);
      },
      /*untilListening=*/startup);
}

void Executor::stopProbing(const std::string& key) {
  {
    std::lock_guard lock(mu_);
    auto it = mem_.find(key);
    if (it == mem_.end() || it->second.probeGeneration == 0) return;
    it->second.probeGeneration = 0;
  }
  probes_->stop(key);  // never under mu_: it waits for a delivery that takes mu_
}

// --- record ---------------------------------------------------------------------------------

void Executor::setRestartNotBefore(const std::string& key, std::optional<SteadyTimePoint> t) {
  std::lock_guard lock(mu_);
  mem_[key].restartNotBefore = t;
}

bool Executor::usageDue(const std::string& key, std::chrono::milliseconds period) const {
  std::optional<SteadyTimePoint> at;
  std::optional<runtime::Usage> last;
  {
    std::lock_guard lock(mu_);
    auto it = mem_.find(key);
    if (it == mem_.end() || !it->second.usageAt) return true;
    at = it->second.usageAt;
    last = it->second.usageValue;
  }
  if (!last) return runtime_.usage(key).has_value();
  const auto age = clock_.steadyNow() - *at;
  if (age < period) return false;
  if (age >= kUsageMaxAge) return true;
  const std::optional<runtime::Usage> now = runtime_.usage(key);
  if (!now) return false;
  const double mem = static_cast<double>(now->memoryBytes);
  const double lastMem = static_cast<double>(last->memoryBytes);
  return std::abs(now->cpuPercent - last->cpuPercent) >= kUsageCpuPoints ||
         std::abs(mem - lastMem) >= kUsageMemoryFraction * lastMem;
}

std::chrono::milliseconds Executor::usageRecheckAfter(const std::string& key,
                                                      std::chrono::milliseconds period) const {
  using std::chrono::milliseconds;
  std::lock_guard lock(mu_);
  auto it = mem_.find(key);
  if (it == mem_.end() || !it->second.usageAt)
    return std::min<milliseconds>(kUsageFirstLook, period);
  const auto age = std::chrono::ceil<milliseconds>(clock_.steadyNow() - *it->second.usageAt);
  if (!it->second.usageValue) {
    return std::min<milliseconds>(std::max<milliseconds>(kUsageFirstLook, age), period);
  }
  return age < period ? period - age : period;
}

void Executor::usageWritten(const std::string& key, std::optional<runtime::Usage> written) {
  std::lock_guard lock(mu_);
  Memory& m = mem_[key];
  m.usageAt = clock_.steadyNow();
  m.usageValue = written;
}

void Executor::setPendingStatus(const std::string& key, nlohmann::json status) {
  std::lock_guard lock(mu_);
  mem_[key].pendingStatus = std::move(status);
}

std::optional<nlohmann::json> Executor::pendingStatus(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = mem_.find(key);
  return it == mem_.end() ? std::nullopt : it->second.pendingStatus;
}

void Executor::clearPendingStatus(const std::string& key) {
  std::lock_guard lock(mu_);
  if (auto it = mem_.find(key); it != mem_.end()) it->second.pendingStatus.reset();
}

void Executor::forget(const std::string& key) {
  stopProbing(key);
  for (const std::string& k : {key, previousKey(key)}) {
    if (runtime_.handle(k)) {
      spdlog::warn("reconciler: {}: instance is gone but its process runs; stopping it", k);
      runtime_.stop(k);
    }
    ports_.releaseKey(k);
  }
  std::lock_guard lock(mu_);
  mem_.erase(key);
  mem_.erase(previousKey(key));
}

}  // namespace minimcp::reconciler
