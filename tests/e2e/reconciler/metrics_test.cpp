// /metrics of a real mcpd after an instance was created and its process killed: the
// controller's families carry what happened, and promtool accepts the scrape as it is.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <regex>

#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

std::string scrape(Cluster& c) {
  auto r = c.api().request("GET", "/metrics", "", {}, 10s);
  EXPECT_EQ(r.status, 200) << r.body;
  return r.body;
}

// The value of the sample `series` (the name with its labels, as exposed), or -1.
double sample(const std::string& text, const std::string& series) {
  const std::string at = "\n" + series + " ";
  const auto pos = text.find(at);
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + at.size()));
}

TEST(MetricsE2E, ReconcilesInstancesByPhaseAndRestartsByReasonAndPromtoolAcceptsTheScrape) {
  Cluster c;
  applyOk(c, instanceYaml("watched"));
  ASSERT_TRUE(c.await("watched", isReady, 30s)) << c.lastSeen();
  const int pid = pidOf(c.instance("watched"));
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(c.await(
      "watched", [&](const json& m) { return restartsOf(m) == 1 && isReady(m) && pidOf(m) != pid; },
      30s))
      << c.lastSeen();

  // The controller counts a reconcile after its status write: wait for the scrape to agree.
  std::string text;
  ASSERT_TRUE(pollUntil(
      [&] {
        text = scrape(c);
        return sample(text, R"(minimcp_instances{phase="Running",type="echo"})") == 1 &&
               sample(text, R"(minimcp_instance_restarts_total{reason="Signal"})") == 1;
      },
      10s))
      << text;
  EXPECT_GE(
      sample(text,
             R"(controller_runtime_reconcile_total{controller="mcpinstance",result="success"})") +
          sample(
              text,
              R"(controller_runtime_reconcile_total{controller="mcpinstance",result="requeue_after"})"),
      3)
      << text;
  EXPECT_EQ(sample(text, R"(controller_runtime_reconcile_errors_total{controller="mcpinstance"})"),
            0);
  EXPECT_GE(
      sample(text, R"(controller_runtime_reconcile_time_seconds_count{controller="mcpinstance"})"),
      3);
  EXPECT_GE(sample(text, R"(workqueue_adds_total{name="mcpinstance"})"), 3);
  EXPECT_GE(sample(text, R"(workqueue_work_duration_seconds_count{name="mcpinstance"})"), 3);
  EXPECT_GE(sample(text, R"(workqueue_depth{name="mcpinstance"})"), 0);
  EXPECT_GE(sample(text, R"(workqueue_longest_running_processor_seconds{name="mcpinstance"})"), 0);
  EXPECT_GT(sample(text, "process_resident_memory_bytes"), 1e6);
  EXPECT_GT(sample(text, "process_open_fds"), 3);
  EXPECT_GT(sample(text, "process_start_time_seconds"), 1.7e9);
  EXPECT_GE(sample(text, "process_cpu_seconds_total"), 0);
  EXPECT_NE(text.find("minimcp_apiserver_requests_total{"), std::string::npos);

  // promtool reads the exposition from stdin and lints it (names, units, help, types).
  const std::string promtool = findExecutable("promtool");
  if (promtool.empty()) GTEST_FAIL() << "promtool not found: run tools/setup.sh";
  auto check = testing::runCommand({promtool, "check", "metrics"}, text, 30s);
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;

  // The instance goes: so does its phase series.
  auto del = c.mcpd().mcpctl({"delete", "mcpinstance", "watched", "-n", "default"});
  ASSERT_EQ(del.exitCode, 0) << del.err;
  ASSERT_TRUE(pollUntil(
      [&] {
        text = scrape(c);
        return text.find("minimcp_instances{") == std::string::npos;
      },
      30s))
      << text;
}

}  // namespace
}  // namespace minimcp::e2e
