// BeastHealthProber and ProbeScheduler against a tiny local HTTP listener.
#include "reconciler/runtime/health_prober.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reconciler/runtime/listening_ports.h"

namespace minimcp::runtime {
namespace {

using namespace std::chrono_literals;

// One-thread HTTP listener on 127.0.0.1: answers every request with `status`, or holds the
// connection without a reply when status is 0.
class TinyServer {
 public:
  explicit TinyServer(int status) : status_(status) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyServer() {
    stop_ = true;
    thread_.join();
    for (int c : held_) ::close(c);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::string lastRequest() {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;  // wakes up to notice stop_
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[2048];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard lock(mu_);
        last_ = req;
      }
      if (status_ == 0) {
        held_.push_back(c);
        continue;
      }
      std::string body = status_ == 200 ? "ok" : "broken";
      std::string resp = "HTTP/1.1 " + std::to_string(status_) +
                         " X\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\nConnection: close\r\n\r\n" + body;
      ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  int status_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<int> held_;
  std::mutex mu_;
  std::string last_;
};

// Runs one probe and waits (bounded) for its result.
std::optional<ProbeResult> probeOnce(HealthProber& prober, const ProbeTarget& target,
                                     std::chrono::milliseconds timeout) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<ProbeResult> result;
  int calls = 0;
  prober.probe(target, timeout, [&](const ProbeResult& r) {
    std::lock_guard lock(mu);
    result = r;
    ++calls;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait_for(lock, timeout + 2s, [&] { return calls > 0; });
  EXPECT_LE(calls, 1);
  return result;
}

ProbeTarget target(uint16_t port) {
  ProbeTarget t;
  t.port = port;
  t.path = "/health";
  return t;
}

TEST(HealthProberTest, Status200IsHealthy) {
  TinyServer server(200);
  BeastHealthProber prober;
  auto t = target(server.port());
  t.headers = {{"Authorization", "Bearer instance-token"}};
  auto r = probeOnce(prober, t, 2s);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->healthy);
  EXPECT_EQ(r->statusCode, 200);
  EXPECT_EQ(r->error, "");
  EXPECT_LT(r->latency, 2s);
  std::string req = server.lastRequest();
  EXPECT_EQ(req.rfind("GET /health HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("Authorization: Bearer instance-token"), std::string::npos);
}

TEST(HealthProberTest, Status500IsUnhealthy) {
  TinyServer server(500);
  BeastHealthProber prober;
  auto r = probeOnce(prober, target(server.port()), 2s);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->healthy);
  EXPECT_EQ(r->statusCode, 500);
}

TEST(HealthProberTest, NoReplyTimesOut) {
  TinyServer server(0);
  BeastHealthProber prober;
  auto started = std::chrono::steady_clock::now();
  auto r = probeOnce(prober, target(server.port()), 300ms);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->healthy);
  EXPECT_EQ(r->statusCode, 0);
  EXPECT_EQ(r->error, "timeout");
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
}

TEST(HealthProberTest, ClosedPortIsUnhealthy) {
  uint16_t port;
  { port = TinyServer(200).port(); }  // bound once, now closed
  BeastHealthProber prober;
  auto r = probeOnce(prober, target(port), 1s);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->healthy);
  EXPECT_FALSE(r->error.empty());
}

TEST(HealthProberTest, ANameIsNotProbed) {
  TinyServer server(200);
  BeastHealthProber prober;
  auto t = target(server.port());
  t.host = "localhost";
  auto r = probeOnce(prober, t, 2s);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->healthy);
  EXPECT_EQ(r->error, "not an IP address: localhost");
}

TEST(HealthProberTest, DestructionCompletesProbesInFlight) {
  TinyServer server(0);
  std::atomic<int> calls{0};
  std::string error;
  {
    BeastHealthProber prober;
    prober.probe(target(server.port()), 10s, [&](const ProbeResult& r) {
      error = r.error;
      ++calls;
    });
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(error, "shutdown");
}

TEST(ProbeSchedulerTest, ProbesPeriodicallyUntilStopped) {
  TinyServer server(200);
  BeastHealthProber prober;
  ProbeScheduler scheduler(prober);
  std::mutex mu;
  std::condition_variable cv;
  int results = 0;
  scheduler.start("ns/a", target(server.port()), 50ms, 1s,
                  [&](const std::string& key, const ProbeResult& r) {
                    EXPECT_EQ(key, "ns/a");
                    EXPECT_TRUE(r.healthy);
                    std::lock_guard lock(mu);
                    ++results;
                    cv.notify_all();
                  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return results >= 3; }));
  }
  scheduler.stop("ns/a");
  int after;
  {
    std::lock_guard lock(mu);
    after = results;
  }
  // Nothing arrives after stop(): give it several periods to prove it.
  std::unique_lock lock(mu);
  EXPECT_FALSE(cv.wait_for(lock, 300ms, [&] { return results > after; }));
}

TEST(ProbeSchedulerTest, StopFromTheCallbackIsAllowed) {
  TinyServer server(500);
  BeastHealthProber prober;
  ProbeScheduler scheduler(prober);
  std::mutex mu;
  std::condition_variable cv;
  int failures = 0;
  // The reconciler's use: count failures, give up at the threshold.
  scheduler.start("ns/b", target(server.port()), 20ms, 1s,
                  [&](const std::string& key, const ProbeResult& r) {
                    EXPECT_FALSE(r.healthy);
                    std::lock_guard lock(mu);
                    if (++failures == 3) scheduler.stop(key);
                    cv.notify_all();
                  });
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return failures >= 3; }));
  EXPECT_FALSE(cv.wait_for(lock, 200ms, [&] { return failures > 3; }));
}

// A socket bound to a free loopback port, listening only when told: a server that starts.
class LateListener {
 public:
  LateListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~LateListener() { ::close(fd_); }
  void listen() { ::listen(fd_, 4); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(ListeningPortsTest, ListsListeningSocketsOnly) {
  LateListener late;
  auto before = listeningTcpPorts();
  ASSERT_TRUE(before) << "no sock_diag on this host";
  EXPECT_FALSE(before->count(late.port())) << "bound, not listening";
  late.listen();
  auto after = listeningTcpPorts();
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->count(late.port()));
}

// Answers every probe at once as healthy and counts them; listening ports as the Beast
// prober sees them.
class CountingProber : public HealthProber {
 public:
  std::optional<std::set<uint16_t>> listeningPorts() override { return listeningTcpPorts(); }
  void probe(const ProbeTarget&, std::chrono::milliseconds, Callback callback) override {
    {
      std::lock_guard lock(mu);
      ++probes;
    }
    ProbeResult r;
    r.healthy = true;
    r.statusCode = 200;
    callback(r);
  }
  int count() {
    std::lock_guard lock(mu);
    return probes;
  }
  std::mutex mu;
  int probes = 0;
};

TEST(ProbeSchedulerTest, UntilListeningSendsNothingBeforeThePortListens) {
  LateListener late;
  CountingProber prober;
  ProbeScheduler scheduler(prober);
  std::mutex mu;
  std::condition_variable cv;
  int results = 0;
  scheduler.start(
      "ns/late", target(late.port()), 10ms, 1s,
      [&](const std::string&, const ProbeResult&) {
        std::lock_guard lock(mu);
        ++results;
        cv.notify_all();
      },
      /*untilListening=*/true);
  {
    // Twenty rounds without a listener: no request, no result.
    std::unique_lock lock(mu);
    EXPECT_FALSE(cv.wait_for(lock, 200ms, [&] { return results > 0; }));
  }
  EXPECT_EQ(prober.count(), 0);
  late.listen();
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 2s, [&] { return results >= 2; })) << "probes once it listens";
  lock.unlock();
  scheduler.stop("ns/late");
}

}  // namespace
}  // namespace minimcp::runtime
