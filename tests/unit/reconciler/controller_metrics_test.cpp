#include "reconciler/controller_metrics.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace minimcp::reconciler
