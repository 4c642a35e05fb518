#include "reconciler/event_recorder.h"

#include <spdlog/spdlog.h>

#include "api/model/kinds.h"
#include "api/util/random.h"

namespace minimcp::reconciler {

using nlohmann::json;

namespace {

constexpr const char* kEvents = "events";

std::string metaString(const json& obj, const char* field) {
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return "";
  auto it = meta->find(field);
  return it != meta->end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

EventRecorder::EventRecorder(store::Store& store, const Clock& clock, std::string node)
    : store_(store), clock_(clock), node_(std::move(node)) {}

std::string EventRecorder::eventName(const std::string& objectName, const std::string& reason,
                                     const std::string& message) {
  return objectName + "." + sha256Hex(reason + "\n" + message).substr(0, 10);
}

void EventRecorder::record(const json& object, const std::string& type, const std::string& reason,
                           const std::string& message) {
  try {
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (tryRecord(object, type, reason, message)) return;
    }
    spdlog::warn("events: {} {}: gave up after repeated write conflicts", reason,
                 metaString(object, "name"));
  } catch (const std::exception& e) {
    spdlog::warn("events: cannot record {} for {}/{}: {}", reason, metaString(object, "namespace"),
                 metaString(object, "name"), e.what());
  }
}

bool EventRecorder::tryRecord(const json& object, const std::string& type,
                              const std::string& reason, const std::string& message) {
  const std::string ns = metaString(object, "namespace");
  const std::string uid = metaString(object, "uid");
  const std::string name = eventName(metaString(object, "name"), reason, message);
  const std::string now = formatRfc3339(clock_.now());

  std::optional<json> existing = store_.get(kEvents, ns, name);
  // The same name for a recreated instance (another uid) starts a new series.
  if (existing && existing->value("/involvedObject/uid"_json_pointer, "") == uid &&
      existing->value("reason", "") == reason && existing->value("message", "") == message) {
    json ev = *existing;
    ev["count"] = ev.value("count", 1) + 1;
    ev["lastTimestamp"] = now;
    try {
      store_.update(kEvents, ev, store::parseResourceVersion(*existing));
      return true;
    } catch (const store::StoreError& e) {
      if (e.code() == store::StoreError::Code::Conflict ||
          e.code() == store::StoreError::Code::NotFound)
        return false;
      throw;
    }
  }

  const model::Strategy& strategy = model::eventStrategy();
  json ev = {{"metadata", {{"name", name}, {"namespace", ns}}},
             {"involvedObject",
              {{"apiVersion", object.value("apiVersion", model::kApiVersion)},
               {"kind", object.value("kind", "MCPInstance")},
               {"name", metaString(object, "name")},
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
    spdlog::warn("events: invalid event {} for {}/{} dropped: {}: {}", reason, ns,
                 metaString(object, "name"), causes.front().field, causes.front().message);
    return true;
  }
  try {
    if (existing) {
      store_.update(kEvents, ev, store::parseResourceVersion(*existing));
    } else {
      store_.create(kEvents, ev);
    }
    return true;
  } catch (const store::StoreError& e) {
    if (e.code() == store::StoreError::Code::Conflict ||
        e.code() == store::StoreError::Code::AlreadyExists ||
        e.code() == store::StoreError::Code::NotFound)
      return false;
    throw;
  }
}

}  // namespace minimcp::reconciler
