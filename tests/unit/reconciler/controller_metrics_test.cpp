#include "reconciler/controller_metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "tests/unit/reconciler/fake_clock.h"

namespace minimcp::reconciler {
namespace {

using std::chrono::milliseconds;
using test::FakeClock;

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(ControllerMetrics, ReconcileResultsUseControllerRuntimeNames) {
  metrics::Registry r;
  ControllerMetrics m(r, "mcpinstance");
  m.reconciled("success", 0.002);
  m.reconciled("error", 0.003);
  m.reconciled("requeue_after", 0.001);
  const std::string text = r.render();
  EXPECT_TRUE(has(
      text, R"(controller_runtime_reconcile_total{controller="mcpinstance",result="success"} 1)"));
  EXPECT_TRUE(has(
      text, R"(controller_runtime_reconcile_total{controller="mcpinstance",result="error"} 1)"));
  EXPECT_TRUE(has(
      text, R"(controller_runtime_reconcile_total{controller="mcpinstance",result="requeue"} 0)"));
  EXPECT_TRUE(
      has(text, R"(controller_runtime_reconcile_errors_total{controller="mcpinstance"} 1)"));
  EXPECT_TRUE(
      has(text, R"(controller_runtime_reconcile_time_seconds_count{controller="mcpinstance"} 3)"));
}

TEST(ControllerMetrics, InstancesMoveBetweenPhasesAndSeriesGoWithTheLastInstance) {
  metrics::Registry r;
  ControllerMetrics m(r, "mcpinstance");
  m.instance("a/x", "Starting", "echo");
  m.instance("a/y", "Starting", "echo");
  m.instance("a/x", "Running", "echo");
  m.instance("a/x", "Running", "echo");  // counted once
  std::string text = r.render();
  EXPECT_TRUE(has(text, R"(minimcp_instances{phase="Starting",type="echo"} 1)")) << text;
  EXPECT_TRUE(has(text, R"(minimcp_instances{phase="Running",type="echo"} 1)")) << text;
  m.instanceGone("a/y");
  m.instanceGone("a/unknown");
  text = r.render();
  EXPECT_EQ(text.find(R"(phase="Starting")"), std::string::npos) << text;
  EXPECT_TRUE(has(text, R"(minimcp_instances{phase="Running",type="echo"} 1)")) << text;
}

TEST(ControllerMetrics, RestartsByReason) {
  metrics::Registry r;
  ControllerMetrics m(r, "mcpinstance");
  m.restarted("Signal");
  m.restarted("Signal");
  m.restarted("Error");
  const std::string text = r.render();
  EXPECT_TRUE(has(text, R"(minimcp_instance_restarts_total{reason="Signal"} 2)")) << text;
  EXPECT_TRUE(has(text, R"(minimcp_instance_restarts_total{reason="Error"} 1)")) << text;
}

TEST(ControllerMetrics, WorkQueueReportsAddsDepthDurationsRetriesAndWorkInProgress) {
  metrics::Registry r;
  ControllerMetrics m(r, "mcpinstance");
  FakeClock clock;
  WorkQueue q(clock, milliseconds(5), std::chrono::seconds(1000), &m.queue());
  auto watch = m.watch(q);
  q.add("a/x");
  q.add("a/x");  // de-duplicated: not an add
  q.add("a/y");
  std::string text = r.render();
  EXPECT_TRUE(has(text, R"(workqueue_adds_total{name="mcpinstance"} 2)")) << text;
  EXPECT_TRUE(has(text, R"(workqueue_depth{name="mcpinstance"} 2)")) << text;

  clock.advance(milliseconds(50));
  ASSERT_EQ(q.getFor(milliseconds(0)), "a/x");
  clock.advance(std::chrono::seconds(3));
  text = r.render();
  EXPECT_TRUE(has(text, R"(workqueue_depth{name="mcpinstance"} 1)")) << text;
  EXPECT_TRUE(
      has(text, R"(workqueue_queue_duration_seconds_bucket{name="mcpinstance",le="0.01"} 0)"))
      << text;
  EXPECT_TRUE(
      has(text, R"(workqueue_queue_duration_seconds_bucket{name="mcpinstance",le="0.1"} 1)"))
      << text;
  EXPECT_TRUE(has(text, R"(workqueue_unfinished_work_seconds{name="mcpinstance"} 3)")) << text;
  EXPECT_TRUE(has(text, R"(workqueue_longest_running_processor_seconds{name="mcpinstance"} 3)"))
      << text;

  q.addRateLimited("a/x");
  q.done("a/x");
  text = r.render();
  EXPECT_TRUE(has(text, R"(workqueue_retries_total{name="mcpinstance"} 1)")) << text;
  EXPECT_TRUE(has(text, R"(workqueue_work_duration_seconds_bucket{name="mcpinstance",le="1"} 0)"))
      << text;
  EXPECT_TRUE(has(text, R"(workqueue_work_duration_seconds_bucket{name="mcpinstance",le="10"} 1)"))
      << text;
  EXPECT_TRUE(has(text, R"(workqueue_unfinished_work_seconds{name="mcpinstance"} 0)")) << text;
}

TEST(ControllerMetrics, ApplyToReadyIsTimedOncePerGenerationFromTheCloserMark) {
  metrics::Registry r;
  ControllerMetrics m(r, "mcpinstance");
  const TimePoint applied = TimePoint{} + std::chrono::hours(500000);
  const auto at = [&](double s) {
    return applied +
           std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(s));
  };
  // First seen 0.4 s after the (whole-second) apply time: timed from that first sight.
  m.readiness("a/x", "echo", 1, false, applied, at(0.4));
  m.readiness("a/x", "echo", 1, false, applied, at(1.0));
  m.readiness("a/x", "echo", 1, true, applied, at(2.4));
  m.readiness("a/x", "echo", 1, true, applied, at(9.0));  // still Ready: not again
  std::string text = r.render();
  EXPECT_TRUE(has(text, R"(minimcp_instance_apply_to_ready_seconds_count{type="echo"} 1)")) << text;
  EXPECT_TRUE(has(text, R"(minimcp_instance_apply_to_ready_seconds_sum{type="echo"} 2)")) << text;
  // Seen long after the apply (a queue backlog): timed from the apply.
  m.readiness("a/y", "echo", 1, false, applied, at(5));
  m.readiness("a/y", "echo", 1, true, applied, at(7));
  // Ready at first sight (mcpd restarted): not timed. A new generation is.
  m.readiness("a/z", "echo", 1, true, applied, at(3));
  m.readiness("a/z", "echo", 2, false, at(10), at(10.5));
  m.readiness("a/z", "echo", 2, true, at(10), at(11.5));
  text = r.render();
  EXPECT_TRUE(has(text, R"(minimcp_instance_apply_to_ready_seconds_count{type="echo"} 3)")) << text;
  EXPECT_TRUE(has(text, R"(minimcp_instance_apply_to_ready_seconds_sum{type="echo"} 10)")) << text;
}

TEST(ControllerMetrics, UsageSeriesFollowTheInstancesWithAProcess) {
  metrics::Registry r;
  ControllerMetrics m(r, "mcpinstance");
  std::map<std::string, runtime::Usage> usage;
  auto hook = m.watchUsage([&](const std::string& key) -> std::optional<runtime::Usage> {
    auto it = usage.find(key);
    if (it == usage.end()) return std::nullopt;
    return it->second;
  });
  m.instance("t/a", "Running", "echo");
  m.instance("t/b", "Suspended", "echo");
  usage["t/a"] = {.cpuPercent = 3, .memoryBytes = 5000000, .cpuSeconds = 1.5};
  usage["t/c"] = {.cpuPercent = 3, .memoryBytes = 1, .cpuSeconds = 1};  // not counted: no series
  std::string text = r.render();
  EXPECT_TRUE(has(text, R"(minimcp_instance_cpu_seconds_total{mcpinstance="a",namespace="t"} 1.5)"))
      << text;
  EXPECT_TRUE(
      has(text, R"(minimcp_instance_resident_memory_bytes{mcpinstance="a",namespace="t"} 5000000)"))
      << text;
  EXPECT_EQ(text.find(R"(mcpinstance="b")"), std::string::npos) << text;
  EXPECT_EQ(text.find(R"(mcpinstance="c")"), std::string::npos) << text;
  // A new process starts its counter from zero again.
  usage["t/a"].cpuSeconds = 0.25;
  text = r.render();
  EXPECT_TRUE(
      has(text, R"(minimcp_instance_cpu_seconds_total{mcpinstance="a",namespace="t"} 0.25)"))
      << text;
  // Its process gone, then the instance: no series.
  usage.erase("t/a");
  text = r.render();
  EXPECT_EQ(text.find(R"(mcpinstance="a")"), std::string::npos) << text;
  usage["t/a"] = {.cpuPercent = 0, .memoryBytes = 7, .cpuSeconds = 2};
  EXPECT_NE(r.render().find(R"(mcpinstance="a")"), std::string::npos);
  m.instanceGone("t/a");
  EXPECT_EQ(r.render().find(R"(mcpinstance="a")"), std::string::npos);
}

}  // namespace
}  // namespace minimcp::reconciler
