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
#include <optional>
#include <pqxx/pqxx>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

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

// Reconnection pacing. Writes retry for Options::writeRetryBudget; open, changesSince and
// compactHistory wait at most kConnectBudget; the listener keeps trying for as long as the store
// lives.
constexpr auto kConnectBudget = 3s;
constexpr auto kRetryBackoffMin = 25ms;
constexpr auto kRetryBackoffMax = 1s;
constexpr auto kListenBackoffMin = 50ms;
constexpr auto kListenBackoffMax = 2s;
// While the database is known to be down, a read tries it at most this often (otherwise it is
// answered from the mirror at once).
constexpr auto kProbeInterval = 250ms;
// The listener wakes this often even without traffic, so a wait is never unbounded.
constexpr int kListenPollMs = 10000;

// The database could not be reached, or the connection broke before anything was committed:
// the operation may be tried again.
struct Unreachable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thrown when the connection broke during COMMIT: the change may or may not be applied. `rv` and
// `data` (its history entry) tell which, once the database is back.
struct InDoubt : std::runtime_error {
  InDoubt(const std::string& what, int64_t rv, std::string data)
      : std::runtime_error(what), rv(rv), data(std::move(data)) {}
  int64_t rv;
  std::string data;
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

using Params = std::vector<std::pair<const char*, const char*>>;

// Adds `defaults` to the URL's query, each unless the URL sets it itself.
std::string withParams(const std::string& url, const Params& defaults) {
  std::string out = url;
  size_t q = out.find('?');
  std::string query = q == std::string::npos ? "" : out.substr(q + 1);
  for (const auto& [key, value] : defaults) {
    std::string k = std::string(key) + "=";
    bool present = query.rfind(k, 0) == 0 || query.find("&" + k) != std::string::npos;
    if (present) continue;
    out += (out.find('?') == std::string::npos ? "?" : "&") + k + value;
  }
  return out;
}

// The connection parameters the store relies on: a bounded connect, and TCP keepalives so that a
// vanished server is noticed by an idle listener.
std::string withConnectionParams(const std::string& url) {
  return withParams(url, {{"connect_timeout", "5"},
                          {"keepalives", "1"},
                          {"keepalives_idle", "10"},
                          {"keepalives_interval", "5"},
                          {"keepalives_count", "3"},
                          {"application_name", "minimcp"}});
}

// A lock's connection: a short connect (tryLock answers promptly) and keepalives tight enough
// that a vanished server breaks the connection, and so held(), within a few seconds.
std::string withLockParams(const std::string& url) {
  return withParams(url, {{"connect_timeout", "2"},
                          {"keepalives", "1"},
                          {"keepalives_idle", "1"},
                          {"keepalives_interval", "1"},
                          {"keepalives_count", "2"},
                          {"tcp_user_timeout", "3000"},
                          {"application_name", "minimcp-lock"}});
}

// The advisory lock key of a lock name: 64-bit FNV-1a, stable across builds and servers.
int64_t lockKey(const std::string& name) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char ch : "minimcp-lock:" + name) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return static_cast<int64_t>(h);
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

// A session advisory lock and the connection that holds it.
class AdvisoryLock : public ExclusiveLock {
 public:
  AdvisoryLock(std::unique_ptr<pqxx::connection> c, int64_t key) : c_(std::move(c)), key_(key) {}
  ~AdvisoryLock() override {
    // Unlock explicitly: closing alone releases too, but only once the server has noticed, and
    // whoever waits for the lock should get it as soon as this destructor returns.
    try {
      if (held()) {
        pqxx::nontransaction tx(*c_);
        tx.exec_params("SELECT pg_advisory_unlock($1)", key_);
      }
    } catch (const std::exception&) {
      // The connection is gone, and the lock with it.
    }
    try {
      c_->disconnect();
    } catch (const std::exception&) {
    }
  }

  bool held() override {
    std::lock_guard lk(mu_);
    if (lost_) return false;
    // Nothing is due on this connection between statements: something readable is the server's
    // goodbye (an error, then EOF), or now and then a harmless report (a parameter changed by a
    // configuration reload), which consuming it tells apart.
    if (!c_->is_open()) return !(lost_ = true);
    pollfd pfd{c_->sock(), POLLIN, 0};
    int n = ::poll(&pfd, 1, 0);
    if (n < 0 || (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return !(lost_ = true);
    if (n > 0) {
      try {
        c_->get_notifs();
      } catch (const std::exception&) {
        lost_ = true;
      }
      if (!c_->is_open()) lost_ = true;
    }
    return !lost_;
  }

 private:
  std::mutex mu_;
  std::unique_ptr<pqxx::connection> c_;
  int64_t key_;
  bool lost_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

class PostgresStore::Impl {
 public:
  Impl(const std::string& url, const Options& options);
  ~Impl();

  // One try of `f` on the shared connection; the caller holds dbMu_. Connects first when there
  // is no connection (one attempt); a connection found broken is replaced and `f` tried once
  // more. Throws Unreachable (nothing was committed: may be retried), InDoubt, or StoreError.
  template <typename F>
  auto attempt(const char* what, F&& f) -> decltype(f(std::declval<pqxx::connection&>()));

  // attempt() until it gets through, with backoff between tries (dbMu_ released), for at most
  // `budget`; then StoreError Unavailable.
  template <typename F>
  auto retrying(const char* what, std::chrono::steady_clock::duration budget, F&& f)
      -> decltype(f(std::declval<pqxx::connection&>()));

  // A read: from the database while it answers, from the mirror (`cached`) while it does not.
  template <typename F, typename C>
  auto read(const char* what, F&& db, C&& cached)
      -> decltype(db(std::declval<pqxx::connection&>()));

  // One write transaction: takes the next rv, runs `body`, trims history, commits, then
  // delivers to subscribers and the mirror (in rv order, before returning). Retried while the
  // database is unreachable; never reports success for an uncommitted change.
  Json write(const char* what, const std::function<WatchEvent(pqxx::work&, int64_t)>& body);
  enum class Outcome { Committed, NotCommitted, Unknown };
  Outcome resolve(pqxx::connection& c, const InDoubt& d);

  // Delivers every change with rv in (delivered_, target] to subscribers and the mirror, in
  // order, once.
  void deliverUpTo(int64_t target);
  int64_t readCounter(pqxx::transaction_base& tx);

  std::unique_ptr<pqxx::connection> connect(const std::string& url);
  void migrate(pqxx::connection& c);
  void listen();
  bool stopping() const { return stop_.load(); }

  // The mirror. Writers of it hold deliverMu_ (one stream, in rv order) and mirrorMu_.
  void reloadMirror();  // caller holds deliverMu_; leaves the mirror invalid when it fails
  void applyToMirror(const std::vector<WatchEvent>& batch, int64_t target);
  // Runs `f` with the mirror (shared lock); Unavailable when it is not valid.
  template <typename F>
  auto fromMirror(const char* what, F&& f);

  std::string url_;
  std::string where_;  // redacted URL for messages
  int64_t historyLimit_;
  int64_t trimBatch_;
  std::chrono::milliseconds writeRetryBudget_;

  std::mutex dbMu_;
  std::unique_ptr<pqxx::connection> conn_;             // guarded by dbMu_
  std::chrono::steady_clock::time_point lastConnect_;  // guarded by dbMu_: last attempt
  std::atomic<bool> dbDown_{false};                    // the last connection attempt failed

  // Events of local writes about to commit, so delivery needs no read-back. Never locked while
  // waiting for deliverMu_ (writers hold dbMu_ here; callbacks hold deliverMu_ and take dbMu_).
  std::mutex pendingMu_;
  std::map<int64_t, WatchEvent> pending_;

  std::mutex deliverMu_;  // held while delivering: one delivery stream, in rv order
  std::atomic<int64_t> delivered_{0};
  std::shared_ptr<internal::Hub> hub_ = std::make_shared<internal::Hub>();

  using ObjectKey = std::pair<std::string, std::string>;  // (ns, name), bytewise like COLLATE "C"
  std::shared_mutex mirrorMu_;
  bool mirrorValid_ = false;
  int64_t mirrorRv_ = 0;
  std::map<std::string, std::map<ObjectKey, Json>> mirror_;  // resource → objects

  // A connection kept from a failed tryLock() for the next one (it holds no lock).
  std::mutex spareMu_;
  std::unique_ptr<pqxx::connection> spareLockConn_;

  std::atomic<bool> stop_{false};
  std::mutex stopMu_;
  std::condition_variable stopCv_;
  int wakeFd_ = -1;
  std::thread listener_;
};

PostgresStore::Impl::Impl(const std::string& url, const Options& options)
    : url_(withConnectionParams(url)),
      where_("postgres store " + PostgresStore::redactUrl(url)),
      historyLimit_(options.historyLimit < 1 ? 1 : options.historyLimit),
      trimBatch_(std::max<int64_t>(1, std::min<int64_t>(historyLimit_ / 8, 1000))),
      writeRetryBudget_(options.writeRetryBudget) {
  retrying("open", kConnectBudget, [&](pqxx::connection& c) { migrate(c); });
  {
    std::lock_guard dl(deliverMu_);
    reloadMirror();
    if (!mirrorValid_) internal::throwUnavailable(where_ + ": cannot load the objects");
    delivered_ = mirrorRv_;
  }
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

std::unique_ptr<pqxx::connection> PostgresStore::Impl::connect(const std::string& url) {
  auto c = std::make_unique<pqxx::connection>(url);
  quiet(*c);
  return c;
}

template <typename F>
auto PostgresStore::Impl::attempt(const char* what, F&& f)
    -> decltype(f(std::declval<pqxx::connection&>())) {
  for (int round = 0;; ++round) {
    if (conn_ && idleConnectionLost(*conn_)) conn_.reset();
    if (!conn_) {
      lastConnect_ = std::chrono::steady_clock::now();
      try {
        auto c = connect(url_);
        for (const auto& [name, sql] : kStatements) c->prepare(name, sql);
        conn_ = std::move(c);
      } catch (const std::exception& e) {
        dbDown_ = true;
        throw Unreachable(std::string("cannot connect: ") + e.what());
      }
      dbDown_ = false;
    }
    try {
      return f(*conn_);
    } catch (const StoreError&) {
      throw;
    } catch (const InDoubt&) {
      conn_.reset();
      throw;
    } catch (const pqxx::failure& e) {
      bool lost = isConnectionLoss(e) || !conn_->is_open();
      if (!lost) internal::throwUnavailable(where_ + ": " + what + ": " + e.what());
      conn_.reset();
      // A connection that broke while idle (restart, failover) is replaced at once; a second
      // loss in a row means the server is going away.
      if (round > 0) {
        dbDown_ = true;
        throw Unreachable(std::string("connection lost: ") + e.what());
      }
    }
  }
}

template <typename F>
auto PostgresStore::Impl::retrying(const char* what, std::chrono::steady_clock::duration budget,
                                   F&& f) -> decltype(f(std::declval<pqxx::connection&>())) {
  auto deadline = std::chrono::steady_clock::now() + budget;
  auto delay = std::chrono::steady_clock::duration(kRetryBackoffMin);
  for (;;) {
    try {
      std::lock_guard lk(dbMu_);
      return attempt(what, f);
    } catch (const Unreachable& e) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline || stopping()) {
        internal::throwUnavailable(where_ + ": " + what + ": " + e.what());
      }
      std::this_thread::sleep_for(std::min(delay, deadline - now));  // backoff, bounded
      delay = std::min<std::chrono::steady_clock::duration>(delay * 2, kRetryBackoffMax);
    }
  }
}

template <typename F>
auto PostgresStore::Impl::fromMirror(const char* what, F&& f) {
  std::shared_lock lk(mirrorMu_);
  if (!mirrorValid_) {
    internal::throwUnavailable(where_ + ": " + what +
                               ": database unreachable and no cached copy to answer from");
  }
  return f();
}

template <typename F, typename C>
auto PostgresStore::Impl::read(const char* what, F&& db, C&& cached)
    -> decltype(db(std::declval<pqxx::connection&>())) {
  if (!dbDown_) {
    try {
      std::lock_guard lk(dbMu_);
      return attempt(what, db);
    } catch (const Unreachable&) {
      // Answered from the mirror below.
    }
  } else {
    // Known down: never queue behind writers retrying; probe now and then.
    std::unique_lock lk(dbMu_, std::try_to_lock);
    if (lk.owns_lock() && std::chrono::steady_clock::now() - lastConnect_ >= kProbeInterval) {
      try {
        return attempt(what, db);
      } catch (const Unreachable&) {
      }
    }
  }
  return fromMirror(what, cached);
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
  auto deadline = std::chrono::steady_clock::now() + writeRetryBudget_;
  std::optional<InDoubt> doubt;  // the previous try's fate, to settle before trying again
  WatchEvent ev;
  auto once = [&](pqxx::connection& c) -> bool {
    if (doubt) {
      switch (resolve(c, *doubt)) {
        case Outcome::Committed:
          return true;  // `ev` is the committed event
        case Outcome::Unknown:
          internal::throwUnavailable(where_ + ": " + what +
                                     ": connection lost during commit, and whether it was "
                                     "applied can no longer be told");
        case Outcome::NotCommitted:
          doubt.reset();
      }
    }
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
      if (isConnectionLoss(err) || !c.is_open()) {
        ev = std::move(e);
        throw InDoubt(err.what(), rv, ev.object.dump());
      }
      throw;
    }
    ev = std::move(e);
    return true;
  };
  for (;;) {
    auto left = deadline - std::chrono::steady_clock::now();
    try {
      retrying(what, std::max<std::chrono::steady_clock::duration>(left, 0s), once);
      break;
    } catch (const InDoubt& d) {
      doubt.emplace(d);
      if (std::chrono::steady_clock::now() >= deadline) {
        internal::throwUnavailable(where_ + ": " + what +
                                   ": connection lost during commit; the change may or may not "
                                   "have been applied: " +
                                   d.what());
      }
    }
  }
  deliverUpTo(ev.resourceVersion);
  return std::move(ev.object);
}

PostgresStore::Impl::Outcome PostgresStore::Impl::resolve(pqxx::connection& c, const InDoubt& d) {
  pqxx::work tx(c);
  // The counter row lock waits out the old transaction, should its backend still be at it.
  tx.exec("SELECT rv FROM resource_version WHERE id = 1 FOR UPDATE");
  auto r = tx.exec_params("SELECT data FROM history WHERE rv = $1", d.rv);
  auto bounds = tx.exec_prepared("history_bounds");
  tx.commit();
  if (!r.empty()) return text(r[0][0]) == d.data ? Outcome::Committed : Outcome::NotCommitted;
  // History is gapless above its oldest entry: absent there means never committed.
  bool trimmedPast =
      !bounds.empty() && !bounds[0][0].is_null() && bounds[0][0].as<int64_t>() > d.rv;
  return trimmedPast ? Outcome::Unknown : Outcome::NotCommitted;
}

void PostgresStore::Impl::reloadMirror() {
  std::map<std::string, std::map<ObjectKey, Json>> objects;
  int64_t rv = 0;
  try {
    std::lock_guard lk(dbMu_);
    rv = attempt("load", [&](pqxx::connection& c) {
      objects.clear();
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
      int64_t current = readCounter(tx);
      auto r = tx.exec("SELECT resource, ns, name, data FROM objects");
      tx.commit();
      for (const auto& row : r) {
        objects[text(row[0])].emplace(ObjectKey{text(row[1]), text(row[2])}, parseJson(row[3]));
      }
      return current;
    });
  } catch (const std::exception&) {
    return;  // stays invalid; the next delivery tries again
  }
  std::unique_lock ml(mirrorMu_);
  mirror_ = std::move(objects);
  mirrorRv_ = rv;
  mirrorValid_ = true;
}

void PostgresStore::Impl::applyToMirror(const std::vector<WatchEvent>& batch, int64_t target) {
  std::unique_lock ml(mirrorMu_);
  if (!mirrorValid_) return;
  for (const auto& ev : batch) {
    if (ev.resourceVersion <= mirrorRv_) continue;   // already in a reloaded snapshot
    if (ev.resourceVersion != mirrorRv_ + 1) break;  // a gap: reload below
    const auto& md = ev.object.at("metadata");
    ObjectKey key{md.value("namespace", ""), md.value("name", "")};
    if (ev.type == EventType::Deleted) {
      auto it = mirror_.find(ev.resource);
      if (it != mirror_.end()) it->second.erase(key);
    } else {
      mirror_[ev.resource][key] = ev.object;
    }
    mirrorRv_ = ev.resourceVersion;
  }
  // Changes skipped (trimmed from the history before they were read) leave the copy behind.
  if (mirrorRv_ < target) mirrorValid_ = false;
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
  // Every change is read, even with no subscriber: the mirror needs them. Local events come from
  // pending_ while they are contiguous; the rest (other nodes' writes, or local ones another
  // thread already took) from the history table.
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
      std::lock_guard lk(dbMu_);
      attempt("watch", [&](pqxx::connection& c) {
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
  bool valid;
  {
    std::shared_lock ml(mirrorMu_);
    valid = mirrorValid_;
  }
  if (valid) applyToMirror(batch, target);
  {
    std::shared_lock ml(mirrorMu_);
    valid = mirrorValid_;
  }
  if (!valid) reloadMirror();
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
      auto readCurrent = [&] {
        return retrying("watch", kConnectBudget, [&](pqxx::connection& main) {
          pqxx::nontransaction tx(main);
          return readCounter(tx);
        });
      };
      deliverUpTo(readCurrent());
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
        if (target == std::numeric_limits<int64_t>::max()) target = readCurrent();
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
    : PostgresStore(url, Options{.historyLimit = historyLimit}) {}

PostgresStore::PostgresStore(const std::string& url, const Options& options)
    : impl_(std::make_unique<Impl>(url, options)) {}

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
  return impl_->read(
      "get",
      [&](pqxx::connection& c) -> std::optional<Json> {
        pqxx::nontransaction tx(c);
        auto r = tx.exec_prepared("get", resource, ns, name);
        if (r.empty()) return std::nullopt;
        return parseJson(r[0][1]);
      },
      [&]() -> std::optional<Json> {
        auto res = impl_->mirror_.find(resource);
        if (res == impl_->mirror_.end()) return std::nullopt;
        auto it = res->second.find({ns, name});
        if (it == res->second.end()) return std::nullopt;
        return it->second;
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
  return impl_->read(
      "list",
      [&](pqxx::connection& c) {
        internal::ListPage page = first;  // a retry after a lost connection starts afresh
        const auto& start = page.start();
        // One snapshot for the rows and the resourceVersion.
        pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
        int64_t rv = page.continuedResourceVersion() ? *page.continuedResourceVersion()
                                                     : impl_->readCounter(tx);
        if (start.exhausted) return page.finish(rv);
        pqxx::result r =
            opts.ns.empty() ? tx.exec_prepared("list_all", resource, start.afterNs, start.afterName)
                            : tx.exec_prepared("list_ns", resource, start.afterNs, start.afterName);
        tx.commit();
        for (const auto& row : r) {
          page.offer(
              text(row[0]), text(row[1]), [&] { return parseJson(row[3]); },
              [&] { return parseJson(row[2]); });
        }
        return page.finish(rv);
      },
      [&] {
        internal::ListPage page = first;
        const auto& start = page.start();
        int64_t rv =
            page.continuedResourceVersion() ? *page.continuedResourceVersion() : impl_->mirrorRv_;
        auto res = impl_->mirror_.find(resource);
        if (start.exhausted || res == impl_->mirror_.end()) return page.finish(rv);
        const auto& objects = res->second;
        for (auto it = objects.upper_bound({start.afterNs, start.afterName});
             it != objects.end() && (opts.ns.empty() || it->first.first == opts.ns); ++it) {
          const Json& o = it->second;
          page.offer(
              it->first.first, it->first.second,
              [&] {
                const auto& md = o.at("metadata");
                auto l = md.find("labels");
                return l != md.end() && l->is_object() ? *l : Json::object();
              },
              [&] { return o; });
        }
        return page.finish(rv);
      });
}

std::vector<WatchEvent> PostgresStore::changesSince(const std::string& resource,
                                                    const std::string& ns, int64_t rv) {
  return impl_->retrying("changes", kConnectBudget, [&](pqxx::connection& c) {
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
  return impl_->read(
      "resourceVersion",
      [&](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        return impl_->readCounter(tx);
      },
      [&] { return impl_->mirrorRv_; });
}

std::unique_ptr<Subscription> PostgresStore::subscribe(
    std::function<void(const WatchEvent&)> callback) {
  return impl_->hub_->subscribe(std::move(callback));
}

std::unique_ptr<ExclusiveLock> PostgresStore::tryLock(const std::string& name) {
  int64_t key = lockKey(name);
  std::unique_ptr<pqxx::connection> c;
  {
    std::lock_guard lk(impl_->spareMu_);
    c = std::move(impl_->spareLockConn_);
  }
  if (c && idleConnectionLost(*c)) c.reset();
  try {
    if (!c) c = impl_->connect(withLockParams(impl_->url_));
    bool got = false;
    {
      pqxx::nontransaction tx(*c);
      got = tx.exec_params1("SELECT pg_try_advisory_lock($1)", key)[0].as<bool>();
    }
    if (got) return std::make_unique<AdvisoryLock>(std::move(c), key);
  } catch (const std::exception& e) {
    internal::throwUnavailable(impl_->where_ + ": lock " + name + ": " + e.what());
  }
  std::lock_guard lk(impl_->spareMu_);
  impl_->spareLockConn_ = std::move(c);
  return nullptr;
}

void PostgresStore::compactHistory(int64_t keep) {
  // Idempotent, so a retry after a lost connection is harmless.
  impl_->retrying("compact", kConnectBudget, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto b = tx.exec_prepared("history_bounds");
    if (!b.empty() && !b[0][1].is_null()) {
      tx.exec_prepared("history_trim", b[0][1].as<int64_t>() - std::max<int64_t>(keep, 0));
    }
    tx.commit();
  });
}

}  // namespace minimcp::store
