#include "api/gateway/instance_index.h"

#include <string>

#include "api/model/json_fields.h"
#include "api/model/kinds.h"

namespace minimcp::gateway {

namespace {

constexpr const char* kResource = "mcpinstances";

std::string keyOf(const nlohmann::json& obj) {
  const auto& meta = model::objectField(obj, "metadata");
  return model::stringField(meta, "namespace") + "/" + model::stringField(meta, "name");
}

int64_t resourceVersionOf(const nlohmann::json& obj) {
  const std::string rv = model::stringField(model::objectField(obj, "metadata"), "resourceVersion");
  try {
    return rv.empty() ? 0 : std::stoll(rv);
  } catch (const std::exception&) {
    return 0;
  }
}

bool readyIn(const nlohmann::json& status) {
  const auto* conditions = model::member(status, "conditions");
  if (!conditions || !conditions->is_array()) return false;
  for (const auto& c : *conditions) {
    if (c.is_object() && model::stringField(c, "type") == "Ready") {
      return model::stringField(c, "status") == "True";
    }
  }
  return false;
}

}  // namespace

InstanceView InstanceView::of(const nlohmann::json& obj) {
  InstanceView v;
  v.uid = model::stringField(model::objectField(obj, "metadata"), "uid");
  v.tokenGeneration =
      model::MCPInstanceSpec::fromJson(model::objectField(obj, "spec")).tokenGeneration;
  const auto& status = model::objectField(obj, "status");
  v.ready = readyIn(status);
  v.phase = model::stringField(status, "phase");
  v.node = model::stringField(status, "node");
  v.lastWake = parseRfc3339(model::stringField(model::objectField(status, "lastWake"), "time"));
  v.resourceVersion = resourceVersionOf(obj);
  return v;
}

InstanceIndex::InstanceIndex(store::Store& store) {
  // Subscribe before listing, so no change between the two is missed.
  subscription_ = store.subscribe([this](const store::WatchEvent& ev) {
    if (ev.resource == kResource) apply(ev);
  });
  auto listed = store.list(kResource, {});
  std::unique_lock lock(mu_);
  for (const auto& obj : listed.items) {
    auto view = InstanceView::of(obj);
    const std::string key = keyOf(obj);
    auto gone = deletedWhileFilling_.find(key);
    if (gone != deletedWhileFilling_.end() && gone->second > view.resourceVersion) continue;
    auto it = byKey_.find(key);
    if (it != byKey_.end() && it->second.resourceVersion >= view.resourceVersion) continue;
    byKey_[key] = std::move(view);
  }
  filling_ = false;
  deletedWhileFilling_.clear();
}

InstanceIndex::~InstanceIndex() { subscription_.reset(); }

void InstanceIndex::apply(const store::WatchEvent& ev) {
  const std::string key = keyOf(ev.object);
  if (ev.type == store::EventType::Deleted) {
    std::unique_lock lock(mu_);
    byKey_.erase(key);
    if (filling_) deletedWhileFilling_[key] = ev.resourceVersion;
    return;
  }
  auto view = InstanceView::of(ev.object);
  view.resourceVersion = ev.resourceVersion;
  std::unique_lock lock(mu_);
  byKey_[key] = std::move(view);
}

std::optional<InstanceView> InstanceIndex::get(const std::string& ns,
                                               const std::string& name) const {
  std::shared_lock lock(mu_);
  auto it = byKey_.find(ns + "/" + name);
  if (it == byKey_.end()) return std::nullopt;
  return it->second;
}

}  // namespace minimcp::gateway
