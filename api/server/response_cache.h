// ResponseCache: serialized GET and LIST bodies, kept until the store reports a change that
// could alter them (an informer-style cache, like kube-apiserver's watch cache but for bytes).
// A read serves the bytes without touching the store or re-encoding JSON.
//
// Freshness: the store calls back after every commit, before the write returns to its client,
// and every callback drops the affected entries. A body is only inserted when no change of its
// resource arrived between reading the store and inserting, so a stale body is never kept past
// the callback of the write that made it stale.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "api/store/store.h"

namespace minimcp::server {

class ResponseCache {
 public:
  explicit ResponseCache(store::Store& store, size_t maxObjects = 50000, size_t maxLists = 64,
                         size_t maxListBytes = 16 << 20);
  ~ResponseCache();

  // A token to pass to put*(): take it BEFORE reading the store.
  uint64_t ticket(const std::string& resource) const;

  std::optional<std::string> getObject(const std::string& resource, const std::string& ns,
                                       const std::string& name) const;
  void putObject(uint64_t ticket, const std::string& resource, const std::string& ns,
                 const std::string& name, std::string body);

  // `query` identifies the list (namespace, selectors, limit, continue...).
  std::optional<std::string> getList(const std::string& resource, const std::string& query) const;
  void putList(uint64_t ticket, const std::string& resource, const std::string& query,
               std::string body);

 private:
  struct PerResource {
    uint64_t changes = 0;  // bumped by every store change of this resource
    std::unordered_map<std::string, std::string> objects;  // "ns/name" → body
    std::unordered_map<std::string, std::string> lists;    // query → body
  };
  void onChange(const store::WatchEvent& ev);

  size_t maxObjects_, maxLists_, maxListBytes_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, PerResource> resources_;
  std::unique_ptr<store::Subscription> subscription_;
};

}  // namespace minimcp::server
