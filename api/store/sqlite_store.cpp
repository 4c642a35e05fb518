#include "api/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "api/store/selector.h"

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
constexpr const char* kOldestHistory = "SELECT MIN(rv), MAX(rv) FROM history";
constexpr const char* kTrimHistory = "DELETE FROM history WHERE rv <= ?1";
constexpr const char* kChangesAll =
    "SELECT rv, type, data FROM history WHERE rv > ?1 AND resource = ?2 ORDER BY rv";
constexpr const char* kChangesNs =
    "SELECT rv, type, data FROM history WHERE rv > ?1 AND resource = ?2 AND ns = ?3 ORDER BY rv";

[[noreturn]] void throwUnavailable(const std::string& message) {
  throw StoreError(StoreError::Code::Unavailable, message);
}

// Identity of an object as the store files it; validates what the store itself relies on.
struct Key {
  std::string ns;
  std::string name;
};

Key keyOf(const Json& obj) {
  if (!obj.is_object()) throw std::invalid_argument("store: object must be a JSON object");
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) {
    throw std::invalid_argument("store: object has no metadata");
  }
  auto name = md->find("name");
  if (name == md->end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    throw std::invalid_argument("store: metadata.name is required");
  }
  Key k;
  k.name = name->get<std::string>();
  auto ns = md->find("namespace");
  if (ns != md->end() && !ns->is_null()) {
    if (!ns->is_string()) throw std::invalid_argument("store: metadata.namespace must be a string");
    k.ns = ns->get<std::string>();
  }
  return k;
}

std::string objectDescription(const std::string& resource, const std::string& ns,
                              const std::string& name) {
  return resource + " \"" + (ns.empty() ? name : ns + "/" + name) + "\"";
}

// metadata.labels kept in a column of its own, so label selectors need not parse whole objects.
std::string labelsText(const Json& obj) {
  auto md = obj.find("metadata");
  auto labels = md->find("labels");
  return labels != md->end() && labels->is_object() ? labels->dump() : "{}";
}

EventType parseEventType(const std::string& s) {
  if (s == "ADDED") return EventType::Added;
  if (s == "MODIFIED") return EventType::Modified;
  return EventType::Deleted;
}

// URL-safe base64 without padding: continue tokens travel in query strings.
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64UrlEncode(const std::string& in) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kB64[(buf >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kB64[(buf << (6 - bits)) & 0x3f];
  return out;
}

std::optional<std::string> base64UrlDecode(const std::string& in) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    const char* p = c == '\0' ? nullptr : std::strchr(kB64, c);
    if (p == nullptr) return std::nullopt;
    buf = (buf << 6) | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

struct ContinueToken {
  int64_t rv = 0;
  std::string ns;
  std::string name;
};

std::string encodeContinue(const ContinueToken& t) {
  return base64UrlEncode(Json{{"rv", t.rv}, {"ns", t.ns}, {"name", t.name}}.dump());
}

ContinueToken decodeContinue(const std::string& token) {
  auto badToken = [] { throw StoreError(StoreError::Code::BadSelector, "invalid continue token"); };
  auto raw = base64UrlDecode(token);
  if (!raw) badToken();
  Json j = Json::parse(*raw, nullptr, false);
  if (!j.is_object() || !j.contains("rv") || !j["rv"].is_number_integer() || !j.contains("ns") ||
      !j["ns"].is_string() || !j.contains("name") || !j["name"].is_string()) {
    badToken();
  }
  ContinueToken t{j["rv"].get<int64_t>(), j["ns"].get<std::string>(), j["name"].get<std::string>()};
  if (t.rv < 0 || t.name.empty()) badToken();
  return t;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Subscribers

class SqliteStore::Hub {
 public:
  struct Sub {
    // Recursive so a callback may destroy its own subscription without deadlocking.
    std::recursive_mutex mu;
    bool active = true;
    std::function<void(const WatchEvent&)> callback;
  };

  std::shared_ptr<Sub> add(std::function<void(const WatchEvent&)> cb) {
    auto sub = std::make_shared<Sub>();
    sub->callback = std::move(cb);
    std::lock_guard lk(mu_);
    subs_.push_back(sub);
    return sub;
  }

  void remove(const std::shared_ptr<Sub>& sub) {
    {
      // Waits out an in-flight callback of this subscription.
      std::lock_guard lk(sub->mu);
      sub->active = false;
    }
    std::lock_guard lk(mu_);
    std::erase(subs_, sub);
  }

  void deliver(const WatchEvent& ev) {
    std::vector<std::shared_ptr<Sub>> subs;
    {
      std::lock_guard lk(mu_);
      subs = subs_;
    }
    for (const auto& sub : subs) {
      std::lock_guard lk(sub->mu);
      if (!sub->active) continue;
      try {
        sub->callback(ev);
      } catch (...) {
        // A subscriber's failure must not undo a committed write nor starve other subscribers.
      }
    }
  }

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<Sub>> subs_;
};

namespace {

class SqliteSubscription : public Subscription {
 public:
  SqliteSubscription(std::shared_ptr<SqliteStore::Hub> hub,
                     std::shared_ptr<SqliteStore::Hub::Sub> sub)
      : hub_(std::move(hub)), sub_(std::move(sub)) {}
  ~SqliteSubscription() override { hub_->remove(sub_); }

 private:
  std::shared_ptr<SqliteStore::Hub> hub_;
  std::shared_ptr<SqliteStore::Hub::Sub> sub_;
};

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
    if (p == nullptr) throwUnavailable("store: NULL object data");
    try {
      return Json::parse(p, p + sqlite3_column_bytes(st_, col));
    } catch (const Json::exception& e) {
      throwUnavailable(std::string("store: corrupt object data: ") + e.what());
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
    throwUnavailable("sqlite store " + path_ + ": " + sql + ": " + msg);
  }
}

void SqliteStore::fail(const std::string& what, int rc) {
  std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  throwUnavailable("sqlite store " + path_ + ": " + what + ": " + msg);
}

// ---------------------------------------------------------------------------------------------

SqliteStore::SqliteStore(const std::string& path, int64_t historyLimit)
    : path_(path),
      historyLimit_(historyLimit < 1 ? 1 : historyLimit),
      // Trimming is a range delete; doing it every few hundred writes keeps writes cheap.
      trimBatch_(std::max<int64_t>(1, std::min<int64_t>(historyLimit_ / 8, 1000))),
      hub_(std::make_shared<Hub>()) {
  // Create the file ourselves so it is 0600 from the first byte; SQLite gives the -wal and
  // -shm files the same mode.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    throwUnavailable("sqlite store " + path + ": cannot open: " + std::strerror(errno));
  }
  ::close(fd);
  int rc =
      sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throwUnavailable("sqlite store " + path + ": " + msg);
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
    throwUnavailable("sqlite store " + path_ + ": schema version " + std::to_string(version) +
                     " is newer than this mcpd understands (" + std::to_string(kSchemaVersion) +
                     ")");
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
  if (!st.step()) throwUnavailable("sqlite store " + path_ + ": counter row missing");
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
        .bind(3, keyOf(ev.object).ns)
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

Json SqliteStore::create(const std::string& resource, Json obj) {
  Key key = keyOf(obj);
  return write([&](int64_t rv) {
    {
      Stmt existing(*this, kGetObject);
      if (existing.bind(1, resource).bind(2, key.ns).bind(3, key.name).step()) {
        throw StoreError(StoreError::Code::AlreadyExists,
                         objectDescription(resource, key.ns, key.name) + " already exists");
      }
    }
    obj["metadata"]["resourceVersion"] = std::to_string(rv);
    Stmt(*this, kInsertObject)
        .bind(1, resource)
        .bind(2, key.ns)
        .bind(3, key.name)
        .bind(4, rv)
        .bind(5, obj.dump())
        .bind(6, labelsText(obj))
        .run();
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
  Key key = keyOf(obj);
  return write([&](int64_t rv) {
    {
      Stmt existing(*this, kGetObject);
      if (!existing.bind(1, resource).bind(2, key.ns).bind(3, key.name).step()) {
        throw StoreError(StoreError::Code::NotFound,
                         objectDescription(resource, key.ns, key.name) + " not found");
      }
      if (expectedRV != 0 && existing.int64(0) != expectedRV) {
        throw StoreError(StoreError::Code::Conflict,
                         "Operation cannot be fulfilled on " +
                             objectDescription(resource, key.ns, key.name) +
                             ": the object has been modified; please apply your changes to the "
                             "latest version and try again");
      }
    }
    obj["metadata"]["resourceVersion"] = std::to_string(rv);
    Stmt(*this, kUpdateObject)
        .bind(1, resource)
        .bind(2, key.ns)
        .bind(3, key.name)
        .bind(4, rv)
        .bind(5, obj.dump())
        .bind(6, labelsText(obj))
        .run();
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
        throw StoreError(StoreError::Code::NotFound,
                         objectDescription(resource, ns, name) + " not found");
      }
      if (expectedRV != 0 && existing.int64(0) != expectedRV) {
        throw StoreError(StoreError::Code::Conflict,
                         "Operation cannot be fulfilled on " +
                             objectDescription(resource, ns, name) +
                             ": the object has been modified; please apply your changes to the "
                             "latest version and try again");
      }
      obj = existing.json(1);
    }
    Stmt(*this, kDeleteObject).bind(1, resource).bind(2, ns).bind(3, name).run();
    obj["metadata"]["resourceVersion"] = std::to_string(rv);
    return WatchEvent{EventType::Deleted, resource, std::move(obj), rv};
  });
}

ListResult SqliteStore::list(const std::string& resource, const ListOptions& opts) {
  LabelSelector labels = LabelSelector::parse(opts.labelSelector);
  FieldSelector fields = FieldSelector::parse(opts.fieldSelector);
  std::optional<ContinueToken> from;
  if (!opts.continueToken.empty()) from = decodeContinue(opts.continueToken);
  int64_t limit = opts.limit > 0 ? opts.limit : 0;

  ListResult out;
  std::string lastNs, lastName;
  std::lock_guard lk(dbMu_);
  Txn txn(*this, false);  // one snapshot for the rows and the resourceVersion
  out.resourceVersion = from ? from->rv : readCounter();
  {
    // Resume after the token's (ns, name); within one namespace that is a name bound.
    std::string afterNs = from ? from->ns : std::string();
    std::string afterName = from ? from->name : std::string();
    bool exhausted = false;
    if (!opts.ns.empty()) {
      if (afterNs < opts.ns) afterName.clear();
      exhausted = afterNs > opts.ns;
      afterNs = opts.ns;
    }
    Stmt st(*this, opts.ns.empty() ? kListAll : kListNs);
    st.bind(1, resource).bind(2, afterNs).bind(3, afterName);
    bool wholeForFields = fields.needsWholeObject();
    while (!exhausted && st.step()) {
      bool full = limit > 0 && static_cast<int64_t>(out.items.size()) >= limit;
      // Cheap tests first: labels column, then name/namespace; parse the object only when a
      // field selector reads it or it goes into the page.
      if (!labels.empty()) {
        Json l = st.json(3);
        if (!labels.matchesLabels(&l)) continue;
      }
      if (!fields.empty() && !wholeForFields &&
          !fields.matches(Json{{"metadata", {{"name", st.text(1)}, {"namespace", st.text(0)}}}})) {
        continue;
      }
      if (full && !wholeForFields) {
        ++out.remainingItemCount;
        continue;
      }
      Json obj = st.json(2);
      if (wholeForFields && !fields.matches(obj)) continue;
      if (full) {
        ++out.remainingItemCount;
        continue;
      }
      lastNs = st.text(0);
      lastName = st.text(1);
      out.items.push_back(std::move(obj));
    }
  }
  txn.commit();
  if (out.remainingItemCount > 0) {
    out.continueToken = encodeContinue({out.resourceVersion, lastNs, lastName});
  }
  return out;
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
      out.push_back(WatchEvent{parseEventType(st.text(1)), resource, st.json(2), st.int64(0)});
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
  return std::make_unique<SqliteSubscription>(hub_, hub_->add(std::move(callback)));
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
