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
// - Operations share one connection under a mutex; a lost connection is reopened (with backoff)
//   and the operation retried once when that is safe (nothing was committed yet), otherwise it
//   fails with StoreError Unavailable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/store/store.h"

namespace minimcp::store {

class PostgresStore : public Store {
 public:
  // `url`: a libpq URI (postgresql://user@host:port/db?...). Connects and migrates the schema.
  // Throws StoreError Unavailable (the message never contains the password).
  explicit PostgresStore(const std::string& url, int64_t historyLimit = 10000);
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
