// Informer: turns store changes into work-queue keys ("ns/name" of MCPInstances), after
// client-go's shared informer. An MCPInstance change enqueues itself; an MCPType change
// enqueues every instance of that type; an APIKey change enqueues the instances whose
// spec.keyRef names it. The store callback only updates the small index and enqueues: it never
// reads objects or writes.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/store/store.h"

namespace minimcp::reconciler {

inline constexpr const char* kInstances = "mcpinstances";
inline constexpr const char* kTypes = "mcptypes";
inline constexpr const char* kApiKeys = "apikeys";

// "ns/name" of a stored object.
std::string objectKey(const nlohmann::json& obj);

class Informer {
 public:
  using Enqueue = std::function<void(const std::string& key)>;

  Informer(store::Store& store, Enqueue enqueue);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Subscribes, then lists every MCPInstance into the index. Returns the listed objects
  // without enqueuing them: the caller decides the order (restore first).
  std::vector<nlohmann::json> start();
  // Unsubscribes; no enqueue happens after this returns.
  void stop();

  // The caller is about to write `object` (an MCPInstance, as it will be stored) from this thread
  // and needs no reconcile for it: the store's event of that write, which the store delivers on
  // the writing thread, is indexed but not enqueued. Only an event on this thread for this
  // object with this generation and status counts, so a change by anyone else still enqueues.
  // The expectation lasts as long as the returned guard: drop it once the write returned,
  // whether or not it landed.
  [[nodiscard]] std::shared_ptr<void> expectOwnWrite(const nlohmann::json& object);

  // Instance keys indexed under a type / an APIKey ("ns/keyName"); for tests and diagnostics.
  std::vector<std::string> keysForType(const std::string& type) const;
  std::vector<std::string> keysForApiKey(const std::string& nsSlashName) const;

 private:
  struct Refs {
    std::string type;
    std::string apiKey;  // "ns/keyName", empty without keyRef
  };
  void onEvent(const store::WatchEvent& ev);
  bool isOwnWrite(const store::WatchEvent& ev);
  void index(const nlohmann::json& instance, bool deleted);
  static void link(std::map<std::string, std::set<std::string>>& m, const std::string& ref,
                   const std::string& key);
  static void unlink(std::map<std::string, std::set<std::string>>& m, const std::string& ref,
                     const std::string& key);

  store::Store& store_;
  Enqueue enqueue_;
  std::unique_ptr<store::Subscription> sub_;
  mutable std::mutex mu_;
  std::map<std::string, Refs> refs_;                       // instance key → what it references
  std::map<std::string, std::set<std::string>> byType_;    // type name → instance keys
  std::map<std::string, std::set<std::string>> byApiKey_;  // "ns/keyName" → instance keys
  struct OwnWrite {
    std::string key;
    nlohmann::json generation, status;
  };
  std::map<std::thread::id, OwnWrite> ownWrites_;  // by the writing thread
};

}  // namespace minimcp::reconciler
