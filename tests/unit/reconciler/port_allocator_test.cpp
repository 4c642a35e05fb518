#include "reconciler/port_allocator.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <thread>

namespace minimcp::reconciler {
namespace {

// Every port is free except the ones listed; records what was checked.
class FakeChecker : public PortChecker {
 public:
  std::set<uint16_t> taken;
  std::vector<uint16_t> checked;
  bool isFree(uint16_t port) override {
    checked.push_back(port);
    return !taken.count(port);
  }
};

TEST(PortAllocator, ReservesDistinctPortsAndIsIdempotentPerKey) {
  auto checker = std::make_shared<FakeChecker>();
  PortAllocator a(20000, 20002, checker);
  const uint16_t p1 = a.reserve("alice/a");
  const uint16_t p2 = a.reserve("alice/b");
  EXPECT_NE(p1, p2);
  EXPECT_EQ(a.reserve("alice/a"), p1);
  EXPECT_EQ(a.portOf("alice/b"), p2);
  EXPECT_EQ(a.holderOf(p1), "alice/a");
  EXPECT_EQ(a.inUse(), 2u);
}

TEST(PortAllocator, ExhaustionIsAnError) {
  PortAllocator a(20000, 20001, std::make_shared<FakeChecker>());
  a.reserve("a");
  a.reserve("b");
  EXPECT_THROW(a.reserve("c"), PortsExhausted);
  EXPECT_EQ(a.inUse(), 2u);
}

TEST(PortAllocator, SkipsPortsTheBindCheckRejects) {
  auto checker = std::make_shared<FakeChecker>();
  checker->taken = {20000, 20001};
  PortAllocator a(20000, 20003, checker);
  EXPECT_EQ(a.reserve("a"), 20002);
  EXPECT_EQ(a.reserve("b"), 20003);
  EXPECT_THROW(a.reserve("c"), PortsExhausted);
}

TEST(PortAllocator, ReusedOnlyAfterReleaseAndLast) {
  PortAllocator a(20000, 20002, std::make_shared<FakeChecker>());
  const uint16_t p = a.reserve("a");
  a.release(p);
  EXPECT_EQ(a.portOf("a"), std::nullopt);
  // A released port is the last candidate: the others come first.
  EXPECT_NE(a.reserve("b"), p);
  EXPECT_NE(a.reserve("c"), p);
  EXPECT_EQ(a.reserve("d"), p);
  a.releaseKey("d");
  EXPECT_EQ(a.holderOf(p), std::nullopt);
  a.release(p);  // releasing a free port is harmless
}

TEST(PortAllocator, MarkUsedRestoresAndRefusesAnotherKeysPort) {
  auto checker = std::make_shared<FakeChecker>();
  PortAllocator a(20000, 20002, checker);
  EXPECT_TRUE(a.markUsed(20001, "alice/a"));
  EXPECT_TRUE(a.markUsed(20001, "alice/a"));   // idempotent
  EXPECT_FALSE(a.markUsed(20001, "alice/b"));  // held by another key
  EXPECT_EQ(a.holderOf(20001), "alice/a");
  EXPECT_EQ(a.reserve("alice/a"), 20001);
  EXPECT_NE(a.reserve("alice/b"), 20001);
  EXPECT_TRUE(a.markUsed(30000, "alice/c"));  // outside the range: a running process keeps it
  EXPECT_EQ(a.portOf("alice/c"), 30000);
}

TEST(PortAllocator, MarkUsedMovesAKeyToItsRecordedPort) {
  PortAllocator a(20000, 20002, std::make_shared<FakeChecker>());
  const uint16_t p = a.reserve("k");
  const uint16_t other = p == 20000 ? 20001 : 20000;
  EXPECT_TRUE(a.markUsed(other, "k"));
  EXPECT_EQ(a.portOf("k"), other);
  EXPECT_EQ(a.holderOf(p), std::nullopt);
  EXPECT_EQ(a.inUse(), 1u);
}

TEST(PortAllocator, RejectsBadRange) {
  EXPECT_THROW(PortAllocator(20001, 20000), std::invalid_argument);
  EXPECT_THROW(PortAllocator(0, 10), std::invalid_argument);
}

TEST(PortAllocator, ConcurrentReservationsNeverShareAPort) {
  PortAllocator a(20000, 20999, std::make_shared<FakeChecker>());
  std::vector<std::thread> threads;
  std::vector<std::vector<uint16_t>> got(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i)
        got[t].push_back(a.reserve(std::to_string(t) + "/" + std::to_string(i)));
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint16_t> all;
  for (const auto& v : got) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 800u);
}

// Opens a listener on an ephemeral loopback port; returns fd and port.
std::pair<int, uint16_t> listenEphemeral() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1) != 0) {
    ::close(fd);
    return {-1, 0};
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return {fd, ntohs(addr.sin_port)};
}

TEST(BindPortChecker, SeesAListeningPortAsTakenAndAClosedOneAsFree) {
  auto [fd, port] = listenEphemeral();
  ASSERT_GE(fd, 0);
  BindPortChecker checker;
  EXPECT_FALSE(checker.isFree(port));
  ::close(fd);
  EXPECT_TRUE(checker.isFree(port));
}

TEST(PortAllocator, RealBindCheckRefusesAListeningPort) {
  auto [fd, port] = listenEphemeral();
  ASSERT_GE(fd, 0);
  PortAllocator a(port, port);  // BindPortChecker by default
  EXPECT_THROW(a.reserve("k"), PortsExhausted);
  ::close(fd);
  EXPECT_EQ(a.reserve("k"), port);
}

}  // namespace
}  // namespace minimcp::reconciler
