// Shared set-up of the controller unit tests: a real SQLite store in a temp dir, a fake clock,
// the mocked runtime and prober (tests/mocks), and helpers to create objects the way the API
// server would (registry strategy).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "api/crypto/instance_token.h"
#include "api/crypto/master_key.h"
#include "api/model/kinds.h"
#include "api/store/store.h"
#include "reconciler/controller.h"
#include "tests/mocks/runtime_mocks.h"
#include "tests/unit/reconciler/fake_clock.h"

namespace minimcp::test {

using nlohmann::json;
using namespace std::chrono_literals;

// Every port counts as free: no sockets in unit tests.
class AllFreePorts : public reconciler::PortChecker {
 public:
  bool isFree(uint16_t) override { return true; }
};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "minimcp-ctl-XXXXXX").string();
    if (char* made = ::mkdtemp(tmpl.data())) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Re-evaluates `pred` every 20 ms until it holds or `timeout` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

inline json storeObject(store::Store& s, const model::Strategy& strategy, json obj,
                        const Clock& clock) {
  model::initObjectMeta(obj, strategy.info(), clock);
  strategy.prepareForCreate(obj, clock);
  auto causes = strategy.validate(obj);
  EXPECT_TRUE(causes.empty()) << (causes.empty() ? "" : causes[0].field + ": " + causes[0].message);
  return s.create(strategy.info().plural, obj);
}

class ControllerTest : public ::testing::Test {
 protected:
  ControllerTest()
      : store_(store::openStore("sqlite:" + (dir_.path() / "store.db").string())),
        master_(crypto::MasterKey::generate()),
        tokens_(master_),
        table_(rt_) {
    std::filesystem::create_directories(serversDir() / "echo");
    std::ofstream(serversDir() / "echo" / "server.js") << "// test\n";
    answerProbes(prober_, healthy_);
  }

  std::filesystem::path serversDir() const { return dir_.path() / "servers"; }

  reconciler::ControllerOptions options(uint16_t lo = 41000, uint16_t hi = 41100) const {
    reconciler::ControllerOptions o;
    o.node = "node-a";
    o.dataDir = dir_.path() / "data";
    o.mcpServersDir = serversDir();
    o.portLo = lo;
    o.portHi = hi;
    o.gatewayBase = "https://127.0.0.1:7443";
    o.workers = 2;
    o.portChecker = std::make_shared<AllFreePorts>();
    o.hostProcesses = host_;
    return o;
  }

  std::unique_ptr<reconciler::Controller> makeController(reconciler::ControllerOptions o) {
    return std::make_unique<reconciler::Controller>(std::move(o), *store_, rt_, prober_, tokens_,
                                                    clock_);
  }
  std::unique_ptr<reconciler::Controller> makeController() { return makeController(options()); }

  json createType(json spec = nullptr) {
    if (spec.is_null()) {
      spec = {{"server", {{"command", "sh"}, {"args", {"echo/server.js", "--flag"}}}},
              {"config", {{"a", 1}, {"nested", {{"x", 1}, {"y", 2}}}}},
              {"env", {{{"name", "TYPE_VAR"}, {"value", "t"}}}},
              {"resources", {{"cpu", "250m"}, {"memory", "128Mi"}}},
              {"healthCheck", {{"periodSeconds", 5}, {"timeoutSeconds", 2}}},
              {"stopGracePeriodSeconds", 3}};
    }
    return storeObject(*store_, model::mcpTypeStrategy(),
                       {{"metadata", {{"name", "echo"}}}, {"spec", spec}}, clock_);
  }

  json createInstance(const std::string& name, json spec = json::object()) {
    if (!spec.contains("type")) spec["type"] = "echo";
    return storeObject(*store_, model::mcpInstanceStrategy(),
                       {{"metadata", {{"name", name}, {"namespace", "alice"}}}, {"spec", spec}},
                       clock_);
  }

  json instance(const std::string& name) {
    auto obj = store_->get("mcpinstances", "alice", name);
    return obj ? *obj : json();
  }
  json status(const std::string& name) { return instance(name).value("status", json::object()); }

  std::string condition(const std::string& name, const std::string& type,
                        const std::string& field = "status") {
    for (const auto& c : status(name).value("conditions", json::array())) {
      if (c.value("type", "") == type) return c.value(field, "");
    }
    return "";
  }

  std::vector<json> events() { return store_->list("events", {.ns = "alice"}).items; }
  std::vector<json> eventsWithReason(const std::string& reason) {
    std::vector<json> out;
    for (auto& e : events()) {
      if (e.value("reason", "") == reason) out.push_back(e);
    }
    return out;
  }

  // Reconciles until `pred` holds (probe results and exits arrive on other threads).
  template <class Pred>
  bool reconcileUntil(reconciler::Controller& c, const std::string& key, Pred pred,
                      std::chrono::milliseconds timeout = 5000ms) {
    return eventually(
        [&] {
          c.reconcile(key);
          return pred();
        },
        timeout);
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  crypto::MasterKey master_;
  crypto::InstanceTokens tokens_;
  // The instance dir as /proc/PID/cwd would show it.
  std::string instanceDirOf(const std::string& name, const std::string& ns = "alice") const {
    return (std::filesystem::weakly_canonical(dir_.path() / "data" / "instances") / ns / name)
        .string();
  }
  // A live process on the fake host with every mark of the stored instance `name`.
  runtime::ProcessInfo hostProcessOf(const std::string& name, pid_t pid, uint64_t startTime) {
    runtime::ProcessInfo p;
    p.pid = pid;
    p.startTime = startTime;
    p.ppid = 1;
    p.pgrp = pid;
    p.session = pid;
    p.realUid = 65534;
    p.cwd = instanceDirOf(name);
    p.mcpId = instance(name)["metadata"].value("uid", "");
    return p;
  }

  ::testing::NiceMock<MockProcessRuntime> rt_;
  std::shared_ptr<FakeHostProcesses> host_ = std::make_shared<FakeHostProcesses>();
  FakeProcessTable table_;
  ::testing::NiceMock<MockHealthProber> prober_;
  std::atomic<bool> healthy_{true};
};

}  // namespace minimcp::test
