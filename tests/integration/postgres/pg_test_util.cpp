#include "tests/integration/postgres/pg_test_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>

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
