// Test helpers for the PostgreSQL store: the area's shared server (started by the ctest fixture
// `postgres_start` through tools/pg-test-server.sh, found via $MINIMCP_TEST_PG_DIR), a fresh
// database per test, and private servers for tests that restart theirs.
#pragma once

#include <memory>
#include <string>

#include "api/store/store.h"

namespace minimcp::store::pgtest {

// postgresql://postgres@127.0.0.1:PORT/postgres of the shared server. Throws std::runtime_error
// with a hint when the fixture did not run.
std::string sharedServerUrl();

// `serverUrl` with its database replaced by `db`.
std::string urlForDatabase(const std::string& serverUrl, const std::string& db);

// Runs one statement (outside a transaction) on `url`; returns the first cell or "".
std::string query(const std::string& url, const std::string& sql);

// Drops (if present) and creates database `db` on the server; returns its URL. Databases are
// left behind on purpose: DROP DATABASE forces a checkpoint, and the test server is thrown
// away whole by the fixture's postgres_stop.
std::string freshDatabase(const std::string& serverUrl, const std::string& db);

// An outage of one database without touching the server (so it works on the shared one):
// new connections to `dbUrl`'s database are refused ("not currently accepting connections") and
// every existing one is terminated; returns once they are gone (throws after 10 s).
void cutDatabase(const std::string& dbUrl);
// Ends cutDatabase(): connections are accepted again.
void restoreDatabase(const std::string& dbUrl);

// Terminates the backends holding an advisory lock in `dbUrl`'s database; returns how many.
int terminateAdvisoryLockHolders(const std::string& dbUrl);

// The conformance suite's factory: a fresh database the first time a directory is seen (its
// name kept in DIR/pgdb), the same database again on reopen.
std::unique_ptr<Store> conformanceFactory(const std::string& dir);

// A PostgreSQL server of the test's own, for tests that restart it. Stopped and removed in the
// destructor.
class ScratchServer {
 public:
  ScratchServer();
  ~ScratchServer();
  ScratchServer(const ScratchServer&) = delete;
  ScratchServer& operator=(const ScratchServer&) = delete;

  const std::string& url() const { return url_; }
  void restart();  // fast restart on the same port; returns once it accepts connections

 private:
  void script(const std::string& command);
  std::string dir_;
  std::string url_;
};

}  // namespace minimcp::store::pgtest
