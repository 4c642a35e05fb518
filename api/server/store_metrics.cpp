#include "api/server/store_metrics.h"

#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include "api/model/json_fields.h"

namespace minimcp::server {

using nlohmann::json;

std::string storeBackend(const std::string& url) {
  return url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0 ? "postgres"
                                                                                : "sqlite";
}

namespace {

enum Op { kCreate, kGet, kList, kUpdate, kDelete, kChangesSince, kLock, kOps };
constexpr std::array<const char*, kOps> kOpNames = {"create", "get",           "list", "update",
                                                    "delete", "changes_since", "lock"};

class ObservedStore : public store::Store {
 public:
  ObservedStore(std::unique_ptr<store::Store> inner, const std::string& backend,
                metrics::Registry& registry)
      : inner_(std::move(inner)) {
    auto& family = prometheus::BuildHistogram()
                       .Name("minimcp_store_operation_duration_seconds")
                       .Help("Latency of store operations by backend and operation")
                       .Register(registry.families());
    for (int op = 0; op < kOps; ++op) {
      histograms_[op] = &family.Add({{"backend", backend}, {"operation", kOpNames[op]}},
                                    metrics::durationBuckets());
    }
  }

  json create(const std::string& resource, json obj) override {
    Timer t(*this, kCreate);
    return inner_->create(resource, std::move(obj));
  }
  std::optional<json> get(const std::string& resource, const std::string& ns,
                          const std::string& name) override {
    Timer t(*this, kGet);
    return inner_->get(resource, ns, name);
  }
  store::ListResult list(const std::string& resource, const store::ListOptions& opts) override {
    Timer t(*this, kList);
    return inner_->list(resource, opts);
  }
  json update(const std::string& resource, json obj, int64_t expectedRV) override {
    Timer t(*this, kUpdate);
    return inner_->update(resource, std::move(obj), expectedRV);
  }
  json remove(const std::string& resource, const std::string& ns, const std::string& name,
              int64_t expectedRV) override {
    Timer t(*this, kDelete);
    return inner_->remove(resource, ns, name, expectedRV);
  }
  std::vector<store::WatchEvent> changesSince(const std::string& resource, const std::string& ns,
                                              int64_t rv) override {
    Timer t(*this, kChangesSince);
    return inner_->changesSince(resource, ns, rv);
  }
  int64_t currentResourceVersion() override { return inner_->currentResourceVersion(); }
  std::unique_ptr<store::Subscription> subscribe(
      std::function<void(const store::WatchEvent&)> callback) override {
    return inner_->subscribe(std::move(callback));
  }
  std::unique_ptr<store::ExclusiveLock> tryLock(const std::string& name) override {
    Timer t(*this, kLock);
    return inner_->tryLock(name);
  }
  void compactHistory(int64_t keep) override { inner_->compactHistory(keep); }

 private:
  // Observes on every way out, a thrown StoreError included.
  class Timer {
   public:
    Timer(ObservedStore& s, Op op)
        : h_(*s.histograms_[op]), start_(std::chrono::steady_clock::now()) {}
    ~Timer() {
      h_.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }

   private:
    prometheus::Histogram& h_;
    std::chrono::steady_clock::time_point start_;
  };

  std::unique_ptr<store::Store> inner_;
  std::array<prometheus::Histogram*, kOps> histograms_{};
};

constexpr const char* kNodes = "nodes";
constexpr const char* kApiKeys = "apikeys";

}  // namespace

std::unique_ptr<store::Store> observedStore(std::unique_ptr<store::Store> inner,
                                            const std::string& backend,
                                            metrics::Registry& registry) {
  return std::make_unique<ObservedStore>(std::move(inner), backend, registry);
}

struct StoredObjectMetrics::Impl {
  Impl(store::Store& s, metrics::Registry& r, const Clock& c)
      : store(s),
        registry(r),
        clock(c),
        leaseAge(prometheus::BuildGauge()
                     .Name("minimcp_node_lease_age_seconds")
                     .Help("Seconds since each node last renewed its lease, as seen by this node")
                     .Register(r.families())),
        leaseDuration(prometheus::BuildGauge()
                          .Name("minimcp_node_lease_duration_seconds")
                          .Help("The lease duration each node renews its lease for")
                          .Register(r.families())),
        rotateBy(prometheus::BuildGauge()
                     .Name("minimcp_apikey_rotate_by_timestamp_seconds")
                     .Help("When each APIKey with a rotation period is due for rotation, in "
                           "seconds since the epoch")
                     .Register(r.families())) {}

  store::Store& store;
  metrics::Registry& registry;
  const Clock& clock;
  prometheus::Family<prometheus::Gauge>& leaseAge;
  prometheus::Family<prometheus::Gauge>& leaseDuration;
  prometheus::Family<prometheus::Gauge>& rotateBy;

  struct Node {
    int64_t rv = 0;
    std::optional<TimePoint> renewed;
    prometheus::Gauge* age = nullptr;
    prometheus::Gauge* duration = nullptr;
  };
  struct Key {
    int64_t rv = 0;
    prometheus::Gauge* rotateBy = nullptr;
  };
  std::mutex mu;
  std::map<std::string, Node> nodes;                        // by name
  std::map<std::pair<std::string, std::string>, Key> keys;  // by (namespace, name)
  // Deleted while the first list was being read (that list may still hold them).
  bool listed = false;
  std::set<std::tuple<std::string, std::string, std::string>> deletedEarly;
  std::unique_ptr<store::Subscription> sub;
  std::shared_ptr<void> hook;

  void applyLocked(const std::string& resource, const json& obj, bool deleted) {
    const json& meta = model::objectField(obj, "metadata");
    const std::string ns = model::stringField(meta, "namespace");
    const std::string name = model::stringField(meta, "name");
    const int64_t rv = store::parseResourceVersion(obj);
    if (deleted && !listed) deletedEarly.insert({resource, ns, name});
    if (resource == kNodes) {
      auto it = nodes.find(name);
      if (deleted) {
        if (it != nodes.end()) {
          leaseAge.Remove(it->second.age);
          leaseDuration.Remove(it->second.duration);
          nodes.erase(it);
        }
        return;
      }
      if (it != nodes.end() && it->second.rv > rv) return;
      Node& n = nodes[name];
      n.rv = rv;
      const json& status = model::objectField(obj, "status");
      n.renewed = parseRfc3339(model::stringField(status, "renewTime"));
      if (!n.age) n.age = &leaseAge.Add({{"node", name}});
      if (!n.duration) n.duration = &leaseDuration.Add({{"node", name}});
      if (auto d = status.find("leaseDurationSeconds"); d != status.end() && d->is_number()) {
        n.duration->Set(d->get<double>());
      }
    } else if (resource == kApiKeys) {
      auto it = keys.find({ns, name});
      std::optional<TimePoint> by;
      if (!deleted) {
        by = parseRfc3339(model::stringField(model::objectField(obj, "status"), "rotateBy"));
      }
      if (it != keys.end() && !deleted && it->second.rv > rv) return;
      if (!by) {
        if (it != keys.end()) {
          rotateBy.Remove(it->second.rotateBy);
          keys.erase(it);
        }
        return;
      }
      Key& k = keys[{ns, name}];
      k.rv = rv;
      if (!k.rotateBy) k.rotateBy = &rotateBy.Add({{"namespace", ns}, {"apikey", name}});
      k.rotateBy->Set(std::chrono::duration<double>(by->time_since_epoch()).count());
    }
  }

  void refresh() {
    const TimePoint now = clock.now();
    std::lock_guard lock(mu);
    for (auto& [name, n] : nodes) {
      n.age->Set(n.renewed ? std::chrono::duration<double>(now - *n.renewed).count() : 0);
    }
  }
};

StoredObjectMetrics::StoredObjectMetrics(store::Store& store, metrics::Registry& registry,
                                         const Clock& clock)
    : impl_(std::make_shared<Impl>(store, registry, clock)) {}

StoredObjectMetrics::~StoredObjectMetrics() {
  impl_->hook.reset();
  impl_->sub.reset();
}

void StoredObjectMetrics::start() {
  Impl& m = *impl_;
  m.sub = m.store.subscribe([&m](const store::WatchEvent& ev) {
    if (ev.resource != kNodes && ev.resource != kApiKeys) return;
    std::lock_guard lock(m.mu);
    m.applyLocked(ev.resource, ev.object, ev.type == store::EventType::Deleted);
  });
  for (const char* resource : {kNodes, kApiKeys}) {
    auto list = m.store.list(resource, {});
    std::lock_guard lock(m.mu);
    for (const auto& obj : list.items) {
      const json& meta = model::objectField(obj, "metadata");
      if (m.deletedEarly.count({resource, model::stringField(meta, "namespace"),
                                model::stringField(meta, "name")})) {
        continue;
      }
      m.applyLocked(resource, obj, false);
    }
  }
  {
    std::lock_guard lock(m.mu);
    m.listed = true;
    m.deletedEarly.clear();
  }
  m.hook = m.registry.onScrape([&m] { m.refresh(); });
}

}  // namespace minimcp::server
