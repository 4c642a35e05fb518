#include "api/gateway/gateway_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

namespace minimcp::gateway {

using server::Request;
using server::Response;

namespace {

// Every method of the MCP revisions the gateway serves (2025-11-25, 2026-07-28), both ways.
constexpr std::array<std::string_view, 34> kMethods = {
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "roots/list",
    "sampling/createMessage",
    "elicitation/create",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
    "server/discover",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/message",
    "notifications/roots/list_changed",
    "notifications/resources/updated",
    "notifications/resources/list_changed",
    "notifications/tools/list_changed",
    "notifications/prompts/list_changed",
    "notifications/elicitation/complete",
    "notifications/tasks/status",
    "subscriptions/listen",
    "subscriptions/cancel",
};

std::string bounded(std::string_view method) {
  if (method.empty()) return "";
  return std::find(kMethods.begin(), kMethods.end(), method) != kMethods.end() ? std::string(method)
                                                                               : "other";
}

// Reads the body only as far as its top-level "method" (or its first sign of a batch).
class MethodFinder : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::string method;
  bool batch = false;

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t) override { return scalar(); }
  bool number_unsigned(number_unsigned_t) override { return scalar(); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool binary(binary_t&) override { return scalar(); }
  bool string(string_t& val) override {
    if (depth_ == 1 && methodKey_) {
      method = val;
      return false;  // found: stop reading
    }
    return scalar();
  }
  bool start_object(std::size_t) override {
    methodKey_ = false;
    ++depth_;
    return true;
  }
  bool key(string_t& val) override {
    methodKey_ = depth_ == 1 && val == "method";
    return true;
  }
  bool end_object() override {
    --depth_;
    return depth_ > 0;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) {
      batch = true;
      return false;
    }
    methodKey_ = false;
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  bool scalar() {
    methodKey_ = false;
    return depth_ > 0;
  }
  int depth_ = 0;
  bool methodKey_ = false;
};

using Key = std::pair<std::string, std::string>;  // namespace, instance

std::vector<double> firstByteBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

}  // namespace

std::string mcpMethodLabel(const Request& req) {
  if (std::string h = req.header("mcp-method"); !h.empty()) return bounded(h);
  if (req.body.empty()) return "";
  MethodFinder finder;
  nlohmann::json::sax_parse(req.body, &finder, nlohmann::json::input_format_t::json, false);
  if (finder.batch) return "batch";
  return bounded(finder.method);
}

struct GatewayMetrics::Impl : std::enable_shared_from_this<Impl> {
  explicit Impl(prometheus::Registry& r)
      : requests(prometheus::BuildCounter()
                     .Name("minimcp_gateway_requests_total")
                     .Help("MCP requests through the gateway by namespace, instance, MCP method "
                           "and HTTP status code")
                     .Register(r)),
        firstByte(prometheus::BuildHistogram()
                      .Name("minimcp_gateway_time_to_first_byte_seconds")
                      .Help("Time from an MCP request to its response head (a plain response: "
                            "its whole body), streams apart")
                      .Register(r)),
        open(prometheus::BuildGauge()
                 .Name("minimcp_gateway_open_streams")
                 .Help("Streamed gateway responses (SSE) being relayed now")
                 .Register(r)) {}

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& firstByte;
  prometheus::Family<prometheus::Gauge>& open;

  struct Series {
    uint64_t generation = 0;
    std::map<std::pair<std::string, int>, prometheus::Counter*> byMethodCode;
    std::array<prometheus::Histogram*, 2> firstByte{};  // plain, stream
    prometheus::Gauge* open = nullptr;
  };
  std::mutex mu;
  std::map<Key, Series> series;
  uint64_t generations = 0;
  std::unique_ptr<store::Subscription> sub;

  prometheus::Labels labels(const Key& key) const {
    return {{"namespace", key.first}, {"mcpinstance", key.second}};
  }

  // Counts an answer; returns the generation of its series (for its stream's end).
  uint64_t answered(const Key& key, const std::string& method, int code, double seconds,
                    bool stream) {
    std::lock_guard lock(mu);
    auto [it, added] = series.try_emplace(key);
    Series& s = it->second;
    if (added) s.generation = ++generations;
    auto& counter = s.byMethodCode[{method, code}];
    if (!counter) {
      auto l = labels(key);
      l.emplace("method", method);
      l.emplace("code", std::to_string(code));
      counter = &requests.Add(l);
    }
    counter->Increment();
    auto& h = s.firstByte[stream ? 1 : 0];
    if (!h) {
      auto l = labels(key);
      l.emplace("stream", stream ? "true" : "false");
      h = &firstByte.Add(l, firstByteBuckets());
    }
    h->Observe(seconds);
    if (stream) {
      if (!s.open) s.open = &open.Add(labels(key));
      s.open->Increment();
    }
    return s.generation;
  }

  void streamEnded(const Key& key, uint64_t generation) {
    std::lock_guard lock(mu);
    auto it = series.find(key);
    if (it != series.end() && it->second.generation == generation && it->second.open) {
      it->second.open->Decrement();
    }
  }

  void forget(const Key& key) {
    std::lock_guard lock(mu);
    auto it = series.find(key);
    if (it == series.end()) return;
    for (auto& [mc, c] : it->second.byMethodCode) requests.Remove(c);
    for (auto* h : it->second.firstByte) {
      if (h) firstByte.Remove(h);
    }
    if (it->second.open) open.Remove(it->second.open);
    series.erase(it);
  }
};

namespace {

// One relayed stream: open until its body ends or the server lets go of it.
struct OpenStream {
  std::weak_ptr<GatewayMetrics::Impl> impl;
  Key key;
  uint64_t generation = 0;
  std::atomic<bool> ended{false};
  void end() {
    if (ended.exchange(true)) return;
    if (auto m = impl.lock()) m->streamEnded(key, generation);
  }
  ~OpenStream() { end(); }
};

class CountedSink : public server::StreamSink {
 public:
  CountedSink(std::shared_ptr<server::StreamSink> inner, std::shared_ptr<OpenStream> open)
      : inner_(std::move(inner)), open_(std::move(open)) {}
  bool write(std::string chunk) override { return inner_->write(std::move(chunk)); }
  void finish() override {
    open_->end();
    inner_->finish();
  }

 private:
  std::shared_ptr<server::StreamSink> inner_;
  std::shared_ptr<OpenStream> open_;
};

class CountedStream : public server::Stream {
 public:
  CountedStream(std::shared_ptr<server::Stream> inner, std::shared_ptr<OpenStream> open)
      : inner_(std::move(inner)), open_(std::move(open)) {}
  ~CountedStream() override { open_->end(); }
  void start(std::shared_ptr<server::StreamSink> sink) override {
    inner_->start(std::make_shared<CountedSink>(std::move(sink), open_));
  }
  void stop() override { inner_->stop(); }

 private:
  std::shared_ptr<server::Stream> inner_;
  std::shared_ptr<OpenStream> open_;
};

// Counts `r` (not deferred) and wraps its stream.
Response count(const std::shared_ptr<GatewayMetrics::Impl>& impl, const Key& key,
               const std::string& method, std::chrono::steady_clock::time_point start, Response r) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool stream = r.stream != nullptr;
  const uint64_t generation = impl->answered(key, method, r.status, seconds, stream);
  if (stream) {
    auto open = std::make_shared<OpenStream>();
    open->impl = impl;
    open->key = key;
    open->generation = generation;
    r.stream = std::make_shared<CountedStream>(std::move(r.stream), std::move(open));
  }
  return r;
}

class CountedAnswer : public server::Deferred {
 public:
  CountedAnswer(std::shared_ptr<server::Deferred> inner, std::function<Response(Response)> countIt)
      : inner_(std::move(inner)), count_(std::move(countIt)) {}
  void start(std::function<void(Response)> answer, const server::IoExecutor& io) override {
    inner_->start([countIt = count_,
                   answer = std::move(answer)](Response r) { answer(countIt(std::move(r))); },
                  io);
  }
  void stop() override { inner_->stop(); }

 private:
  std::shared_ptr<server::Deferred> inner_;
  std::function<Response(Response)> count_;
};

}  // namespace

GatewayMetrics::GatewayMetrics(metrics::Registry& registry, store::Store& store)
    : impl_(std::make_shared<Impl>(registry.families())) {
  std::weak_ptr<Impl> weak = impl_;
  impl_->sub = store.subscribe([weak](const store::WatchEvent& ev) {
    if (ev.type != store::EventType::Deleted || ev.resource != "mcpinstances") return;
    const auto& meta = ev.object.value("metadata", nlohmann::json::object());
    if (auto m = weak.lock()) m->forget({meta.value("namespace", ""), meta.value("name", "")});
  });
}

GatewayMetrics::~GatewayMetrics() { impl_->sub.reset(); }

Response GatewayMetrics::observe(const Request& req, const AdmittedInstance& target,
                                 std::chrono::steady_clock::time_point start, Response r) {
  if (!req.header("x-minimcp-forwarded-by").empty()) return r;  // kForwardedByHeader
  Key key{target.ns, target.name};
  std::string method = mcpMethodLabel(req);
  if (r.deferred) {
    r.deferred = std::make_shared<CountedAnswer>(
        std::move(r.deferred), [impl = impl_, key, method, start](Response answer) {
          return count(impl, key, method, start, std::move(answer));
        });
    return r;
  }
  return count(impl_, key, method, start, std::move(r));
}

}  // namespace minimcp::gateway
