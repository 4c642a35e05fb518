// WatchStream: one watch request's stream of {"type","object"} lines. It subscribes to the
// store BEFORE reading the starting point (list or history) and drops every live event whose
// resourceVersion it already sent, so a watch neither loses nor repeats a change.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/server/http_types.h"
#include "api/store/store.h"

namespace minimcp::server {

struct WatchSpec {
  std::string resource;  // plural
  std::string ns;        // "" = every namespace
  std::string labelSelector;
  std::string fieldSelector;
  // One line of the stream (with its trailing '\n') for an event.
  std::function<std::string(const char* type, const nlohmann::json& object)> encode;
  // A BOOKMARK line for a resourceVersion (`initialEventsEnd`: the one that closes the initial
  // events of sendInitialEvents); unset = no bookmarks.
  std::function<std::string(int64_t rv, bool initialEventsEnd)> bookmark;
  // As kube-apiserver: a bookmark about every interval, and one shortly before the timeout
  // ends the watch, so a client resumes from a recent resourceVersion.
  std::chrono::milliseconds bookmarkInterval{60000};
  std::chrono::milliseconds timeout{1800 * 1000};
  // sendInitialEvents=true: the current objects as ADDED events, then a bookmark saying so.
  bool sendInitialEvents = false;
};

class WatchStream : public Stream {
 public:
  WatchStream(store::Store& store, WatchSpec spec);
  ~WatchStream() override;

  // `resourceVersion` "" or "0", or sendInitialEvents: an ADDED event for every current object
  // first, then changes. N: every change after N. Throws StoreError Gone when N is older than the
  // kept history, BadSelector for bad selectors.
  void prepare(const std::string& resourceVersion);

  void start(std::shared_ptr<StreamSink> sink) override;
  void stop() override;

 private:
  void run(std::shared_ptr<StreamSink> sink);
  bool matches(const nlohmann::json& obj) const;

  store::Store& store_;
  WatchSpec spec_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<store::WatchEvent> live_;  // guarded by mu_
  int64_t maxSeenRv_ = 0;               // highest rv seen on any resource; guarded by mu_
  bool stopped_ = false;                // guarded by mu_
  std::vector<store::WatchEvent> initial_;
  int64_t startRv_ = 0;
  std::unique_ptr<store::Subscription> subscription_;
  std::mutex joinMu_;  // serializes joining thread_
  std::thread thread_;
};

}  // namespace minimcp::server
