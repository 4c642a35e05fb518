#include "tests/unit/store/store_conformance.h"

#include <gmock/gmock.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace minimcp::store::conformance {
namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

Json makeObj(const std::string& name, const std::string& ns = "", Json labels = Json::object(),
             Json spec = Json::object()) {
  Json obj = {{"apiVersion", "minimcp.io/v1alpha1"},
              {"kind", "Thing"},
              {"metadata", {{"name", name}, {"uid", "uid-" + ns + "-" + name}, {"generation", 1}}},
              {"spec", spec}};
  if (!ns.empty()) obj["metadata"]["namespace"] = ns;
  if (!labels.empty()) obj["metadata"]["labels"] = labels;
  return obj;
}

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

std::vector<std::string> names(const std::vector<Json>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) {
    std::string ns = i["metadata"].value("namespace", "");
    out.push_back(ns.empty() ? i["metadata"]["name"].get<std::string>()
                             : ns + "/" + i["metadata"]["name"].get<std::string>());
  }
  return out;
}

std::vector<std::string> listNames(Store& s, const std::string& resource, ListOptions opts = {}) {
  return names(s.list(resource, opts).items);
}

}  // namespace

void StoreConformance::SetUp() {
  auto base = std::filesystem::temp_directory_path() / "minimcp-store-XXXXXX";
  std::string tmpl = base.string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  dir_ = tmpl;
  store_ = GetParam().factory(dir_);
  ASSERT_NE(store_, nullptr);
}

void StoreConformance::TearDown() {
  store_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void StoreConformance::reopen() {
  store_.reset();
  store_ = GetParam().factory(dir_);
  ASSERT_NE(store_, nullptr);
}

// --- create / get / update / delete ---------------------------------------------------------

TEST_P(StoreConformance, CreateThenGetReturnsStoredObject) {
  Json in = makeObj("a", "ns1", {{"app", "x"}}, {{"replicas", 3}});
  in["metadata"]["resourceVersion"] = "999";  // ignored: the store assigns it
  Json created = store().create("things", in);
  int64_t rv = parseResourceVersion(created);
  EXPECT_GT(rv, 0);
  EXPECT_EQ(rv, store().currentResourceVersion());
  EXPECT_TRUE(created["metadata"]["resourceVersion"].is_string());
  EXPECT_EQ(created["spec"]["replicas"], 3);
  EXPECT_EQ(created["metadata"]["uid"], "uid-ns1-a");

  auto got = store().get("things", "ns1", "a");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, created);
  EXPECT_FALSE(store().get("things", "ns2", "a").has_value());
  EXPECT_FALSE(store().get("others", "ns1", "a").has_value());
  EXPECT_FALSE(store().get("things", "ns1", "b").has_value());
}

TEST_P(StoreConformance, CreateExistingFailsAndChangesNothing) {
  Json first = store().create("things", makeObj("a", "ns1", {}, {{"v", 1}}));
  int64_t before = store().currentResourceVersion();
  EXPECT_EQ(errorCode([&] {
              store().create("things", makeObj("a", "ns1", {}, {{"v", 2}}));
            }),
            StoreError::Code::AlreadyExists);
  EXPECT_EQ(store().currentResourceVersion(), before);
  EXPECT_EQ(*store().get("things", "ns1", "a"), first);
  // The same name elsewhere is a different object.
  EXPECT_NO_THROW(store().create("things", makeObj("a", "ns2")));
  EXPECT_NO_THROW(store().create("things", makeObj("a")));
  EXPECT_NO_THROW(store().create("others", makeObj("a", "ns1")));
}

TEST_P(StoreConformance, UpdateWithCurrentVersionReplacesObject) {
  Json created = store().create("things", makeObj("a", "ns1", {}, {{"v", 1}}));
  Json next = created;
  next["spec"] = {{"v", 2}};
  next["metadata"]["generation"] = 2;
  Json updated = store().update("things", next, parseResourceVersion(created));
  EXPECT_GT(parseResourceVersion(updated), parseResourceVersion(created));
  EXPECT_EQ(updated["spec"]["v"], 2);
  EXPECT_EQ(*store().get("things", "ns1", "a"), updated);
  EXPECT_EQ(store().get("things", "ns1", "a")->at("metadata").at("generation"), 2);
}

TEST_P(StoreConformance, UpdateMissingIsNotFound) {
  EXPECT_EQ(errorCode([&] { store().update("things", makeObj("nope", "ns1"), 0); }),
            StoreError::Code::NotFound);
  EXPECT_EQ(errorCode([&] { store().update("things", makeObj("nope", "ns1"), 5); }),
            StoreError::Code::NotFound);
  EXPECT_EQ(store().currentResourceVersion(), 0);
}

TEST_P(StoreConformance, UpdateWithStaleVersionConflicts) {
  Json created = store().create("things", makeObj("a", "ns1", {}, {{"v", 1}}));
  int64_t rv1 = parseResourceVersion(created);
  Json v2 = created;
  v2["spec"]["v"] = 2;
  Json updated = store().update("things", v2, rv1);
  int64_t before = store().currentResourceVersion();

  Json stale = created;
  stale["spec"]["v"] = 3;
  EXPECT_EQ(errorCode([&] { store().update("things", stale, rv1); }), StoreError::Code::Conflict);
  // A version from the future is just as wrong.
  EXPECT_EQ(errorCode([&] { store().update("things", stale, before + 100); }),
            StoreError::Code::Conflict);
  EXPECT_EQ(store().currentResourceVersion(), before);
  EXPECT_EQ(*store().get("things", "ns1", "a"), updated);
}

TEST_P(StoreConformance, UnconditionalUpdateIgnoresStaleVersion) {
  Json created = store().create("things", makeObj("a", "ns1", {}, {{"v", 1}}));
  Json v2 = created;
  v2["spec"]["v"] = 2;
  store().update("things", v2, 0);
  Json stale = created;  // carries the old resourceVersion in metadata
  stale["spec"]["v"] = 3;
  Json out = store().update("things", stale, 0);
  EXPECT_EQ(out["spec"]["v"], 3);
  EXPECT_EQ(parseResourceVersion(out), store().currentResourceVersion());
  EXPECT_EQ(store().get("things", "ns1", "a")->at("spec").at("v"), 3);
}

TEST_P(StoreConformance, DeleteReturnsLastStateWithNewVersion) {
  Json created = store().create("things", makeObj("a", "ns1", {}, {{"v", 1}}));
  Json removed = store().remove("things", "ns1", "a", parseResourceVersion(created));
  EXPECT_GT(parseResourceVersion(removed), parseResourceVersion(created));
  EXPECT_EQ(parseResourceVersion(removed), store().currentResourceVersion());
  EXPECT_EQ(removed["spec"]["v"], 1);
  EXPECT_EQ(removed["metadata"]["uid"], "uid-ns1-a");
  EXPECT_FALSE(store().get("things", "ns1", "a").has_value());
  EXPECT_EQ(errorCode([&] { store().remove("things", "ns1", "a", 0); }),
            StoreError::Code::NotFound);
  // The name can be used again.
  EXPECT_NO_THROW(store().create("things", makeObj("a", "ns1")));
}

TEST_P(StoreConformance, DeleteWithStaleVersionConflicts) {
  Json created = store().create("things", makeObj("a", "ns1"));
  Json updated = store().update("things", created, 0);
  EXPECT_EQ(errorCode([&] { store().remove("things", "ns1", "a", parseResourceVersion(created)); }),
            StoreError::Code::Conflict);
  EXPECT_EQ(*store().get("things", "ns1", "a"), updated);
  EXPECT_NO_THROW(store().remove("things", "ns1", "a", parseResourceVersion(updated)));
}

TEST_P(StoreConformance, ResourceVersionsStrictlyIncreaseAcrossResources) {
  int64_t last = store().currentResourceVersion();
  EXPECT_EQ(last, 0);
  auto check = [&](const Json& obj) {
    int64_t rv = parseResourceVersion(obj);
    EXPECT_GT(rv, last);
    EXPECT_EQ(rv, store().currentResourceVersion());
    last = rv;
  };
  for (int i = 0; i < 5; ++i) {
    check(store().create("things", makeObj("t" + std::to_string(i), "ns1")));
    check(store().create("others", makeObj("o" + std::to_string(i))));
  }
  check(store().update("things", makeObj("t1", "ns1"), 0));
  check(store().remove("others", "", "o2", 0));
  check(store().create("others", makeObj("o2")));
}

TEST_P(StoreConformance, ClusterScopedObjectsHaveEmptyNamespace) {
  Json obj = makeObj("gmail");
  obj["metadata"]["namespace"] = "";
  store().create("mcptypes", obj);
  store().create("mcptypes", makeObj("slack"));
  EXPECT_TRUE(store().get("mcptypes", "", "gmail").has_value());
  EXPECT_TRUE(store().get("mcptypes", "", "slack").has_value());
  EXPECT_THAT(listNames(store(), "mcptypes"), ElementsAre("gmail", "slack"));
}

// --- list -----------------------------------------------------------------------------------

TEST_P(StoreConformance, ListFiltersByNamespaceAndOrdersByNamespaceThenName) {
  for (const auto& [ns, name] : std::vector<std::pair<std::string, std::string>>{
           {"b", "z"}, {"a", "y"}, {"b", "a"}, {"a", "b"}, {"c", "m"}}) {
    store().create("things", makeObj(name, ns));
  }
  store().create("others", makeObj("x", "a"));
  EXPECT_THAT(listNames(store(), "things"), ElementsAre("a/b", "a/y", "b/a", "b/z", "c/m"));
  EXPECT_THAT(listNames(store(), "things", {.ns = "a"}), ElementsAre("a/b", "a/y"));
  EXPECT_THAT(listNames(store(), "things", {.ns = "b"}), ElementsAre("b/a", "b/z"));
  EXPECT_THAT(listNames(store(), "things", {.ns = "nope"}), ElementsAre());
  EXPECT_THAT(listNames(store(), "others"), ElementsAre("a/x"));
  EXPECT_THAT(listNames(store(), "empty"), ElementsAre());

  ListResult r = store().list("things", {});
  EXPECT_EQ(r.resourceVersion, store().currentResourceVersion());
  EXPECT_EQ(r.continueToken, "");
  EXPECT_EQ(r.remainingItemCount, 0);
}

TEST_P(StoreConformance, ListReturnsStoredObjects) {
  Json created = store().create("things", makeObj("a", "ns1", {{"k", "v"}}, {{"deep", {1, 2}}}));
  ListResult r = store().list("things", {});
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0], created);
}

TEST_P(StoreConformance, LabelSelectorOperators) {
  store().create("things", makeObj("a", "ns", {{"app", "web"}, {"tier", "front"}, {"n", "3"}}));
  store().create("things", makeObj("b", "ns", {{"app", "web"}, {"tier", "back"}, {"n", "10"}}));
  store().create("things", makeObj("c", "ns", {{"app", "db"}}));
  store().create("things", makeObj("d", "ns"));
  store().create("things", makeObj("e", "ns", {{"example.com/owner", "alice"}, {"app", ""}}));
  auto sel = [&](const std::string& s) {
    return listNames(store(), "things", {.labelSelector = s});
  };
  EXPECT_THAT(sel(""), ElementsAre("ns/a", "ns/b", "ns/c", "ns/d", "ns/e"));
  EXPECT_THAT(sel("app=web"), ElementsAre("ns/a", "ns/b"));
  EXPECT_THAT(sel("app==web"), ElementsAre("ns/a", "ns/b"));
  EXPECT_THAT(sel("app!=web"), ElementsAre("ns/c", "ns/d", "ns/e"));
  EXPECT_THAT(sel("app="), ElementsAre("ns/e"));
  EXPECT_THAT(sel("app in (db, web)"), ElementsAre("ns/a", "ns/b", "ns/c"));
  EXPECT_THAT(sel("app in (db)"), ElementsAre("ns/c"));
  EXPECT_THAT(sel("app notin (web)"), ElementsAre("ns/c", "ns/d", "ns/e"));
  EXPECT_THAT(sel("tier"), ElementsAre("ns/a", "ns/b"));
  EXPECT_THAT(sel("!tier"), ElementsAre("ns/c", "ns/d", "ns/e"));
  EXPECT_THAT(sel("app=web,tier=back"), ElementsAre("ns/b"));
  EXPECT_THAT(sel("  app = web ,  tier != back  "), ElementsAre("ns/a"));
  EXPECT_THAT(sel("app,!tier"), ElementsAre("ns/c", "ns/e"));
  EXPECT_THAT(sel("example.com/owner=alice"), ElementsAre("ns/e"));
  EXPECT_THAT(sel("n>5"), ElementsAre("ns/b"));
  EXPECT_THAT(sel("n<5"), ElementsAre("ns/a"));
  EXPECT_THAT(sel("app=nothing"), ElementsAre());
}

TEST_P(StoreConformance, FieldSelectors) {
  Json a = makeObj("a", "alice");
  a["status"] = {{"phase", "Running"}, {"pid", 42}, {"ready", true}};
  Json b = makeObj("b", "alice");
  b["status"] = {{"phase", "Failed"}, {"ready", false}};
  Json c = makeObj("c", "bob");
  c["involvedObject"] = {{"name", "a"}, {"kind", "MCPInstance"}};
  store().create("things", a);
  store().create("things", b);
  store().create("things", c);
  auto sel = [&](const std::string& s) {
    return listNames(store(), "things", {.fieldSelector = s});
  };
  EXPECT_THAT(sel("metadata.name=a"), ElementsAre("alice/a"));
  EXPECT_THAT(sel("metadata.name==b"), ElementsAre("alice/b"));
  EXPECT_THAT(sel("metadata.name!=a"), ElementsAre("alice/b", "bob/c"));
  EXPECT_THAT(sel("metadata.namespace=bob"), ElementsAre("bob/c"));
  EXPECT_THAT(sel("status.phase=Running"), ElementsAre("alice/a"));
  EXPECT_THAT(sel("status.phase!=Running"), ElementsAre("alice/b", "bob/c"));
  EXPECT_THAT(sel("status.phase="), ElementsAre("bob/c"));  // missing compares as ""
  EXPECT_THAT(sel("status.pid=42"), ElementsAre("alice/a"));
  EXPECT_THAT(sel("status.ready=true"), ElementsAre("alice/a"));
  EXPECT_THAT(sel("status.ready=false"), ElementsAre("alice/b"));
  EXPECT_THAT(sel("involvedObject.name=a"), ElementsAre("bob/c"));
  EXPECT_THAT(sel("metadata.namespace=alice,status.phase!=Failed"), ElementsAre("alice/a"));
  // Both selectors together AND.
  EXPECT_THAT(listNames(store(), "things",
                        {.ns = "alice", .labelSelector = "!x", .fieldSelector = "metadata.name=b"}),
              ElementsAre("alice/b"));
}

TEST_P(StoreConformance, BadSelectorsAndTokensAreRejected) {
  store().create("things", makeObj("a", "ns"));
  for (const char* s : {"app in (a", "app in ()", "=x", "app=a b", "app===x", "a,,b", "a,", "n>x",
                        "-bad=x", "app=va lue", "app notin x"}) {
    EXPECT_EQ(errorCode([&] { store().list("things", {.labelSelector = s}); }),
              StoreError::Code::BadSelector)
        << s;
  }
  for (const char* s : {"metadata.name", "=x", "a..b=c", "x=1,,y=2"}) {
    EXPECT_EQ(errorCode([&] { store().list("things", {.fieldSelector = s}); }),
              StoreError::Code::BadSelector)
        << s;
  }
  for (const char* s : {"garbage!", "e30", "AAAA"}) {
    EXPECT_EQ(errorCode([&] { store().list("things", {.limit = 1, .continueToken = s}); }),
              StoreError::Code::BadSelector)
        << s;
  }
}

TEST_P(StoreConformance, PagingVisitsEveryItemOnce) {
  std::vector<std::string> all;
  for (int i = 0; i < 25; ++i) {
    std::string ns = "ns" + std::to_string(i % 3);
    std::string name = "item" + std::to_string(100 + i);
    store().create("things", makeObj(name, ns, {{"parity", i % 2 ? "odd" : "even"}}));
    all.push_back(ns + "/" + name);
  }
  std::sort(all.begin(), all.end());
  int64_t listRv = store().currentResourceVersion();

  std::vector<std::string> seen;
  ListOptions opts{.limit = 7};
  std::vector<int64_t> remaining;
  for (int page = 0; page < 10; ++page) {
    ListResult r = store().list("things", opts);
    EXPECT_EQ(r.resourceVersion, listRv);
    EXPECT_LE(r.items.size(), 7u);
    for (auto& n : names(r.items)) seen.push_back(n);
    remaining.push_back(r.remainingItemCount);
    if (r.continueToken.empty()) break;
    opts.continueToken = r.continueToken;
  }
  EXPECT_THAT(seen, ElementsAreArray(all));
  EXPECT_THAT(remaining, ElementsAre(18, 11, 4, 0));

  // Within one namespace, with a label selector.
  std::vector<std::string> expected;
  for (const auto& n : store().list("things", {.ns = "ns1", .labelSelector = "parity=odd"}).items) {
    expected.push_back(n["metadata"]["name"]);
  }
  ASSERT_GE(expected.size(), 3u);
  seen.clear();
  remaining.clear();
  opts = {.ns = "ns1", .labelSelector = "parity=odd", .limit = 2};
  for (int page = 0; page < 10; ++page) {
    ListResult r = store().list("things", opts);
    for (const auto& i : r.items) seen.push_back(i["metadata"]["name"]);
    remaining.push_back(r.remainingItemCount);
    if (r.continueToken.empty()) break;
    opts.continueToken = r.continueToken;
  }
  EXPECT_THAT(seen, ElementsAreArray(expected));
  ASSERT_FALSE(remaining.empty());
  EXPECT_EQ(remaining.front(), static_cast<int64_t>(expected.size()) - 2);
  EXPECT_EQ(remaining.back(), 0);

  // A limit at least as large as the set needs no continuation.
  ListResult r = store().list("things", {.limit = 25});
  EXPECT_EQ(r.items.size(), 25u);
  EXPECT_EQ(r.continueToken, "");
  EXPECT_EQ(r.remainingItemCount, 0);
}

TEST_P(StoreConformance, PagingSurvivesChangesBetweenPages) {
  for (int i = 0; i < 6; ++i) store().create("things", makeObj("n" + std::to_string(i), "ns"));
  ListResult p1 = store().list("things", {.limit = 3});
  ASSERT_THAT(names(p1.items), ElementsAre("ns/n0", "ns/n1", "ns/n2"));
  store().remove("things", "ns", "n2", 0);  // the last item of the page is gone
  store().remove("things", "ns", "n3", 0);
  ListResult p2 = store().list("things", {.limit = 3, .continueToken = p1.continueToken});
  EXPECT_THAT(names(p2.items), ElementsAre("ns/n4", "ns/n5"));
  EXPECT_EQ(p2.continueToken, "");
}

// --- change history -------------------------------------------------------------------------

TEST_P(StoreConformance, ChangesSinceIsExactFromAnyVersion) {
  struct Rec {
    std::string resource, ns;
    EventType type;
    Json obj;
  };
  std::vector<Rec> log;
  auto add = [&](const std::string& res, EventType t, const Json& obj) {
    log.push_back({res, obj["metadata"].value("namespace", ""), t, obj});
  };
  add("things", EventType::Added, store().create("things", makeObj("a", "ns1")));
  add("others", EventType::Added, store().create("others", makeObj("o")));
  add("things", EventType::Added, store().create("things", makeObj("b", "ns2")));
  add("things", EventType::Modified,
      store().update("things", makeObj("a", "ns1", {{"x", "1"}}), 0));
  add("things", EventType::Deleted, store().remove("things", "ns2", "b", 0));
  add("others", EventType::Modified, store().update("others", makeObj("o"), 0));
  add("things", EventType::Added, store().create("things", makeObj("c", "ns1")));
  int64_t current = store().currentResourceVersion();
  ASSERT_EQ(current, parseResourceVersion(log.back().obj));

  for (const std::string resource : {"things", "others"}) {
    for (const std::string ns : {"", "ns1", "ns2"}) {
      for (int64_t n = 0; n <= current + 1; ++n) {
        auto got = store().changesSince(resource, ns, n);
        std::vector<const Rec*> want;
        for (const auto& r : log) {
          if (r.resource == resource && (ns.empty() || r.ns == ns) &&
              parseResourceVersion(r.obj) > n) {
            want.push_back(&r);
          }
        }
        ASSERT_EQ(got.size(), want.size()) << resource << " ns=" << ns << " since " << n;
        for (size_t i = 0; i < got.size(); ++i) {
          EXPECT_EQ(got[i].type, want[i]->type);
          EXPECT_EQ(got[i].resource, resource);
          EXPECT_EQ(got[i].object, want[i]->obj);
          EXPECT_EQ(got[i].resourceVersion, parseResourceVersion(want[i]->obj));
        }
      }
    }
  }
  auto deleted = store().changesSince("things", "ns2", 0);
  ASSERT_EQ(deleted.size(), 2u);
  EXPECT_EQ(deleted[1].type, EventType::Deleted);
  EXPECT_STREQ(toString(deleted[1].type), "DELETED");
  EXPECT_TRUE(store().changesSince("things", "", current).empty());
}

TEST_P(StoreConformance, ChangesSinceCompactedVersionIsGone) {
  for (int i = 0; i < 10; ++i) store().create("things", makeObj("n" + std::to_string(i), "ns"));
  int64_t current = store().currentResourceVersion();
  store().compactHistory(3);  // keeps current-2 .. current
  EXPECT_EQ(errorCode([&] { store().changesSince("things", "", 0); }), StoreError::Code::Gone);
  EXPECT_EQ(errorCode([&] { store().changesSince("things", "", current - 4); }),
            StoreError::Code::Gone);
  EXPECT_EQ(store().changesSince("things", "", current - 3).size(), 3u);
  EXPECT_EQ(store().changesSince("things", "", current - 1).size(), 1u);
  EXPECT_TRUE(store().changesSince("things", "", current).empty());
  // Gone is about the history, not the resource: another resource is just as gone.
  EXPECT_EQ(errorCode([&] { store().changesSince("others", "", 0); }), StoreError::Code::Gone);

  store().compactHistory(0);
  EXPECT_TRUE(store().changesSince("things", "", current).empty());
  EXPECT_EQ(errorCode([&] { store().changesSince("things", "", current - 1); }),
            StoreError::Code::Gone);
  // New writes are recorded again after a full compaction.
  store().create("things", makeObj("new", "ns"));
  auto ev = store().changesSince("things", "", current);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].object["metadata"]["name"], "new");
}

// --- subscriptions --------------------------------------------------------------------------

TEST_P(StoreConformance, SubscribersSeeEveryChangeInOrder) {
  std::mutex mu;
  std::vector<WatchEvent> events;
  auto sub = store().subscribe([&](const WatchEvent& e) {
    std::lock_guard lk(mu);
    events.push_back(e);
  });
  std::vector<Json> results;
  results.push_back(store().create("things", makeObj("a", "ns")));
  results.push_back(store().create("others", makeObj("o")));
  results.push_back(store().update("things", makeObj("a", "ns", {{"k", "v"}}), 0));
  results.push_back(store().remove("things", "ns", "a", 0));
  // A failed write delivers nothing.
  EXPECT_ANY_THROW(store().remove("things", "ns", "a", 0));
  // The callback runs before the write returns, so everything is here already.
  std::lock_guard lk(mu);
  ASSERT_EQ(events.size(), 4u);
  const EventType types[] = {EventType::Added, EventType::Added, EventType::Modified,
                             EventType::Deleted};
  const char* resources[] = {"things", "others", "things", "things"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(events[i].type, types[i]);
    EXPECT_EQ(events[i].resource, resources[i]);
    EXPECT_EQ(events[i].object, results[i]);
    EXPECT_EQ(events[i].resourceVersion, parseResourceVersion(results[i]));
  }
}

TEST_P(StoreConformance, SubscribersSeeConcurrentWritesInOrderExactlyOnce) {
  std::mutex mu;
  std::vector<int64_t> rvs;
  std::set<std::string> seenNames;
  auto sub = store().subscribe([&](const WatchEvent& e) {
    std::lock_guard lk(mu);
    rvs.push_back(e.resourceVersion);
    seenNames.insert(e.object["metadata"]["name"].get<std::string>());
  });
  constexpr int kPerThread = 60;
  auto writer = [&](const std::string& prefix) {
    for (int i = 0; i < kPerThread; ++i) {
      store().create("things", makeObj(prefix + std::to_string(i), "ns"));
    }
  };
  std::thread t1(writer, "a"), t2(writer, "b");
  t1.join();
  t2.join();
  std::lock_guard lk(mu);
  ASSERT_EQ(rvs.size(), 2u * kPerThread);
  EXPECT_EQ(seenNames.size(), 2u * kPerThread);
  for (size_t i = 1; i < rvs.size(); ++i) EXPECT_LT(rvs[i - 1], rvs[i]) << "at " << i;
  EXPECT_EQ(rvs.back(), store().currentResourceVersion());
}

TEST_P(StoreConformance, CallbackMayReadTheStore) {
  std::optional<Json> seen;
  auto sub = store().subscribe([&](const WatchEvent& e) {
    seen = store().get(e.resource, "ns", e.object["metadata"]["name"]);
  });
  Json created = store().create("things", makeObj("a", "ns"));
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(*seen, created);
}

TEST_P(StoreConformance, DestroyedSubscriptionGetsNothing) {
  std::atomic<int> a{0}, b{0};
  auto subA = store().subscribe([&](const WatchEvent&) { ++a; });
  auto subB = store().subscribe([&](const WatchEvent&) { ++b; });
  store().create("things", makeObj("x", "ns"));
  subA.reset();
  store().create("things", makeObj("y", "ns"));
  EXPECT_EQ(a.load(), 1);
  EXPECT_EQ(b.load(), 2);
}

TEST_P(StoreConformance, SubscriptionDestructorWaitsForRunningCallback) {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false, destroyed = false;
  std::atomic<int> callsAfterDestroy{0};
  auto sub = store().subscribe([&](const WatchEvent&) {
    std::unique_lock lk(mu);
    if (destroyed) ++callsAfterDestroy;
    entered = true;
    cv.notify_all();
    cv.wait_for(lk, std::chrono::seconds(10), [&] { return release; });
  });
  std::thread writer([&] { store().create("things", makeObj("a", "ns")); });
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return entered; }));
  }
  std::thread destroyer([&] {
    sub.reset();
    std::lock_guard lk(mu);
    destroyed = true;
    cv.notify_all();
  });
  {
    // The destructor must still be blocked while the callback runs.
    std::unique_lock lk(mu);
    EXPECT_FALSE(cv.wait_for(lk, std::chrono::milliseconds(100), [&] { return destroyed; }));
    release = true;
    cv.notify_all();
    EXPECT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return destroyed; }));
  }
  destroyer.join();
  writer.join();
  store().create("things", makeObj("b", "ns"));
  EXPECT_EQ(callsAfterDestroy.load(), 0);
}

// --- durability and concurrency -------------------------------------------------------------

TEST_P(StoreConformance, ReopenKeepsObjectsAndVersionsKeepIncreasing) {
  std::map<std::string, Json> expected;
  for (int i = 0; i < 5; ++i) {
    Json o = store().create("things", makeObj("n" + std::to_string(i), "ns"));
    expected[o["metadata"]["name"]] = o;
  }
  Json cluster = store().create("types", makeObj("gmail"));
  Json upd = makeObj("n1", "ns", {}, {{"v", 2}});
  upd["metadata"]["generation"] = 2;
  expected["n1"] = store().update("things", upd, 0);
  store().remove("things", "ns", "n3", 0);
  expected.erase("n3");
  int64_t before = store().currentResourceVersion();

  reopen();
  EXPECT_EQ(store().currentResourceVersion(), before);
  ListResult r = store().list("things", {});
  ASSERT_EQ(r.items.size(), expected.size());
  for (const auto& item : r.items) EXPECT_EQ(item, expected.at(item["metadata"]["name"]));
  EXPECT_EQ(*store().get("types", "", "gmail"), cluster);
  EXPECT_EQ(store().get("things", "ns", "n1")->at("metadata").at("generation"), 2);
  // History survives too, so watches resume across a restart.
  EXPECT_EQ(store().changesSince("things", "", before - 2).size(), 2u);

  Json next = store().create("things", makeObj("after", "ns"));
  EXPECT_EQ(parseResourceVersion(next), before + 1);

  // A version handed out is never reused, even for a write that is deleted before restart.
  store().remove("things", "ns", "after", 0);
  int64_t high = store().currentResourceVersion();
  reopen();
  EXPECT_GT(parseResourceVersion(store().create("things", makeObj("again", "ns"))), high);
}

TEST_P(StoreConformance, ConcurrentCompareAndSwapLosesNoUpdate) {
  store().create("things", makeObj("counter", "ns", {}, {{"count", 0}}));
  constexpr int kThreads = 4, kIncrements = 200;
  std::atomic<int> conflicts{0};
  std::atomic<bool> failed{false};
  auto worker = [&] {
    for (int i = 0; i < kIncrements && !failed; ++i) {
      for (int attempt = 0;; ++attempt) {
        if (attempt > 10000) {
          failed = true;
          return;
        }
        Json cur = *store().get("things", "ns", "counter");
        cur["spec"]["count"] = cur["spec"]["count"].get<int>() + 1;
        try {
          store().update("things", cur, parseResourceVersion(cur));
          break;
        } catch (const StoreError& e) {
          if (e.code() != StoreError::Code::Conflict) {
            failed = true;
            return;
          }
          ++conflicts;
          std::this_thread::yield();
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  ASSERT_FALSE(failed);
  EXPECT_EQ(store().get("things", "ns", "counter")->at("spec").at("count"), kThreads * kIncrements);
  EXPECT_EQ(store().currentResourceVersion(), 1 + kThreads * kIncrements);
}

// --- exclusive locks ------------------------------------------------------------------------

TEST_P(StoreConformance, LockIsHeldByOneStoreAtATimeAndPassesOnRelease) {
  auto other = GetParam().factory(dir_);  // a second node on the same database
  ASSERT_NE(other, nullptr);
  auto mine = store().tryLock("scheduler");
  ASSERT_NE(mine, nullptr);
  EXPECT_TRUE(mine->held());
  EXPECT_EQ(other->tryLock("scheduler"), nullptr);
  EXPECT_EQ(store().tryLock("scheduler"), nullptr);  // one holder, even within one store
  // Other names are other locks.
  auto unrelated = other->tryLock("leases");
  ASSERT_NE(unrelated, nullptr);
  EXPECT_TRUE(mine->held());

  mine.reset();  // released as soon as the destructor returns
  auto theirs = other->tryLock("scheduler");
  ASSERT_NE(theirs, nullptr);
  EXPECT_TRUE(theirs->held());
  EXPECT_EQ(store().tryLock("scheduler"), nullptr);
  // Writes and reads do not disturb a held lock.
  store().create("things", makeObj("a", "ns"));
  other->create("things", makeObj("b", "ns"));
  EXPECT_TRUE(theirs->held());
  EXPECT_TRUE(unrelated->held());
}

TEST_P(StoreConformance, LockNamesAreTakenLiterally) {
  auto other = GetParam().factory(dir_);
  std::vector<std::unique_ptr<ExclusiveLock>> held;
  // Names that an escaping or hashing scheme could confuse are still distinct locks.
  for (const std::string name : {"a/b", "a%2Fb", "a b", "a_b", "A/B", ""}) {
    auto l = store().tryLock(name);
    ASSERT_NE(l, nullptr) << "'" << name << "'";
    EXPECT_EQ(other->tryLock(name), nullptr) << "'" << name << "'";
    held.push_back(std::move(l));
  }
}

TEST_P(StoreConformance, ConcurrentTryLockHasExactlyOneWinner) {
  constexpr int kStores = 4;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kStores; ++i) stores.push_back(GetParam().factory(dir_));
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<ExclusiveLock>> locks(kStores);
    std::vector<std::thread> threads;
    std::atomic<bool> failed{false};
    for (int i = 0; i < kStores; ++i) {
      threads.emplace_back([&, i] {
        try {
          locks[i] = stores[i]->tryLock("race");
        } catch (const std::exception&) {
          failed = true;
        }
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_FALSE(failed);
    int winners = 0;
    for (const auto& l : locks) winners += l != nullptr && l->held() ? 1 : 0;
    EXPECT_EQ(winners, 1) << "round " << round;
  }
}

}  // namespace minimcp::store::conformance
