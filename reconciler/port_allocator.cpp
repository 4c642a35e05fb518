#include "reconciler/port_allocator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace minimcp::reconciler {

bool BindPortChecker::isFree(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

PortAllocator::PortAllocator(uint16_t lo, uint16_t hi, std::shared_ptr<PortChecker> checker)
    : lo_(lo), hi_(hi), checker_(std::move(checker)), next_(lo) {
  if (lo == 0 || lo > hi) {
    throw std::invalid_argument("invalid port range " + std::to_string(lo) + "-" +
                                std::to_string(hi));
  }
  if (!checker_) throw std::invalid_argument("PortAllocator needs a PortChecker");
}

uint16_t PortAllocator::reserve(const std::string& key) {
  std::lock_guard lock(mu_);
  if (auto it = byKey_.find(key); it != byKey_.end()) return it->second;
  const uint32_t size = uint32_t(hi_) - lo_ + 1;
  for (uint32_t i = 0; i < size; ++i) {
    const uint16_t port = uint16_t(lo_ + (next_ - lo_ + i) % size);
    if (byPort_.count(port) || !checker_->isFree(port)) continue;
    byPort_[port] = key;
    byKey_[key] = port;
    next_ = port == hi_ ? lo_ : port + 1u;
    return port;
  }
  throw PortsExhausted("no free port in range " + std::to_string(lo_) + "-" + std::to_string(hi_) +
                       " (" + std::to_string(byPort_.size()) + " held by instances)");
}

void PortAllocator::release(uint16_t port) {
  std::lock_guard lock(mu_);
  auto it = byPort_.find(port);
  if (it == byPort_.end()) return;
  byKey_.erase(it->second);
  byPort_.erase(it);
}

void PortAllocator::releaseKey(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = byKey_.find(key);
  if (it == byKey_.end()) return;
  byPort_.erase(it->second);
  byKey_.erase(it);
}

bool PortAllocator::markUsed(uint16_t port, const std::string& key) {
  std::lock_guard lock(mu_);
  if (auto it = byPort_.find(port); it != byPort_.end()) return it->second == key;
  if (auto it = byKey_.find(key); it != byKey_.end()) byPort_.erase(it->second);
  byPort_[port] = key;
  byKey_[key] = port;
  return true;
}

std::optional<uint16_t> PortAllocator::portOf(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = byKey_.find(key);
  if (it == byKey_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> PortAllocator::holderOf(uint16_t port) const {
  std::lock_guard lock(mu_);
  auto it = byPort_.find(port);
  if (it == byPort_.end()) return std::nullopt;
  return it->second;
}

size_t PortAllocator::inUse() const {
  std::lock_guard lock(mu_);
  return byPort_.size();
}

}  // namespace minimcp::reconciler
