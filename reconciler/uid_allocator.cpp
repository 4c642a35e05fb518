#include "reconciler/uid_allocator.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

namespace minimcp::reconciler {

namespace fs = std::filesystem;

std::optional<IdRange> parseIdRange(const std::string& s) {
  static const std::regex re(R"(^([0-9]{1,10})-([0-9]{1,10})$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return std::nullopt;
  const uint64_t lo = std::stoull(m[1]), hi = std::stoull(m[2]);
  // 2^31 - 1 and above: (uid_t)-1 means "unchanged" to setuid/chown, and NFS and tar choke.
  if (lo < 1 || hi >= 0x7fffffffULL || lo > hi) return std::nullopt;
  return IdRange{static_cast<uint32_t>(lo), static_cast<uint32_t>(hi)};
}

// --- SystemIdentityUsage ---------------------------------------------------------------------

SystemIdentityUsage::SystemIdentityUsage(fs::path dataDir, fs::path passwd, fs::path group,
                                         fs::path proc)
    : dataDir_(std::move(dataDir)),
      passwd_(std::move(passwd)),
      group_(std::move(group)),
      proc_(std::move(proc)) {}

namespace {

// The third field of every "name:x:ID:..." line.
void addDatabaseIds(const fs::path& file, std::set<uint32_t>& out) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string name, password, id;
    if (!std::getline(fields, name, ':') || !std::getline(fields, password, ':') ||
        !std::getline(fields, id, ':')) {
      continue;
    }
    try {
      out.insert(static_cast<uint32_t>(std::stoul(id)));
    } catch (const std::exception&) {
    }
  }
}

}  // namespace

std::set<uint32_t> SystemIdentityUsage::systemIds() {
  std::set<uint32_t> ids;
  addDatabaseIds(passwd_, ids);
  addDatabaseIds(group_, ids);
  return ids;
}

std::set<uint32_t> SystemIdentityUsage::processIds() {
  std::set<uint32_t> ids;
  DIR* proc = ::opendir(proc_.c_str());
  if (!proc) return ids;
  const int procFd = ::dirfd(proc);
  char buf[4096];
  while (const dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    // The status file, not the owner of /proc/PID: that is root for a non-dumpable process.
    const std::string status = std::string(e->d_name) + "/status";
    const int fd = ::openat(procFd, status.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    // "Uid:\treal\teffective\tsaved\tfs\nGid:\t...": both lines come within the first page.
    for (const char* field : {"\nUid:", "\nGid:"}) {
      const char* at = std::strstr(buf, field);
      if (!at) continue;
      char* p = const_cast<char*>(at) + 5;
      for (int i = 0; i < 4; ++i) {
        char* end = nullptr;
        const unsigned long id = std::strtoul(p, &end, 10);
        if (end == p) break;
        ids.insert(static_cast<uint32_t>(id));
        p = end;
      }
    }
  }
  ::closedir(proc);
  return ids;
}

std::map<std::string, uint32_t> SystemIdentityUsage::instanceDirOwners() {
  std::map<std::string, uint32_t> owners;
  std::error_code ec;
  for (const auto& ns : fs::directory_iterator(dataDir_ / "instances", ec)) {
    std::error_code inner;
    if (!ns.is_directory(inner) || ns.is_symlink(inner)) continue;
    for (const auto& dir : fs::directory_iterator(ns.path(), inner)) {
      struct stat st {};
      if (::lstat(dir.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      owners[ns.path().filename().string() + "/" + dir.path().filename().string()] = st.st_uid;
    }
  }
  return owners;
}

// --- UidAllocator ----------------------------------------------------------------------------

UidAllocator::UidAllocator(IdRange range, std::shared_ptr<IdentityUsage> usage, const Clock& clock)
    : range_(range), usage_(std::move(usage)), clock_(clock), next_(range.lo) {
  if (range.lo == 0 || range.lo > range.hi) {
    throw std::invalid_argument("invalid id range " + std::to_string(range.lo) + "-" +
                                std::to_string(range.hi));
  }
  if (!usage_) throw std::invalid_argument("UidAllocator needs an IdentityUsage");
  systemIds_ = usage_->systemIds();
  for (const auto& [key, owner] : usage_->instanceDirOwners()) {
    if (!inRange(owner) || systemIds_.count(owner)) continue;
    if (auto it = byId_.find(owner); it != byId_.end()) {
      spdlog::warn("identity: instance dirs of {} and {} are both owned by uid {}", it->second, key,
                   owner);
      continue;
    }
    hold(owner, key);
  }
}

bool UidAllocator::claimable(uint32_t id, const std::string& key) const {
  if (!inRange(id) || systemIds_.count(id)) return false;
  auto it = byId_.find(id);
  return it == byId_.end() || it->second == key;
}

void UidAllocator::hold(uint32_t id, const std::string& key) {
  if (auto it = byKey_.find(key); it != byKey_.end()) byId_.erase(it->second);
  byId_[id] = key;
  byKey_[key] = id;
  releasedSinceScan_.erase(id);
}

void UidAllocator::refreshProcessScan(bool force) {
  const auto now = clock_.steadyNow();
  if (!force && scannedAt_ && now - *scannedAt_ < kProcessScanMaxAge) return;
  processIds_ = usage_->processIds();
  releasedSinceScan_.clear();
  scannedAt_ = now;
}

uint32_t UidAllocator::reserve(const std::string& key, std::optional<uint32_t> recorded) {
  std::lock_guard lock(mu_);
  if (auto it = byKey_.find(key); it != byKey_.end()) return it->second;
  // Its own id from an earlier run: a process that still carries it can only be its own (no
  // other instance was given the id while it was recorded for this one).
  if (recorded && claimable(*recorded, key)) {
    hold(*recorded, key);
    return *recorded;
  }
  const uint64_t size = uint64_t(range_.hi) - range_.lo + 1;
  for (bool force : {false, true}) {
    refreshProcessScan(force);
    for (uint64_t i = 0; i < size; ++i) {
      const uint32_t id = static_cast<uint32_t>(range_.lo + (next_ - range_.lo + i) % size);
      if (!claimable(id, key) || byId_.count(id) || processIds_.count(id) ||
          releasedSinceScan_.count(id)) {
        continue;
      }
      hold(id, key);
      next_ = id == range_.hi ? range_.lo : id + 1;
      return id;
    }
  }
  throw IdsExhausted("no free uid in range " + std::to_string(range_.lo) + "-" +
                     std::to_string(range_.hi) + " (" + std::to_string(byId_.size()) +
                     " held by instances, the rest carried by processes or system users)");
}

void UidAllocator::release(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = byKey_.find(key);
  if (it == byKey_.end()) return;
  releasedSinceScan_.insert(it->second);
  byId_.erase(it->second);
  byKey_.erase(it);
}

std::optional<uint32_t> UidAllocator::handOver(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  auto f = byKey_.find(from);
  if (f == byKey_.end()) return std::nullopt;
  const uint32_t id = f->second;
  byKey_.erase(f);
  if (auto t = byKey_.find(to); t != byKey_.end() && t->second != id) {
    releasedSinceScan_.insert(t->second);
    byId_.erase(t->second);
  }
  byId_[id] = to;
  byKey_[to] = id;
  return id;
}

std::optional<uint32_t> UidAllocator::idOf(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = byKey_.find(key);
  if (it == byKey_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> UidAllocator::holderOf(uint32_t id) const {
  std::lock_guard lock(mu_);
  auto it = byId_.find(id);
  if (it == byId_.end()) return std::nullopt;
  return it->second;
}

size_t UidAllocator::inUse() const {
  std::lock_guard lock(mu_);
  return byId_.size();
}

}  // namespace minimcp::reconciler
