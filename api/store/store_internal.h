// Helpers shared by the Store implementations (SqliteStore, PostgresStore), so that both file
// objects, word their errors, page lists and deliver watch events by the same rules.
// Not part of the Store contract: include it only from api/store/*.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/store/selector.h"
#include "api/store/store.h"

namespace minimcp::store::internal {

[[noreturn]] void throwUnavailable(const std::string& message);

// Identity of an object as the store files it.
struct Key {
  std::string ns;
  std::string name;
};

// Validates what the store itself relies on (a JSON object with metadata.name, a string or
// absent namespace); throws std::invalid_argument otherwise.
Key keyOf(const nlohmann::json& obj);

// `resource "ns/name"` (or `resource "name"` when cluster-scoped), as error messages name objects.
std::string objectDescription(const std::string& resource, const std::string& ns,
                              const std::string& name);
[[noreturn]] void throwAlreadyExists(const std::string& resource, const std::string& ns,
                                     const std::string& name);
[[noreturn]] void throwNotFound(const std::string& resource, const std::string& ns,
                                const std::string& name);
// Kubernetes' wording for a failed compare-and-swap.
[[noreturn]] void throwConflict(const std::string& resource, const std::string& ns,
                                const std::string& name);

// metadata.labels as JSON text ("{}" when absent), kept in a column of its own so that label
// selectors need not parse whole objects. `obj` must have passed keyOf().
std::string labelsText(const nlohmann::json& obj);

// Inverse of toString(EventType) for the history's type column.
EventType parseEventType(const std::string& s);

// One page of a list. The store reads the rows of the resource in (ns, name) order, after
// start(), and offers them one by one; the page applies the selectors and the limit, counts
// what is left after it and writes the continue token.
class ListPage {
 public:
  // Parses the selectors and the continue token: throws StoreError BadSelector.
  explicit ListPage(const ListOptions& opts);

  // Rows to read: (ns, name) > (afterNs, afterName), within opts.ns when set (then afterNs is
  // opts.ns). `exhausted`: the continue token is past opts.ns, nothing is left to read.
  struct Start {
    std::string afterNs;
    std::string afterName;
    bool exhausted = false;
  };
  const Start& start() const { return start_; }
  // The continued list's resourceVersion; nullopt for a first page (use the store's current).
  std::optional<int64_t> continuedResourceVersion() const { return continuedRv_; }

  // `labels` and `object` parse the row's labels and object columns; each is called at most
  // once, and only when the selectors or the page need it.
  void offer(const std::string& ns, const std::string& name,
             const std::function<nlohmann::json()>& labels,
             const std::function<nlohmann::json()>& object);
  // `resourceVersion`: the one the rows were read at (or continuedResourceVersion()).
  ListResult finish(int64_t resourceVersion);

 private:
  LabelSelector labels_;
  FieldSelector fields_;
  bool wholeForFields_;
  int64_t limit_;
  std::optional<int64_t> continuedRv_;
  Start start_;
  std::string lastNs_;
  std::string lastName_;
  ListResult out_;
};

// Subscriber registry. Owned through a shared_ptr: it outlives its store while subscriptions
// exist. Destroying a subscription waits out an in-flight callback of it, and a callback may
// destroy its own subscription.
class Hub : public std::enable_shared_from_this<Hub> {
 public:
  std::unique_ptr<Subscription> subscribe(std::function<void(const WatchEvent&)> callback);
  bool empty();
  // Calls every active subscriber in subscription order; a subscriber's exception is swallowed.
  // The caller serialises deliver() calls to keep events in resourceVersion order.
  void deliver(const WatchEvent& ev);

 private:
  struct Sub;
  friend class HubSubscription;
  void remove(const std::shared_ptr<Sub>& sub);

  std::mutex mu_;
  std::vector<std::shared_ptr<Sub>> subs_;
};

}  // namespace minimcp::store::internal
