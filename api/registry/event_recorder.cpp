#include "api/registry/event_recorder.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "api/model/kinds.h"
#include "api/model/object_meta.h"
#include "api/registry/guaranteed_update.h"
#include "api/util/random.h"

namespace minimcp::registry {

using nlohmann::json;

namespace {

constexpr const char* kEvents = "events";

}  // namespace

EventRecorder::EventRecorder(store::Store& store, const Clock& clock, std::string node)
    : store_(store), clock_(clock), node_(std::move(node)) {}

std::string EventRecorder::eventName(const std::string& objectName, const std::string& reason,
                                     const std::string& message) {
  return objectName + "." + sha256Hex(reason + "\n" + message).substr(0, 10);
}

void EventRecorder::record(const json& object, const std::string& type, const std::string& reason,
                           const std::string& message) {
  const model::ObjectMeta meta(object);
  const std::string& ns = meta.ns();
  const std::string& uid = meta.uid();
  const std::string name = eventName(meta.name(), reason, message);
  try {
    UpdateOptions options;
    options.ignoreNotFound = true;
    // An event is worth little next to the reconcile that records it: do not hold that up long.
    options.timeout = std::chrono::seconds(2);
    options.fieldManager = "mcpd-events";
    options.clock = &clock_;
    guaranteedUpdate(
        store_, kEvents, ns, name,
        [&](const json* existing) {
          const std::string now = formatRfc3339(clock_.now());
          // The same name for a recreated instance (another uid) starts a new series.
          if (existing && existing->value("/involvedObject/uid"_json_pointer, "") == uid &&
              existing->value("reason", "") == reason &&
              existing->value("message", "") == message) {
            json ev = *existing;
            ev["count"] = ev.value("count", 1) + 1;
            ev["lastTimestamp"] = now;
            return Change::write(std::move(ev));
          }
          const model::Strategy& strategy = model::eventStrategy();
          json ev = {{"metadata", {{"name", name}, {"namespace", ns}}},
                     {"involvedObject",
                      {{"apiVersion", object.value("apiVersion", model::kApiVersion)},
                       {"kind", object.value("kind", "MCPInstance")},
                       {"name", meta.name()},
                       {"namespace", ns},
                       {"uid", uid}}},
                     {"type", type},
                     {"reason", reason},
                     {"message", message},
                     {"count", 1},
                     {"firstTimestamp", now},
                     {"lastTimestamp", now},
                     {"source", {{"component", "mcpd"}, {"host", node_}}}};
          model::initObjectMeta(ev, strategy.info(), clock_);
          strategy.prepareForCreate(ev, clock_);
          if (auto causes = strategy.validate(ev); !causes.empty()) {
            throw std::invalid_argument("invalid event: " + causes.front().field + ": " +
                                        causes.front().message);
          }
          return Change::write(std::move(ev));
        },
        options);
  } catch (const std::exception& e) {
    spdlog::warn("events: cannot record {} for {}/{}: {}", reason, ns, meta.name(), e.what());
  }
}

}  // namespace minimcp::registry
