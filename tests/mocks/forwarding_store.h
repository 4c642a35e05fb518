// ForwardingStore: a store::Store that hands every call to another one. A test derives from it
// and overrides the one call it wants to interfere with (a writer slipped in before an update).
#pragma once

#include "api/store/store.h"

namespace minimcp::testing {

class ForwardingStore : public store::Store {
 public:
  explicit ForwardingStore(store::Store& inner) : inner_(inner) {}

  nlohmann::json create(const std::string& r, nlohmann::json obj) override {
    return inner_.create(r, std::move(obj));
  }
  std::optional<nlohmann::json> get(const std::string& r, const std::string& ns,
                                    const std::string& name) override {
    return inner_.get(r, ns, name);
  }
  store::ListResult list(const std::string& r, const store::ListOptions& o) override {
    return inner_.list(r, o);
  }
  nlohmann::json update(const std::string& r, nlohmann::json obj, int64_t rv) override {
    return inner_.update(r, std::move(obj), rv);
  }
  nlohmann::json remove(const std::string& r, const std::string& ns, const std::string& name,
                        int64_t rv) override {
    return inner_.remove(r, ns, name, rv);
  }
  std::vector<store::WatchEvent> changesSince(const std::string& r, const std::string& ns,
                                              int64_t rv) override {
    return inner_.changesSince(r, ns, rv);
  }
  int64_t currentResourceVersion() override { return inner_.currentResourceVersion(); }
  std::unique_ptr<store::Subscription> subscribe(
      std::function<void(const store::WatchEvent&)> cb) override {
    return inner_.subscribe(std::move(cb));
  }
  std::unique_ptr<store::ExclusiveLock> tryLock(const std::string& name) override {
    return inner_.tryLock(name);
  }
  void compactHistory(int64_t keep) override { inner_.compactHistory(keep); }

 protected:
  store::Store& inner_;
};

}  // namespace minimcp::testing
