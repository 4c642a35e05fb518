#include "reconciler/runtime/health_prober.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "reconciler/runtime/listening_ports.h"

namespace minimcp::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr uint64_t kMaxBodyBytes = 64 * 1024;

class ProbeSession : public std::enable_shared_from_this<ProbeSession> {
 public:
  ProbeSession(asio::io_context& io, ProbeTarget target, std::chrono::milliseconds timeout)
      : stream_(io), target_(std::move(target)), timeout_(timeout) {}

  void setCallback(HealthProber::Callback callback) { callback_ = std::move(callback); }

  void run() {
    started_ = std::chrono::steady_clock::now();
    deadline_ = started_ + timeout_;
    req_.method(http::verb::get);
    req_.target(target_.path.empty() ? "/" : target_.path);
    req_.version(11);
    req_.set(http::field::host, target_.host + ":" + std::to_string(target_.port));
    req_.set(http::field::user_agent, "minimcp-health-prober");
    req_.set(http::field::connection, "close");
    for (const auto& [name, value] : target_.headers) req_.set(name, value);
    parser_.body_limit(kMaxBodyBytes);

    boost::system::error_code ec;
    auto address = asio::ip::make_address(target_.host, ec);
    if (!ec) {
      connect(tcp::endpoint(address, target_.port));
      return;
    }
    // What is probed is an instance of this host, at the address it listens on: no name to
    // look up (and no DNS that could hold the probes of every instance up).
    fail("not an IP address: " + target_.host);
  }

  // Completes the probe with `error` unless it already completed (exactly-once callback).
  void fail(const std::string& error) {
    if (done_) return;
    ProbeResult r;
    r.error = error;
    complete(r);
  }

 private:
  void connect(const tcp::endpoint& endpoint) {
    stream_.expires_at(deadline_);
    stream_.async_connect(endpoint, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->fail(self->describe(ec));
      self->stream_.expires_at(self->deadline_);
      http::async_write(self->stream_, self->req_, [self](beast::error_code ec2, std::size_t) {
        if (ec2) return self->fail(self->describe(ec2));
        self->stream_.expires_at(self->deadline_);
        http::async_read(self->stream_, self->buffer_, self->parser_,
                         [self](beast::error_code ec3, std::size_t) { self->onRead(ec3); });
      });
    });
  }

  void onRead(beast::error_code ec) {
    // A body over the limit still told us the status line, which is all a probe needs.
    if (ec && !(ec == http::error::body_limit && parser_.is_header_done())) {
      return fail(describe(ec));
    }
    ProbeResult r;
    r.statusCode = static_cast<int>(parser_.get().result_int());
    r.healthy = r.statusCode >= 200 && r.statusCode < 400;
    if (r.healthy && !ec) r.keyRejected = keyRejectionOf(parser_.get().body());
    complete(r);
  }

  std::string describe(const beast::error_code& ec) const {
    if (ec == beast::error::timeout) return "timeout";
    return ec.message();
  }

  void complete(ProbeResult r) {
    done_ = true;
    r.latency = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started_);
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    auto cb = std::move(callback_);
    if (cb) cb(r);
  }

  beast::tcp_stream stream_;
  ProbeTarget target_;
  std::chrono::milliseconds timeout_;
  HealthProber::Callback callback_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point deadline_;
  http::request<http::empty_body> req_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  bool done_ = false;
};

}  // namespace

std::string keyRejectionOf(std::string_view healthBody) {
  if (healthBody.find("\"key\"") == std::string_view::npos) return "";  // the common answer
  const nlohmann::json doc = nlohmann::json::parse(healthBody, nullptr, false);
  if (!doc.is_object()) return "";
  auto key = doc.find("key");
  if (key == doc.end() || !key->is_object()) return "";
  auto available = key->find("available");
  if (available == key->end() || *available != false) return "";
  auto reason = key->find("reason");
  if (reason == key->end() || !reason->is_string() ||
      reason->get_ref<const std::string&>().empty()) {
    return "KeyRejected";
  }
  return reason->get<std::string>().substr(0, kMaxKeyReasonBytes);
}

struct BeastHealthProber::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{asio::make_work_guard(io)};
  std::thread thread;
  // Sessions in flight (io thread only), so shutdown can complete them.
  std::set<std::weak_ptr<ProbeSession>, std::owner_less<std::weak_ptr<ProbeSession>>> sessions;
};

BeastHealthProber::BeastHealthProber() : impl_(std::make_unique<Impl>()) {
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

BeastHealthProber::~BeastHealthProber() {
  asio::post(impl_->io, [this] {
    auto inFlight = std::move(impl_->sessions);  // callbacks erase from the set
    impl_->sessions.clear();
    for (const auto& weak : inFlight) {
      if (auto s = weak.lock()) s->fail("shutdown");
    }
  });
  impl_->work.reset();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void BeastHealthProber::probe(const ProbeTarget& target, std::chrono::milliseconds timeout,
                              Callback callback) {
  asio::post(impl_->io, [this, target, timeout, callback = std::move(callback)]() mutable {
    Impl* impl = impl_.get();
    auto session = std::make_shared<ProbeSession>(impl->io, target, timeout);
    std::weak_ptr<ProbeSession> weak = session;
    // Unregisters itself when done, so the set holds only probes in flight.
    session->setCallback([impl, weak, callback = std::move(callback)](const ProbeResult& r) {
      impl->sessions.erase(weak);
      if (callback) callback(r);
    });
    impl->sessions.insert(weak);
    session->run();
  });
}

std::optional<std::set<uint16_t>> BeastHealthProber::listeningPorts() {
  return listeningTcpPorts();
}

// --- ProbeScheduler ------------------------------------------------------------------------

struct ProbeScheduler::Impl : std::enable_shared_from_this<ProbeScheduler::Impl> {
  struct Job {
    ProbeTarget target;
    std::chrono::milliseconds period{};
    std::chrono::milliseconds timeout{};
    ResultCallback onResult;
    std::chrono::steady_clock::time_point due;
    uint64_t generation = 0;
    bool inFlight = false;
    bool untilListening = false;
  };

  explicit Impl(HealthProber& p) : prober(p) {}

  void loop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      auto now = std::chrono::steady_clock::now();
      auto next = now + std::chrono::hours(1);
      std::optional<std::set<uint16_t>> listening;
      bool listed = false;
      std::vector<std::tuple<std::string, ProbeTarget, std::chrono::milliseconds, uint64_t>> due;
      for (auto& [key, job] : jobs) {
        if (job.due <= now && !job.inFlight) {
          // On a grid shared by every key with this period: a round of many keys costs
          // one wake-up here and one burst of the prober's io thread, not one each.
          job.due = gridAfter(now, job.period);
          if (job.untilListening) {
            if (!listed) {
              listening = prober.listeningPorts();  // nullopt: not known, probe anyway
              listed = true;
            }
            if (listening && !listening->count(job.target.port)) {
              next = std::min(next, job.due);
              continue;
            }
          }
          job.inFlight = true;
          due.emplace_back(key, job.target, job.timeout, job.generation);
        }
        if (!job.inFlight || job.due > now) next = std::min(next, job.due);
      }
      if (!due.empty()) {
        lock.unlock();
        for (auto& [key, target, timeout, generation] : due) {
          std::weak_ptr<Impl> weak = shared_from_this();
          prober.probe(target, timeout, [weak, key, generation](const ProbeResult& r) {
            if (auto self = weak.lock()) self->deliver(key, generation, r);
          });
        }
        lock.lock();
        continue;
      }
      changed.wait_until(lock, next);
    }
  }

  // The first multiple of `period` (on the steady clock) after `now`.
  static std::chrono::steady_clock::time_point gridAfter(std::chrono::steady_clock::time_point now,
                                                         std::chrono::milliseconds period) {
    const auto p = std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
    if (p.count() <= 0) return now;
    const auto since = now.time_since_epoch();
    return std::chrono::steady_clock::time_point((since / p + 1) * p);
  }

  void deliver(const std::string& key, uint64_t generation, const ProbeResult& r) {
    // Held across the callback so stop() can wait out a delivery in progress; recursive so
    // the callback itself may call start()/stop().
    std::lock_guard delivering(deliveryMu);
    ResultCallback cb;
    bool overdue = false;
    {
      std::lock_guard lock(mu);
      auto it = jobs.find(key);
      if (it == jobs.end() || it->second.generation != generation) return;
      it->second.inFlight = false;
      // The loop already waits for this job's next round unless that round passed while the
      // probe was in flight: only then does it need waking.
      overdue = it->second.due <= std::chrono::steady_clock::now();
      cb = it->second.onResult;
    }
    if (overdue) changed.notify_all();
    if (cb) cb(key, r);
  }

  HealthProber& prober;
  std::mutex mu;
  std::recursive_mutex deliveryMu;
  std::condition_variable changed;
  std::map<std::string, Job> jobs;
  uint64_t nextGeneration = 1;
  bool stopping = false;
  std::thread thread;
};

ProbeScheduler::ProbeScheduler(HealthProber& prober) : impl_(std::make_shared<Impl>(prober)) {
  impl_->thread = std::thread([impl = impl_.get()] { impl->loop(); });
}

ProbeScheduler::~ProbeScheduler() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    impl_->jobs.clear();
  }
  impl_->changed.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  std::lock_guard delivering(impl_->deliveryMu);  // let a delivery in progress finish
}

void ProbeScheduler::start(const std::string& key, const ProbeTarget& target,
                           std::chrono::milliseconds period, std::chrono::milliseconds timeout,
                           ResultCallback onResult, bool untilListening) {
  {
    std::lock_guard lock(impl_->mu);
    Impl::Job job;
    job.target = target;
    job.period = period;
    job.timeout = timeout;
    job.onResult = std::move(onResult);
    job.untilListening = untilListening;
    job.due = std::chrono::steady_clock::now();
    job.generation = impl_->nextGeneration++;
    impl_->jobs[key] = std::move(job);
  }
  impl_->changed.notify_all();
}

void ProbeScheduler::stop(const std::string& key) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->jobs.erase(key);
  }
  impl_->changed.notify_all();
  std::lock_guard delivering(impl_->deliveryMu);  // a delivery in progress ends first
}

}  // namespace minimcp::runtime
