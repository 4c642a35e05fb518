#include "api/store/sqlite_store.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "tests/unit/store/store_conformance.h"

namespace minimcp::store {
namespace {

using Json = nlohmann::json;
using conformance::StoreConformance;
using conformance::StoreImpl;

INSTANTIATE_TEST_SUITE_P(
    Sqlite, StoreConformance,
    ::testing::Values(StoreImpl{
        "Sqlite", [](const std::string& dir) { return openStore("sqlite:" + dir + "/store.db"); }}),
    conformance::storeImplName);

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "minimcp-sqlite-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/store.db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Runs one SQL query returning a single integer/text cell, on a separate connection.
  std::string query(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  // Loads `rows` rows in one transaction on a separate connection (durable writes one by one
  // take seconds of fsync), the way the store writes them: `insert`'s parameters bound by
  // `bind(statement, row)`, and the store's counter set to `counter`.
  void loadRows(const char* insert, int rows, int64_t counter,
                const std::function<void(sqlite3_stmt*, int)>& bind) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, insert, -1, &st, nullptr), SQLITE_OK);
    for (int i = 0; i < rows; ++i) {
      bind(st, i);
      ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
      sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    const std::string commit = "UPDATE counter SET rv = " + std::to_string(counter) + "; COMMIT";
    ASSERT_EQ(sqlite3_exec(db, commit.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }

  static Json obj(const std::string& name, const std::string& ns = "ns") {
    return {{"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", {{"x", 1}}}};
  }

  std::string dir_;
  std::string path_;
};

template <typename F>
StoreError::Code errorCode(F&& f) {
  try {
    f();
  } catch (const StoreError& e) {
    return e.code();
  }
  ADD_FAILURE() << "expected a StoreError";
  return StoreError::Code::Unavailable;
}

TEST_F(SqliteStoreTest, FileIsPrivateAndUsesWal) {
  {
    auto s = openStore(path_);
    s->create("things", obj("a"));
  }
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query("PRAGMA user_version"), "1");
}

TEST_F(SqliteStoreTest, UrlForms) {
  for (const std::string& url : {path_, "sqlite:" + path_, "sqlite://" + path_}) {
    auto s = openStore(url);
    EXPECT_EQ(s->get("things", "ns", "a").has_value(), url != path_) << url;
    if (url == path_) s->create("things", obj("a"));
  }
}

TEST_F(SqliteStoreTest, OpenFailureIsUnavailable) {
  EXPECT_EQ(errorCode([&] { openStore("sqlite:" + dir_ + "/missing/dir/store.db"); }),
            StoreError::Code::Unavailable);
  EXPECT_EQ(errorCode([&] { openStore("sqlite:"); }), StoreError::Code::Unavailable);
}

TEST_F(SqliteStoreTest, RefusesNewerSchema) {
  openStore(path_).reset();
  query("PRAGMA user_version = 99");
  EXPECT_EQ(errorCode([&] { openStore(path_); }), StoreError::Code::Unavailable);
}

TEST_F(SqliteStoreTest, HistoryKeepsAtLeastItsLimitAndStaysBounded) {
  constexpr int64_t kLimit = 16;
  auto s = openStore(path_, kLimit);
  for (int i = 0; i < 100; ++i) s->create("things", obj("n" + std::to_string(i)));
  int64_t current = s->currentResourceVersion();
  EXPECT_EQ(s->changesSince("things", "", current - kLimit).size(), static_cast<size_t>(kLimit));
  EXPECT_EQ(errorCode([&] { s->changesSince("things", "", 0); }), StoreError::Code::Gone);
  int64_t rows = std::stoll(query("SELECT COUNT(*) FROM history"));
  EXPECT_GE(rows, kLimit);
  EXPECT_LE(rows, 2 * kLimit);
}

// Bytes this process has read through read(2)/pread(2), page cache or not.
int64_t bytesRead() {
  std::ifstream io("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "rchar:") return value;
  }
  ADD_FAILURE() << "no rchar in /proc/self/io";
  return 0;
}

// A write looks at the ends of the history (to trim it), which must not mean reading all of it:
// with 10,000 changes of 1 KiB kept (more than SQLite's page cache holds), a write reads a few
// pages.
TEST_F(SqliteStoreTest, AWriteReadsFewPagesWhateverTheHistoryHolds) {
  constexpr int kKept = 10000;
  openStore(path_).reset();
  Json kept = obj("kept");
  kept["spec"]["pad"] = std::string(1024, 'x');
  const std::string data = kept.dump();
  loadRows(
      "INSERT INTO history(rv, resource, ns, type, data) "
      "VALUES (?1, 'things', 'ns', 'ADDED', ?2)",
      kKept, kKept, [&](sqlite3_stmt* st, int i) {
        sqlite3_bind_int64(st, 1, i + 1);
        sqlite3_bind_text(st, 2, data.c_str(), -1, SQLITE_STATIC);
      });
  auto s = openStore(path_, 2 * kKept);
  s->create("things", obj("first"));  // the schema and the index roots are read once
  int64_t before = bytesRead();
  s->create("things", obj("second"));
  int64_t read = bytesRead() - before;
  EXPECT_LT(read, 256 * 1024) << "a write read " << read << " bytes";
  EXPECT_EQ(s->changesSince("things", "", 1).size(), static_cast<size_t>(kKept + 1));
}

TEST_F(SqliteStoreTest, MissingNameIsRejected) {
  auto s = openStore(path_);
  EXPECT_THROW(s->create("things", Json{{"metadata", Json::object()}}), std::invalid_argument);
  EXPECT_THROW(s->create("things", Json::array()), std::invalid_argument);
  EXPECT_EQ(s->currentResourceVersion(), 0);
}

// A child process writes and reports each acknowledged write; after kill -9 every one of them
// must be there.
TEST_F(SqliteStoreTest, KillNineLosesNoAcknowledgedWrite) {
  openStore(path_).reset();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    auto s = openStore(path_);
    for (int i = 0; i < 100000; ++i) {
      s->create("things", obj("n" + std::to_string(i)));
      char c = 'k';
      if (write(fds[1], &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  close(fds[1]);
  int acked = 0;
  char c;
  while (acked < 40 && read(fds[0], &c, 1) == 1) ++acked;
  kill(pid, SIGKILL);
  // Count acknowledgements that were already in flight.
  while (read(fds[0], &c, 1) == 1) ++acked;
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_GE(acked, 40);

  auto s = openStore(path_);
  for (int i = 0; i < acked; ++i) {
    EXPECT_TRUE(s->get("things", "ns", "n" + std::to_string(i)).has_value()) << i;
  }
  EXPECT_GE(s->currentResourceVersion(), acked);
  EXPECT_NO_THROW(s->create("things", obj("after")));
}

TEST_F(SqliteStoreTest, ListOfAThousandObjectsIsFast) {
  auto s = openStore(path_);
  Json big = obj("x");
  big["metadata"]["labels"] = {{"app", "web"}, {"tier", "front"}};
  big["metadata"]["uid"] = "6f1c1f0e-6a5b-4d51-9a1f-3c2b1d9e8f70";
  big["spec"] = {{"type", "gmail"},
                 {"ttl", "2h"},
                 {"config", {{"timeout_ms", 10000}, {"retry_attempts", 3}}},
                 {"env", Json::array({{{"name", "LOG_LEVEL"}, {"value", "debug"}}})}};
  big["status"] = {{"phase", "Running"},
                   {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}},
                                               {{"type", "Expired"}, {"status", "False"}}})},
                   {"url", "http://127.0.0.1:20001/mcp"}};
  // The rows are loaded at once (loadRows), then the store is opened again.
  big["metadata"]["name"] = "inst-0";
  s->create("mcpinstances", big);  // creates the schema; replaced below
  s.reset();
  loadRows(
      "INSERT OR REPLACE INTO objects(resource, ns, name, rv, data, labels) "
      "VALUES ('mcpinstances', 'ns', ?1, ?2, ?3, ?4)",
      1000, 1000, [&](sqlite3_stmt* st, int i) {
        std::string name = "inst-" + std::to_string(i);
        big["metadata"]["name"] = name;
        big["metadata"]["resourceVersion"] = std::to_string(i + 1);
        sqlite3_bind_text(st, 1, name.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, i + 1);
        sqlite3_bind_text(st, 3, big.dump().c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, big["metadata"]["labels"].dump().c_str(), -1, SQLITE_TRANSIENT);
      });
  s = openStore(path_);
  EXPECT_EQ(s->currentResourceVersion(), 1000);
  s->list("mcpinstances", {});  // warm the page cache
  auto start = std::chrono::steady_clock::now();
  ListResult r = s->list("mcpinstances", {});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.items.size(), 1000u);
  auto sel = s->list("mcpinstances", {.ns = "ns", .labelSelector = "app=web", .limit = 500});
  EXPECT_EQ(sel.items.size(), 500u);
  EXPECT_EQ(sel.remainingItemCount, 500);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
  RecordProperty("list_1000_ms", static_cast<int>(ms));
#ifdef NDEBUG
  // An optimised build lists 1,000 objects in ~10 ms; the margin absorbs a loaded machine.
  // (Unoptimised nlohmann::json is ~20x slower, so Debug builds only check correctness.)
  EXPECT_LT(ms, 100);
#endif
}

// --- selector parsing -----------------------------------------------------------------------

std::string selectorError(const std::string& label, const std::string& field = "") {
  try {
    if (!label.empty()) matchesLabelSelector(Json::object(), label);
    if (!field.empty()) matchesFieldSelector(Json::object(), field);
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::BadSelector);
    return e.what();
  }
  return "";
}

TEST(SelectorTest, LabelErrorsNameTheProblem) {
  using ::testing::HasSubstr;
  EXPECT_THAT(selectorError("app in (a"), HasSubstr("expected ',' or ')'"));
  EXPECT_THAT(selectorError("app in ()"), HasSubstr("can't be empty"));
  EXPECT_THAT(selectorError("app ~ x"), HasSubstr("after key \"app\""));
  EXPECT_THAT(selectorError("app=a,"), HasSubstr("trailing ','"));
  EXPECT_THAT(selectorError("Bad_Prefix/x=y"), HasSubstr("prefix"));
  EXPECT_THAT(selectorError("-x=y"), HasSubstr("invalid label key \"-x\""));
  EXPECT_THAT(selectorError("x=-y"), HasSubstr("invalid value \"-y\""));
  EXPECT_THAT(selectorError("n>ten"), HasSubstr("integer"));
  EXPECT_THAT(selectorError("a b"), HasSubstr("after key \"a\""));
  EXPECT_THAT(selectorError("!"), HasSubstr("expected a key after '!'"));
  EXPECT_EQ(selectorError(std::string(64, 'a') + "=b").empty(), false);
}

TEST(SelectorTest, FieldErrorsNameTheProblem) {
  using ::testing::HasSubstr;
  EXPECT_THAT(selectorError("", "metadata.name"), HasSubstr("needs =, == or !="));
  EXPECT_THAT(selectorError("", "=x"), HasSubstr("no field path"));
  EXPECT_THAT(selectorError("", "a..b=c"), HasSubstr("bad field path"));
  EXPECT_THAT(selectorError("", "a=b,"), HasSubstr("empty term"));
}

TEST(SelectorTest, MatchesDirectly) {
  Json o = {{"metadata", {{"name", "a,b"}, {"labels", {{"k", "v"}}}}},
            {"spec", {{"n", 1.5}, {"list", {"x", "y"}}, {"nil", nullptr}}}};
  EXPECT_TRUE(matchesLabelSelector(o, ""));
  EXPECT_TRUE(matchesLabelSelector(o, "k=v"));
  EXPECT_TRUE(matchesLabelSelector(o, "k in (v)"));
  EXPECT_FALSE(matchesLabelSelector(o, "k notin (v, w)"));
  EXPECT_TRUE(matchesLabelSelector(Json::object(), "!k"));
  EXPECT_TRUE(matchesFieldSelector(o, ""));
  EXPECT_TRUE(matchesFieldSelector(o, "metadata.name=a\\,b"));
  EXPECT_TRUE(matchesFieldSelector(o, "spec.n=1.5"));
  EXPECT_TRUE(matchesFieldSelector(o, "spec.list.1=y"));
  EXPECT_TRUE(matchesFieldSelector(o, "spec.nil="));
  EXPECT_TRUE(matchesFieldSelector(o, "spec.missing.deeper="));
  EXPECT_TRUE(matchesFieldSelector(o, " metadata.name != x "));
}

TEST(ResourceVersionTest, Parse) {
  EXPECT_EQ(parseResourceVersion(Json{{"metadata", {{"resourceVersion", "42"}}}}), 42);
  EXPECT_EQ(parseResourceVersion(Json{{"metadata", {{"resourceVersion", "4x"}}}}), 0);
  EXPECT_EQ(parseResourceVersion(Json{{"metadata", {{"resourceVersion", ""}}}}), 0);
  EXPECT_EQ(parseResourceVersion(Json{{"metadata", Json::object()}}), 0);
  EXPECT_EQ(parseResourceVersion(Json::array()), 0);
  EXPECT_STREQ(toString(EventType::Added), "ADDED");
  EXPECT_STREQ(toString(EventType::Modified), "MODIFIED");
}

}  // namespace
}  // namespace minimcp::store
