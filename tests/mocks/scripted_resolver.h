// A HostResolver that answers only when a test says so: at once, later (after its caller gave
// up), or never (a DNS server that does not answer).
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/client/host_resolver.h"

namespace minimcp::test {

class ScriptedResolver : public client::HostResolver {
 public:
  void lookup(const std::string& host, Done done) override {
    std::optional<Result> now;
    {
      std::lock_guard lock(mu_);
      hosts_.push_back(host);
      if (atOnce_) {
        now = atOnce_;
      } else {
        pending_.push_back(std::move(done));
      }
    }
    if (now) done(*now);
  }
  void answerAtOnce(Result r) {
    std::lock_guard lock(mu_);
    atOnce_ = std::move(r);
  }
  // Answers every lookup not answered yet (a late answer, when its caller gave up).
  void answerPending(const Result& r) {
    std::vector<Done> pending;
    {
      std::lock_guard lock(mu_);
      pending.swap(pending_);
    }
    for (auto& done : pending) done(r);
  }
  std::vector<std::string> hosts() {
    std::lock_guard lock(mu_);
    return hosts_;
  }

 private:
  std::mutex mu_;
  std::optional<Result> atOnce_;
  std::vector<Done> pending_;
  std::vector<std::string> hosts_;
};

}  // namespace minimcp::test
