// EventRecorder: writes "events" objects about API objects (MCPInstances, APIKeys), the way
// client-go's recorder does: one object per distinct (instance, reason, message), and an
// identical repeat folds into it (count++, lastTimestamp) instead of adding another.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp::registry {

class EventRecorder {
 public:
  // `node` goes to source.host; source.component is "mcpd".
  EventRecorder(store::Store& store, const Clock& clock, std::string node);

  // Records an event about `object` (a stored object: its metadata names it, its kind is
  // involvedObject's). Never throws: an event that cannot be written is logged and dropped, it
  // must not fail a reconcile or the write it reports.
  void record(const nlohmann::json& object, const std::string& type, const std::string& reason,
              const std::string& message);

  // "<object name>.<10 hex digits of sha256(reason, message)>": stable, so repeats fold.
  static std::string eventName(const std::string& objectName, const std::string& reason,
                               const std::string& message);

 private:
  store::Store& store_;
  const Clock& clock_;
  std::string node_;
};

}  // namespace minimcp::registry
