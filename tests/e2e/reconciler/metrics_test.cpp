// /metrics of a real mcpd after an instance was created and its process killed: the
// controller's families carry what happened, and promtool accepts the scrape as it is.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <future>
#include <regex>
#include <set>
#include <sstream>

#include "api/model/yaml.h"
#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

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

// The first sample of a series whose exposition starts with `prefix` (name and the start of its
// labels), or -1.
double sampleStartingWith(const std::string& text, const std::string& prefix) {
  const auto pos = text.find("\n" + prefix);
  if (pos == std::string::npos) return -1;
  const auto space = text.find(' ', pos + 1 + prefix.size());
  return std::stod(text.substr(space + 1));
}

std::set<std::string> metricNames(std::string expr);
void expectDashboardAndRulesReadOnly(const std::string& text);

// The acceptance run of the metrics: create, crash, restart, gateway calls, expiry; after each
// step the families say what happened, and promtool accepts the scrape.
TEST(MetricsE2E, AScriptedRunShowsInEveryFamilyAndPromtoolAcceptsIt) {
  Cluster c;
  applyOk(c, instanceYaml("acc", "  config: {testHooks: true}\n"));
  applyOk(c,
          "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: brief\n"
          "  namespace: default\nspec:\n  type: echo\n  ttl: 6s\n");
  applyOk(c,
          "apiVersion: minimcp.io/v1alpha1\nkind: APIKey\nmetadata: {name: rotating, namespace: "
          "default}\nspec: {type: echo, value: s3cret-value, rotationPeriod: 24h}\n");
  ASSERT_TRUE(c.await("acc", isReady, 30s)) << c.lastSeen();
  ASSERT_TRUE(c.await("brief", isReady, 30s)) << c.lastSeen();
  const std::string acc = R"(mcpinstance="acc",namespace="default")";

  // Create: each instance timed from apply to Ready once; its process measured.
  std::string text;
  ASSERT_TRUE(pollUntil(
      [&] {
        text = scrape(c);
        return sample(text, R"(minimcp_instance_apply_to_ready_seconds_count{type="echo"})") == 2 &&
               sample(text, "minimcp_instance_resident_memory_bytes{" + acc + "}") > 1e6;
      },
      20s))
      << text;
  const double readySum =
      sample(text, R"(minimcp_instance_apply_to_ready_seconds_sum{type="echo"})");
  EXPECT_GT(readySum, 0);
  EXPECT_LT(readySum, 60);
  EXPECT_GT(sample(text, "minimcp_instance_cpu_seconds_total{" + acc + "}"), 0) << text;
  EXPECT_GT(
      sample(
          text,
          R"(minimcp_store_operation_duration_seconds_count{backend="sqlite",operation="create"})"),
      3);
  EXPECT_GT(
      sample(
          text,
          R"(minimcp_store_operation_duration_seconds_count{backend="sqlite",operation="update"})"),
      3);
  EXPECT_GT(
      sample(text,
             R"(minimcp_store_operation_duration_seconds_count{backend="sqlite",operation="get"})"),
      3);
  const double leaseAge = sampleStartingWith(text, "minimcp_node_lease_age_seconds{node=");
  EXPECT_GE(leaseAge, 0) << text;
  EXPECT_LT(leaseAge, 15) << text;
  EXPECT_EQ(sampleStartingWith(text, "minimcp_node_lease_duration_seconds{node="), 15) << text;
  const double rotateBy = sample(
      text, R"(minimcp_apikey_rotate_by_timestamp_seconds{apikey="rotating",namespace="default"})");
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GT(rotateBy, now + 23 * 3600) << text;
  EXPECT_LT(rotateBy, now + 25 * 3600) << text;

  // Crash and restart: one restart by signal; the same generation is not timed again.
  const int pid = pidOf(c.instance("acc"));
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(c.await(
      "acc", [&](const json& m) { return restartsOf(m) == 1 && isReady(m) && pidOf(m) != pid; },
      30s))
      << c.lastSeen();
  ASSERT_TRUE(pollUntil(
      [&] {
        text = scrape(c);
        return sample(text, R"(minimcp_instance_restarts_total{reason="Signal"})") == 1;
      },
      10s))
      << text;
  EXPECT_EQ(sample(text, R"(minimcp_instance_apply_to_ready_seconds_count{type="echo"})"), 2);

  // Gateway calls: by method and code, labelled with the instance only once admitted.
  auto call =
      c.mcpCall(c.mcpd().url() + "/mcp/default/acc", c.adminToken(), "echo", R"({"text":"hi"})");
  ASSERT_EQ(call.exitCode, 0) << call.out << call.err;
  auto bogus = c.api().request(
      "POST", "/mcp/default/acc", R"({"jsonrpc":"2.0","id":7,"method":"no/such/method"})",
      {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}},
      10s);
  auto missing = c.api().request("POST", "/mcp/default/nobody-here",
                                 R"({"jsonrpc":"2.0","id":1,"method":"ping"})",
                                 {{"Content-Type", "application/json"}}, 10s);
  EXPECT_EQ(missing.status, 404);
  // Streamed: a tool call that sends notifications for about two seconds is open meanwhile
  // (beside the client's standing GET stream, which ends with its session).
  auto streaming = std::async(std::launch::async, [&] {
    return c.mcpCall(c.mcpd().url() + "/mcp/default/acc", c.adminToken(), "stream",
                     R"({"count":20,"intervalMs":100})");
  });
  const std::string open = "minimcp_gateway_open_streams{" + acc + "}";
  EXPECT_TRUE(pollUntil([&] { return sample(text = scrape(c), open) >= 1; }, 15s)) << text;
  auto streamed = streaming.get();
  ASSERT_EQ(streamed.exitCode, 0) << streamed.out << streamed.err;
  EXPECT_TRUE(pollUntil([&] { return sample(text = scrape(c), open) == 0; }, 10s)) << text;

  auto requests = [&](const std::string& labels) {
    return sample(text, "minimcp_gateway_requests_total{" + labels + "}");
  };
  // prometheus-cpp writes labels sorted by name.
  const std::string at = R"(code="200",mcpinstance="acc",method=)";
  EXPECT_GE(requests(at + R"("initialize",namespace="default")"), 2) << text;
  EXPECT_GE(requests(at + R"("tools/list",namespace="default")"), 2) << text;
  EXPECT_GE(requests(at + R"("tools/call",namespace="default")"), 2) << text;
  EXPECT_GE(
      requests(
          R"(code="202",mcpinstance="acc",method="notifications/initialized",namespace="default")"),
      2)
      << text;
  EXPECT_EQ(requests("code=\"" + std::to_string(bogus.status) +
                     R"(",mcpinstance="acc",method="other",namespace="default")"),
            1)
      << text;
  EXPECT_EQ(requests(R"(code="404",mcpinstance="",method="ping",namespace="")"), 1) << text;
  EXPECT_EQ(text.find("nobody-here"), std::string::npos);
  EXPECT_GE(sample(text, "minimcp_gateway_time_to_first_byte_seconds_count{" + acc +
                             R"(,stream="false"})"),
            5)
      << text;
  EXPECT_GE(sample(text, "minimcp_gateway_time_to_first_byte_seconds_count{" + acc +
                             R"(,stream="true"})"),
            1)
      << text;
  // The gateway is no API resource, and its streams are no watches.
  EXPECT_EQ(text.find(R"(resource="/mcp/")"), std::string::npos) << text;

  // Expiry: the expired instance has no process, so no usage series; it is counted as Expired.
  ASSERT_TRUE(c.await(
      "brief", [](const json& m) { return phaseOf(m) == "Expired"; }, 20s))
      << c.lastSeen();
  ASSERT_TRUE(pollUntil(
      [&] {
        text = scrape(c);
        return sample(text, R"(minimcp_instances{phase="Expired",type="echo"})") == 1 &&
               text.find(R"(mcpinstance="brief")") == std::string::npos;
      },
      10s))
      << text;
  EXPECT_EQ(sample(text, R"(minimcp_instances{phase="Running",type="echo"})"), 1) << text;

  const std::string promtool = findExecutable("promtool");
  if (promtool.empty()) GTEST_FAIL() << "promtool not found: run tools/setup.sh";
  auto check = testing::runCommand({promtool, "check", "metrics"}, text, 30s);
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  // Every family has series now: the dashboard and the alert rules read only what exists.
  expectDashboardAndRulesReadOnly(text);

  // The instance goes: so do its usage and gateway series.
  auto del = c.mcpd().mcpctl({"delete", "mcpinstance", "acc", "-n", "default"});
  ASSERT_EQ(del.exitCode, 0) << del.err;
  ASSERT_TRUE(pollUntil(
      [&] {
        text = scrape(c);
        return text.find(R"(mcpinstance="acc")") == std::string::npos;
      },
      30s))
      << text;
}

// The metric names a PromQL expression reads: identifiers that are neither functions,
// aggregations, keywords, label names ({...}, by (...), on (...)) nor durations ([...]).
std::set<std::string> metricNames(std::string expr) {
  // Strings, matchers, ranges and label lists go first.
  expr = std::regex_replace(expr, std::regex(R"("(\\.|[^"\\])*")"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\{[^}]*\})"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\[[^\]]*\])"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\boffset\s+-?[0-9][0-9a-z]*)"), " ");
  expr = std::regex_replace(
      expr, std::regex(R"(\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))"), " ");
  static const std::set<std::string> keywords = {"and", "or",  "unless", "offset", "bool",
                                                 "inf", "nan", "by",     "without"};
  std::set<std::string> names;
  const std::regex token(R"([0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?|[a-zA-Z_:][a-zA-Z0-9_:]*)");
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), token);
       it != std::sregex_iterator(); ++it) {
    const std::string t = it->str();
    if (std::isdigit(static_cast<unsigned char>(t[0])) || keywords.count(t)) continue;
    const auto after = expr.find_first_not_of(" \t\n", it->position() + t.size());
    if (after != std::string::npos && expr[after] == '(') continue;  // a function
    names.insert(t);
  }
  return names;
}

TEST(MetricsE2E, PromqlNamesAreFoundAsExpected) {
  EXPECT_EQ(
      metricNames(
          R"(histogram_quantile(0.99, sum by (le, verb) (rate(a_bucket{x=~"y|z",instance=~"$instance"}[5m]))))"),
      (std::set<std::string>{"a_bucket"}));
  EXPECT_EQ(metricNames("max by (node) (b - on (instance, node) c) > 0 and d offset 5m or 1e6"),
            (std::set<std::string>{"b", "c", "d"}));
  EXPECT_EQ(metricNames("min(e) - time() < 7 * 86400"), (std::set<std::string>{"e"}));
}

const std::string kRulesFile = MINIMCP_SOURCE_DIR "/deploy/prometheus/minimcp-alerts.yaml";

// Every name the shipped dashboard and alert rules read is one `text` (a scrape) exports: a
// family's TYPE line, or a histogram's _bucket, _sum and _count.
void expectDashboardAndRulesReadOnly(const std::string& text) {
  std::set<std::string> exported;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, std::regex(R"(# TYPE (\S+) (\S+))"))) continue;
    exported.insert(m[1]);
    if (m[2] == "histogram" || m[2] == "summary") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) exported.insert(m[1].str() + suffix);
    }
  }
  ASSERT_GT(exported.size(), 20u) << text;

  std::vector<std::pair<std::string, std::string>> queries;  // where, expression
  const json dashboard =
      json::parse(testing::readFileOr(MINIMCP_SOURCE_DIR "/deploy/grafana/minimcp-dashboard.json"));
  for (const auto& panel : dashboard.at("panels")) {
    for (const auto& target : panel.value("targets", json::array())) {
      queries.emplace_back("panel " + panel.value("title", ""), target.at("expr"));
    }
  }
  for (const auto& var : dashboard.at("templating").at("list")) {
    std::smatch m;
    const std::string q = var.value("definition", "");
    if (std::regex_search(q, m, std::regex(R"(label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),)"))) {
      queries.emplace_back("variable " + var.value("name", ""), m[1].str());
    }
  }
  const json rules = model::parseYamlDocuments(testing::readFileOr(kRulesFile)).at(0);
  for (const auto& group : rules.at("groups")) {
    for (const auto& rule : group.at("rules")) {
      queries.emplace_back("alert " + rule.value("alert", ""), rule.at("expr"));
    }
  }
  ASSERT_GE(queries.size(), 24u);
  std::set<std::string> read;
  for (const auto& [where, expr] : queries) {
    const auto names = metricNames(expr);
    EXPECT_FALSE(names.empty()) << where << ": " << expr;
    for (const auto& name : names) {
      read.insert(name);
      EXPECT_TRUE(exported.count(name))
          << where << " reads " << name << ", which mcpd does not export: " << expr;
    }
  }
  // The dashboard shows what an operator runs on.
  for (const char* family :
       {"minimcp_instances", "minimcp_instance_restarts_total",
        "controller_runtime_reconcile_time_seconds_bucket", "workqueue_depth",
        "minimcp_gateway_requests_total", "minimcp_node_lease_age_seconds",
        "minimcp_instance_cpu_seconds_total", "minimcp_instance_resident_memory_bytes"}) {
    EXPECT_TRUE(read.count(family)) << family;
  }
}

TEST(MetricsE2E, AlertRulesPassPromtoolCheckAndTheirUnitTests) {
  const std::string promtool = findExecutable("promtool");
  if (promtool.empty()) GTEST_FAIL() << "promtool not found: run tools/setup.sh";
  auto check = testing::runCommand({promtool, "check", "rules", kRulesFile}, "", 30s);
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  // Each alert fires on the series that should raise it, and only on those.
  auto unit = testing::runCommand(
      {promtool, "test", "rules", MINIMCP_SOURCE_DIR "/deploy/prometheus/minimcp-alerts.test.yaml"},
      "", 60s);
  EXPECT_EQ(unit.exitCode, 0) << unit.out << unit.err;
}

}  // namespace
}  // namespace minimcp::e2e
