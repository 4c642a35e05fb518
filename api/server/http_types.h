// Beast-free view of one HTTP exchange, so routes and handlers are testable without a socket.
// The Beast server (http_server.cpp) converts to and from these types.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace minimcp::server {

struct Request {
  std::string method;                        // "GET"
  std::string target;                        // raw path + query, as received
  std::string path;                          // percent-decoded path
  std::map<std::string, std::string> query;  // percent-decoded; the last of repeated keys wins
  // Lowercase names in the order received, a repeated name's values joined with ", ". A list,
  // not a map: a request has a dozen headers, and a node per header was most of the
  // allocations of turning Beast's request into this one (tools/bench/gateway_profile.sh).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::string header(const std::string& lowerName) const;
  std::string param(const std::string& name) const;  // "" when absent
  // Every value of a repeated parameter, in order (read from `target`): "?dryRun=All&dryRun=x".
  std::vector<std::string> params(const std::string& name) const;
  bool hasParam(const std::string& name) const { return query.count(name) != 0; }
};

// Splits a request target into its decoded path and query parameters.
void parseTarget(const std::string& target, std::string& path,
                 std::map<std::string, std::string>& query);
// Why the path of `target` (raw, as received) is refused: a dot segment ("." or ".."),
// percent-encoded ones included ("%2e%2e", ".%2E"), an encoded slash or backslash ("%2f",
// "%5c") or a backslash. Each would let the path mean one thing here and another to whatever
// reads it next (an instance behind the gateway). "" when none.
std::string unsafePathReason(std::string_view target);

// Where a streamed body goes. Thread-safe: the producer may call it from any thread.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Queues one chunk. False once the client is gone or too far behind: stop producing.
  virtual bool write(std::string chunk) = 0;
  // Ends the body; later writes are dropped.
  virtual void finish() = 0;
};

// A body produced over time (watch). The server calls start() once the headers are out and
// stop() when the client goes away or the server stops; stop() must be idempotent and must not
// return while the producer may still call the sink.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual void start(std::shared_ptr<StreamSink> sink) = 0;
  virtual void stop() = 0;
};

struct Response;

// The executor of the session waiting for a deferred answer (the event loop of one of
// the server's I/O threads), on which the answer's own asynchronous work may run: no thread of its
// own, no hand-off between threads. Opaque here so Asio stays out of this header: io_executor.h.
struct IoExecutor;

// An answer that comes later (the gateway waiting for an instance), so that no server thread
// waits for it. The server calls start() once, after the handler returned, on the session's
// executor `io`; `answer` may be called from any thread, at most once, with the response (a
// streamed one too, never another deferred one). stop(): the server is stopping or the
// connection is gone; it must be idempotent, and once it returns `answer` is never called (the
// producer drops it).
class Deferred {
 public:
  virtual ~Deferred() = default;
  virtual void start(std::function<void(Response)> answer, const IoExecutor& io) = 0;
  virtual void stop() = 0;
};

struct Response {
  int status = 200;
  std::string contentType = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::shared_ptr<Stream> stream;      // set: a chunked body from the stream; `body` is unused
  std::shared_ptr<Deferred> deferred;  // set: the response comes from it; the rest is unused

  static Response json(int status, const nlohmann::json& body);
  static Response text(int status, std::string body);
};

using Handler = std::function<Response(const Request&)>;

}  // namespace minimcp::server
