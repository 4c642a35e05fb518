#include "api/gateway/gateway_metrics.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <string>

#include "api/server/io_executor.h"
#include "tests/unit/server/fake_kinds.h"

namespace minimcp::gateway {
namespace {

using server::Request;
using server::Response;

Request post(std::string body, std::string mcpMethod = "") {
  Request r;
  r.method = "POST";
  r.body = std::move(body);
  if (!mcpMethod.empty()) r.headers.emplace_back("mcp-method", mcpMethod);
  return r;
}

TEST(McpMethodLabel, IsTheProtocolsMethodOrABoundedStandIn) {
  struct Case {
    std::string body, header, want;
  } cases[] = {
      {R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}})", "", "tools/call"},
      // Only the top level counts: a nested "method" is an argument.
      {R"({"jsonrpc":"2.0","id":1,"params":{"method":"initialize"},"method":"ping"})", "", "ping"},
      {R"({"params":{"arguments":{"method":"tools/list"}},"id":2})", "", ""},
      {R"({"jsonrpc":"2.0","method":"notifications/initialized"})", "",
       "notifications/initialized"},
      {R"({"jsonrpc":"2.0","id":1,"method":"x/made-up/by-a-caller"})", "", "other"},
      {R"({"jsonrpc":"2.0","id":1,"method":12})", "", ""},
      {R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])", "", "batch"},
      {R"({"jsonrpc":"2.0","id":1,"result":{}})", "", ""},
      {"not json at all", "", ""},
      {"", "", ""},
      // The header names it before the body is read.
      {R"({"method":"ping"})", "tools/list", "tools/list"},
      {"", "evil\nvalue", "other"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(mcpMethodLabel(post(c.body, c.header)), c.want) << c.body << " / " << c.header;
  }
}

class StreamStub : public server::Stream {
 public:
  void start(std::shared_ptr<server::StreamSink> sink) override { sink_ = std::move(sink); }
  void stop() override {}
  std::shared_ptr<server::StreamSink> sink_;
};

class SinkStub : public server::StreamSink {
 public:
  bool write(std::string) override { return true; }
  void finish() override {}
};

class DeferredStub : public server::Deferred {
 public:
  void start(std::function<void(Response)> answer, const server::IoExecutor&) override {
    answer_ = std::move(answer);
  }
  void stop() override {}
  std::function<void(Response)> answer_;
};

class GatewayMetricsTest : public ::testing::Test {
 protected:
  GatewayMetricsTest() : store_(store::openStore("sqlite:" + dir_.path() + "/g.db")) {}
  bool has(const std::string& line) {
    return registry_.render().find(line + "\n") != std::string::npos;
  }

  server::testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  metrics::Registry registry_;
};

TEST_F(GatewayMetricsTest, CountsAdmittedRequestsByInstanceAndOthersWithoutOne) {
  GatewayMetrics m(registry_, *store_);
  const auto start = std::chrono::steady_clock::now();
  Response ok;
  m.observe(post(R"({"method":"tools/list","id":1})"), {"t", "a"}, start, ok);
  Response notFound;
  notFound.status = 404;
  m.observe(post(R"({"method":"ping","id":1})"), {}, start, notFound);
  Request forwarded = post(R"({"method":"ping","id":1})");
  forwarded.headers.emplace_back("x-minimcp-forwarded-by", "node-b");
  m.observe(forwarded, {"t", "a"}, start, ok);  // the forwarding node counted it

  EXPECT_TRUE(has(
      R"(minimcp_gateway_requests_total{code="200",mcpinstance="a",method="tools/list",namespace="t"} 1)"));
  EXPECT_TRUE(has(
      R"(minimcp_gateway_requests_total{code="404",mcpinstance="",method="ping",namespace=""} 1)"));
  EXPECT_TRUE(has(
      R"(minimcp_gateway_time_to_first_byte_seconds_count{mcpinstance="a",namespace="t",stream="false"} 1)"));
  EXPECT_EQ(registry_.render().find(R"(method="ping",namespace="t")"), std::string::npos);
}

TEST_F(GatewayMetricsTest, AStreamIsOpenUntilItsBodyEndsAndADeferredAnswerCountsWhenItComes) {
  GatewayMetrics m(registry_, *store_);
  auto inner = std::make_shared<DeferredStub>();
  Response deferred;
  deferred.deferred = inner;
  Response r = m.observe(post(R"({"method":"tools/call","id":1})"), {"t", "a"},
                         std::chrono::steady_clock::now(), deferred);
  ASSERT_TRUE(r.deferred);
  EXPECT_EQ(registry_.render().find("minimcp_gateway_requests_total{"), std::string::npos);

  Response given;
  boost::asio::io_context ioc;
  r.deferred->start([&](Response answer) { given = std::move(answer); },
                    server::IoExecutor{ioc.get_executor()});
  auto stream = std::make_shared<StreamStub>();
  Response streamed;
  streamed.stream = stream;
  inner->answer_(streamed);
  ASSERT_TRUE(given.stream);
  EXPECT_TRUE(has(
      R"(minimcp_gateway_requests_total{code="200",mcpinstance="a",method="tools/call",namespace="t"} 1)"));
  EXPECT_TRUE(has(R"(minimcp_gateway_open_streams{mcpinstance="a",namespace="t"} 1)"));
  given.stream->start(std::make_shared<SinkStub>());
  stream->sink_->finish();
  EXPECT_TRUE(has(R"(minimcp_gateway_open_streams{mcpinstance="a",namespace="t"} 0)"));
  given.stream.reset();  // ending twice counts once
  EXPECT_TRUE(has(R"(minimcp_gateway_open_streams{mcpinstance="a",namespace="t"} 0)"));
}

TEST_F(GatewayMetricsTest, ADeletedInstancesSeriesGo) {
  GatewayMetrics m(registry_, *store_);
  store_->create("mcpinstances", {{"metadata", {{"namespace", "t"}, {"name", "a"}}}});
  m.observe(post(R"({"method":"ping","id":1})"), {"t", "a"}, std::chrono::steady_clock::now(),
            Response{});
  EXPECT_NE(registry_.render().find(R"(mcpinstance="a")"), std::string::npos);
  store_->remove("mcpinstances", "t", "a", 0);
  EXPECT_EQ(registry_.render().find(R"(mcpinstance="a")"), std::string::npos);
}

}  // namespace
}  // namespace minimcp::gateway
