// What /metrics says about the store and what is filed in it: the latency of every store
// operation by backend and operation (a Store in front of the one the API server opens), each
// Node's lease age (seen by every node, so a lost node shows on the others), and each APIKey's
// rotate-by time (the alert on keys due for rotation). prometheus-cpp stays in the .cpp.
#pragma once

#include <memory>
#include <string>

#include "api/metrics/registry.h"
#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp::server {

// "postgres" for a postgres:// or postgresql:// URL, else "sqlite".
std::string storeBackend(const std::string& url);

// `inner`, with each operation timed into minimcp_store_operation_duration_seconds{backend,
// operation} (failed ones too). `registry` must outlive the result.
std::unique_ptr<store::Store> observedStore(std::unique_ptr<store::Store> inner,
                                            const std::string& backend,
                                            metrics::Registry& registry);

// minimcp_node_lease_age_seconds{node}, minimcp_node_lease_duration_seconds{node} and
// minimcp_apikey_rotate_by_timestamp_seconds{namespace,apikey}, kept from a subscription to
// `store` (a series goes with its object). Lease ages are computed at each scrape.
class StoredObjectMetrics {
 public:
  // `store`, `registry` and `clock` must outlive this.
  StoredObjectMetrics(store::Store& store, metrics::Registry& registry, const Clock& clock);
  ~StoredObjectMetrics();
  StoredObjectMetrics(const StoredObjectMetrics&) = delete;
  StoredObjectMetrics& operator=(const StoredObjectMetrics&) = delete;

  // Subscribes, then lists Nodes and APIKeys (throws StoreError when the store cannot be read).
  void start();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace minimcp::server
