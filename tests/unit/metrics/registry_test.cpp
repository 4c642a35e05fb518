#include "api/metrics/registry.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <limits>
#include <string>

namespace minimcp::metrics {
namespace {

// The families a test added, without the process_* ones every Registry carries.
std::string own(const Registry& r) {
  const std::string text = r.render();
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    if (line.find("process_") == std::string::npos) out += line + "\n";
    pos = end + 1;
  }
  return out;
}

TEST(MetricsRegistry, CounterAndGaugeExpositionText) {
  Registry r;
  auto& requests = prometheus::BuildCounter()
                       .Name("demo_requests_total")
                       .Help("Requests by code")
                       .Register(r.families());
  requests.Add({{"code", "200"}, {"verb", "get"}}).Increment(3);
  prometheus::BuildGauge().Name("demo_depth").Help("Depth").Register(r.families()).Add({}).Set(2.5);
  EXPECT_EQ(own(r),
            "# HELP demo_requests_total Requests by code\n"
            "# TYPE demo_requests_total counter\n"
            "demo_requests_total{code=\"200\",verb=\"get\"} 3\n"
            "# HELP demo_depth Depth\n"
            "# TYPE demo_depth gauge\n"
            "demo_depth 2.5\n");
  // A family's series follow its header, in no set order.
  requests.Add({{"code", "404"}, {"verb", "get"}}).Increment();
  const std::string text = own(r);
  const auto header = text.find("# TYPE demo_requests_total counter\n");
  const auto second = text.find("demo_requests_total{code=\"404\",verb=\"get\"} 1\n");
  ASSERT_NE(second, std::string::npos) << text;
  EXPECT_LT(header, second);
  EXPECT_LT(second, text.find("# HELP demo_depth"));
}

// Help texts are not escaped by prometheus-cpp 1.0: ours are constants without '\\' or newlines.
TEST(MetricsRegistry, LabelValuesAreEscaped) {
  Registry r;
  prometheus::BuildCounter()
      .Name("demo_total")
      .Help("Demo")
      .Register(r.families())
      .Add({{"v", "q\"uote\\back\nline"}})
      .Increment();
  EXPECT_EQ(own(r),
            "# HELP demo_total Demo\n"
            "# TYPE demo_total counter\n"
            "demo_total{v=\"q\\\"uote\\\\back\\nline\"} 1\n");
}

TEST(MetricsRegistry, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  auto& h = prometheus::BuildHistogram()
                .Name("demo_seconds")
                .Help("Latency")
                .Register(r.families())
                .Add({{"op", "get"}}, prometheus::Histogram::BucketBoundaries{0.1, 1});
  h.Observe(0.05);
  h.Observe(0.1);  // a bound belongs to its bucket (le)
  h.Observe(0.5);
  h.Observe(7);
  EXPECT_EQ(own(r),
            "# HELP demo_seconds Latency\n"
            "# TYPE demo_seconds histogram\n"
            "demo_seconds_count{op=\"get\"} 4\n"
            "demo_seconds_sum{op=\"get\"} 7.65\n"
            "demo_seconds_bucket{op=\"get\",le=\"0.1\"} 2\n"
            "demo_seconds_bucket{op=\"get\",le=\"1\"} 3\n"
            "demo_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n");
}

TEST(MetricsRegistry, RemovedLabelSetDisappears) {
  Registry r;
  auto& family =
      prometheus::BuildGauge().Name("demo_instances").Help("Instances").Register(r.families());
  auto& a = family.Add({{"name", "a"}});
  family.Add({{"name", "b"}}).Set(1);
  a.Set(1);
  family.Remove(&a);
  EXPECT_EQ(own(r),
            "# HELP demo_instances Instances\n"
            "# TYPE demo_instances gauge\n"
            "demo_instances{name=\"b\"} 1\n");
}

TEST(MetricsRegistry, ScrapeHookRunsBeforeEachRenderUntilReleased) {
  Registry r;
  auto& g = prometheus::BuildGauge().Name("demo_age").Help("Age").Register(r.families()).Add({});
  int runs = 0;
  auto hook = r.onScrape([&] { g.Set(++runs); });
  EXPECT_NE(own(r).find("demo_age 1\n"), std::string::npos);
  EXPECT_NE(own(r).find("demo_age 2\n"), std::string::npos);
  hook.reset();
  EXPECT_NE(own(r).find("demo_age 2\n"), std::string::npos);
  EXPECT_EQ(runs, 2);
}

TEST(MetricsRegistry, ProcessFamiliesDescribeThisProcess) {
  Registry r;
  const std::string text = r.render();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_open_fds", "process_start_time_seconds"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + name), std::string::npos) << name;
  }
  EXPECT_EQ(text.find("process_resident_memory_bytes 0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("process_open_fds 0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("process_start_time_seconds 0\n"), std::string::npos) << text;
}

// render() writes the text itself (faster than prometheus-cpp's ostream): the same bytes, for
// every metric type, odd values and label values that need escaping.
TEST(MetricsRegistry, ExpositionIsByteForByteThatOfPrometheusCpp) {
  using prometheus::ClientMetric;
  using prometheus::MetricFamily;
  using prometheus::MetricType;
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<MetricFamily> families;
  MetricFamily counter{"demo_total", "Requests \"quoted\"", MetricType::Counter, {}};
  for (double v : {0.0, 1.0, 0.1, 1e-7, 123456789012345678.0, 2.5e300, -0.0, 1.0 / 3}) {
    ClientMetric m;
    m.label = {{"code", "200"}, {"v", "q\"uote\\back\nline"}};
    m.counter.value = v;
    counter.metric.push_back(m);
  }
  families.push_back(counter);
  MetricFamily gauge{"demo_depth", "", MetricType::Gauge, {}};
  for (double v : {std::nan(""), inf, -inf, -17.25}) {
    ClientMetric m;
    m.gauge.value = v;
    m.timestamp_ms = v < 0 ? 1767225600123 : 0;
    gauge.metric.push_back(m);
  }
  families.push_back(gauge);
  MetricFamily untyped{"demo_untyped", "U", MetricType::Untyped, {ClientMetric{}}};
  untyped.metric[0].untyped.value = 42;
  families.push_back(untyped);
  MetricFamily summary{"demo_summary", "S", MetricType::Summary, {ClientMetric{}}};
  summary.metric[0].label = {{"op", "get"}};
  summary.metric[0].summary = {7, 0.75, {{0.5, 0.1}, {0.99, 0.25}}};
  families.push_back(summary);
  MetricFamily histogram{"demo_seconds", "H", MetricType::Histogram, {ClientMetric{}, {}}};
  histogram.metric[0].histogram = {4, 7.65, {{2, 0.0005}, {3, 1e-6}, {4, 60}, {4, inf}}};
  histogram.metric[1].label = {{"op", "put"}};
  histogram.metric[1].histogram = {2, 0.3, {{1, 0.1}, {2, 0.25}}};  // no +Inf bucket: one added
  families.push_back(histogram);
  const std::string want = prometheus::TextSerializer().Serialize(families);
  EXPECT_EQ(exposition(families), want);
  EXPECT_EQ(exposition(families, 1 << 20), want);
  EXPECT_NE(want.find("le=\"+Inf\"} 2\n"), std::string::npos) << want;  // the test covers that
}

TEST(ProcStat, ParsesFieldsAfterACommandWithSpacesAndParens) {
  // Fields 3..24 after "(comm)"; utime=14, stime=15, starttime=22, rss=24.
  const std::string line =
      "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 98765 "
      "123456789 4321 18446744073709551615\n";
  ProcStat st;
  ASSERT_TRUE(parseProcStat(line, st));
  EXPECT_EQ(st.utimeTicks, 250u);
  EXPECT_EQ(st.stimeTicks, 50u);
  EXPECT_EQ(st.startTicks, 98765u);
  EXPECT_EQ(st.rssPages, 4321);
  EXPECT_FALSE(parseProcStat("garbage", st));
  EXPECT_FALSE(parseProcStat("1 (x) S 1 2", st));
}

TEST(ProcStat, BootTimeFromProcStat) {
  EXPECT_EQ(parseBootTime("cpu  1 2 3\nbtime 1767225600\nprocesses 5\n"), 1767225600);
  EXPECT_EQ(parseBootTime("cpu 1\n"), 0);
}

}  // namespace
}  // namespace minimcp::metrics
