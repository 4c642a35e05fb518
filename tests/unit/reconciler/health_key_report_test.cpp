// What the prober takes from a healthy /health answer about the instance's key.
#include <gtest/gtest.h>

#include <string>

#include "reconciler/runtime/health_prober.h"

namespace minimcp::runtime {
namespace {

TEST(KeyRejectionOf, ReadsOnlyAnExplicitRefusal) {
  struct Case {
    std::string body;
    std::string want;
  };
  const std::string longReason(200, 'R');
  const Case cases[] = {
      {R"({"status":"healthy","mcpId":"x","uptimeSeconds":1})", ""},
      {R"({"status":"healthy","key":{"available":false,"reason":"RefreshTokenRejected"}})",
       "RefreshTokenRejected"},
      {R"({"status":"degraded","key":{"available":false}})", "KeyRejected"},
      {R"({"key":{"available":false,"reason":""}})", "KeyRejected"},
      {R"({"key":{"available":false,"reason":42}})", "KeyRejected"},
      {R"({"key":{"available":true,"reason":"RefreshTokenRejected"}})", ""},
      {R"({"key":{"available":"false"}})", ""},
      {R"({"key":"rejected"})", ""},
      {R"(["key"])", ""},
      {R"({"key": {"available": false, "reason": ")" + longReason + R"("}})",
       std::string(kMaxKeyReasonBytes, 'R')},
      {"not json \"key\"", ""},
      {"", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(keyRejectionOf(c.body), c.want) << c.body;
}

}  // namespace
}  // namespace minimcp::runtime
