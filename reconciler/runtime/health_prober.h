// Health probes of instance servers (first healthy probe → Running; unhealthy
// failureThreshold times → restart). HealthProber does one asynchronous HTTP GET;
// ProbeScheduler repeats it per key. Beast stays in the .cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace minimcp::runtime {

struct ProbeTarget {
  std::string host = "127.0.0.1";  // an IP address (an instance of this host), never a name
  uint16_t port = 0;
  std::string path = "/health";
  // Extra request headers, e.g. {"Authorization", "Bearer <instance token>"}. Never logged.
  std::vector<std::pair<std::string, std::string>> headers;
};

struct ProbeResult {
  bool healthy = false;  // status 200..399, like a Kubernetes httpGet probe
  int statusCode = 0;    // 0 when no response arrived
  std::string error;     // "timeout", "connection refused", ... (empty when a response came)
  std::chrono::milliseconds latency{0};
  // A healthy answer's {"key": {"available": false, "reason": "…"}}: the reason (at most
  // kMaxKeyReasonBytes), or "KeyRejected" when it has none; "" when the key is not refused.
  std::string keyRejected;
};

inline constexpr size_t kMaxKeyReasonBytes = 64;

// The keyRejected of a /health response body (pure; tolerant of any body).
std::string keyRejectionOf(std::string_view healthBody);

class HealthProber {
 public:
  using Callback = std::function<void(const ProbeResult&)>;
  virtual ~HealthProber() = default;
  // Returns at once; `callback` runs exactly once, on the prober's thread, within about
  // `timeout` (connect + request + response all count against it).
  virtual void probe(const ProbeTarget& target, std::chrono::milliseconds timeout,
                     Callback callback) = 0;
  // Ports that have a listening TCP socket where the probes go, so that a server that does not
  // listen yet costs no request (ProbeScheduler untilListening). nullopt: not known, every
  // round sends its request. Called from ProbeScheduler's thread.
  virtual std::optional<std::set<uint16_t>> listeningPorts() { return std::nullopt; }
};

// Boost.Beast implementation on its own io_context thread.
class BeastHealthProber : public HealthProber {
 public:
  BeastHealthProber();
  // Pending probes complete with error "shutdown" before this returns.
  ~BeastHealthProber() override;
  void probe(const ProbeTarget& target, std::chrono::milliseconds timeout,
             Callback callback) override;
  // This host's listening ports (listening_ports.h): the prober targets local servers.
  std::optional<std::set<uint16_t>> listeningPorts() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs a probe per key every `period`; a probe still in flight when the next is due is not
// doubled. onResult runs on the prober's thread. Counting failures against failureThreshold
// stays with the caller (the reconciler), which also decides what a failure means.
class ProbeScheduler {
 public:
  using ResultCallback = std::function<void(const std::string& key, const ProbeResult&)>;

  explicit ProbeScheduler(HealthProber& prober);
  ~ProbeScheduler();  // stops every key; results of probes in flight are dropped

  ProbeScheduler(const ProbeScheduler&) = delete;
  ProbeScheduler& operator=(const ProbeScheduler&) = delete;

  // (Re)starts probing `key`: the first probe at once, then every `period`, on a grid of
  // `period` shared by every key (steady clock), so that many keys cost one wake-up a round.
  // untilListening: a round in which no socket listens on target.port yet (one listing of the
  // prober's listening ports per round, shared by every such key) sends no
  // request and delivers no result. For a server that is starting, polled often: a refused
  // probe per server and round would cost a connection attempt each.
  void start(const std::string& key, const ProbeTarget& target, std::chrono::milliseconds period,
             std::chrono::milliseconds timeout, ResultCallback onResult,
             bool untilListening = false);
  // After stop() returns, no result for `key` is delivered (not even of a probe in flight).
  // May be called from onResult.
  void stop(const std::string& key);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace minimcp::runtime
