#include "api/store/postgres_store.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <stdexcept>
#include <thread>

#include "api/store/store_internal.h"

namespace minimcp::store {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kChannel = "minimcp_changes";
// Key of the session-independent advisory lock that makes concurrent starts migrate one by one.
constexpr int64_t kMigrationLock = 0x6d696e696d6370;  // "minimcp"

// Schema migrations: entry i moves the schema from version i to i + 1. Released entries are
// never edited; a change of schema appends one. COLLATE "C" makes (ns, name) order bytewise,
// the same as SQLite's and independent of the server's locale.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE objects (
  resource text COLLATE "C" NOT NULL,
  ns text COLLATE "C" NOT NULL,
  name text COLLATE "C" NOT NULL,
  rv bigint NOT NULL,
  data text NOT NULL,
  labels text NOT NULL,
  PRIMARY KEY (resource, ns, name));
CREATE TABLE history (
  rv bigint PRIMARY KEY,
  resource text NOT NULL,
  ns text NOT NULL,
  type text NOT NULL,
  data text NOT NULL);
CREATE TABLE resource_version (
  id integer PRIMARY KEY CHECK (id = 1),
  rv bigint NOT NULL);
INSERT INTO resource_version (id, rv) VALUES (1, 0);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// Prepared statements, by name. Writers take the counter row first: its row lock is what
// serialises them, so the checks that follow (existence, expected rv) cannot race.
const std::pair<const char*, const char*> kStatements[] = {
    {"rv_next", "UPDATE resource_version SET rv = rv + 1 WHERE id = 1 RETURNING rv"},
    {"rv_current", "SELECT rv FROM resource_version WHERE id = 1"},
    {"get", "SELECT rv, data FROM objects WHERE resource = $1 AND ns = $2 AND name = $3"},
    // Object, history and notification in one statement; no row back = the name is taken.
    {"create",
     "WITH o AS (INSERT INTO objects (resource, ns, name, rv, data, labels) "
     "  VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING rv),"
     " h AS (INSERT INTO history (rv, resource, ns, type, data) "
     "  SELECT rv, $1, $2, 'ADDED', $5 FROM o RETURNING rv) "
     "SELECT pg_notify('minimcp_changes', rv::text) FROM h"},
    // Compare-and-swap in the UPDATE itself; no row back = absent or stale.
    {"update",
     "WITH o AS (UPDATE objects SET rv = $4, data = $5, labels = $6 "
     "  WHERE resource = $1 AND ns = $2 AND name = $3 AND ($7::bigint = 0 OR rv = $7::bigint) "
     "  RETURNING rv),"
     " h AS (INSERT INTO history (rv, resource, ns, type, data) "
     "  SELECT rv, $1, $2, 'MODIFIED', $5 FROM o RETURNING rv) "
     "SELECT pg_notify('minimcp_changes', rv::text) FROM h"},
    {"delete",
     "DELETE FROM objects WHERE resource = $1 AND ns = $2 AND name = $3 "
     "AND ($4::bigint = 0 OR rv = $4::bigint) RETURNING data"},
    {"history_add",
     "WITH h AS (INSERT INTO history (rv, resource, ns, type, data) "
     "  VALUES ($1, $2, $3, $4, $5) RETURNING rv) "
     "SELECT pg_notify('minimcp_changes', rv::text) FROM h"},
    {"history_bounds", "SELECT min(rv), max(rv) FROM history"},
    {"history_trim", "DELETE FROM history WHERE rv <= $1"},
    {"history_range",
     "SELECT rv, resource, type, data FROM history WHERE rv > $1 AND rv <= $2 ORDER BY rv"},
    {"changes_all",
     "SELECT rv, type, data FROM history WHERE rv > $1 AND resource = $2 ORDER BY rv"},
    {"changes_ns",
     "SELECT rv, type, data FROM history WHERE rv > $1 AND resource = $2 AND ns = $3 "
     "ORDER BY rv"},
    {"list_all",
     "SELECT ns, name, data, labels FROM objects WHERE resource = $1 AND (ns, name) > ($2, $3) "
     "ORDER BY ns, name"},
    {"list_ns",
     "SELECT ns, name, data, labels FROM objects WHERE resource = $1 AND ns = $2 AND name > $3 "
     "ORDER BY name"},
};

// Reconnection pacing. Operations wait at most about kConnectBudget for the database to come
// back; the listener keeps trying for as long as the store lives.
constexpr auto kConnectBackoffMin = 50ms;
constexpr auto kConnectBudget = 3s;
constexpr auto kListenBackoffMin = 50ms;
constexpr auto kListenBackoffMax = 5s;
// The listener wakes this often even without traffic, so a wait is never unbounded.
constexpr int kListenPollMs = 10000;

// Thrown when the connection broke during COMMIT: the change may or may not be applied, so the
// operation must not be retried.
struct InDoubt : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool isConnectionLoss(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) return true;
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) return true;
  if (const auto* s = dynamic_cast<const pqxx::sql_error*>(&e)) {
    // Class 08: connection exception; 57P01..03: the server shuts down or restarts.
    const std::string& state = s->sqlstate();
    return state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0;
  }
  return false;
}

// --- pqxx helpers ---------------------------------------------------------------------------

std::string text(const pqxx::field& f) { return std::string(f.c_str(), f.size()); }

Json parseJson(const pqxx::field& f) {
  if (f.is_null()) internal::throwUnavailable("postgres store: NULL object data");
  try {
    return Json::parse(f.c_str(), f.c_str() + f.size());
  } catch (const Json::exception& e) {
    internal::throwUnavailable(std::string("postgres store: corrupt object data: ") + e.what());
  }
}

// Adds the connection parameters the store relies on, unless the URL sets them itself: a bounded
// connect, and TCP keepalives so that a vanished server is noticed by an idle listener.
std::string withConnectionParams(const std::string& url) {
  static const std::pair<const char*, const char*> kDefaults[] = {
      {"connect_timeout", "5"},     {"keepalives", "1"},       {"keepalives_idle", "10"},
      {"keepalives_interval", "5"}, {"keepalives_count", "3"}, {"application_name", "minimcp"},
  };
  std::string out = url;
  size_t q = out.find('?');
  std::string query = q == std::string::npos ? "" : out.substr(q + 1);
  for (const auto& [key, value] : kDefaults) {
    std::string k = std::string(key) + "=";
    bool present = query.rfind(k, 0) == 0 || query.find("&" + k) != std::string::npos;
    if (present) continue;
    out += (out.find('?') == std::string::npos ? "?" : "&") + k + value;
  }
  return out;
}

// True when an idle connection must be replaced. Nothing is ever due on an idle connection
// that does not LISTEN, so anything waiting on its socket is the server's goodbye (restart,
// failover, terminated backend: an error, then EOF). Replacing it up front beats failing a
// statement on it, and avoids a libpqxx 6.4 leak of the error result in that case.
bool idleConnectionLost(pqxx::connection& c) {
  if (!c.is_open()) return true;
  pollfd pfd{c.sock(), POLLIN, 0};
  return ::poll(&pfd, 1, 0) != 0;
}

// Notices ("relation already exists, skipping") would go to stderr through libpq.
void quiet(pqxx::connection& c) {
  pqxx::nontransaction tx(c);
  tx.exec("SET client_min_messages TO warning");
}

// Collects the payloads (resourceVersions) of notifications on the changes channel.
class ChangeReceiver : public pqxx::notification_receiver {
 public:
  ChangeReceiver(pqxx::connection_base& c, std::vector<int64_t>& out)
      : pqxx::notification_receiver(c, kChannel), out_(out) {}
  void operator()(const std::string& payload, int) override {
    try {
      out_.push_back(std::stoll(payload));
    } catch (const std::exception&) {
      out_.push_back(0);  // unknown sender: catch up from the counter instead
    }
  }

 private:
  std::vector<int64_t>& out_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

class PostgresStore::Impl {
 public:
  Impl(const std::string& url, int64_t historyLimit);
  ~Impl();

  // Runs `f` with the shared connection under dbMu_, (re)connecting first when needed. After a
  // lost connection it reconnects and runs `f` again once, when `retrySafe` (reads; writes whose
  // loss happened before COMMIT). Other database failures become StoreError Unavailable.
  template <typename F>
  auto run(const char* what, bool retrySafe, F&& f)
      -> decltype(f(std::declval<pqxx::connection&>()));

  // One write transaction: takes the next rv, runs `body`, trims history, commits, then
  // delivers to subscribers (in rv order, before returning).
  Json write(const char* what, const std::function<WatchEvent(pqxx::work&, int64_t)>& body);

  // Delivers every change with rv in (delivered_, target] to subscribers, in order, once.
  void deliverUpTo(int64_t target);
  int64_t readCounter(pqxx::transaction_base& tx);

  std::unique_ptr<pqxx::connection> connect(std::chrono::steady_clock::duration budget);
  void migrate(pqxx::connection& c);
  void listen();
  bool stopping() const { return stop_.load(); }

  std::string url_;
  std::string where_;  // redacted URL for messages
  int64_t historyLimit_;
  int64_t trimBatch_;

  std::mutex dbMu_;
  std::unique_ptr<pqxx::connection> conn_;  // guarded by dbMu_

  // Events of local writes about to commit, so delivery needs no read-back. Never locked while
  // waiting for deliverMu_ (writers hold dbMu_ here; callbacks hold deliverMu_ and take dbMu_).
  std::mutex pendingMu_;
  std::map<int64_t, WatchEvent> pending_;

  std::mutex deliverMu_;  // held while delivering: one delivery stream, in rv order
  std::atomic<int64_t> delivered_{0};
  std::shared_ptr<internal::Hub> hub_ = std::make_shared<internal::Hub>();

  std::atomic<bool> stop_{false};
  std::mutex stopMu_;
  std::condition_variable stopCv_;
  int wakeFd_ = -1;
  std::thread listener_;
};

PostgresStore::Impl::Impl(const std::string& url, int64_t historyLimit)
    : url_(withConnectionParams(url)),
      where_("postgres store " + PostgresStore::redactUrl(url)),
      historyLimit_(historyLimit < 1 ? 1 : historyLimit),
      trimBatch_(std::max<int64_t>(1, std::min<int64_t>(historyLimit_ / 8, 1000))) {
  int64_t current = run("open", true, [&](pqxx::connection& c) {
    migrate(c);
    pqxx::nontransaction tx(c);
    return readCounter(tx);
  });
  delivered_ = current;
  wakeFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd_ < 0) internal::throwUnavailable(where_ + ": eventfd: " + std::strerror(errno));
  listener_ = std::thread([this] { listen(); });
}

PostgresStore::Impl::~Impl() {
  {
    std::lock_guard lk(stopMu_);
    stop_ = true;
  }
  stopCv_.notify_all();
  if (wakeFd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wakeFd_, &one, sizeof one);
  }
  if (listener_.joinable()) listener_.join();
  if (wakeFd_ >= 0) ::close(wakeFd_);
}

std::unique_ptr<pqxx::connection> PostgresStore::Impl::connect(
    std::chrono::steady_clock::duration budget) {
  auto deadline = std::chrono::steady_clock::now() + budget;
  auto delay = std::chrono::steady_clock::duration(kConnectBackoffMin);
  for (;;) {
    try {
      auto c = std::make_unique<pqxx::connection>(url_);
      quiet(*c);
      for (const auto& [name, sql] : kStatements) c->prepare(name, sql);
      return c;
    } catch (const std::exception& e) {
      if (std::chrono::steady_clock::now() + delay > deadline) {
        internal::throwUnavailable(where_ + ": cannot connect: " + e.what());
      }
    }
    std::this_thread::sleep_for(delay);  // backoff between attempts, bounded by `budget`
    delay *= 2;
  }
}

template <typename F>
auto PostgresStore::Impl::run(const char* what, bool retrySafe, F&& f)
    -> decltype(f(std::declval<pqxx::connection&>())) {
  std::lock_guard lk(dbMu_);
  for (int attempt = 0;; ++attempt) {
    if (conn_ && idleConnectionLost(*conn_)) conn_.reset();
    if (!conn_) conn_ = connect(kConnectBudget);
    try {
      return f(*conn_);
    } catch (const StoreError&) {
      throw;
    } catch (const InDoubt& e) {
      conn_.reset();
      internal::throwUnavailable(
          where_ + ": " + what +
          ": connection lost during commit; the change may or may not have been "
          "applied: " +
          e.what());
    } catch (const pqxx::failure& e) {
      bool lost = isConnectionLoss(e) || !conn_->is_open();
      if (!lost) internal::throwUnavailable(where_ + ": " + what + ": " + e.what());
      conn_.reset();
      if (!retrySafe || attempt > 0) {
        internal::throwUnavailable(where_ + ": " + what + ": connection lost: " + e.what());
      }
      // Reconnect (with backoff) and try once more: nothing was committed.
    }
  }
}

void PostgresStore::Impl::migrate(pqxx::connection& c) {
  pqxx::work tx(c);
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
  tx.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
      "applied_at timestamptz NOT NULL DEFAULT now())");
  int version = tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
  if (version > kSchemaVersion) {
    internal::throwUnavailable(where_ + ": schema version " + std::to_string(version) +
                               " is newer than this mcpd understands (" +
                               std::to_string(kSchemaVersion) + ")");
  }
  for (int v = version + 1; v <= kSchemaVersion; ++v) {
    tx.exec(kMigrations[v - 1]);
    tx.exec_params("INSERT INTO schema_migrations (version) VALUES ($1)", v);
  }
  tx.commit();
}

int64_t PostgresStore::Impl::readCounter(pqxx::transaction_base& tx) {
  auto r = tx.exec_prepared("rv_current");
  if (r.empty()) internal::throwUnavailable(where_ + ": resource_version row missing");
  return r[0][0].as<int64_t>();
}

Json PostgresStore::Impl::write(const char* what,
                                const std::function<WatchEvent(pqxx::work&, int64_t)>& body) {
  WatchEvent ev = run(what, true, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    int64_t rv = tx.exec_prepared1("rv_next")[0].as<int64_t>();
    WatchEvent e = body(tx, rv);
    e.resourceVersion = rv;
    // Trimming is a range delete; every trimBatch_ writes keeps writes cheap.
    if (rv % trimBatch_ == 0 && rv > historyLimit_) {
      tx.exec_prepared("history_trim", rv - historyLimit_);
    }
    {
      std::lock_guard pl(pendingMu_);
      pending_[rv] = e;
    }
    try {
      tx.commit();
    } catch (const std::exception& err) {
      {
        std::lock_guard pl(pendingMu_);
        pending_.erase(rv);
      }
      // If it did commit after all, the listener delivers it from the history.
      if (isConnectionLoss(err) || !c.is_open()) throw InDoubt(err.what());
      throw;
    }
    return e;
  });
  deliverUpTo(ev.resourceVersion);
  return std::move(ev.object);
}

void PostgresStore::Impl::deliverUpTo(int64_t target) {
  std::lock_guard dl(deliverMu_);
  auto dropPending = [&](int64_t upTo) {
    std::lock_guard pl(pendingMu_);
    pending_.erase(pending_.begin(), pending_.upper_bound(upTo));
  };
  int64_t from = delivered_.load();
  if (target <= from) {
    dropPending(from);
    return;
  }
  if (hub_->empty()) {
    delivered_ = target;
    dropPending(target);
    return;
  }
  // Local events come from pending_ while they are contiguous; the rest (other nodes' writes,
  // or local ones another thread already took) from the history table.
  std::vector<WatchEvent> batch;
  int64_t next = from + 1;
  {
    std::lock_guard pl(pendingMu_);
    for (auto it = pending_.find(next); it != pending_.end() && next <= target;
         it = pending_.find(next)) {
      batch.push_back(std::move(it->second));
      pending_.erase(it);
      ++next;
    }
  }
  if (next <= target) {
    try {
      run("watch", true, [&](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        auto r = tx.exec_prepared("history_range", next - 1, target);
        for (const auto& row : r) {
          batch.push_back(WatchEvent{internal::parseEventType(text(row[2])), text(row[1]),
                                     parseJson(row[3]), row[0].as<int64_t>()});
        }
      });
    } catch (const std::exception&) {
      // Deliver what is at hand; the listener resumes from there once the database is back.
      target = next - 1;
    }
    // Entries trimmed from the history before they could be read are skipped, not waited for.
    dropPending(target);
  }
  for (const auto& ev : batch) hub_->deliver(ev);
  delivered_ = target;
}

void PostgresStore::Impl::listen() {
  auto backoff = std::chrono::steady_clock::duration(kListenBackoffMin);
  while (!stopping()) {
    try {
      pqxx::connection c(url_);
      quiet(c);
      std::vector<int64_t> payloads;
      ChangeReceiver receiver(c, payloads);  // LISTEN
      // Closes the connection before the receiver goes: its destructor would otherwise send
      // UNLISTEN, through libpqxx's reconnect-on-use, on a connection that may be dead.
      struct Closer {
        pqxx::connection& c;
        ~Closer() { c.disconnect(); }
      } closer{c};
      backoff = kListenBackoffMin;
      // Whatever was committed while nobody listened (start, or a lost connection).
      int64_t current = run("watch", true, [&](pqxx::connection& main) {
        pqxx::nontransaction tx(main);
        return readCounter(tx);
      });
      deliverUpTo(current);
      while (!stopping()) {
        pollfd fds[2] = {{c.sock(), POLLIN, 0}, {wakeFd_, POLLIN, 0}};
        int n = ::poll(fds, 2, kListenPollMs);
        if (n < 0 && errno != EINTR) throw std::runtime_error(std::strerror(errno));
        if (n <= 0) continue;
        if (fds[1].revents != 0) break;
        c.get_notifs();
        if (!c.is_open() || (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
          throw pqxx::broken_connection("listener connection closed");
        }
        int64_t target = 0;
        for (int64_t p : payloads) {
          if (p != 0 && p <= delivered_.load()) continue;
          {
            // A local write delivers its own event before it returns.
            std::lock_guard pl(pendingMu_);
            if (pending_.count(p) != 0) continue;
          }
          target = std::max(target, p);
          if (p == 0) target = std::numeric_limits<int64_t>::max();
        }
        payloads.clear();
        if (target == std::numeric_limits<int64_t>::max()) {
          target = run("watch", true, [&](pqxx::connection& main) {
            pqxx::nontransaction tx(main);
            return readCounter(tx);
          });
        }
        if (target > 0) deliverUpTo(target);
      }
    } catch (const std::exception&) {
      // Lost or refused connection: back off below, then reconnect and resume.
    }
    std::unique_lock lk(stopMu_);
    stopCv_.wait_for(lk, backoff, [&] { return stopping(); });
    backoff = std::min<std::chrono::steady_clock::duration>(backoff * 2, kListenBackoffMax);
  }
}

// ---------------------------------------------------------------------------------------------

PostgresStore::PostgresStore(const std::string& url, int64_t historyLimit)
    : impl_(std::make_unique<Impl>(url, historyLimit)) {}

PostgresStore::~PostgresStore() = default;

int PostgresStore::schemaVersion() { return kSchemaVersion; }

std::string PostgresStore::redactUrl(const std::string& url) {
  std::string out = url.substr(0, url.find('?'));
  size_t scheme = out.find("://");
  size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t end = out.find('/', start);
  if (end == std::string::npos) end = out.size();
  size_t at = out.rfind('@', end);
  if (at != std::string::npos && at >= start) {
    size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) out.erase(colon, at - colon);
  }
  return out;
}

Json PostgresStore::create(const std::string& resource, Json obj) {
  internal::Key key = internal::keyOf(obj);
  return impl_->write("create", [&](pqxx::work& tx, int64_t rv) {
    obj["metadata"]["resourceVersion"] = std::to_string(rv);
    std::string data = obj.dump();
    auto r =
        tx.exec_prepared("create", resource, key.ns, key.name, rv, data, internal::labelsText(obj));
    if (r.empty()) {
      internal::throwAlreadyExists(resource, key.ns, key.name);
    }
    return WatchEvent{EventType::Added, resource, obj, rv};
  });
}

std::optional<Json> PostgresStore::get(const std::string& resource, const std::string& ns,
                                       const std::string& name) {
  return impl_->run("get", true, [&](pqxx::connection& c) -> std::optional<Json> {
    pqxx::nontransaction tx(c);
    auto r = tx.exec_prepared("get", resource, ns, name);
    if (r.empty()) return std::nullopt;
    return parseJson(r[0][1]);
  });
}

Json PostgresStore::update(const std::string& resource, Json obj, int64_t expectedRV) {
  internal::Key key = internal::keyOf(obj);
  return impl_->write("update", [&](pqxx::work& tx, int64_t rv) {
    obj["metadata"]["resourceVersion"] = std::to_string(rv);
    std::string data = obj.dump();
    auto r = tx.exec_prepared("update", resource, key.ns, key.name, rv, data,
                              internal::labelsText(obj), expectedRV);
    if (r.empty()) {
      if (tx.exec_prepared("get", resource, key.ns, key.name).empty()) {
        internal::throwNotFound(resource, key.ns, key.name);
      }
      internal::throwConflict(resource, key.ns, key.name);
    }
    return WatchEvent{EventType::Modified, resource, obj, rv};
  });
}

Json PostgresStore::remove(const std::string& resource, const std::string& ns,
                           const std::string& name, int64_t expectedRV) {
  return impl_->write("delete", [&](pqxx::work& tx, int64_t rv) {
    auto r = tx.exec_prepared("delete", resource, ns, name, expectedRV);
    if (r.empty()) {
      if (tx.exec_prepared("get", resource, ns, name).empty())
        internal::throwNotFound(resource, ns, name);
      internal::throwConflict(resource, ns, name);
    }
    Json obj = parseJson(r[0][0]);
    obj["metadata"]["resourceVersion"] = std::to_string(rv);
    tx.exec_prepared("history_add", rv, resource, ns, std::string("DELETED"), obj.dump());
    return WatchEvent{EventType::Deleted, resource, std::move(obj), rv};
  });
}

ListResult PostgresStore::list(const std::string& resource, const ListOptions& opts) {
  internal::ListPage first(opts);
  return impl_->run("list", true, [&](pqxx::connection& c) {
    internal::ListPage page = first;  // a retry after a lost connection starts afresh
    const auto& start = page.start();
    // One snapshot for the rows and the resourceVersion.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    int64_t rv =
        page.continuedResourceVersion() ? *page.continuedResourceVersion() : impl_->readCounter(tx);
    if (start.exhausted) return page.finish(rv);
    pqxx::result r = opts.ns.empty()
                         ? tx.exec_prepared("list_all", resource, start.afterNs, start.afterName)
                         : tx.exec_prepared("list_ns", resource, start.afterNs, start.afterName);
    tx.commit();
    for (const auto& row : r) {
      page.offer(
          text(row[0]), text(row[1]), [&] { return parseJson(row[3]); },
          [&] { return parseJson(row[2]); });
    }
    return page.finish(rv);
  });
}

std::vector<WatchEvent> PostgresStore::changesSince(const std::string& resource,
                                                    const std::string& ns, int64_t rv) {
  return impl_->run("changes", true, [&](pqxx::connection& c) {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    int64_t current = impl_->readCounter(tx);
    if (rv < current) {
      auto b = tx.exec_prepared("history_bounds");
      bool none = b.empty() || b[0][0].is_null();
      // History holds every change in (oldest-1, current]; rv below that has lost changes.
      if (none || rv < b[0][0].as<int64_t>() - 1) {
        throw StoreError(StoreError::Code::Gone,
                         "too old resource version: " + std::to_string(rv) + " (oldest kept: " +
                             std::to_string(none ? current : b[0][0].as<int64_t>() - 1) + ")");
      }
    }
    pqxx::result r = ns.empty() ? tx.exec_prepared("changes_all", rv, resource)
                                : tx.exec_prepared("changes_ns", rv, resource, ns);
    tx.commit();
    std::vector<WatchEvent> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      out.push_back(WatchEvent{internal::parseEventType(text(row[1])), resource, parseJson(row[2]),
                               row[0].as<int64_t>()});
    }
    return out;
  });
}

int64_t PostgresStore::currentResourceVersion() {
  return impl_->run("resourceVersion", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return impl_->readCounter(tx);
  });
}

std::unique_ptr<Subscription> PostgresStore::subscribe(
    std::function<void(const WatchEvent&)> callback) {
  return impl_->hub_->subscribe(std::move(callback));
}

void PostgresStore::compactHistory(int64_t keep) {
  // Idempotent, so a retry after a lost connection is harmless.
  impl_->run("compact", true, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto b = tx.exec_prepared("history_bounds");
    if (!b.empty() && !b[0][1].is_null()) {
      tx.exec_prepared("history_trim", b[0][1].as<int64_t>() - std::max<int64_t>(keep, 0));
    }
    tx.commit();
  });
}

}  // namespace minimcp::store
