#include "api/server/response_cache.h"

namespace minimcp::server {

namespace {
std::string objectKey(const std::string& ns, const std::string& name) { return ns + "/" + name; }
}  // namespace

ResponseCache::ResponseCache(store::Store& store, size_t maxObjects, size_t maxLists,
                             size_t maxListBytes)
    : maxObjects_(maxObjects), maxLists_(maxLists), maxListBytes_(maxListBytes) {
  subscription_ = store.subscribe([this](const store::WatchEvent& ev) { onChange(ev); });
}

ResponseCache::~ResponseCache() { subscription_.reset(); }

void ResponseCache::onChange(const store::WatchEvent& ev) {
  const auto& md = ev.object.value("metadata", nlohmann::json::object());
  std::lock_guard lock(mu_);
  auto& r = resources_[ev.resource];
  ++r.changes;
  r.objects.erase(objectKey(md.value("namespace", ""), md.value("name", "")));
  r.lists.clear();
}

uint64_t ResponseCache::ticket(const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = resources_.find(resource);
  return it == resources_.end() ? 0 : it->second.changes;
}

std::optional<std::string> ResponseCache::getObject(const std::string& resource,
                                                    const std::string& ns,
                                                    const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = resources_.find(resource);
  if (it == resources_.end()) return std::nullopt;
  auto o = it->second.objects.find(objectKey(ns, name));
  if (o == it->second.objects.end()) return std::nullopt;
  return o->second;
}

void ResponseCache::putObject(uint64_t ticket, const std::string& resource, const std::string& ns,
                              const std::string& name, std::string body) {
  std::lock_guard lock(mu_);
  auto& r = resources_[resource];
  if (r.changes != ticket) return;  // changed since the caller read the store
  if (r.objects.size() >= maxObjects_) r.objects.clear();
  r.objects[objectKey(ns, name)] = std::move(body);
}

std::optional<std::string> ResponseCache::getList(const std::string& resource,
                                                  const std::string& query) const {
  std::lock_guard lock(mu_);
  auto it = resources_.find(resource);
  if (it == resources_.end()) return std::nullopt;
  auto l = it->second.lists.find(query);
  if (l == it->second.lists.end()) return std::nullopt;
  return l->second;
}

void ResponseCache::putList(uint64_t ticket, const std::string& resource, const std::string& query,
                            std::string body) {
  if (body.size() > maxListBytes_) return;
  std::lock_guard lock(mu_);
  auto& r = resources_[resource];
  if (r.changes != ticket) return;
  if (r.lists.size() >= maxLists_) r.lists.clear();
  r.lists[query] = std::move(body);
}

}  // namespace minimcp::server
