// PortAllocator: loopback ports for instance processes from a configured range:
// checked free by binding, one per instance key, reused only after release.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace minimcp::reconciler {

// Whether nothing else on the host listens on a port. An interface so tests need no sockets.
class PortChecker {
 public:
  virtual ~PortChecker() = default;
  virtual bool isFree(uint16_t port) = 0;
};

// Binds 127.0.0.1:port (SO_REUSEADDR, as the instance servers do, so TIME_WAIT leftovers of a
// previous process do not count as taken) and closes the socket again.
class BindPortChecker : public PortChecker {
 public:
  bool isFree(uint16_t port) override;
};

// No free port left in the range.
class PortsExhausted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class PortAllocator {
 public:
  // Ports lo..hi inclusive; throws std::invalid_argument when lo > hi or lo is 0.
  PortAllocator(uint16_t lo, uint16_t hi,
                std::shared_ptr<PortChecker> checker = std::make_shared<BindPortChecker>());

  // The port of `key`: the one it already holds, else a new one that passes the check.
  // Scans round-robin from after the last port handed out, so a just-released port is the last
  // to be reused. Throws PortsExhausted.
  uint16_t reserve(const std::string& key);
  // Frees `port` (no-op when not held).
  void release(uint16_t port);
  // Frees whatever `key` holds.
  void releaseKey(const std::string& key);
  // Restore: records that `key` holds `port` (from its status), even outside the range. Returns
  // false — and changes nothing — when another key holds it. A different port `key` held is freed.
  bool markUsed(uint16_t port, const std::string& key);

  std::optional<uint16_t> portOf(const std::string& key) const;
  std::optional<std::string> holderOf(uint16_t port) const;
  size_t inUse() const;

 private:
  const uint16_t lo_;
  const uint16_t hi_;
  std::shared_ptr<PortChecker> checker_;
  mutable std::mutex mu_;
  std::map<uint16_t, std::string> byPort_;
  std::unordered_map<std::string, uint16_t> byKey_;
  uint32_t next_;  // where the next scan starts
};

}  // namespace minimcp::reconciler
