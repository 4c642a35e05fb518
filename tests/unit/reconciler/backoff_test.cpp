#include "reconciler/backoff.h"

#include <gtest/gtest.h>

namespace minimcp::reconciler {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(CrashLoopBackoff, FirstRestartAtOnceThenDoublingFromOneSecondCappedAtFiveMinutes) {
  CrashLoopBackoff b;
  const std::vector<seconds> want = {seconds(0),   seconds(1),   seconds(2),   seconds(4),
                                     seconds(8),   seconds(16),  seconds(32),  seconds(64),
                                     seconds(128), seconds(256), seconds(300), seconds(300)};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(b.delayFor(int(i) + 1), want[i]) << "crash " << i + 1;
  }
  EXPECT_EQ(b.delayFor(0), milliseconds(0));
  EXPECT_EQ(b.delayFor(1000000), seconds(300));  // no overflow however long it loops
}

TEST(CrashLoopBackoff, ResetsAfterTenMinutesHealthy) {
  CrashLoopBackoff b;
  EXPECT_FALSE(b.shouldReset(minutes(10) - milliseconds(1)));
  EXPECT_TRUE(b.shouldReset(minutes(10)));
  EXPECT_EQ(b.nextCrashCount(6, minutes(9)), 7);
  EXPECT_EQ(b.nextCrashCount(6, minutes(10)), 1);
  EXPECT_EQ(b.nextCrashCount(0, milliseconds(0)), 1);
  EXPECT_EQ(b.delayFor(b.nextCrashCount(6, minutes(11))), milliseconds(0));
}

TEST(CrashLoopBackoff, CustomSchedule) {
  CrashLoopBackoff b(milliseconds(100), seconds(1), seconds(5));
  EXPECT_EQ(b.delayFor(2), milliseconds(100));
  EXPECT_EQ(b.delayFor(5), milliseconds(800));
  EXPECT_EQ(b.delayFor(6), seconds(1));
  EXPECT_TRUE(b.shouldReset(seconds(5)));
}

}  // namespace
}  // namespace minimcp::reconciler
