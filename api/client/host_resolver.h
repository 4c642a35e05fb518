// HostResolver: the one way a client looks up a host name's addresses, behind a narrow
// interface so tests can inject a DNS that never answers or answers late. getaddrinfo blocks
// and nothing can interrupt it (asio's resolver runs it on a thread a timer cannot cancel), so
// lookupWithin() bounds the wait instead: past the deadline the lookup is abandoned, its late
// answer dropped, and the caller gets a clear error to fail (and retry) with.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace minimcp::client {

class HostResolver {
 public:
  struct Result {
    std::vector<std::string> addresses;  // textual IPs ("10.0.0.1", "::1"), in the order given
    std::string error;                   // why there are none; "" when the lookup succeeded
  };
  using Done = std::function<void(Result)>;
  virtual ~HostResolver() = default;
  // Starts looking up `host`; calls `done` at most once, from any thread, possibly long after
  // the caller stopped waiting, or never (a DNS server that does not answer).
  virtual void lookup(const std::string& host, Done done) = 0;
};

// getaddrinfo, each lookup on a detached thread of its own; at most `maxInFlight` at once (a
// hanging DNS server must not pile up threads): beyond that a lookup fails at once.
class SystemHostResolver : public HostResolver {
 public:
  explicit SystemHostResolver(int maxInFlight = 16);
  void lookup(const std::string& host, Done done) override;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// The process's SystemHostResolver (what a client without an injected resolver uses).
std::shared_ptr<HostResolver> systemHostResolver();

// `host` looked up through `resolver`, waiting at most `timeout`. A literal IP address is its
// own answer (no lookup). Past the deadline the result's error says the lookup timed out.
HostResolver::Result lookupWithin(HostResolver& resolver, const std::string& host,
                                  std::chrono::milliseconds timeout);

}  // namespace minimcp::client
