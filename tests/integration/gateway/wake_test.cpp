// Wake on request in the gateway: a request to an Idle instance is held (a deferred answer, no
// server thread waits) while the controller's side wakes it, then proxied to the real echo
// server; a wake that fails or takes longer than wakeTimeout answers 503 with Retry-After and a
// JSON-RPC error body; the gateway authorises before it wakes anything. The controller's side is
// a fake here (WakingUpstreams): the reconciler's part is covered by the e2e tests.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "api/client/http_client.h"
#include "api/gateway/gateway.h"
#include "tests/e2e/cli/mcpd_process.h"
#include "tests/integration/gateway/gateway_harness.h"

namespace minimcp {
namespace {

using nlohmann::json;
using namespace gwtest;  // NOLINT: the harness is this test's vocabulary

constexpr const char* kInitialize =
    R"({"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
    R"("capabilities":{},"clientInfo":{"name":"raw","version":"0"}}})";

// The controller's side, faked: `wake` is counted; how it answers is the test's choice.
class WakingUpstreams : public gateway::LocalUpstreams {
 public:
  enum class Mode { Never, ReadyAfter, Fail };

  std::optional<uint16_t> port(const std::string& key) const override {
    std::lock_guard lock(mu_);
    auto it = ports_.find(key);
    if (it == ports_.end()) return std::nullopt;
    return it->second;
  }
  bool wake(const std::string& key, WakeDone done) const override {
    std::lock_guard lock(mu_);
    ++wakes_;
    if (mode_ == Mode::Fail) {
      done("its start failed: exit code 1");
      return true;
    }
    waiters_.push_back({key, std::move(done)});
    if (mode_ == Mode::ReadyAfter && !starting_) {
      // One start for every caller, as the controller does.
      starting_ = true;
      ++starts_;
      threads_.emplace_back([this, key] {
        std::this_thread::sleep_for(delay_);  // the fake's start-up time, not a synchronisation
        std::vector<std::pair<std::string, WakeDone>> ready;
        {
          std::lock_guard lock(mu_);
          ports_[key] = readyPort_;
          ready.swap(waiters_);
        }
        for (auto& [k, d] : ready) d("");
      });
    }
    return true;
  }
  void wakeTimedOut(const std::string&) const override { ++timeouts_; }

  void mode(Mode m, uint16_t readyPort = 0,
            std::chrono::milliseconds delay = std::chrono::milliseconds(200)) {
    std::lock_guard lock(mu_);
    mode_ = m;
    readyPort_ = readyPort;
    delay_ = delay;
  }
  int wakes() const { return wakes_; }
  int starts() const { return starts_; }
  int timeouts() const { return timeouts_; }
  ~WakingUpstreams() override {
    for (auto& t : threads_) t.join();
  }

 private:
  mutable std::mutex mu_;
  mutable std::map<std::string, uint16_t> ports_;
  mutable std::vector<std::pair<std::string, WakeDone>> waiters_;
  mutable std::vector<std::thread> threads_;
  mutable std::atomic<int> wakes_{0}, starts_{0}, timeouts_{0};
  mutable bool starting_ = false;
  Mode mode_ = Mode::Never;
  uint16_t readyPort_ = 0;
  std::chrono::milliseconds delay_{200};
};

// An API server with the gateway (wakeTimeout `timeout`) in front of `upstreams`, an echo server,
// and the Idle instance alice/sleepy.
struct Rig : GatewayHost<WakingUpstreams> {
  std::unique_ptr<EchoServer> echo;

  explicit Rig(std::chrono::milliseconds timeout)
      : GatewayHost("minimcp-gateway-wake", options(timeout)) {
    echo = std::make_unique<EchoServer>(findOnPath("node"), tmp.path() + "/echo.log",
                                        tokens->issue("uid-sleepy", 0));
    server->store().create("mcpinstances",
                           instance("alice", "sleepy", "uid-sleepy", std::nullopt, "Idle"));
  }
  ~Rig() { echo.reset(); }

  static gateway::GatewayOptions options(std::chrono::milliseconds wakeTimeout) {
    gateway::GatewayOptions go;
    go.wakeTimeout = wakeTimeout;
    return go;
  }

  client::Response post(const std::string& token) const {
    client::HttpClient http(as(token));
    return http.request(
        "POST", "/mcp/alice/sleepy", kInitialize,
        {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}},
        std::chrono::seconds(60));
  }
};

std::string rpcErrorMessage(const client::Response& r) {
  json b = json::parse(r.body, nullptr, false);
  if (!b.is_object() || b.value("jsonrpc", "") != "2.0" || !b.contains("error")) {
    return "(not a JSON-RPC error) " + r.body;
  }
  EXPECT_EQ(b["id"], 7) << r.body;  // the caller's id
  return b["error"].value("message", "");
}

TEST(GatewayWake, HeldUntilTheWakeTimesOutThen503WithRetryAfter) {
  Rig rig(std::chrono::milliseconds(400));
  rig.upstreams.mode(WakingUpstreams::Mode::Never);
  const auto start = std::chrono::steady_clock::now();
  auto r = rig.post(rig.aliceToken);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_FALSE(r.headers["retry-after"].empty());
  EXPECT_NE(rpcErrorMessage(r).find("did not become ready within 400 ms"), std::string::npos)
      << r.body;
  EXPECT_GE(took, std::chrono::milliseconds(400));  // held, not refused at once
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_EQ(rig.upstreams.wakes(), 1);
  EXPECT_TRUE(
      testing::waitUntil([&] { return rig.upstreams.timeouts() == 1; }, std::chrono::seconds(5)));
}

TEST(GatewayWake, AFailedStartIs503AtOnce) {
  Rig rig(std::chrono::seconds(20));
  rig.upstreams.mode(WakingUpstreams::Mode::Fail);
  const auto start = std::chrono::steady_clock::now();
  auto r = rig.post(rig.aliceToken);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_FALSE(r.headers["retry-after"].empty());
  EXPECT_NE(rpcErrorMessage(r).find("could not be woken: its start failed"), std::string::npos)
      << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(GatewayWake, ConcurrentRequestsAreHeldAndAllProxiedOnceItServes) {
  Rig rig(std::chrono::seconds(20));
  rig.upstreams.mode(WakingUpstreams::Mode::ReadyAfter, rig.echo->port(),
                     std::chrono::milliseconds(300));
  std::vector<std::future<client::Response>> calls;
  for (int i = 0; i < 20; ++i) {
    calls.push_back(std::async(std::launch::async, [&] { return rig.post(rig.aliceToken); }));
  }
  for (auto& f : calls) {
    auto r = f.get();
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("\"serverInfo\""), std::string::npos) << r.body;
  }
  EXPECT_EQ(rig.upstreams.starts(), 1);
  EXPECT_EQ(rig.upstreams.timeouts(), 0);
}

TEST(GatewayWake, AnotherNamespacesTokenWakesNothing) {
  Rig rig(std::chrono::seconds(20));
  rig.upstreams.mode(WakingUpstreams::Mode::ReadyAfter, rig.echo->port());
  auto r = rig.post(rig.bobToken);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(rig.upstreams.wakes(), 0);
}

TEST(GatewayWake, WithoutAControllerIs503) {
  GatewayHost<gateway::NoLocalUpstreams> host("minimcp-gateway-nowake",
                                              Rig::options(std::chrono::seconds(20)));
  host.server->store().create("mcpinstances",
                              instance("alice", "sleepy", "uid-sleepy", std::nullopt, "Idle"));
  client::HttpClient http(host.conn);
  auto r = http.request("POST", "/mcp/alice/sleepy", kInitialize,
                        {{"Content-Type", "application/json"}});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_FALSE(r.headers["retry-after"].empty());
}

}  // namespace
}  // namespace minimcp
