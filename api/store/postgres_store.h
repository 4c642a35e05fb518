// PostgresStore: the shared Store for several mcpd nodes on one PostgreSQL database.
//
// - Schema migrations are versioned (table schema_migrations) and applied at start under an
//   advisory lock, so nodes starting together migrate once.
// - resourceVersion comes from one counter row. Every write bumps it first, inside its
//   transaction: the row lock serialises writers (rv order = commit order, so watchers see
//   changes in rv order), and a rolled-back write leaves no gap and no visible number.
// - Compare-and-swap is one UPDATE ... WHERE rv = expected; the object, its history entry and a
//   NOTIFY on channel "minimcp_changes" (payload: the rv) commit together.
// - A listener thread with its own connection LISTENs and delivers other nodes' changes from the
//   history table to subscribers, in order and exactly once together with local writes. After a
//   connection loss it reconnects with capped exponential backoff and resumes from the last
//   delivered resourceVersion.
// - Operations share one connection under a mutex; a connection found broken is reopened at once.
// - Outages (server restart, failover): see "Riding out an outage" below.
//
// Riding out an outage
// - Reads (get, list, currentResourceVersion) go to the database while it answers, so a node
//   sees other nodes' writes at once. While it does not, they are answered from a mirror: an
//   in-memory copy of every object, loaded at open and kept current by the store's own change
//   stream (local writes before they return, other nodes' writes as LISTEN delivers them). The
//   mirror is a consistent snapshot at some resourceVersion (never a mix); after a gap in the
//   stream (history trimmed before it was read) it is reloaded from the database. While the
//   database is known to be down, reads do not wait for it: they probe it at most every
//   kProbeInterval and otherwise answer from the mirror at once.
// - Writes retry with capped exponential backoff (not holding the connection mutex, so reads go
//   on) for up to Options::writeRetryBudget, then fail with StoreError Unavailable. A write is
//   reported successful only when committed: when the connection breaks during COMMIT, the
//   store reconnects, waits out the old transaction (counter row lock) and looks its
//   resourceVersion up in the history: the same entry = committed (success), none or another =
//   not committed (retried), history already trimmed past it = Unavailable.
// - changesSince and compactHistory need the database; they fail with Unavailable after a short
//   reconnect budget.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "api/store/store.h"

namespace minimcp::store {

class PostgresStore : public Store {
 public:
  // `url`: a libpq URI (postgresql://user@host:port/db?...). Connects and migrates the schema.
  // Throws StoreError Unavailable (the message never contains the password).
  struct Options {
    int64_t historyLimit = 10000;
    // How long a write keeps retrying while the database cannot be reached.
    std::chrono::milliseconds writeRetryBudget = std::chrono::seconds(10);
  };
  explicit PostgresStore(const std::string& url, int64_t historyLimit = 10000);
  PostgresStore(const std::string& url, const Options& options);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

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
  // A session advisory lock on a connection of the lock's own (key: a stable 64-bit hash of
  // `name`); held() polls that connection's socket, so a restart or a terminated backend shows
  // at once, and aggressive TCP keepalives notice a vanished server within a few seconds.
  std::unique_ptr<ExclusiveLock> tryLock(const std::string& name) override;
  void compactHistory(int64_t keep) override;

  // The schema version this build writes (rows of schema_migrations go 1..this).
  static int schemaVersion();
  // `url` without password and query, for messages and logs.
  static std::string redactUrl(const std::string& url);

  class Impl;  // public only so that helpers in the .cpp can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace minimcp::store
