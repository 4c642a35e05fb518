#include "reconciler/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/unit/reconciler/fake_clock.h"

namespace minimcp::reconciler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::FakeClock;

constexpr milliseconds kWait{2000};  // upper bound for anything expected to happen
constexpr milliseconds kShort{50};   // for "nothing arrives" checks

TEST(WorkQueue, DeduplicatesWaitingKeys) {
  SystemClock clock;
  WorkQueue q(clock);
  q.add("a/x");
  q.add("a/y");
  q.add("a/x");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(q.getFor(kWait), "a/x");
  EXPECT_EQ(q.getFor(kWait), "a/y");
  EXPECT_EQ(q.getFor(kShort), std::nullopt);
}

TEST(WorkQueue, KeyReaddedWhileProcessingComesBackAfterDone) {
  SystemClock clock;
  WorkQueue q(clock);
  q.add("k");
  ASSERT_EQ(q.getFor(kWait), "k");
  q.add("k");
  q.add("k");
  EXPECT_EQ(q.len(), 0u);  // not handed out while in process
  EXPECT_EQ(q.getFor(kShort), std::nullopt);
  q.done("k");
  EXPECT_EQ(q.getFor(kWait), "k");  // once, though added twice
  q.done("k");
  EXPECT_EQ(q.getFor(kShort), std::nullopt);
}

TEST(WorkQueue, NeverSameKeyOnTwoWorkers) {
  SystemClock clock;
  WorkQueue q(clock);
  std::mutex mu;
  std::set<std::string> inFlight;
  std::map<std::string, int> processed;
  std::atomic<bool> overlap{false};
  std::atomic<int> total{0};

  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto key = q.get()) {
        {
          std::lock_guard lock(mu);
          if (!inFlight.insert(*key).second) overlap = true;
        }
        std::this_thread::yield();  // widen the window a concurrent hand-out would hit
        {
          std::lock_guard lock(mu);
          inFlight.erase(*key);
          ++processed[*key];
        }
        ++total;
        q.done(*key);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < 3; ++p) {
    producers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) q.add("ns/key" + std::to_string(i % 5));
    });
  }
  for (auto& t : producers) t.join();
  // Every key's last add must be processed: wait until the queue is drained.
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (q.len() == 0 && inFlight.empty() && processed.size() == 5) break;
    }
    std::this_thread::yield();
  }
  q.shutdown();
  for (auto& t : workers) t.join();
  EXPECT_FALSE(overlap);
  EXPECT_EQ(processed.size(), 5u);
  EXPECT_LE(total.load(), 6000);
}

TEST(WorkQueue, DelayedAddsComeOutInTimeOrder) {
  SystemClock clock;
  WorkQueue q(clock);
  const auto start = std::chrono::steady_clock::now();
  q.addAfter("late", milliseconds(120));
  q.addAfter("early", milliseconds(40));
  q.addAfter("mid", milliseconds(80));
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.delayedLen(), 3u);
  EXPECT_EQ(q.getFor(kWait), "early");
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(40));
  EXPECT_EQ(q.getFor(kWait), "mid");
  EXPECT_EQ(q.getFor(kWait), "late");
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(120));
}

TEST(WorkQueue, DelayedAddKeepsEarliestTime) {
  SystemClock clock;
  WorkQueue q(clock);
  q.addAfter("k", seconds(60));
  q.addAfter("k", milliseconds(20));  // sooner wins
  q.addAfter("k", seconds(30));       // later is ignored
  EXPECT_EQ(q.delayedLen(), 1u);
  EXPECT_EQ(q.getFor(kWait), "k");
  q.done("k");
  EXPECT_EQ(q.delayedLen(), 0u);
  EXPECT_EQ(q.getFor(kShort), std::nullopt);
}

TEST(WorkQueue, DelayedAddWakesABlockedWorker) {
  SystemClock clock;
  WorkQueue q(clock);
  std::optional<std::string> got;
  std::thread worker([&] { got = q.getFor(kWait); });
  q.addAfter("k", milliseconds(30));
  worker.join();
  EXPECT_EQ(got, "k");
}

TEST(WorkQueue, ZeroDelayIsImmediate) {
  SystemClock clock;
  WorkQueue q(clock);
  q.addAfter("k", milliseconds(0));
  EXPECT_EQ(q.len(), 1u);
}

TEST(WorkQueue, RateLimitedBackoffDoublesFromFiveMsToThousandSeconds) {
  FakeClock clock;  // only delays are computed here; nothing waits
  WorkQueue q(clock);
  EXPECT_EQ(q.nextBackoff("k"), milliseconds(5));
  std::vector<milliseconds> seen;
  for (int i = 0; i < 20; ++i) {
    seen.push_back(q.nextBackoff("k"));
    q.addRateLimited("k");
  }
  EXPECT_EQ(q.numRequeues("k"), 20);
  EXPECT_EQ(seen[0], milliseconds(5));
  EXPECT_EQ(seen[1], milliseconds(10));
  EXPECT_EQ(seen[2], milliseconds(20));
  EXPECT_EQ(seen[10], milliseconds(5120));
  EXPECT_EQ(seen[18], seconds(1000));  // 5 ms * 2^18 = 1310 s, capped
  EXPECT_EQ(seen[19], seconds(1000));
  EXPECT_EQ(q.nextBackoff("other"), milliseconds(5));  // per key

  q.forget("k");
  EXPECT_EQ(q.numRequeues("k"), 0);
  EXPECT_EQ(q.nextBackoff("k"), milliseconds(5));
}

TEST(WorkQueue, RateLimitedAddArrivesAfterItsBackoff) {
  SystemClock clock;
  WorkQueue q(clock, milliseconds(30), seconds(1));
  const auto start = std::chrono::steady_clock::now();
  q.addRateLimited("k");
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.getFor(kWait), "k");
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
}

TEST(WorkQueue, ShutdownWakesAllWorkersAndRefusesAdds) {
  SystemClock clock;
  WorkQueue q(clock);
  std::atomic<int> finished{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      EXPECT_EQ(q.get(), std::nullopt);
      ++finished;
    });
  }
  q.addAfter("never", seconds(3600));
  q.shutdown();
  for (auto& t : workers) t.join();
  EXPECT_EQ(finished, 3);
  EXPECT_TRUE(q.shuttingDown());
  q.add("k");
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.getFor(kShort), std::nullopt);
}

TEST(WorkQueue, GetForTimesOut) {
  SystemClock clock;
  WorkQueue q(clock);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(q.getFor(milliseconds(30)), std::nullopt);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
}

}  // namespace
}  // namespace minimcp::reconciler
