#include "tests/integration/postgres/pg_test_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace minimcp::store::pgtest {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string sharedServerUrl() {
  const char* dir = std::getenv("MINIMCP_TEST_PG_DIR");
  if (dir == nullptr || *dir == '\0') {
    throw std::runtime_error(
        "MINIMCP_TEST_PG_DIR is not set: run these tests through ctest (fixture postgres_start), "
        "or start a server with tools/pg-test-server.sh start DIR and export "
        "MINIMCP_TEST_PG_DIR=DIR");
  }
  std::string url = readFile(std::string(dir) + "/url");
  if (url.empty()) {
    throw std::runtime_error(std::string("no server URL in ") + dir +
                             "/url: did tools/pg-test-server.sh start fail?");
  }
  return url;
}

std::string urlForDatabase(const std::string& serverUrl, const std::string& db) {
  size_t scheme = serverUrl.find("://");
  size_t slash = serverUrl.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  std::string base = slash == std::string::npos ? serverUrl : serverUrl.substr(0, slash);
  return base + "/" + db;
}

std::string query(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  auto r = tx.exec(sql);
  if (r.empty() || r.columns() == 0 || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

std::string freshDatabase(const std::string& serverUrl, const std::string& db) {
  {
    pqxx::connection c(serverUrl);
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(db) + " WITH (FORCE)");
    tx.exec("CREATE DATABASE " + tx.quote_name(db));
  }
  return urlForDatabase(serverUrl, db);
}

namespace {

std::string databaseOf(const std::string& url) {
  std::string db = url.substr(url.rfind('/') + 1);
  return db.substr(0, db.find('?'));
}

}  // namespace

void cutDatabase(const std::string& dbUrl) {
  std::string db = databaseOf(dbUrl);
  std::string admin = urlForDatabase(dbUrl, "postgres");
  pqxx::connection c(admin);
  pqxx::nontransaction tx(c);
  tx.exec("ALTER DATABASE " + tx.quote_name(db) + " ALLOW_CONNECTIONS false");
  std::string others = "FROM pg_stat_activity WHERE datname = " + tx.quote(db) +
                       " AND pid <> pg_backend_pid() AND backend_type = 'client backend'";
  tx.exec("SELECT count(pg_terminate_backend(pid)) " + others);
  // pg_terminate_backend only signals: wait until the backends are really gone.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (tx.exec1("SELECT count(*) " + others)[0].as<int>() != 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("backends of " + db + " did not exit");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling the server
  }
}

void restoreDatabase(const std::string& dbUrl) {
  pqxx::connection c(urlForDatabase(dbUrl, "postgres"));
  pqxx::nontransaction tx(c);
  tx.exec("ALTER DATABASE " + tx.quote_name(databaseOf(dbUrl)) + " ALLOW_CONNECTIONS true");
}

int terminateAdvisoryLockHolders(const std::string& dbUrl) {
  return std::stoi(query(dbUrl,
                         "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE "
                         "locktype = 'advisory' AND granted AND pid <> pg_backend_pid() AND "
                         "database = (SELECT oid FROM pg_database WHERE datname = "
                         "current_database())"));
}

std::unique_ptr<Store> conformanceFactory(const std::string& dir) {
  std::string server = sharedServerUrl();
  std::string marker = dir + "/pgdb";
  std::string db = readFile(marker);
  if (db.empty()) {
    // mkdtemp made the directory name unique among live directories; the pid adds uniqueness
    // against a name reused after an earlier test removed its directory.
    std::string suffix = std::filesystem::path(dir).filename().string();
    db = "conf_" + std::to_string(::getpid()) + "_";
    for (char ch : suffix) db += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    freshDatabase(server, db);
    std::ofstream(marker) << db << "\n";
  }
  return openStore(urlForDatabase(server, db));
}

ScratchServer::ScratchServer() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "minimcp-pg-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  script("start");
  url_ = readFile(dir_ + "/url");
  if (url_.empty()) throw std::runtime_error("scratch server wrote no URL in " + dir_);
}

ScratchServer::~ScratchServer() {
  try {
    script("stop");
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
}

void ScratchServer::restart() { script("restart"); }

void ScratchServer::script(const std::string& command) {
  std::string cmd = std::string("'") + MINIMCP_SOURCE_DIR + "/tools/pg-test-server.sh' " + command +
                    " '" + dir_ + "'";
  int rc = std::system(cmd.c_str());
  if (rc != 0) {
    throw std::runtime_error("tools/pg-test-server.sh " + command + " " + dir_ + " failed (" +
                             std::to_string(rc) + ")");
  }
}

}  // namespace minimcp::store::pgtest
