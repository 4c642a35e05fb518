#include "reconciler/warm_pool.h"

#include <poll.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "api/model/object_meta.h"
#include "reconciler/informer.h"
#include "reconciler/launch_env.h"
#include "reconciler/remove_tree.h"
#include "reconciler/runtime/local_process_runtime.h"

namespace minimcp::reconciler {

namespace fs = std::filesystem;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

namespace {

// A waiting process has nothing to finish: SIGTERM ends it at once.
constexpr std::chrono::milliseconds kRetireGrace{2000};
// A claim never waits longer than this on a process that does not read its channel.
constexpr int kSendTimeoutMs = 2000;

std::string randomSlotId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string id;
  uint64_t v = rng();
  for (int i = 0; i < 12; ++i, v >>= 4) id.push_back(hex[v & 15]);
  return id;
}

bool sendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string canonicalPath(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal().string() : c.string();
}

}  // namespace

std::string launchSignature(const runtime::LaunchSpec& spec) {
  json j = {{"command", spec.command},
            {"args", spec.args},
            {"memory", spec.limits.memoryBytes.value_or(0)},
            {"cpu", spec.limits.cpuMillis.value_or(0)},
            {"files", spec.limits.maxOpenFiles.value_or(0)},
            {"pids", spec.limits.maxProcesses.value_or(0)},
            {"grace", spec.stopGracePeriod.count()}};
  return j.dump();
}

struct WarmPool::Metrics {
  explicit Metrics(metrics::Registry& r)
      : size(prometheus::BuildGauge()
                 .Name("minimcp_warm_pool_size")
                 .Help("Waiting processes each MCPType's warm pool is to keep (spec.warmPool.size)")
                 .Register(r.families())),
        processes(prometheus::BuildGauge()
                      .Name("minimcp_warm_pool_processes")
                      .Help("Warm-pool processes by type and state (starting: launched, not "
                            "ready yet; ready: waiting for an instance's identity)")
                      .Register(r.families())),
        claims(prometheus::BuildCounter()
                   .Name("minimcp_warm_pool_claims_total")
                   .Help("Instance starts served by a warm-pool process, by type")
                   .Register(r.families())) {}
  prometheus::Family<prometheus::Gauge>& size;
  prometheus::Family<prometheus::Gauge>& processes;
  prometheus::Family<prometheus::Counter>& claims;
  struct Series {
    prometheus::Gauge* size;
    prometheus::Gauge* starting;
    prometheus::Gauge* ready;
    prometheus::Counter* claims;
    uint64_t counted = 0;
  };
  std::map<std::string, Series> byType;
};

WarmPool::WarmPool(WarmPoolOptions options, store::Store& store, runtime::ProcessRuntime& runtime,
                   runtime::HostProcesses& host)
    : options_(std::move(options)), store_(store), runtime_(runtime), host_(host) {
  if (!options_.uids) throw std::invalid_argument("a warm pool needs a uid allocator");
  wakeFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  if (options_.metrics) {
    metrics_ = std::make_unique<Metrics>(*options_.metrics);
    scrapeHook_ = options_.metrics->onScrape([this] { renderMetrics(); });
  }
}

WarmPool::~WarmPool() {
  scrapeHook_.reset();
  stop();
  ::close(wakeFd_);
}

void WarmPool::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  typesWatch_ = store_.subscribe([this](const store::WatchEvent& ev) {
    if (ev.resource == kTypes) wake();
  });
  thread_ = std::thread([this] { run(); });
}

void WarmPool::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  typesWatch_.reset();
  wake();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  for (auto& [key, slot] : slots_) {
    if (slot.channel >= 0) ::close(slot.channel);  // the process reads EOF and exits
    slot.channel = -1;
  }
  slots_.clear();
}

void WarmPool::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeFd_, &one, sizeof one);
}

bool WarmPool::onExit(const std::string& key, const runtime::ExitInfo& info) {
  if (key.rfind(kPoolKeyPrefix, 0) != 0) return false;
  {
    std::lock_guard lock(mu_);
    auto it = slots_.find(key);
    if (it == slots_.end()) return true;  // retired or claimed meanwhile
    it->second.dead = true;
    spdlog::info("warm pool: {} pid {} exited before being claimed: {}", key, info.pid,
                 info.reason);
  }
  wake();
  return true;
}

std::map<std::string, WarmPool::TypeStats> WarmPool::stats() const {
  std::lock_guard lock(mu_);
  std::map<std::string, TypeStats> out;
  for (const auto& [name, t] : types_) {
    if (t.size == 0 && t.claims == 0) continue;  // types without a pool have no series
    TypeStats& s = out[name];
    s.size = t.size;
    s.claims = t.claims;
  }
  for (const auto& [key, slot] : slots_) {
    if (slot.dead) continue;
    TypeStats& s = out[slot.type];
    (slot.ready ? s.ready : s.starting)++;
  }
  return out;
}

void WarmPool::renderMetrics() {
  if (!metrics_) return;
  const auto all = stats();
  Metrics& m = *metrics_;
  for (auto it = m.byType.begin(); it != m.byType.end();) {
    if (all.count(it->first)) {
      ++it;
      continue;
    }
    m.size.Remove(it->second.size);
    m.processes.Remove(it->second.starting);
    m.processes.Remove(it->second.ready);
    m.claims.Remove(it->second.claims);
    it = m.byType.erase(it);
  }
  for (const auto& [type, s] : all) {
    auto it = m.byType.find(type);
    if (it == m.byType.end()) {
      it = m.byType
               .emplace(type,
                        Metrics::Series{&m.size.Add({{"type", type}}),
                                        &m.processes.Add({{"type", type}, {"state", "starting"}}),
                                        &m.processes.Add({{"type", type}, {"state", "ready"}}),
                                        &m.claims.Add({{"type", type}})})
               .first;
    }
    Metrics::Series& series = it->second;
    series.size->Set(s.size);
    series.starting->Set(s.starting);
    series.ready->Set(s.ready);
    if (s.claims > series.counted) {
      series.claims->Increment(static_cast<double>(s.claims - series.counted));
      series.counted = s.claims;
    }
  }
}

// --- claim ----------------------------------------------------------------------------------

std::optional<runtime::ProcessHandle> WarmPool::claim(runtime::LaunchSpec& spec) {
  if (spec.pool.empty()) return std::nullopt;
  const std::string signature = launchSignature(spec);
  Slot slot;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return std::nullopt;
    auto it = std::find_if(slots_.begin(), slots_.end(), [&](const auto& e) {
      const Slot& s = e.second;
      return s.type == spec.pool && s.ready && !s.dead && s.signature == signature;
    });
    if (it == slots_.end()) return std::nullopt;
    // From here the process is this instance's or nobody's: it never goes back to the pool.
    slot = std::move(it->second);
    slots_.erase(it);
    // The refill waits a moment: a node start now would take CPU from the claimed process's
    // first answers, the very latency the pool is for.
    TypeState& t = types_[slot.type];
    t.notBefore = std::max(t.notBefore, Steady::now() + options_.refillDelay);
  }
  wake();  // refill
  auto giveUp = [&](const std::string& why) -> std::optional<runtime::ProcessHandle> {
    spdlog::warn("warm pool: {}: cannot claim {}: {}; launching anew", spec.key, slot.key, why);
    retire(slot);
    return std::nullopt;
  };

  // The instance's files become the process's uid, then the uid becomes the instance's.
  const std::optional<uint32_t> previous = options_.uids->idOf(spec.key);
  if (previous && *previous != slot.uid) {
    try {
      runtime::reownTree(spec.workingDir, *previous, slot.uid);
    } catch (const std::exception& e) {
      return giveUp(e.what());
    }
  }
  if (!options_.uids->handOver(slot.key, spec.key)) return giveUp("its uid is no longer held");
  spec.uid = static_cast<uid_t>(slot.uid);
  spec.gid = static_cast<gid_t>(slot.uid);
  std::optional<runtime::ProcessHandle> h;
  try {
    h = runtime_.rekey(slot.key, spec);
  } catch (const std::exception& e) {
    return giveUp(e.what());
  }
  if (!h) return giveUp("its process is gone");

  json env = json::object();
  for (const auto& [name, value] : spec.env) env[name] = value;
  std::string identity = json{{"cwd", spec.workingDir}, {"env", std::move(env)}}.dump();
  const bool sent = sendAll(slot.channel, identity);
  std::fill(identity.begin(), identity.end(), '\0');
  ::close(slot.channel);  // the one write this process ever gets
  slot.channel = -1;
  std::string error;
  removeTree(poolDir(options_.dataDir, slot.type, slot.id), error);
  if (!sent) {
    spdlog::warn("warm pool: {}: {} did not take its identity; launching anew", spec.key, slot.key);
    runtime_.stop(spec.key, kRetireGrace);
    return std::nullopt;
  }
  {
    std::lock_guard lock(mu_);
    types_[slot.type].claims++;
  }
  spdlog::info("warm pool: {}: claimed pid {} ({}), uid {}", spec.key, h->pid, slot.key, slot.uid);
  return h;
}

// --- background -----------------------------------------------------------------------------

void WarmPool::run() {
  cleanLeftovers();
  auto nextResync = Steady::now();
  while (true) {
    std::vector<pollfd> fds{{wakeFd_, POLLIN, 0}};
    std::vector<std::string> keys{""};
    auto deadline = nextResync;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      for (const auto& [key, slot] : slots_) {
        if (slot.dead || slot.channel < 0) continue;
        fds.push_back({slot.channel, POLLIN, 0});
        keys.push_back(key);
      }
      for (const auto& [name, t] : types_) {
        if (t.notBefore > Steady::now()) deadline = std::min(deadline, t.notBefore);
      }
    }
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - Steady::now());
    const int r =
        ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(wait.count(), 0)));
    bool woken = false;
    std::vector<std::pair<std::string, int>> readable;
    if (r > 0) {
      if (fds[0].revents) {
        uint64_t n;
        woken = ::read(wakeFd_, &n, sizeof n) > 0;
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents) readable.emplace_back(keys[i], fds[i].fd);
      }
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (!readable.empty()) readChannels(readable);
    if (woken || Steady::now() >= nextResync) {
      readTypes();
      nextResync = Steady::now() + options_.resync;
    }
    converge();
  }
}

void WarmPool::readChannels(const std::vector<std::pair<std::string, int>>& readable) {
  std::lock_guard lock(mu_);
  for (const auto& [key, fd] : readable) {
    auto it = slots_.find(key);
    if (it == slots_.end() || it->second.channel != fd) continue;  // claimed meanwhile
    Slot& slot = it->second;
    char buf[16];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n == 6 && !slot.ready && std::memcmp(buf, "ready\n", 6) == 0) {
      slot.ready = true;
      types_[slot.type].failures = 0;
      continue;
    }
    // Its end closed (it exited), or it says more than it may: not a process to hand anything.
    slot.dead = true;
  }
}

void WarmPool::readTypes() {
  std::map<std::string, model::MCPTypeSpec> specs;
  try {
    for (const json& item : store_.list(kTypes, {}).items) {
      const std::string name = model::ObjectMeta(item).name();
      const auto spec = item.find("spec");
      if (name.empty() || spec == item.end()) continue;
      specs.emplace(name, model::MCPTypeSpec::fromJson(*spec));
    }
  } catch (const std::exception& e) {
    spdlog::warn("warm pool: cannot read the MCPTypes: {}", e.what());
    return;
  }
  std::lock_guard lock(mu_);
  for (auto it = types_.begin(); it != types_.end();) {
    if (!specs.count(it->first)) {
      it = types_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [name, spec] : specs) {
    TypeState& t = types_[name];
    t.size = std::clamp(spec.warmPoolSize, 0, model::kMaxWarmPoolSize);
    if (t.size == 0) {
      t.spec.reset();
      t.signature.clear();
      continue;
    }
    // The signature of a launch of this type: what a claim compares against the instance's.
    try {
      runtime::LaunchSpec probe;
      probe.command = spec.server.command;
      if (auto cmd = resolveCommand(spec.server.command, kInstancePath, options_.mcpServersDir)) {
        probe.command = cmd->string();
      }
      for (const auto& a : spec.server.args) {
        probe.args.push_back(resolveArg(a, options_.mcpServersDir));
      }
      if (spec.resources.memoryBytes) probe.limits.memoryBytes = *spec.resources.memoryBytes;
      if (spec.resources.cpuMillis) probe.limits.cpuMillis = *spec.resources.cpuMillis;
      probe.stopGracePeriod = std::chrono::seconds(spec.stopGracePeriodSeconds);
      t.signature = launchSignature(probe);
      t.spec = std::move(spec);
    } catch (const std::exception& e) {
      t.spec.reset();
      t.signature.clear();
      spdlog::warn("warm pool: type {}: {}", name, e.what());
    }
  }
}

void WarmPool::failed(const std::string& type, const std::string& why) {
  TypeState& t = types_[type];
  ++t.failures;
  auto delay = options_.backoffMin;
  for (int i = 1; i < t.failures && delay < options_.backoffMax; ++i) delay *= 2;
  delay = std::min(delay, options_.backoffMax);
  t.notBefore = Steady::now() + delay;
  spdlog::warn("warm pool: type {}: {}; next start in {} ms", type, why, delay.count());
}

void WarmPool::converge() {
  std::vector<Slot> retiring;
  std::vector<std::pair<std::string, model::MCPTypeSpec>> launches;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    std::map<std::string, std::vector<std::string>> live;  // type → keys, ready ones last
    for (auto it = slots_.begin(); it != slots_.end();) {
      Slot& slot = it->second;
      auto t = types_.find(slot.type);
      const bool wanted = t != types_.end() && t->second.spec && t->second.size > 0 &&
                          t->second.signature == slot.signature;
      if (slot.dead || !wanted) {
        if (slot.dead && !slot.ready) failed(slot.type, slot.key + " exited before it was ready");
        retiring.push_back(std::move(slot));
        it = slots_.erase(it);
        continue;
      }
      live[slot.type].push_back(it->first);
      ++it;
    }
    const auto now = Steady::now();
    for (const auto& [name, t] : types_) {
      if (!t.spec || t.size == 0) continue;
      std::vector<std::string>& keys = live[name];
      // Too many (the size shrank): the ones not ready yet go first.
      std::stable_partition(keys.begin(), keys.end(),
                            [&](const std::string& k) { return !slots_.at(k).ready; });
      for (size_t i = 0; keys.size() - i > static_cast<size_t>(t.size); ++i) {
        auto it = slots_.find(keys[i]);
        retiring.push_back(std::move(it->second));
        slots_.erase(it);
      }
      if (keys.size() < static_cast<size_t>(t.size) && now >= t.notBefore) {
        // After a failure, one at a time until one gets ready.
        const size_t missing = t.failures ? 1 : static_cast<size_t>(t.size) - keys.size();
        for (size_t i = 0; i < missing; ++i) launches.emplace_back(name, *t.spec);
      }
    }
  }
  for (Slot& slot : retiring) retire(slot);
  for (const auto& [name, spec] : launches) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    launchSlot(name, spec);
  }
}

void WarmPool::launchSlot(const std::string& type, const model::MCPTypeSpec& typeSpec) {
  Slot slot;
  slot.type = type;
  slot.id = randomSlotId();
  slot.key = std::string(kPoolKeyPrefix) + type + "/" + slot.id;
  auto fail = [&](const std::string& why) {
    retire(slot);
    std::lock_guard lock(mu_);
    failed(type, "cannot start a waiting process: " + why);
  };
  int sv[2] = {-1, -1};
  try {
    slot.uid = options_.uids->reserve(slot.key);
    runtime::LaunchSpec spec =
        buildPoolLaunchSpec(typeSpec, type, slot.id, options_.dataDir, options_.mcpServersDir);
    spec.uid = static_cast<uid_t>(slot.uid);
    spec.gid = static_cast<gid_t>(slot.uid);
    slot.signature = launchSignature(spec);
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
    }
    slot.channel = sv[0];
    const timeval timeout{kSendTimeoutMs / 1000, (kSendTimeoutMs % 1000) * 1000};
    ::setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    spec.channelFd = sv[1];
    runtime_.launch(spec);
    ::close(sv[1]);
  } catch (const std::exception& e) {
    if (sv[1] >= 0) ::close(sv[1]);
    fail(e.what());
    return;
  }
  std::lock_guard lock(mu_);
  slots_.emplace(slot.key, std::move(slot));
}

void WarmPool::retire(Slot& slot) {
  if (slot.channel >= 0) ::close(slot.channel);
  slot.channel = -1;
  runtime_.stop(slot.key, kRetireGrace);
  if (options_.uids->idOf(slot.key) == slot.uid) options_.uids->release(slot.key);
  std::string error;
  for (const auto& dir : {poolDir(options_.dataDir, slot.type, slot.id),
                          poolLogDir(options_.dataDir, slot.type, slot.id)}) {
    if (!removeTree(dir, error)) spdlog::warn("warm pool: {}: {}", slot.key, error);
  }
}

void WarmPool::cleanLeftovers() {
  const std::string root = canonicalPath(options_.dataDir / "pool") + "/";
  std::vector<runtime::ProcessInfo> left;
  for (const auto& p : host_.list()) {
    if (p.pid > 1 && p.pid != ::getpid() && p.cwd.rfind(root, 0) == 0) left.push_back(p);
  }
  if (!left.empty()) {
    spdlog::info("warm pool: stopping {} waiting process(es) left by an earlier run", left.size());
    host_.stop(left, kRetireGrace);
  }
  std::string error;
  for (const char* dir : {"pool", "pool-logs"}) {
    if (!removeTree(options_.dataDir / dir, error)) spdlog::warn("warm pool: {}", error);
  }
}

}  // namespace minimcp::reconciler
