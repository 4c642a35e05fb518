// UidAllocator: a uid of its own for every instance process, the way systemd's DynamicUser does
// it. The gid is the number of the uid: an instance's files and processes then share
// nothing with another instance's, and the kernel keeps them apart (/proc/PID/environ, signals,
// the 0700 instance dir).
//
// An id is handed to an instance only when nothing else can be holding it: no user or group of
// /etc/passwd and /etc/group names it, no live process carries it (real, effective, saved or
// filesystem id), no instance directory is owned by it, and no other instance holds it. An
// instance keeps its id across restarts and replacements (and across mcpd restarts: its
// directory's owner and status.isolation.uid tell); it is released when the instance is gone
// and its directory removed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "api/util/clock.h"

namespace minimcp::reconciler {

struct IdRange {
  uint32_t lo = 0;
  uint32_t hi = 0;
  bool operator==(const IdRange&) const = default;
};
// systemd's DynamicUser range (61184–65519): above every distribution's regular users, below
// nobody (65534).
inline constexpr IdRange kDefaultInstanceIdRange{61184, 65519};
// "LO-HI" with 1 <= LO <= HI < 2^31 - 1; nullopt otherwise (0 would be root).
std::optional<IdRange> parseIdRange(const std::string& s);

// Who holds which ids on this host. The OS-facing half: tests replace it with a fake.
class IdentityUsage {
 public:
  virtual ~IdentityUsage() = default;
  // Every uid of the passwd database and gid of the group database.
  virtual std::set<uint32_t> systemIds() = 0;
  // Every uid and gid a live process carries.
  virtual std::set<uint32_t> processIds() = 0;
  // The owner of every instance directory, by instance key "ns/name".
  virtual std::map<std::string, uint32_t> instanceDirOwners() = 0;
};

// Reads /etc/passwd and /etc/group (the files, as systemd does for DynamicUser), /proc/*/status,
// and the owners of DATA_DIR/instances/<ns>/<name>.
class SystemIdentityUsage : public IdentityUsage {
 public:
  explicit SystemIdentityUsage(std::filesystem::path dataDir,
                               std::filesystem::path passwd = "/etc/passwd",
                               std::filesystem::path group = "/etc/group",
                               std::filesystem::path proc = "/proc");
  std::set<uint32_t> systemIds() override;
  std::set<uint32_t> processIds() override;
  std::map<std::string, uint32_t> instanceDirOwners() override;

 private:
  std::filesystem::path dataDir_, passwd_, group_, proc_;
};

// No id of the range is free.
class IdsExhausted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class UidAllocator {
 public:
  // Reads the system ids and the instance directories' owners once (a directory owned by an id
  // of the range keeps that id for its instance). Throws std::invalid_argument on a bad range.
  UidAllocator(IdRange range, std::shared_ptr<IdentityUsage> usage, const Clock& clock);

  // The id of `key`: the one it holds; else the one its directory is owned by; else `recorded`
  // (its status.isolation.uid) when in range and no other instance or system user has it; else
  // a free one, scanning round-robin from after the last one handed out (a released id is the
  // last to come back). Throws IdsExhausted.
  uint32_t reserve(const std::string& key, std::optional<uint32_t> recorded = std::nullopt);
  // The instance is gone and its directory removed: its id may go to another instance once no
  // process carries it any more.
  void release(const std::string& key);

  // The id `from` holds becomes `to`'s (a warm-pool process claimed for instance `to`); the one
  // `to` held before is released as by release(), so its files must already be the new id's.
  // nullopt (nothing changes) when `from` holds none.
  std::optional<uint32_t> handOver(const std::string& from, const std::string& to);

  std::optional<uint32_t> idOf(const std::string& key) const;
  std::optional<std::string> holderOf(uint32_t id) const;
  size_t inUse() const;
  IdRange range() const { return range_; }

  // A process scan is trusted this long for ids nobody held since: a process can only take
  // an id nobody holds from root, and mcpd hands them out only here.
  static constexpr std::chrono::seconds kProcessScanMaxAge{1};

 private:
  bool inRange(uint32_t id) const { return id >= range_.lo && id <= range_.hi; }
  // Free of system users, other instances and directories (not of processes: see reserve()).
  bool claimable(uint32_t id, const std::string& key) const;
  void hold(uint32_t id, const std::string& key);
  void refreshProcessScan(bool force);

  const IdRange range_;
  std::shared_ptr<IdentityUsage> usage_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::set<uint32_t> systemIds_;
  std::map<uint32_t, std::string> byId_;
  std::unordered_map<std::string, uint32_t> byKey_;
  // Ids of live processes at the last scan, and ids released since (not covered by it).
  std::set<uint32_t> processIds_;
  std::set<uint32_t> releasedSinceScan_;
  std::optional<std::chrono::steady_clock::time_point> scannedAt_;
  uint32_t next_;
};

}  // namespace minimcp::reconciler
