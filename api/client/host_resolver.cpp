#include "api/client/host_resolver.h"

#include <netdb.h>
#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>

namespace minimcp::client {

struct SystemHostResolver::State {
  std::mutex mu;
  int inFlight = 0;
  int maxInFlight = 0;
};

SystemHostResolver::SystemHostResolver(int maxInFlight) : state_(std::make_shared<State>()) {
  state_->maxInFlight = maxInFlight;
}

void SystemHostResolver::lookup(const std::string& host, Done done) {
  {
    std::lock_guard lock(state_->mu);
    if (state_->inFlight >= state_->maxInFlight) {
      done({{},
            "too many DNS lookups in progress (" + std::to_string(state_->maxInFlight) +
                " not answered yet)"});
      return;
    }
    ++state_->inFlight;
  }
  // Detached: nothing interrupts getaddrinfo, and no caller waits for it past its deadline.
  // The thread holds what it uses (the state, the name, the callback), nothing of the caller's.
  auto run = [state = state_, host, done] {
    Result r;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;  // as asio's resolver asks by default
    addrinfo* list = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
    if (rc != 0) {
      r.error = "DNS lookup of " + host + " failed: " + ::gai_strerror(rc);
    } else {
      for (addrinfo* a = list; a; a = a->ai_next) {
        char text[NI_MAXHOST];
        if (::getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof text, nullptr, 0,
                          NI_NUMERICHOST) == 0) {
          r.addresses.emplace_back(text);
        }
      }
      ::freeaddrinfo(list);
      if (r.addresses.empty()) r.error = "DNS lookup of " + host + ": no address";
    }
    {
      std::lock_guard lock(state->mu);
      --state->inFlight;
    }
    done(std::move(r));
  };
  try {
    std::thread(std::move(run)).detach();
  } catch (const std::system_error& e) {
    {
      std::lock_guard lock(state_->mu);
      --state_->inFlight;
    }
    done({{}, std::string("cannot start a DNS lookup: ") + e.what()});
  }
}

std::shared_ptr<HostResolver> systemHostResolver() {
  static const auto resolver = std::make_shared<SystemHostResolver>();
  return resolver;
}

HostResolver::Result lookupWithin(HostResolver& resolver, const std::string& host,
                                  std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  const auto literal = boost::asio::ip::make_address(host, ec);
  if (!ec) return {{literal.to_string()}, ""};
  // Shared with the callback, which may run after this returned (a late answer is dropped).
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    HostResolver::Result result;
  };
  auto wait = std::make_shared<Wait>();
  resolver.lookup(host, [wait](HostResolver::Result r) {
    {
      std::lock_guard lock(wait->mu);
      if (wait->done) return;
      wait->done = true;
      wait->result = std::move(r);
    }
    wait->cv.notify_all();
  });
  std::unique_lock lock(wait->mu);
  if (!wait->cv.wait_for(lock, timeout, [&] { return wait->done; })) {
    wait->done = true;  // abandoned: a late answer finds it done and is dropped
    return {
        {},
        "DNS lookup of " + host + " timed out after " + std::to_string(timeout.count()) + " ms"};
  }
  return std::move(wait->result);
}

}  // namespace minimcp::client
