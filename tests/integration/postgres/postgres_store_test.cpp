// What only the PostgreSQL store has to get right: several stores ("nodes") on one database,
// schema migrations, and surviving a restart of the server.
#include "api/store/postgres_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "tests/integration/postgres/pg_test_util.h"

namespace minimcp::store {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

Json thing(const std::string& name, int v = 0) {
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "Thing"},
          {"metadata", {{"name", name}, {"namespace", "ns"}}},
          {"spec", {{"v", v}}}};
}

// Records what a subscription delivers; waits are bounded.
class Collector {
 public:
  std::function<void(const WatchEvent&)> callback() {
    return [this](const WatchEvent& e) {
      std::lock_guard lk(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  bool waitFor(size_t n, std::chrono::milliseconds timeout = 15s) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return events_.size() >= n; });
  }
  std::vector<WatchEvent> events() {
    std::lock_guard lk(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchEvent> events_;
};

std::vector<std::string> eventNames(const std::vector<WatchEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    out.push_back(std::string(toString(e.type)) + " " +
                  e.object["metadata"]["name"].get<std::string>());
  }
  return out;
}

void expectStrictlyIncreasing(const std::vector<WatchEvent>& events) {
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_LT(events[i - 1].resourceVersion, events[i].resourceVersion) << "at " << i;
  }
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string db = "pg_" + std::to_string(::getpid()) + "_" + info->name();
    for (char& c : db) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    db = db.substr(0, 60);
    url_ = pgtest::freshDatabase(pgtest::sharedServerUrl(), db);
  }
  std::string url_;
};

TEST_F(PostgresStoreTest, OpenStoreMigratesOnceAndRecordsTheVersion) {
  {
    auto s = openStore(url_);
    ASSERT_NE(dynamic_cast<PostgresStore*>(s.get()), nullptr);
    s->create("things", thing("a"));
  }
  std::string version = std::to_string(PostgresStore::schemaVersion());
  EXPECT_EQ(pgtest::query(url_, "SELECT max(version) FROM schema_migrations"), version);
  EXPECT_EQ(pgtest::query(url_, "SELECT count(*) FROM schema_migrations"), version);
  auto s = openStore(url_);  // a restart applies nothing again and keeps the data
  EXPECT_EQ(pgtest::query(url_, "SELECT count(*) FROM schema_migrations"), version);
  EXPECT_TRUE(s->get("things", "ns", "a").has_value());
}

TEST_F(PostgresStoreTest, NodesStartingTogetherOnAnEmptyDatabaseAllSucceed) {
  constexpr int kNodes = 4;
  std::vector<std::unique_ptr<Store>> stores(kNodes);
  std::vector<std::string> errors(kNodes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] {
      try {
        stores[i] = openStore(url_);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kNodes; ++i) {
    EXPECT_EQ(errors[i], "") << "node " << i;
    EXPECT_NE(stores[i], nullptr);
  }
  EXPECT_EQ(pgtest::query(url_, "SELECT count(*) FROM schema_migrations"),
            std::to_string(PostgresStore::schemaVersion()));
}

TEST_F(PostgresStoreTest, NewerSchemaIsRefused) {
  openStore(url_).reset();
  pgtest::query(url_, "INSERT INTO schema_migrations (version) VALUES (99)");
  try {
    openStore(url_);
    ADD_FAILURE() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::Unavailable);
    EXPECT_THAT(e.what(), HasSubstr("schema version 99"));
  }
}

TEST(PostgresStoreUrl, RedactDropsPasswordAndQuery) {
  EXPECT_EQ(PostgresStore::redactUrl("postgresql://u:s3cret@db.example:5432/minimcp?password=x"),
            "postgresql://u@db.example:5432/minimcp");
  EXPECT_EQ(PostgresStore::redactUrl("postgresql://u@h/db"), "postgresql://u@h/db");
  EXPECT_EQ(PostgresStore::redactUrl("postgres://h:5432"), "postgres://h:5432");
  EXPECT_EQ(PostgresStore::redactUrl("postgresql://:pw@h/db"), "postgresql://@h/db");
}

TEST(PostgresStoreUrl, UnreachableServerIsUnavailableAndTheMessageHasNoPassword) {
  auto start = std::chrono::steady_clock::now();
  try {
    // Port 1 on loopback: refused at once; the store retries with backoff for a bounded time.
    openStore("postgresql://minimcp:hunter2@127.0.0.1:1/minimcp");
    ADD_FAILURE() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::Unavailable);
    EXPECT_THAT(e.what(), Not(HasSubstr("hunter2")));
    EXPECT_THAT(e.what(), HasSubstr("127.0.0.1:1"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST_F(PostgresStoreTest, EachNodeSeesTheOtherNodesWrites) {
  auto a = openStore(url_);
  auto b = openStore(url_);
  Collector ca, cb;
  auto subA = a->subscribe(ca.callback());
  auto subB = b->subscribe(cb.callback());

  Json x = a->create("things", thing("x"));
  b->create("things", thing("y"));
  a->update("things", thing("x", 2), parseResourceVersion(x));
  b->remove("things", "ns", "y", 0);

  ASSERT_TRUE(ca.waitFor(4));
  ASSERT_TRUE(cb.waitFor(4));
  for (auto* c : {&ca, &cb}) {
    auto events = c->events();
    EXPECT_THAT(eventNames(events), ElementsAre("ADDED x", "ADDED y", "MODIFIED x", "DELETED y"));
    expectStrictlyIncreasing(events);
  }
  // Both nodes deliver the very same events.
  auto ea = ca.events(), eb = cb.events();
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(ea[i].object, eb[i].object);
    EXPECT_EQ(ea[i].resourceVersion, eb[i].resourceVersion);
    EXPECT_EQ(ea[i].resource, "things");
  }
  EXPECT_EQ(eb.back().resourceVersion, a->currentResourceVersion());
  EXPECT_EQ(*b->get("things", "ns", "x"), *a->get("things", "ns", "x"));
}

TEST_F(PostgresStoreTest, ConcurrentWritesOnTwoNodesReachEverySubscriberInOrderOnce) {
  auto a = openStore(url_);
  auto b = openStore(url_);
  Collector ca, cb;
  auto subA = a->subscribe(ca.callback());
  auto subB = b->subscribe(cb.callback());
  constexpr int kPerThread = 40;
  auto writer = [&](Store* s, const std::string& prefix) {
    for (int i = 0; i < kPerThread; ++i) s->create("things", thing(prefix + std::to_string(i)));
  };
  std::vector<std::thread> threads;
  threads.emplace_back(writer, a.get(), "a1-");
  threads.emplace_back(writer, a.get(), "a2-");
  threads.emplace_back(writer, b.get(), "b1-");
  threads.emplace_back(writer, b.get(), "b2-");
  for (auto& t : threads) t.join();
  constexpr size_t kTotal = 4 * kPerThread;
  ASSERT_TRUE(ca.waitFor(kTotal));
  ASSERT_TRUE(cb.waitFor(kTotal));
  int64_t current = a->currentResourceVersion();
  EXPECT_EQ(current, static_cast<int64_t>(kTotal));
  for (auto* c : {&ca, &cb}) {
    auto events = c->events();
    EXPECT_EQ(events.size(), kTotal);  // nothing twice
    expectStrictlyIncreasing(events);
    std::set<std::string> names;
    for (const auto& e : events) names.insert(e.object["metadata"]["name"].get<std::string>());
    EXPECT_EQ(names.size(), kTotal);
    EXPECT_EQ(events.back().resourceVersion, current);
  }
}

TEST_F(PostgresStoreTest, CompareAndSwapAcrossNodesLosesNoUpdate) {
  auto a = openStore(url_);
  auto b = openStore(url_);
  a->create("things", thing("counter", 0));
  constexpr int kIncrements = 50;
  std::atomic<bool> failed{false};
  auto worker = [&](Store* s) {
    for (int i = 0; i < kIncrements && !failed; ++i) {
      for (int attempt = 0;; ++attempt) {
        if (attempt > 10000) {
          failed = true;
          return;
        }
        Json cur = *s->get("things", "ns", "counter");
        cur["spec"]["v"] = cur["spec"]["v"].get<int>() + 1;
        try {
          s->update("things", cur, parseResourceVersion(cur));
          break;
        } catch (const StoreError& e) {
          if (e.code() != StoreError::Code::Conflict) {
            failed = true;
            return;
          }
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (Store* s : {a.get(), a.get(), b.get(), b.get()}) threads.emplace_back(worker, s);
  for (auto& t : threads) t.join();
  ASSERT_FALSE(failed);
  EXPECT_EQ(b->get("things", "ns", "counter")->at("spec").at("v"), 4 * kIncrements);
  EXPECT_EQ(a->currentResourceVersion(), 1 + 4 * kIncrements);
}

TEST_F(PostgresStoreTest, SubscriberOnAListenOnlyNodeGetsEveryChange) {
  // A node that only listens: every change reaches it through LISTEN/NOTIFY and the history.
  auto writer = openStore(url_);
  auto reader = openStore(url_);
  Collector c;
  auto sub = reader->subscribe(c.callback());
  for (int i = 0; i < 20; ++i) writer->create("things", thing("n" + std::to_string(i)));
  ASSERT_TRUE(c.waitFor(20));
  auto events = c.events();
  EXPECT_EQ(events.size(), 20u);
  expectStrictlyIncreasing(events);
  EXPECT_EQ(events.front().object["metadata"]["name"], "n0");
}

TEST_F(PostgresStoreTest, ConnectionsCutByTheServerAreReopenedAndWatchResumes) {
  auto a = openStore(url_);
  auto b = openStore(url_);
  Collector ca;
  auto sub = a->subscribe(ca.callback());
  b->create("things", thing("one"));
  ASSERT_TRUE(ca.waitFor(1));

  // Cut every connection of both stores (main and listener), as a failover or idle timeout would.
  std::string db = url_.substr(url_.rfind('/') + 1);
  std::string others = "FROM pg_stat_activity WHERE datname = '" + db +
                       "' AND pid <> pg_backend_pid() AND backend_type = 'client backend'";
  std::string victims = pgtest::query(url_, "SELECT string_agg(pid::text, ',') " + others);
  ASSERT_FALSE(victims.empty());
  pgtest::query(url_, "SELECT count(pg_terminate_backend(pid)) " + others);
  // pg_terminate_backend only signals: wait until those connections are really gone (the stores
  // may already have opened new ones).
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (pgtest::query(
             url_, "SELECT count(*) FROM pg_stat_activity WHERE pid IN (" + victims + ")") != "0") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "backends did not exit";
    std::this_thread::sleep_for(10ms);  // polling the server: there is nothing to wait on
  }

  b->create("things", thing("two"));  // reconnects, then writes
  EXPECT_TRUE(a->get("things", "ns", "two").has_value());
  b->create("things", thing("three"));
  ASSERT_TRUE(ca.waitFor(3));
  EXPECT_THAT(eventNames(ca.events()), ElementsAre("ADDED one", "ADDED two", "ADDED three"));
  expectStrictlyIncreasing(ca.events());
}

// Restarts a server of its own, so it never disturbs tests that share the fixture's server.
TEST(PostgresStoreRestart, StoresReconnectAndSubscribersResumeWithoutLoss) {
  pgtest::ScratchServer server;
  std::string url = pgtest::freshDatabase(server.url(), "restart");
  auto a = openStore(url);
  auto b = openStore(url);
  Collector ca;
  auto sub = a->subscribe(ca.callback());
  a->create("things", thing("before-a"));
  b->create("things", thing("before-b"));
  ASSERT_TRUE(ca.waitFor(2));
  int64_t beforeRv = a->currentResourceVersion();

  server.restart();  // every connection of both stores is cut

  // The first operation after the restart reconnects and succeeds; so does the other node's,
  // whose change reaches A whether A's listener is back yet (NOTIFY) or not (catch-up).
  b->create("things", thing("after-b"));
  a->create("things", thing("after-a"));
  b->update("things", thing("after-b", 1), 0);
  ASSERT_TRUE(ca.waitFor(5));
  auto events = ca.events();
  EXPECT_THAT(eventNames(events), ElementsAre("ADDED before-a", "ADDED before-b", "ADDED after-b",
                                              "ADDED after-a", "MODIFIED after-b"));
  expectStrictlyIncreasing(events);
  EXPECT_EQ(a->changesSince("things", "", beforeRv).size(), 3u);
  EXPECT_EQ(a->list("things", {}).items.size(), 4u);

  // Later changes keep flowing to A's listener.
  b->remove("things", "ns", "after-b", 0);
  ASSERT_TRUE(ca.waitFor(6));
  EXPECT_EQ(ca.events().size(), 6u);
  EXPECT_EQ(ca.events().back().type, EventType::Deleted);
}

// Polls `done` every 10 ms until it holds or `timeout` passes (the server offers nothing to wait
// on for these conditions).
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// --- exclusive locks ------------------------------------------------------------------------

TEST_F(PostgresStoreTest, TerminatedLockBackendLosesTheLockAndAnotherNodeTakesIt) {
  auto a = openStore(url_);
  auto b = openStore(url_);
  auto lock = a->tryLock("scheduler");
  ASSERT_NE(lock, nullptr);
  EXPECT_EQ(b->tryLock("scheduler"), nullptr);
  ASSERT_EQ(pgtest::terminateAdvisoryLockHolders(url_), 1);

  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return !lock->held(); }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  EXPECT_FALSE(lock->held());  // never comes back
  std::unique_ptr<ExclusiveLock> taken;
  ASSERT_TRUE(eventually([&] { return (taken = b->tryLock("scheduler")) != nullptr; }));
  EXPECT_TRUE(taken->held());
  // The store that lost it keeps working, and its stale lock object goes quietly.
  a->create("things", thing("x"));
  lock.reset();
  EXPECT_TRUE(taken->held());
  EXPECT_EQ(a->tryLock("scheduler"), nullptr);
}

TEST_F(PostgresStoreTest, HeldLockDoesNotBlockNodesStartingOrMigrating) {
  auto a = openStore(url_);
  auto lock = a->tryLock("scheduler");
  ASSERT_NE(lock, nullptr);
  // Stores opening (and migrating) the database meanwhile are not blocked by it.
  auto b = openStore(url_);
  b->create("things", thing("y"));
  EXPECT_TRUE(lock->held());
}

TEST(PostgresStoreTryLock, UnreachableServerIsUnavailableWithinTheConnectTimeout) {
  auto store = pgtest::freshDatabase(pgtest::sharedServerUrl(), "trylock_unreachable");
  auto s = openStore(store);
  pgtest::cutDatabase(store);
  auto start = std::chrono::steady_clock::now();
  try {
    s->tryLock("scheduler");
    ADD_FAILURE() << "expected Unavailable";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::Unavailable);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  pgtest::restoreDatabase(store);
  EXPECT_NE(s->tryLock("scheduler"), nullptr);
}

TEST(PostgresStoreRestart, ServerRestartLosesTheLock) {
  pgtest::ScratchServer server;
  std::string url = pgtest::freshDatabase(server.url(), "lockrestart");
  auto a = openStore(url);
  auto lock = a->tryLock("scheduler");
  ASSERT_NE(lock, nullptr);
  server.restart();
  ASSERT_TRUE(eventually([&] { return !lock->held(); }, 2s));
  auto b = openStore(url);
  EXPECT_NE(b->tryLock("scheduler"), nullptr);
}

// --- outages --------------------------------------------------------------------------------

class PostgresOutageTest : public PostgresStoreTest {
 protected:
  void TearDown() override { pgtest::restoreDatabase(url_); }  // even when a test failed
  std::unique_ptr<PostgresStore> open(std::chrono::milliseconds writeBudget) {
    return std::make_unique<PostgresStore>(
        url_, PostgresStore::Options{.historyLimit = 10000, .writeRetryBudget = writeBudget});
  }
};

TEST_F(PostgresOutageTest, ReadsAreAnsweredFromTheMirrorAndWritesFailAfterTheirBudget) {
  auto a = open(1s);
  auto b = openStore(url_);  // another node: its writes reach A's mirror through LISTEN
  Collector ca;
  auto sub = a->subscribe(ca.callback());
  a->create("things", thing("mine", 1));
  b->create("things", thing("theirs", 2));
  b->create("types", {{"metadata", {{"name", "cluster-wide"}}}});
  Json gone = b->create("things", thing("gone"));
  b->remove("things", "ns", "gone", 0);
  ASSERT_TRUE(ca.waitFor(5));
  int64_t rv = a->currentResourceVersion();
  ListResult before = a->list("things", {});

  pgtest::cutDatabase(url_);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(a->get("things", "ns", "theirs").has_value());
  EXPECT_EQ(a->get("things", "ns", "theirs")->at("spec").at("v"), 2);
  EXPECT_FALSE(a->get("things", "ns", "gone").has_value());
  EXPECT_TRUE(a->get("types", "", "cluster-wide").has_value());
  ListResult during = a->list("things", {});
  EXPECT_EQ(during.items, before.items);
  EXPECT_EQ(during.resourceVersion, rv);
  EXPECT_EQ(a->currentResourceVersion(), rv);
  // Selectors and paging work on the mirror as on the database.
  ListResult page = a->list("things", {.ns = "ns", .limit = 1});
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0]["metadata"]["name"], "mine");
  EXPECT_EQ(page.remainingItemCount, 1);
  ListResult rest =
      a->list("things", {.ns = "ns", .limit = 1, .continueToken = page.continueToken});
  ASSERT_EQ(rest.items.size(), 1u);
  EXPECT_EQ(rest.items[0]["metadata"]["name"], "theirs");
  EXPECT_TRUE(a->list("things", {.ns = "other"}).items.empty());
  EXPECT_EQ(a->list("things", {.fieldSelector = "metadata.name=mine"}).items.size(), 1u);
  for (int i = 0; i < 50; ++i) a->get("things", "ns", "mine");  // no waiting on the database
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);

  // A write retries for its budget, then fails; it is not applied later.
  start = std::chrono::steady_clock::now();
  try {
    a->create("things", thing("refused"));
    ADD_FAILURE() << "a write while the database is unreachable succeeded";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::Unavailable);
  }
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 4s);
  try {
    a->changesSince("things", "", 0);
    ADD_FAILURE() << "changesSince without a database";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::Unavailable);
  }

  pgtest::restoreDatabase(url_);
  EXPECT_FALSE(b->get("things", "ns", "refused").has_value());
  a->create("things", thing("after"));  // reconnects
  EXPECT_TRUE(b->get("things", "ns", "after").has_value());
  EXPECT_FALSE(a->get("things", "ns", "refused").has_value());
  EXPECT_EQ(a->changesSince("things", "", rv).size(), 1u);
}

TEST_F(PostgresOutageTest, WriteDuringAnOutageSucceedsOnceTheDatabaseIsBack) {
  auto a = open(10s);
  auto b = openStore(url_);
  Collector cb;
  auto sub = b->subscribe(cb.callback());
  a->create("things", thing("x", 1));
  ASSERT_TRUE(cb.waitFor(1));

  pgtest::cutDatabase(url_);
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  std::optional<Json> written;
  std::string failure;
  std::chrono::steady_clock::time_point returnedAt;
  std::thread writer([&] {
    {
      std::lock_guard lk(mu);
      started = true;
    }
    cv.notify_all();
    try {
      Json w = a->update("things", thing("x", 2), 0);
      std::lock_guard lk(mu);
      written = w;
    } catch (const std::exception& e) {
      std::lock_guard lk(mu);
      failure = e.what();
    }
    returnedAt = std::chrono::steady_clock::now();
  });
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 5s, [&] { return started; }));
  }
  // Meanwhile the node serves reads from its mirror.
  EXPECT_EQ(a->get("things", "ns", "x")->at("spec").at("v"), 1);
  auto restoredAt = std::chrono::steady_clock::now();
  pgtest::restoreDatabase(url_);
  writer.join();
  ASSERT_TRUE(written.has_value()) << failure;
  EXPECT_GT(returnedAt, restoredAt);  // it could not have committed before: it waited
  EXPECT_EQ(b->get("things", "ns", "x")->at("spec").at("v"), 2);
  EXPECT_EQ(a->get("things", "ns", "x")->at("spec").at("v"), 2);
  ASSERT_TRUE(cb.waitFor(2));  // other nodes hear of it
  EXPECT_EQ(cb.events()[1].object, *written);
}

TEST_F(PostgresOutageTest, MirrorIsReloadedWhenChangesWereTrimmedBeforeItSawThem) {
  auto a = openStore(url_);
  auto b = openStore(url_);
  a->create("things", thing("old"));
  Collector ca;
  auto sub = a->subscribe(ca.callback());
  // A subscriber that holds A's delivery on the first event of B's, so A falls behind.
  std::mutex mu;
  std::condition_variable cv;
  bool blocked = false, release = false;
  auto gate = a->subscribe([&](const WatchEvent& e) {
    if (e.object["metadata"]["name"] != "block") return;
    std::unique_lock lk(mu);
    blocked = true;
    cv.notify_all();
    cv.wait_for(lk, 10s, [&] { return release; });
  });
  b->create("things", thing("block"));
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 10s, [&] { return blocked; }));
  }
  for (int i = 0; i < 40; ++i) b->create("things", thing("n" + std::to_string(i)));
  b->remove("things", "ns", "old", 0);
  b->compactHistory(0);  // what A has not read yet is gone from the history
  b->create("things", thing("last"));
  int64_t rv = b->currentResourceVersion();
  {
    std::lock_guard lk(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(eventually([&] {
    auto events = ca.events();
    return !events.empty() && events.back().object["metadata"]["name"] == "last";
  }));

  pgtest::cutDatabase(url_);  // now A answers from its mirror
  ListResult r = a->list("things", {});
  EXPECT_EQ(r.items.size(), 42u);  // block, n0..n39, last
  EXPECT_FALSE(a->get("things", "ns", "old").has_value());
  EXPECT_TRUE(a->get("things", "ns", "n17").has_value());
  EXPECT_EQ(r.resourceVersion, rv);
}

}  // namespace
}  // namespace minimcp::store
