#include "api/client/text_diff.h"

#include <gtest/gtest.h>

namespace minimcp::client {
namespace {

TEST(UnifiedDiff, EqualIsEmpty) { EXPECT_EQ(unifiedDiff("a\nb\n", "a\nb\n", "x", "y"), ""); }

TEST(UnifiedDiff, OneChangeWithContext) {
  std::string from = "a\nb\nc\nd\ne\nf\ng\nh\n";
  std::string to = "a\nb\nc\nd\nE\nf\ng\nh\n";
  EXPECT_EQ(unifiedDiff(from, to, "LIVE/x", "MERGED/x"),
            "--- LIVE/x\n+++ MERGED/x\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n");
}

TEST(UnifiedDiff, NewFile) {
  EXPECT_EQ(unifiedDiff("", "a\nb\n", "L", "M"), "--- L\n+++ M\n@@ -0,0 +1,2 @@\n+a\n+b\n");
}

TEST(UnifiedDiff, DistantChangesMakeTwoHunks) {
  std::string from, to;
  for (int i = 0; i < 20; ++i) {
    from += std::to_string(i) + "\n";
    to += (i == 2 || i == 17 ? "x" : std::to_string(i)) + "\n";
  }
  std::string d = unifiedDiff(from, to, "L", "M", 1);
  EXPECT_EQ(
      d, "--- L\n+++ M\n@@ -2,3 +2,3 @@\n 1\n-2\n+x\n 3\n@@ -17,3 +17,3 @@\n 16\n-17\n+x\n 18\n");
}

}  // namespace
}  // namespace minimcp::client
