#include "api/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <utility>

#include "api/store/store_internal.h"

namespace minimcp::store {
namespace {

using Json = nlohmann::json;

// PRAGMA user_version; each step of migrate() moves the schema one version forward.
constexpr int kSchemaVersion = 1;

constexpr const char* kBegin = "BEGIN";
constexpr const char* kBeginImmediate = "BEGIN IMMEDIATE";
constexpr const char* kCommit = "COMMIT";
constexpr const char* kRollback = "ROLLBACK";
constexpr const char* kReadCounter = "SELECT rv FROM counter WHERE id = 1";
constexpr const char* kWriteCounter = "UPDATE counter SET rv = ?1 WHERE id = 1";
constexpr const char* kGetObject =
    "SELECT rv, data FROM objects WHERE resource = ?1 AND ns = ?2 AND name = ?3";
constexpr const char* kInsertObject =
    "INSERT INTO objects(resource, ns, name, rv, data, labels) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char* kUpdateObject =
    "UPDATE objects SET rv = ?4, data = ?5, labels = ?6 "
    "WHERE resource = ?1 AND ns = ?2 AND name = ?3";
constexpr const char* kDeleteObject =
    "DELETE FROM objects WHERE resource = ?1 AND ns = ?2 AND name = ?3";
constexpr const char* kListAll =
    "SELECT ns, name, data, labels FROM objects WHERE resource = ?1 AND (ns, name) > (?2, ?3) "
    "ORDER BY resource, ns, name";
constexpr const char* kListNs =
    "SELECT ns, name, data, labels FROM objects WHERE resource = ?1 AND ns = ?2 AND name > ?3 "
    "ORDER BY resource, ns, name";
constexpr const char* kInsertHistory =
    "INSERT INTO history(rv, resource, ns, type, data) VALUES (?1, ?2, ?3, ?4, ?5)";
// Two subqueries, not MIN(rv), MAX(rv) in one: SQLite answers a lone MIN or MAX from the end of
// the index, but both together scan the whole table, which every write would pay for.
constexpr const char* kOldestHistory =
    "SELECT (SELECT MIN(rv) FROM history), (SELECT MAX(rv) FROM history)";
constexpr const char* kTrimHistory = "DELETE FROM history WHERE rv <= ?1";
constexpr const char* kChangesAll =
    "SELECT rv, type, data FROM history WHERE rv > ?1 AND resource = ?2 ORDER BY rv";
constexpr const char* kChangesNs =
    "SELECT rv, type, data FROM history WHERE rv > ?1 AND resource = ?2 AND ns = ?3 ORDER BY rv";

constexpr const char* kMemory = ":memory:";

// An flock() on a lock file. The lock lives as long as the open file description, so it
// excludes other descriptions of the file in this process as well as other processes.
class FileLock : public ExclusiveLock {
 public:
  FileLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FileLock() override { ::close(fd_); }  // releases the lock; the file stays (no unlink race)
  bool held() override {
    // Lost only if someone removed or replaced the file: then a new one could be locked too.
    struct stat mine {};
    struct stat named {};
    return ::fstat(fd_, &mine) == 0 && ::stat(path_.c_str(), &named) == 0 &&
           mine.st_dev == named.st_dev && mine.st_ino == named.st_ino;
  }

 private:
  int fd_;
  std::string path_;
};

// Locks of in-memory databases, by (store, name).
std::mutex gMemoryLocksMu;
std::set<std::pair<const void*, std::string>> gMemoryLocks;

class MemoryLock : public ExclusiveLock {
 public:
  explicit MemoryLock(std::pair<const void*, std::string> key) : key_(std::move(key)) {}
  ~MemoryLock() override {
    std::lock_guard lk(gMemoryLocksMu);
    gMemoryLocks.erase(key_);
  }
  bool held() override { return true; }

 private:
  std::pair<const void*, std::string> key_;
};

// A lock name as a file name part: [A-Za-z0-9._-] kept, every other byte %XX.
std::string escapeLockName(const std::string& name) {
  std::string out;
  for (unsigned char ch : name) {
    if (std::isalnum(ch) || ch == '.' || ch == '_' || ch == '-') {
      out += static_cast<char>(ch);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", ch);
      out += buf;
    }
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Statement and transaction helpers (caller holds dbMu_)

class SqliteStore::Stmt {
 public:
  Stmt(SqliteStore& store, const char* sql) : store_(store), st_(store.prepare(sql)) {}
  ~Stmt() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    check(sqlite3_bind_int64(st_, i, v));
    return *this;
  }
  // true: a row is available; false: done.
  bool step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    store_.fail(sqlite3_sql(st_), rc);
  }
  void run() {
    while (step()) {
    }
  }
  bool isNull(int col) { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
  int64_t int64(int col) { return sqlite3_column_int64(st_, col); }
  std::string text(int col) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(st_, col));
  }
  Json json(int col) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
    if (p == nullptr) internal::throwUnavailable("store: NULL object data");
    try {
      return Json::parse(p, p + sqlite3_column_bytes(st_, col));
    } catch (const Json::exception& e) {
      internal::throwUnavailable(std::string("store: corrupt object data: ") + e.what());
    }
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) store_.fail("bind", rc);
  }
  SqliteStore& store_;
  sqlite3_stmt* st_;
};

// Rolls back unless committed, so every exception leaves the database unchanged.
class SqliteStore::Txn {
 public:
  Txn(SqliteStore& store, bool write) : store_(store) {
    Stmt(store_, write ? kBeginImmediate : kBegin).run();
  }
  ~Txn() {
    if (!done_) {
      try {
        Stmt(store_, kRollback).run();
      } catch (...) {
        // The connection already rolled back (e.g. after SQLITE_FULL): nothing left to undo.
      }
    }
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  void commit() {
    Stmt(store_, kCommit).run();
    done_ = true;
  }

 private:
  SqliteStore& store_;
  bool done_ = false;
};

sqlite3_stmt* SqliteStore::prepare(const char* sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) return it->second;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr);
  if (rc != SQLITE_OK) fail(sql, rc);
  stmts_.emplace(sql, st);
  return st;
}

void SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    internal::throwUnavailable("sqlite store " + path_ + ": " + sql + ": " + msg);
  }
}

void SqliteStore::fail(const std::string& what, int rc) {
  std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  internal::throwUnavailable("sqlite store " + path_ + ": " + what + ": " + msg);
}

// ---------------------------------------------------------------------------------------------

SqliteStore::SqliteStore(const std::string& path, int64_t historyLimit)
    : path_(path),
      historyLimit_(historyLimit < 1 ? 1 : historyLimit),
      // Trimming is a range delete; doing it every few hundred writes keeps writes cheap.
      trimBatch_(std::max<int64_t>(1, std::min<int64_t>(historyLimit_ / 8, 1000))),
      hub_(std::make_shared<internal::Hub>()) {
  // Create the file ourselves so it is 0600 from the first byte; SQLite gives the -wal and
  // -shm files the same mode.
  if (path != kMemory) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      internal::throwUnavailable("sqlite store " + path + ": cannot open: " + std::strerror(errno));
    }
    ::close(fd);
  }
  int rc =
      sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    internal::throwUnavailable("sqlite store " + path + ": " + msg);
  }
  try {
    sqlite3_busy_timeout(db_, 5000);
    sqlite3_extended_result_codes(db_, 1);
    exec("PRAGMA journal_mode=WAL");
    // FULL: a commit returns only after the WAL is fsynced — an acknowledged write is durable.
    exec("PRAGMA synchronous=FULL");
    migrate();
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

SqliteStore::~SqliteStore() {
  for (auto& [sql, st] : stmts_) sqlite3_finalize(st);
  if (db_ != nullptr) sqlite3_close(db_);
}

void SqliteStore::migrate() {
  int version = 0;
  {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &st, nullptr) != SQLITE_OK) {
      fail("PRAGMA user_version", sqlite3_errcode(db_));
    }
    if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  if (version > kSchemaVersion) {
    internal::throwUnavailable("sqlite store " + path_ + ": schema version " +
                               std::to_string(version) + " is newer than this mcpd understands (" +
                               std::to_string(kSchemaVersion) + ")");
  }
  if (version < 1) {
    // Idempotent, so two processes opening a new file at once both succeed.
    exec(
        "BEGIN IMMEDIATE;"
        "CREATE TABLE IF NOT EXISTS objects (resource TEXT NOT NULL, ns TEXT NOT NULL, name TEXT "
        "NOT NULL,"
        "  rv INTEGER NOT NULL, data TEXT NOT NULL, labels TEXT NOT NULL,"
        "  PRIMARY KEY (resource, ns, name))"
        "  WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS history (rv INTEGER PRIMARY KEY, resource TEXT NOT NULL,"
        "  ns TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), rv INTEGER NOT "
        "NULL);"
        "INSERT OR IGNORE INTO counter(id, rv) VALUES (1, 0);"
        "PRAGMA user_version = 1;"
        "COMMIT;");
  }
}

int64_t SqliteStore::readCounter() {
  Stmt st(*this, kReadCounter);
  if (!st.step()) internal::throwUnavailable("sqlite store " + path_ + ": counter row missing");
  return st.int64(0);
}

Json SqliteStore::write(const std::function<WatchEvent(int64_t newRv)>& body) {
  WatchEvent ev;
  uint64_t ticket;
  {
    std::lock_guard lk(dbMu_);
    Txn txn(*this, true);
    int64_t rv = readCounter() + 1;
    ev = body(rv);
    ev.resourceVersion = rv;
    Stmt(*this, kWriteCounter).bind(1, rv).run();
    Stmt(*this, kInsertHistory)
        .bind(1, rv)
        .bind(2, ev.resource)
        .bind(3, internal::keyOf(ev.object).ns)
        .bind(4, std::string(toString(ev.type)))
        .bind(5, ev.object.dump())
        .run();
    {
      Stmt oldest(*this, kOldestHistory);
      if (oldest.step() && !oldest.isNull(0) &&
          rv - oldest.int64(0) + 1 > historyLimit_ + trimBatch_) {
        Stmt(*this, kTrimHistory).bind(1, rv - historyLimit_).run();
      }
    }
    txn.commit();
    ticket = nextTicket_++;
  }
  // Deliver in commit order, outside dbMu_ so callbacks may read the store. The wait has no
  // timeout on purpose: skipping a turn would reorder events; a turn only lasts as long as the
  // (short, by contract) callbacks of one event.
  {
    std::unique_lock lk(turnMu_);
    turnCv_.wait(lk, [&] { return servingTicket_ == ticket; });
  }
  struct PassTurn {  // even if delivery throws, or every later writer would wait forever
    SqliteStore& s;
    ~PassTurn() {
      {
        std::lock_guard lk(s.turnMu_);
        ++s.servingTicket_;
      }
      s.turnCv_.notify_all();
    }
  } passTurn{*this};
  hub_->deliver(ev);
  return std::move(ev.object);
}

void SqliteStore::putObject(const char* sql, const std::string& resource, const std::string& ns,
                            const std::string& name, int64_t rv, Json& obj) {
  obj["metadata"]["resourceVersion"] = std::to_string(rv);
  Stmt(*this, sql)
      .bind(1, resource)
      .bind(2, ns)
      .bind(3, name)
      .bind(4, rv)
      .bind(5, obj.dump())
      .bind(6, internal::labelsText(obj))
      .run();
}

Json SqliteStore::create(const std::string& resource, Json obj) {
  internal::Key key = internal::keyOf(obj);
  return write([&](int64_t rv) {
    {
      Stmt existing(*this, kGetObject);
      if (existing.bind(1, resource).bind(2, key.ns).bind(3, key.name).step()) {
        internal::throwAlreadyExists(resource, key.ns, key.name);
      }
    }
    putObject(kInsertObject, resource, key.ns, key.name, rv, obj);
    return WatchEvent{EventType::Added, resource, std::move(obj), rv};
  });
}

std::optional<Json> SqliteStore::get(const std::string& resource, const std::string& ns,
                                     const std::string& name) {
  std::lock_guard lk(dbMu_);
  Stmt st(*this, kGetObject);
  if (!st.bind(1, resource).bind(2, ns).bind(3, name).step()) return std::nullopt;
  return st.json(1);
}

Json SqliteStore::update(const std::string& resource, Json obj, int64_t expectedRV) {
  internal::Key key = internal::keyOf(obj);
  return write([&](int64_t rv) {
    {
      Stmt existing(*this, kGetObject);
      if (!existing.bind(1, resource).bind(2, key.ns).bind(3, key.name).step()) {
        internal::throwNotFound(resource, key.ns, key.name);
      }
      if (expectedRV != 0 && existing.int64(0) != expectedRV) {
        internal::throwConflict(resource, key.ns, key.name);
      }
    }
    putObject(kUpdateObject, resource, key.ns, key.name, rv, obj);
    return WatchEvent{EventType::Modified, resource, std::move(obj), rv};
  });
}

Json SqliteStore::remove(const std::string& resource, const std::string& ns,
                         const std::string& name, int64_t expectedRV) {
  return write([&](int64_t rv) {
    Json obj;
    {
      Stmt existing(*this, kGetObject);
      if (!existing.bind(1, resource).bind(2, ns).bind(3, name).step()) {
        internal::throwNotFound(resource, ns, name);
      }
      if (expectedRV != 0 && existing.int64(0) != expectedRV) {
        internal::throwConflict(resource, ns, name);
      }
      obj = existing.json(1);
    }
    Stmt(*this, kDeleteObject).bind(1, resource).bind(2, ns).bind(3, name).run();
    obj["metadata"]["resourceVersion"] = std::to_string(rv);
    return WatchEvent{EventType::Deleted, resource, std::move(obj), rv};
  });
}

ListResult SqliteStore::list(const std::string& resource, const ListOptions& opts) {
  internal::ListPage page(opts);
  const auto& start = page.start();
  std::lock_guard lk(dbMu_);
  Txn txn(*this, false);  // one snapshot for the rows and the resourceVersion
  int64_t rv = page.continuedResourceVersion() ? *page.continuedResourceVersion() : readCounter();
  {
    Stmt st(*this, opts.ns.empty() ? kListAll : kListNs);
    st.bind(1, resource).bind(2, start.afterNs).bind(3, start.afterName);
    while (!start.exhausted && st.step()) {
      page.offer(
          st.text(0), st.text(1), [&] { return st.json(3); }, [&] { return st.json(2); });
    }
  }
  txn.commit();
  return page.finish(rv);
}

std::vector<WatchEvent> SqliteStore::changesSince(const std::string& resource,
                                                  const std::string& ns, int64_t rv) {
  std::lock_guard lk(dbMu_);
  Txn txn(*this, false);
  int64_t current = readCounter();
  if (rv < current) {
    Stmt oldest(*this, kOldestHistory);
    oldest.step();
    // History holds every change in (oldest-1, current]; rv below that has lost changes.
    if (oldest.isNull(0) || rv < oldest.int64(0) - 1) {
      throw StoreError(
          StoreError::Code::Gone,
          "too old resource version: " + std::to_string(rv) + " (oldest kept: " +
              (oldest.isNull(0) ? std::to_string(current) : std::to_string(oldest.int64(0) - 1)) +
              ")");
    }
  }
  std::vector<WatchEvent> out;
  {
    Stmt st(*this, ns.empty() ? kChangesAll : kChangesNs);
    st.bind(1, rv).bind(2, resource);
    if (!ns.empty()) st.bind(3, ns);
    while (st.step()) {
      out.push_back(
          WatchEvent{internal::parseEventType(st.text(1)), resource, st.json(2), st.int64(0)});
    }
  }
  txn.commit();
  return out;
}

int64_t SqliteStore::currentResourceVersion() {
  std::lock_guard lk(dbMu_);
  return readCounter();
}

std::unique_ptr<Subscription> SqliteStore::subscribe(
    std::function<void(const WatchEvent&)> callback) {
  return hub_->subscribe(std::move(callback));
}

std::unique_ptr<ExclusiveLock> SqliteStore::tryLock(const std::string& name) {
  if (path_ == kMemory) {
    std::pair<const void*, std::string> key{this, name};
    std::lock_guard lk(gMemoryLocksMu);
    if (!gMemoryLocks.insert(key).second) return nullptr;
    return std::make_unique<MemoryLock>(std::move(key));
  }
  std::string lockPath = path_ + ".lock-" + escapeLockName(name);
  int fd = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    internal::throwUnavailable("sqlite store " + path_ + ": lock file " + lockPath + ": " +
                               std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return nullptr;
    internal::throwUnavailable("sqlite store " + path_ + ": flock " + lockPath + ": " +
                               std::strerror(err));
  }
  return std::make_unique<FileLock>(fd, std::move(lockPath));
}

void SqliteStore::compactHistory(int64_t keep) {
  std::lock_guard lk(dbMu_);
  Txn txn(*this, true);
  std::optional<int64_t> newest;
  {
    Stmt oldest(*this, kOldestHistory);
    if (oldest.step() && !oldest.isNull(1)) newest = oldest.int64(1);
  }
  if (newest) Stmt(*this, kTrimHistory).bind(1, *newest - std::max<int64_t>(keep, 0)).run();
  txn.commit();
}

}  // namespace minimcp::store
