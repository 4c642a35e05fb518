#include "reconciler/informer.h"

#include "api/model/json_fields.h"
#include "api/model/object_meta.h"

namespace minimcp::reconciler {

using nlohmann::json;

std::string objectKey(const json& obj) {
  const model::ObjectMeta meta(obj);
  return meta.ns() + "/" + meta.name();
}

Informer::Informer(store::Store& store, Enqueue enqueue)
    : store_(store), enqueue_(std::move(enqueue)) {}

Informer::~Informer() { stop(); }

std::vector<json> Informer::start() {
  // Subscribe before listing: a change in between is seen twice, never missed (the queue
  // de-duplicates).
  sub_ = store_.subscribe([this](const store::WatchEvent& ev) { onEvent(ev); });
  std::vector<json> items;
  std::string cont;
  do {
    store::ListResult page = store_.list(kInstances, {.limit = 500, .continueToken = cont});
    for (auto& item : page.items) {
      index(item, false);
      items.push_back(std::move(item));
    }
    cont = page.continueToken;
  } while (!cont.empty());
  return items;
}

void Informer::stop() { sub_.reset(); }

std::shared_ptr<void> Informer::expectOwnWrite(const json& object) {
  const auto self = std::this_thread::get_id();
  {
    std::lock_guard lock(mu_);
    ownWrites_[self] = {objectKey(object),
                        model::objectField(object, "metadata").value("generation", json()),
                        model::objectField(object, "status")};
  }
  return std::shared_ptr<void>(nullptr, [this, self](void*) {
    std::lock_guard lock(mu_);
    ownWrites_.erase(self);
  });
}

bool Informer::isOwnWrite(const store::WatchEvent& ev) {
  if (ev.type != store::EventType::Modified) return false;
  std::lock_guard lock(mu_);
  auto it = ownWrites_.find(std::this_thread::get_id());
  if (it == ownWrites_.end()) return false;
  const OwnWrite& own = it->second;
  if (own.key != objectKey(ev.object) ||
      own.generation != model::objectField(ev.object, "metadata").value("generation", json()) ||
      own.status != model::objectField(ev.object, "status")) {
    return false;
  }
  ownWrites_.erase(it);  // one write, one echo
  return true;
}

void Informer::onEvent(const store::WatchEvent& ev) {
  if (ev.resource == kInstances) {
    index(ev.object, ev.type == store::EventType::Deleted);
    if (!isOwnWrite(ev)) enqueue_(objectKey(ev.object));
    return;
  }
  std::set<std::string> keys;
  {
    std::lock_guard lock(mu_);
    const std::map<std::string, std::set<std::string>>* m = nullptr;
    std::string ref;
    if (ev.resource == kTypes) {
      m = &byType_;
      ref = model::ObjectMeta(ev.object).name();
    } else if (ev.resource == kApiKeys) {
      m = &byApiKey_;
      ref = objectKey(ev.object);
    }
    if (m) {
      if (auto it = m->find(ref); it != m->end()) keys = it->second;
    }
  }
  for (const auto& k : keys) enqueue_(k);
}

void Informer::index(const json& instance, bool deleted) {
  const std::string key = objectKey(instance);
  std::lock_guard lock(mu_);
  if (auto it = refs_.find(key); it != refs_.end()) {
    unlink(byType_, it->second.type, key);
    unlink(byApiKey_, it->second.apiKey, key);
    refs_.erase(it);
  }
  if (deleted) return;
  Refs r;
  r.type = model::stringField(model::objectField(instance, "spec"), "type");
  const std::string keyName = model::stringField(
      model::objectField(model::objectField(instance, "spec"), "keyRef"), "name");
  if (!keyName.empty()) r.apiKey = model::ObjectMeta(instance).ns() + "/" + keyName;
  link(byType_, r.type, key);
  link(byApiKey_, r.apiKey, key);
  refs_[key] = std::move(r);
}

void Informer::link(std::map<std::string, std::set<std::string>>& m, const std::string& ref,
                    const std::string& key) {
  if (!ref.empty()) m[ref].insert(key);
}

void Informer::unlink(std::map<std::string, std::set<std::string>>& m, const std::string& ref,
                      const std::string& key) {
  auto it = m.find(ref);
  if (it == m.end()) return;
  it->second.erase(key);
  if (it->second.empty()) m.erase(it);
}

std::vector<std::string> Informer::keysForType(const std::string& type) const {
  std::lock_guard lock(mu_);
  auto it = byType_.find(type);
  return it == byType_.end() ? std::vector<std::string>{}
                             : std::vector<std::string>(it->second.begin(), it->second.end());
}

std::vector<std::string> Informer::keysForApiKey(const std::string& nsSlashName) const {
  std::lock_guard lock(mu_);
  auto it = byApiKey_.find(nsSlashName);
  return it == byApiKey_.end() ? std::vector<std::string>{}
                               : std::vector<std::string>(it->second.begin(), it->second.end());
}

}  // namespace minimcp::reconciler
