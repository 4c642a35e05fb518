// Store: the durable home of every API object. Objects are whole Kubernetes-style JSON documents
// (apiVersion, kind, metadata, spec, status). The store knows nothing about kinds beyond the
// `resource` (plural) string it files them under; validation and defaults live in strategies.
//
// Every successful write takes the next value of ONE global, strictly increasing counter and
// writes it, as a decimal string, into the stored object's `metadata.resourceVersion`. The same
// write appends a WatchEvent to a bounded change history, atomically with the write.
//
// Implementations: SqliteStore (embedded default), later PostgresStore. Both must pass the
// conformance suite in tests/unit/store/store_conformance_test.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace minimcp::store {

class StoreError : public std::runtime_error {
 public:
  enum class Code {
    NotFound,       // get/update/remove of an absent object
    AlreadyExists,  // create of a present (resource, namespace, name)
    Conflict,       // update/remove with a stale expected resourceVersion
    Gone,           // changesSince() from a resourceVersion older than the kept history
    BadSelector,    // unparsable label or field selector, bad continue token
    Unavailable,    // the backing database failed (I/O error, connection lost)
  };
  StoreError(Code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

struct ListOptions {
  // Default member initialisers keep GCC's -Wmissing-field-initializers quiet for designated
  // initialisers such as ListOptions{.ns = "a", .limit = 10}.
  std::string ns = {};             // "" = every namespace (or a cluster-scoped resource)
  std::string labelSelector = {};  // Kubernetes syntax: "a=b,c!=d,e in (x,y),!f,g"
  // Kubernetes syntax over dotted JSON paths of the object:
  // "metadata.name=x,status.phase!=Running". Any path is accepted (missing field compares as "").
  std::string fieldSelector = {};
  int64_t limit = 0;               // 0 = no limit
  std::string continueToken = {};  // from a previous ListResult; opaque to callers
};

struct ListResult {
  std::vector<nlohmann::json> items;  // ordered by (namespace, name)
  int64_t resourceVersion = 0;        // the store's resourceVersion when the list was read
                                      // (for a continued list: when its first page was read)
  std::string continueToken;          // "" when nothing is left
  int64_t remainingItemCount = 0;     // how many matching items are after this page
};

enum class EventType { Added, Modified, Deleted };
const char* toString(EventType t);  // "ADDED" | "MODIFIED" | "DELETED"

struct WatchEvent {
  EventType type;
  std::string resource;
  nlohmann::json object;  // the object after the change; for Deleted, its last state with the
                          // deletion's new resourceVersion
  int64_t resourceVersion;
};

// Keeps a subscription alive; destroying it unsubscribes (after which the callback is never
// called again, and no call is in progress once the destructor returns).
class Subscription {
 public:
  virtual ~Subscription() = default;
};

// A lock held by at most one Store object at a time among all processes sharing the database
// (PostgreSQL: a session advisory lock on a connection of its own; SQLite: a lock file next to
// the database). Destroying it releases the lock.
class ExclusiveLock {
 public:
  virtual ~ExclusiveLock() = default;
  // False once the lock may have been lost (e.g. its connection broke). The holder must then
  // stop acting on it; the lock never comes back (take a new one with tryLock()).
  virtual bool held() = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Stores a new object. `obj.metadata.name` is required; `obj.metadata.namespace` is "" or
  // absent for cluster-scoped resources. Returns the stored object (with resourceVersion).
  // Throws StoreError AlreadyExists.
  virtual nlohmann::json create(const std::string& resource, nlohmann::json obj) = 0;

  virtual std::optional<nlohmann::json> get(const std::string& resource, const std::string& ns,
                                            const std::string& name) = 0;

  virtual ListResult list(const std::string& resource, const ListOptions& opts) = 0;

  // Replaces the object identified by obj.metadata.{namespace,name}. When expectedRV != 0 and the
  // stored resourceVersion differs, throws Conflict (compare-and-swap). Throws NotFound.
  virtual nlohmann::json update(const std::string& resource, nlohmann::json obj,
                                int64_t expectedRV) = 0;

  // Removes the object; same CAS rule. Returns the removed object carrying the new
  // resourceVersion of the deletion.
  virtual nlohmann::json remove(const std::string& resource, const std::string& ns,
                                const std::string& name, int64_t expectedRV) = 0;

  // Every change to `resource` (in namespace `ns`, or all when "") with resourceVersion > rv, in
  // order. Throws Gone when rv is older than the oldest kept history entry (the history keeps
  // at least the last `historyLimit` changes). rv == current resourceVersion → empty.
  virtual std::vector<WatchEvent> changesSince(const std::string& resource, const std::string& ns,
                                               int64_t rv) = 0;

  // The highest resourceVersion handed out so far.
  virtual int64_t currentResourceVersion() = 0;

  // `callback` runs after every committed change to any resource, in resourceVersion order, on
  // the writer's thread (keep it short: queue the event and return). Changes committed by other
  // processes sharing the store (PostgreSQL) are delivered too. The callback may read the store
  // but must not write to it (delivery is serialised in commit order, so that would deadlock).
  virtual std::unique_ptr<Subscription> subscribe(
      std::function<void(const WatchEvent&)> callback) = 0;

  // Takes the lock `name` when nobody holds it; nullptr when another holder has it. Returns
  // within a second; throws Unavailable when the database cannot be reached.
  virtual std::unique_ptr<ExclusiveLock> tryLock(const std::string& name) = 0;

  // Drops history entries beyond the most recent `keep` (tests use it to force Gone).
  virtual void compactHistory(int64_t keep) = 0;
};

// Opens the store named by a URL: "sqlite:/path/to/file.db" (or a bare path).
// `historyLimit`: how many changes the watch history keeps at least.
std::unique_ptr<Store> openStore(const std::string& url, int64_t historyLimit = 10000);

// Helpers shared by implementations.
int64_t parseResourceVersion(const nlohmann::json& obj);  // 0 when absent/invalid
bool matchesLabelSelector(const nlohmann::json& obj,
                          const std::string& selector);  // throws BadSelector
bool matchesFieldSelector(const nlohmann::json& obj,
                          const std::string& selector);  // throws BadSelector

}  // namespace minimcp::store
