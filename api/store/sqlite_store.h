// SqliteStore: the embedded Store. One connection, WAL journal, synchronous=FULL so that every
// acknowledged write survives kill -9 and power loss. Meant for one process per database file.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "api/store/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace minimcp::store {
namespace internal {
class Hub;
}  // namespace internal

class SqliteStore : public Store {
 public:
  // Opens (creating, mode 0600) the database file; the parent directory must exist.
  // Throws StoreError Unavailable.
  SqliteStore(const std::string& path, int64_t historyLimit = 10000);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  nlohmann::json create(const std::string& resource, nlohmann::json obj) override;
  std::optional<nlohmann::json> get(const std::string& resource, const std::string& ns,
                                    const std::string& name) override;
  ListResult list(const std::string& resource, const ListOptions& opts) override;
  nlohmann::json update(const std::string& resource, nlohmann::json obj,
                        int64_t expectedRV) override;
  nlohmann::json remove(const std::string& resource, const std::string& ns, const std::string& name,
                        int64_t expectedRV) override;
  std::vector<WatchEvent> changesSince(const std::string& resource, const std::string& ns,
                                       int64_t rv) override;
  int64_t currentResourceVersion() override;
  std::unique_ptr<Subscription> subscribe(std::function<void(const WatchEvent&)> callback) override;
  // flock() on DB_FILE.lock-NAME (NAME %-escaped), so stores in this and other processes
  // exclude each other; for ":memory:" (a database of this store object alone) a lock local to
  // the store object.
  std::unique_ptr<ExclusiveLock> tryLock(const std::string& name) override;
  void compactHistory(int64_t keep) override;

 private:
  class Stmt;
  class Txn;
  sqlite3_stmt* prepare(const char* sql);  // cached; caller holds dbMu_
  void exec(const char* sql);
  [[noreturn]] void fail(const std::string& what, int rc);
  void migrate();

  // Runs one write transaction (under dbMu_): `body` gets the new rv and returns the event to
  // record. Then delivers the event to subscribers in commit order.
  nlohmann::json write(const std::function<WatchEvent(int64_t newRv)>& body);
  int64_t readCounter();
  // Stamps `obj` with `rv` and runs kInsertObject or kUpdateObject for it.
  void putObject(const char* sql, const std::string& resource, const std::string& ns,
                 const std::string& name, int64_t rv, nlohmann::json& obj);

  std::string path_;
  int64_t historyLimit_;
  int64_t trimBatch_;
  sqlite3* db_ = nullptr;
  std::mutex dbMu_;
  std::unordered_map<const char*, sqlite3_stmt*> stmts_;

  // Delivery order: every commit takes a ticket under dbMu_ and delivers when its turn comes.
  std::mutex turnMu_;
  std::condition_variable turnCv_;
  uint64_t nextTicket_ = 0;     // guarded by dbMu_
  uint64_t servingTicket_ = 0;  // guarded by turnMu_
  std::shared_ptr<internal::Hub> hub_;
};

}  // namespace minimcp::store
