// What the gateway reads of each MCPInstance per request, held in memory and kept current by
// the store's change feed (as the token cache is): no request reads or parses the stored
// object. A local write is seen before it returns (the store delivers it on the writer's
// thread), so a new tokenGeneration (a revoked instance token) or a deletion takes effect for
// the very next request; changes by another node sharing the store arrive as that store
// delivers them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <string>

#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp::gateway {

struct InstanceView {
  std::string uid;
  int64_t tokenGeneration = 0;
  bool ready = false;                 // condition Ready is True
  std::string phase;                  // status.phase ("" when unset)
  std::string node;                   // status.node: the node that runs it ("" when unset)
  std::optional<TimePoint> lastWake;  // status.lastWake.time: a request woke it then
  int64_t resourceVersion = 0;

  // The view of a stored MCPInstance (tolerant: a malformed field reads as unset).
  static InstanceView of(const nlohmann::json& obj);
};

class InstanceIndex {
 public:
  explicit InstanceIndex(store::Store& store);
  ~InstanceIndex();
  InstanceIndex(const InstanceIndex&) = delete;
  InstanceIndex& operator=(const InstanceIndex&) = delete;

  std::optional<InstanceView> get(const std::string& ns, const std::string& name) const;

 private:
  void apply(const store::WatchEvent& ev);

  mutable std::shared_mutex mu_;
  std::map<std::string, InstanceView> byKey_;  // "ns/name"
  // While the initial list is read: deletions seen meanwhile (key → resourceVersion), so a
  // listed object older than its deletion is not brought back.
  bool filling_ = true;
  std::map<std::string, int64_t> deletedWhileFilling_;
  std::unique_ptr<store::Subscription> subscription_;
};

}  // namespace minimcp::gateway
