#include "api/server/watch.h"

namespace minimcp::server {

WatchStream::WatchStream(store::Store& store, WatchSpec spec)
    : store_(store), spec_(std::move(spec)) {}

WatchStream::~WatchStream() { stop(); }

bool WatchStream::matches(const nlohmann::json& obj) const {
  if (!spec_.labelSelector.empty() && !store::matchesLabelSelector(obj, spec_.labelSelector)) {
    return false;
  }
  if (!spec_.fieldSelector.empty() && !store::matchesFieldSelector(obj, spec_.fieldSelector)) {
    return false;
  }
  return true;
}

void WatchStream::prepare(const std::string& resourceVersion) {
  // Selectors are checked now so a bad one answers 400 instead of a broken stream.
  matches(nlohmann::json::object());
  subscription_ = store_.subscribe([this](const store::WatchEvent& ev) {
    std::lock_guard lock(mu_);
    if (ev.resourceVersion > maxSeenRv_) maxSeenRv_ = ev.resourceVersion;
    if (ev.resource != spec_.resource) return;
    if (!spec_.ns.empty()) {
      const auto& md = ev.object.value("metadata", nlohmann::json::object());
      if (md.value("namespace", "") != spec_.ns) return;
    }
    live_.push_back(ev);
    cv_.notify_one();
  });
  if (resourceVersion.empty() || resourceVersion == "0" || spec_.sendInitialEvents) {
    store::ListOptions opts;
    opts.ns = spec_.ns;
    opts.labelSelector = spec_.labelSelector;
    opts.fieldSelector = spec_.fieldSelector;
    auto list = store_.list(spec_.resource, opts);
    for (auto& item : list.items) {
      initial_.push_back(
          {store::EventType::Added, spec_.resource, std::move(item), list.resourceVersion});
    }
    startRv_ = list.resourceVersion;
  } else {
    int64_t n = 0;
    try {
      size_t used = 0;
      n = std::stoll(resourceVersion, &used);
      if (used != resourceVersion.size() || n < 0) throw std::invalid_argument("rv");
    } catch (const std::exception&) {
      throw store::StoreError(store::StoreError::Code::BadSelector,
                              "invalid resourceVersion \"" + resourceVersion + "\"");
    }
    initial_ = store_.changesSince(spec_.resource, spec_.ns, n);
    startRv_ = n;
  }
}

void WatchStream::start(std::shared_ptr<StreamSink> sink) {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  thread_ = std::thread([this, sink = std::move(sink)] { run(sink); });
}

void WatchStream::stop() {
  std::unique_ptr<store::Subscription> sub;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    sub = std::move(subscription_);
    cv_.notify_all();
  }
  // Outside mu_: the subscription's destructor waits for a callback that may need mu_.
  sub.reset();
  // The session and the server's shutdown may both stop a stream; one of them joins.
  std::lock_guard joinLock(joinMu_);
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }
}

void WatchStream::run(std::shared_ptr<StreamSink> sink) {
  using Clock = std::chrono::steady_clock;
  int64_t sentRv = startRv_;
  auto send = [&](const store::WatchEvent& ev) {
    if (ev.resourceVersion > sentRv) sentRv = ev.resourceVersion;
    if (!matches(ev.object)) return true;
    return sink->write(spec_.encode(store::toString(ev.type), ev.object));
  };
  bool ok = true;
  for (const auto& ev : initial_) {
    if (!(ok = send(ev))) break;
  }
  initial_.clear();
  if (ok && spec_.sendInitialEvents && spec_.bookmark) {
    ok = sink->write(spec_.bookmark(sentRv, /*initialEventsEnd=*/true));
  }
  const auto deadline = Clock::now() + spec_.timeout;
  // kube-apiserver's schedule: every interval, and 2 s before the deadline at the latest.
  const auto lastBookmark =
      deadline - std::min<Clock::duration>(std::chrono::seconds(2), spec_.timeout / 2);
  auto nextBookmarkAfter = [&](Clock::time_point now) {
    auto next = now + spec_.bookmarkInterval;
    return now < lastBookmark ? std::min(next, lastBookmark) : next;
  };
  auto nextBookmark = nextBookmarkAfter(Clock::now());
  while (ok) {
    std::deque<store::WatchEvent> batch;
    int64_t seen;
    {
      std::unique_lock lock(mu_);
      auto until = spec_.bookmark ? std::min(deadline, nextBookmark) : deadline;
      cv_.wait_until(lock, until, [&] { return stopped_ || !live_.empty(); });
      if (stopped_) return;
      batch.swap(live_);
      seen = maxSeenRv_;
    }
    for (const auto& ev : batch) {
      // Already sent as part of the list or the history read after subscribing.
      if (ev.resourceVersion <= sentRv) continue;
      if (!(ok = send(ev))) break;
    }
    if (!ok) break;
    auto now = Clock::now();
    if (now >= deadline) break;
    if (spec_.bookmark && now >= nextBookmark) {
      // Every change up to `seen` has been delivered (callbacks run in rv order), so a client
      // may resume from there.
      ok = sink->write(spec_.bookmark(std::max(sentRv, seen), false));
      nextBookmark = nextBookmarkAfter(now);
    }
  }
  sink->finish();
}

}  // namespace minimcp::server
