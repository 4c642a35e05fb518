// The deadline of a connection's current step (a TLS handshake, reading a request head, writing
// a response, connecting upstream…), kept as one timer wait. Private to the .cpp files that
// run connections on the server's event loops (http_session.h, the gateway); never include it
// from a header others use.
//
// Why not a timer per step (Beast's basic_stream timeouts, or expires_after per operation):
// each step then starts a wait and cancels it, and each cancelled wait is one more handler and
// one more pass through the event loop, often with the event loop's timer set again (a
// timerfd_settime) — several times per proxied request (tools/bench/gateway_profile.sh).
// Here arming the deadline for a later time keeps the pending wait, which on ending early
// waits on for the rest; only an earlier deadline sets the timer again.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility> (C++20).
// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace minimcp::server {

template <class Executor>
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Deadline(const Executor& ex) : timer_(ex) {}

  // `owner` keeps the deadline alive (the deadline is its member); `expired` runs on the
  // executor when an armed deadline passes, while `owner` lives. Call once, before arm().
  void bind(std::weak_ptr<void> owner, std::function<void()> expired) {
    owner_ = std::move(owner);
    expired_ = std::move(expired);
  }

  // The current step must end within `d` from now.
  void arm(Clock::duration d) {
    armed_ = true;
    due_ = Clock::now() + d;
    if (!waitingUntil_ || *waitingUntil_ > due_) waitUntil(due_);
  }

  // No step is bounded until the next arm(); a pending wait ends harmlessly.
  void disarm() { armed_ = false; }

  // For good (the connection is over): nothing expires any more.
  void stop() {
    armed_ = false;
    ++generation_;
    waitingUntil_.reset();
    timer_.cancel();
  }

 private:
  void waitUntil(Clock::time_point t) {
    const uint64_t generation = ++generation_;
    waitingUntil_ = t;
    timer_.expires_at(t);
    timer_.async_wait([this, owner = owner_, generation](boost::system::error_code ec) {
      auto alive = owner.lock();
      if (!alive || generation_ != generation) return;  // gone, or set again meanwhile
      waitingUntil_.reset();
      if (ec || !armed_) return;
      if (Clock::now() < due_) return waitUntil(due_);
      armed_ = false;
      if (expired_) expired_();
    });
  }

  boost::asio::basic_waitable_timer<Clock, boost::asio::wait_traits<Clock>, Executor> timer_;
  std::weak_ptr<void> owner_;
  std::function<void()> expired_;
  uint64_t generation_ = 0;                        // which waitUntil() the pending wait belongs to
  std::optional<Clock::time_point> waitingUntil_;  // when the pending wait ends
  Clock::time_point due_;                          // the current step's deadline
  bool armed_ = false;                             // a step is bounded by due_
};

}  // namespace minimcp::server
