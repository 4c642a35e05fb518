// clang-format off
#include <utility>
// clang-format on

#include "api/server/deadline.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

namespace minimcp::server {
namespace {

using namespace std::chrono_literals;
namespace net = boost::asio;
using Executor = net::io_context::executor_type;

// A connection's stand-in: owns the deadline and counts its expiries.
struct Owner {
  explicit Owner(net::io_context& ioc) : deadline(ioc.get_executor()) {}
  Deadline<Executor> deadline;
  int expired = 0;
};

struct DeadlineTest : ::testing::Test {
  net::io_context ioc{1};
  std::shared_ptr<Owner> owner = std::make_shared<Owner>(ioc);

  void SetUp() override {
    owner->deadline.bind(owner, [o = owner.get()] { ++o->expired; });
  }
  // Runs the event loop for `d` (every wait below is bounded by it).
  void runFor(std::chrono::milliseconds d) {
    ioc.restart();
    ioc.run_for(d);
  }
  // Runs the event loop until `done` or `limit`.
  template <class Pred>
  bool runUntil(Pred done, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) runFor(10ms);
    return done();
  }
};

TEST_F(DeadlineTest, AnArmedStepExpiresOnceAtItsDeadline) {
  const auto start = std::chrono::steady_clock::now();
  owner->deadline.arm(50ms);
  ASSERT_TRUE(runUntil([&] { return owner->expired > 0; }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  runFor(150ms);
  EXPECT_EQ(owner->expired, 1);  // not again without a new arm()
}

TEST_F(DeadlineTest, ALaterDeadlineWaitsOnForTheRest) {
  const auto start = std::chrono::steady_clock::now();
  owner->deadline.arm(30ms);
  owner->deadline.arm(200ms);  // the pending 30 ms wait is kept and waits on when it ends
  ASSERT_TRUE(runUntil([&] { return owner->expired > 0; }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
}

TEST_F(DeadlineTest, AnEarlierDeadlineSetsTheWaitAgain) {
  const auto start = std::chrono::steady_clock::now();
  owner->deadline.arm(10s);
  owner->deadline.arm(40ms);
  ASSERT_TRUE(runUntil([&] { return owner->expired > 0; }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(DeadlineTest, ADisarmedOrStoppedDeadlineNeverExpires) {
  owner->deadline.arm(30ms);
  owner->deadline.disarm();
  runFor(120ms);
  EXPECT_EQ(owner->expired, 0);
  owner->deadline.arm(30ms);  // armed again: it counts
  ASSERT_TRUE(runUntil([&] { return owner->expired == 1; }));
  owner->deadline.arm(30ms);
  owner->deadline.stop();
  runFor(120ms);
  EXPECT_EQ(owner->expired, 1);
}

TEST_F(DeadlineTest, NothingRunsOnceTheOwnerIsGone) {
  int expired = 0;
  auto other = std::make_shared<Owner>(ioc);
  other->deadline.bind(other, [&expired] { ++expired; });
  other->deadline.arm(20ms);
  std::weak_ptr<Owner> weak = other;
  // The owner goes while its wait is pending, as a session does when its connection ends.
  net::post(ioc, [&other] { other.reset(); });
  runFor(120ms);
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(expired, 0);
}

}  // namespace
}  // namespace minimcp::server
