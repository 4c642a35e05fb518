// GoogleMock doubles of the reconciler's outside world: ProcessRuntime and HealthProber, a
// FakeHostProcesses (the host's /proc as a test writes it), plus FakeProcessTable, which gives a
// MockProcessRuntime the behaviour of a tiny process table (launch hands out pids, handle() answers
// for live keys, stop() ends the process and reports its exit) so tests only set expectations where
// they matter.
#pragma once

#include <gmock/gmock.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "reconciler/runtime/health_prober.h"
#include "reconciler/runtime/host_processes.h"
#include "reconciler/runtime/process_runtime.h"

namespace minimcp::test {

class MockProcessRuntime : public runtime::ProcessRuntime {
 public:
  MOCK_METHOD(runtime::ProcessHandle, launch, (const runtime::LaunchSpec& spec), (override));
  MOCK_METHOD(bool, adopt, (const runtime::LaunchSpec& spec, const runtime::ProcessHandle& handle),
              (override));
  MOCK_METHOD(std::optional<runtime::ExitInfo>, stop,
              (const std::string& key, std::optional<std::chrono::milliseconds> grace), (override));
  MOCK_METHOD(bool, rename, (const std::string& from, const std::string& to), (override));
  MOCK_METHOD(std::optional<runtime::Usage>, usage, (const std::string& key), (const, override));
  MOCK_METHOD(std::optional<runtime::ProcessHandle>, handle, (const std::string& key),
              (const, override));
  MOCK_METHOD(void, onExit, (ExitCallback callback), (override));
  MOCK_METHOD(void, onLimitExceeded, (LimitCallback callback), (override));
  MOCK_METHOD(std::string, enforcement, (), (const, override));
};

class MockHealthProber : public runtime::HealthProber {
 public:
  MOCK_METHOD(void, probe,
              (const runtime::ProbeTarget& target, std::chrono::milliseconds timeout,
               Callback callback),
              (override));
};

// Default actions for a MockProcessRuntime, backed by a map key → live process. Install before
// the code under test registers its callbacks.
class FakeProcessTable {
 public:
  explicit FakeProcessTable(MockProcessRuntime& rt) {
    using ::testing::_;
    using ::testing::Invoke;
    ON_CALL(rt, onExit(_)).WillByDefault(Invoke([this](runtime::ProcessRuntime::ExitCallback cb) {
      std::lock_guard lock(mu_);
      onExit_ = std::move(cb);
    }));
    ON_CALL(rt, onLimitExceeded(_))
        .WillByDefault(Invoke([this](runtime::ProcessRuntime::LimitCallback cb) {
          std::lock_guard lock(mu_);
          onLimit_ = std::move(cb);
        }));
    ON_CALL(rt, launch(_)).WillByDefault(Invoke([this](const runtime::LaunchSpec& spec) {
      std::lock_guard lock(mu_);
      runtime::ProcessHandle h{nextPid_++, 1000 + static_cast<uint64_t>(nextPid_)};
      live_[spec.key] = h;
      specs_[spec.key].push_back(spec);
      return h;
    }));
    ON_CALL(rt, adopt(_, _))
        .WillByDefault(Invoke([this](const runtime::LaunchSpec& spec, runtime::ProcessHandle h) {
          std::lock_guard lock(mu_);
          if (!orphans_.count(h.pid) || orphans_[h.pid] != h.startTime) return false;
          orphans_.erase(h.pid);
          live_[spec.key] = h;
          return true;
        }));
    ON_CALL(rt, stop(_, _))
        .WillByDefault(Invoke(
            [this](const std::string& key,
                   std::optional<std::chrono::milliseconds>) -> std::optional<runtime::ExitInfo> {
              runtime::ExitInfo info;
              runtime::ProcessRuntime::ExitCallback cb;
              {
                std::lock_guard lock(mu_);
                auto it = live_.find(key);
                if (it == live_.end()) return std::nullopt;
                info.pid = it->second.pid;
                info.signal = 15;
                info.reason = "Stopped";
                info.stopRequested = true;
                live_.erase(it);
                ++stops_;
                cb = onExit_;
              }
              if (cb) cb(key, info);
              return info;
            }));
    ON_CALL(rt, handle(_))
        .WillByDefault(
            Invoke([this](const std::string& key) -> std::optional<runtime::ProcessHandle> {
              std::lock_guard lock(mu_);
              auto it = live_.find(key);
              if (it == live_.end()) return std::nullopt;
              return it->second;
            }));
    ON_CALL(rt, rename(_, _))
        .WillByDefault(Invoke([this](const std::string& from, const std::string& to) {
          std::lock_guard lock(mu_);
          auto it = live_.find(from);
          if (it == live_.end() || from == to || live_.count(to)) return false;
          live_[to] = it->second;
          live_.erase(from);
          return true;
        }));
    ON_CALL(rt, enforcement()).WillByDefault(::testing::Return(std::string("rlimit+sampling")));
  }

  // The process of `key` exits on its own (exit code, or a signal when `signal` is set).
  void exit(const std::string& key, std::optional<int> exitCode, std::optional<int> signal = {}) {
    runtime::ExitInfo info;
    runtime::ProcessRuntime::ExitCallback cb;
    {
      std::lock_guard lock(mu_);
      auto it = live_.find(key);
      if (it == live_.end()) return;
      info.pid = it->second.pid;
      info.exitCode = signal ? std::nullopt : exitCode;
      info.signal = signal;
      info.reason = signal ? "Signaled" : (exitCode.value_or(0) == 0 ? "Completed" : "Error");
      live_.erase(it);
      cb = onExit_;
    }
    if (cb) cb(key, info);
  }
  void exceedLimit(const std::string& key, const std::string& what, const std::string& message) {
    runtime::ProcessRuntime::LimitCallback cb;
    {
      std::lock_guard lock(mu_);
      cb = onLimit_;
    }
    if (cb) cb(key, what, message);
  }
  // A process left behind by an earlier mcpd: alive, adoptable, not known by key.
  runtime::ProcessHandle addOrphan() {
    std::lock_guard lock(mu_);
    runtime::ProcessHandle h{nextPid_++, 5000 + static_cast<uint64_t>(nextPid_)};
    orphans_[h.pid] = h.startTime;
    return h;
  }

  std::optional<runtime::ProcessHandle> live(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = live_.find(key);
    return it == live_.end() ? std::nullopt : std::optional(it->second);
  }
  std::vector<runtime::LaunchSpec> launches(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = specs_.find(key);
    return it == specs_.end() ? std::vector<runtime::LaunchSpec>{} : it->second;
  }
  int stops() const {
    std::lock_guard lock(mu_);
    return stops_;
  }

 private:
  mutable std::mutex mu_;
  runtime::ProcessRuntime::ExitCallback onExit_;
  runtime::ProcessRuntime::LimitCallback onLimit_;
  std::map<std::string, runtime::ProcessHandle> live_;
  std::map<pid_t, uint64_t> orphans_;
  std::map<std::string, std::vector<runtime::LaunchSpec>> specs_;
  pid_t nextPid_ = 4242;
  int stops_ = 0;
};

// A host process table the test writes: inspect()/list() answer from it, stop() ends the
// victims (and their groups) unless they were added as unkillable, and remembers them.
class FakeHostProcesses : public runtime::HostProcesses {
 public:
  void add(runtime::ProcessInfo p, bool unkillable = false) {
    std::lock_guard lock(mu_);
    if (unkillable) unkillable_.insert(p.pid);
    procs_[p.pid] = std::move(p);
  }
  void remove(pid_t pid) {
    std::lock_guard lock(mu_);
    procs_.erase(pid);
  }
  bool alive(pid_t pid) const {
    std::lock_guard lock(mu_);
    return procs_.count(pid) > 0;
  }
  // Every victim stop() was given, in order (stopped by it, or gone already).
  std::vector<runtime::ProcessInfo> stopped() const {
    std::lock_guard lock(mu_);
    return stopped_;
  }
  std::vector<std::chrono::milliseconds> graces() const {
    std::lock_guard lock(mu_);
    return graces_;
  }

  std::optional<runtime::ProcessInfo> inspect(pid_t pid) const override {
    std::lock_guard lock(mu_);
    auto it = procs_.find(pid);
    if (it == procs_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<runtime::ProcessInfo> list() const override {
    std::lock_guard lock(mu_);
    std::vector<runtime::ProcessInfo> out;
    for (auto [pid, p] : procs_) {
      p.mcpId.reset();
      out.push_back(p);
    }
    return out;
  }
  std::vector<pid_t> stop(const std::vector<runtime::ProcessInfo>& victims,
                          std::chrono::milliseconds grace) override {
    std::lock_guard lock(mu_);
    graces_.push_back(grace);
    std::vector<pid_t> survivors;
    stopped_.insert(stopped_.end(), victims.begin(), victims.end());
    for (const auto& v : victims) {
      auto it = procs_.find(v.pid);
      if (it == procs_.end() || it->second.startTime != v.startTime) continue;
      if (unkillable_.count(v.pid)) {
        survivors.push_back(v.pid);
        continue;
      }
      const bool leader = it->second.pgrp == v.pid;
      procs_.erase(it);
      if (!leader) continue;
      for (auto m = procs_.begin(); m != procs_.end();) {
        m = m->second.pgrp == v.pid && !unkillable_.count(m->first) ? procs_.erase(m)
                                                                    : std::next(m);
      }
    }
    return survivors;
  }

 private:
  mutable std::mutex mu_;
  std::map<pid_t, runtime::ProcessInfo> procs_;
  std::set<pid_t> unkillable_;
  std::vector<runtime::ProcessInfo> stopped_;
  std::vector<std::chrono::milliseconds> graces_;
};

// Makes a MockHealthProber answer every probe at once: healthy while `healthy` is true, else
// "connection refused".
inline void answerProbes(MockHealthProber& prober, const std::atomic<bool>& healthy) {
  ON_CALL(prober, probe(::testing::_, ::testing::_, ::testing::_))
      .WillByDefault(
          ::testing::Invoke([&healthy](const runtime::ProbeTarget&, std::chrono::milliseconds,
                                       runtime::HealthProber::Callback cb) {
            runtime::ProbeResult r;
            r.healthy = healthy.load();
            r.statusCode = r.healthy ? 200 : 0;
            if (!r.healthy) r.error = "connection refused";
            cb(r);
          }));
}

}  // namespace minimcp::test
