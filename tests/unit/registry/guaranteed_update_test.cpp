// guaranteedUpdate against a real SQLite store: lost races are retried on a fresh read until the
// write lands, a caller's precondition is not retried, and the retries stop at the deadline.
#include "api/registry/guaranteed_update.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "api/util/api_error.h"
#include "tests/mocks/forwarding_store.h"
#include "tests/unit/server/fake_kinds.h"

namespace minimcp::registry {
namespace {

using nlohmann::json;
using store::StoreError;

// The real store, with a hook that runs just before every update (to slip a writer in between
// guaranteedUpdate's read and its write).
class InterposedStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::function<void()> beforeUpdate;
  int updates = 0;
  int gets = 0;

  std::optional<json> get(const std::string& r, const std::string& ns,
                          const std::string& name) override {
    ++gets;
    return inner_.get(r, ns, name);
  }

  json update(const std::string& r, json obj, int64_t rv) override {
    ++updates;
    if (beforeUpdate) beforeUpdate();
    return inner_.update(r, std::move(obj), rv);
  }
};

class GuaranteedUpdateTest : public ::testing::Test {
 protected:
  GuaranteedUpdateTest() {
    store_ = store::openStore("sqlite:" + dir_.path() + "/test.db");
    store_->create("widgets",
                   {{"metadata", {{"name", "w"}, {"namespace", "ns"}}}, {"spec", {{"count", 0}}}});
  }
  json read() { return *store_->get("widgets", "ns", "w"); }
  static Change increment(const json* current) {
    json obj = *current;
    obj["spec"]["count"] = obj["spec"]["count"].get<int>() + 1;
    return Change::write(std::move(obj));
  }

  server::testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(GuaranteedUpdateTest, ConcurrentWritersAllLand) {
  constexpr int kThreads = 8, kEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        try {
          guaranteedUpdate(*store_, "widgets", "ns", "w", increment);
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(read()["spec"]["count"], kThreads * kEach);
}

TEST_F(GuaranteedUpdateTest, LostRaceIsRetriedOnAFreshRead) {
  InterposedStore store(*store_);
  bool slipped = false;
  store.beforeUpdate = [&] {
    if (slipped) return;
    slipped = true;
    json other = read();
    other["spec"]["other"] = "kept";
    store_->update("widgets", other, 0);
  };
  auto result = guaranteedUpdate(store, "widgets", "ns", "w", increment);
  EXPECT_EQ(result.attempts, 2);
  EXPECT_EQ(result.outcome, UpdateResult::Outcome::Updated);
  EXPECT_EQ(read()["spec"], json({{"count", 1}, {"other", "kept"}}));
  EXPECT_EQ(*result.object, read());
}

TEST_F(GuaranteedUpdateTest, PreconditionFailureIsNotRetried) {
  int calls = 0;
  auto before = read();
  EXPECT_THROW(guaranteedUpdate(*store_, "widgets", "ns", "w",
                                [&](const json*) -> Change {
                                  ++calls;
                                  throw ApiError::Conflict("widgets", "w", "precondition");
                                }),
               ApiError);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(read(), before);
}

// A controller's status write starts from the object it read: when nothing changed in between,
// the store is written once and not read; when something did, the write is refused (not retried
// onto the newer object) after one fresh read.
TEST_F(GuaranteedUpdateTest, UpdateIfUnchangedWritesWhatWasReadWithoutReadingAgain) {
  InterposedStore store(*store_);
  json seen = read();
  json changed = seen;
  changed["spec"]["count"] = 7;
  auto result = updateIfUnchanged(store, "widgets", seen, Change::write(changed));
  EXPECT_EQ(result.outcome, UpdateResult::Outcome::Updated);
  EXPECT_EQ(store.gets, 0);
  EXPECT_EQ(store.updates, 1);
  EXPECT_EQ(read()["spec"]["count"], 7);

  changed["spec"]["count"] = 8;  // decided from `seen`, which is stale by now
  try {
    updateIfUnchanged(store, "widgets", seen, Change::write(changed));
    FAIL() << "expected a Conflict";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::Conflict);
  }
  EXPECT_EQ(store.gets, 1);
  EXPECT_EQ(read()["spec"]["count"], 7);
}

TEST_F(GuaranteedUpdateTest, StopsRetryingAtTheDeadline) {
  InterposedStore store(*store_);
  store.beforeUpdate = [&] {  // every write loses its race
    store_->update("widgets", read(), 0);
  };
  UpdateOptions options;
  options.timeout = std::chrono::milliseconds(200);
  auto start = std::chrono::steady_clock::now();
  try {
    guaranteedUpdate(store, "widgets", "ns", "w", increment, options);
    FAIL() << "expected a Conflict";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::Conflict);
  }
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GT(store.updates, 2);  // retried, not given up after one attempt
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_EQ(read()["spec"]["count"], 0);
}

TEST_F(GuaranteedUpdateTest, KeepWritesNothing) {
  auto before = read();
  auto result =
      guaranteedUpdate(*store_, "widgets", "ns", "w", [](const json*) { return Change::keep(); });
  EXPECT_EQ(result.outcome, UpdateResult::Outcome::Unchanged);
  EXPECT_EQ(*result.object, before);
  EXPECT_EQ(store_->currentResourceVersion(), store::parseResourceVersion(before));
}

TEST_F(GuaranteedUpdateTest, AbsentIsNotFoundUnlessCreating) {
  try {
    guaranteedUpdate(*store_, "widgets", "ns", "absent", increment);
    FAIL() << "expected NotFound";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreError::Code::NotFound);
  }
  UpdateOptions options;
  options.ignoreNotFound = true;
  auto result = guaranteedUpdate(
      *store_, "widgets", "ns", "new",
      [](const json* current) {
        EXPECT_EQ(current, nullptr);
        return Change::write({{"metadata", {{"name", "new"}, {"namespace", "ns"}}}});
      },
      options);
  EXPECT_EQ(result.outcome, UpdateResult::Outcome::Created);
  EXPECT_TRUE(store_->get("widgets", "ns", "new"));
}

TEST_F(GuaranteedUpdateTest, RemoveAndDryRun) {
  UpdateOptions dry;
  dry.dryRun = true;
  auto result = guaranteedUpdate(*store_, "widgets", "ns", "w", increment, dry);
  EXPECT_EQ(result.outcome, UpdateResult::Outcome::Updated);
  EXPECT_EQ((*result.object)["spec"]["count"], 1);
  EXPECT_EQ(read()["spec"]["count"], 0);
  result =
      guaranteedUpdate(*store_, "widgets", "ns", "w", [](const json*) { return Change::remove(); });
  EXPECT_EQ(result.outcome, UpdateResult::Outcome::Removed);
  EXPECT_FALSE(store_->get("widgets", "ns", "w"));
}

// Every write of a kind the API serves records its field manager, whoever the writer is; other
// resources (and a write whose ownership tryUpdate computed) carry no managedFields.
TEST_F(GuaranteedUpdateTest, WritesOfAServedKindRecordTheirManager) {
  store_->create("mcpinstances", {{"apiVersion", "minimcp.io/v1alpha1"},
                                  {"kind", "MCPInstance"},
                                  {"metadata", {{"name", "i"}, {"namespace", "ns"}}},
                                  {"spec", {{"type", "echo"}}}});
  server::testing::FakeClock clock;
  UpdateOptions options;
  options.fieldManager = "mcpd-controller";
  options.clock = &clock;
  auto setPhase = [](const json* current) {
    json obj = *current;
    obj["status"]["phase"] = "Running";
    return Change::write(std::move(obj));
  };
  guaranteedUpdate(*store_, "mcpinstances", "ns", "i", setPhase, options);
  json mf = (*store_->get("mcpinstances", "ns", "i"))["metadata"]["managedFields"];
  ASSERT_EQ(mf.size(), 1u) << mf.dump();
  EXPECT_EQ(mf[0]["manager"], "mcpd-controller");
  EXPECT_EQ(mf[0]["operation"], "Update");
  EXPECT_EQ(mf[0]["subresource"], "status");
  EXPECT_EQ(mf[0]["apiVersion"], "minimcp.io/v1alpha1");
  EXPECT_EQ(mf[0]["time"], formatRfc3339(clock.t));
  EXPECT_EQ(mf[0]["fieldsV1"], json::parse(R"({"f:status":{"f:phase":{}}})"));

  guaranteedUpdate(*store_, "widgets", "ns", "w", increment, options);
  EXPECT_FALSE(read()["metadata"].contains("managedFields"));

  options.ownershipRecorded = true;
  auto setPort = [](const json* current) {
    json obj = *current;
    obj["status"]["port"] = 9000;
    return Change::write(std::move(obj));
  };
  guaranteedUpdate(*store_, "mcpinstances", "ns", "i", setPort, options);
  EXPECT_EQ((*store_->get("mcpinstances", "ns", "i"))["metadata"]["managedFields"], mf);
}

}  // namespace
}  // namespace minimcp::registry
