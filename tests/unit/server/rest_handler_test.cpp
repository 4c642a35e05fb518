// The generic REST handler against a real SQLite store and two test kinds: every verb, error
// path, and the watch guarantees, without sockets.
#include "api/server/rest_handler.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <thread>

#include "api/server/compression.h"
#include "api/server/watch.h"
#include "tests/unit/server/fake_kinds.h"

namespace minimcp::server {
namespace {

using nlohmann::json;
using testing::FakeStrategy;
using testing::TempDir;

constexpr const char* kWidgets = "/apis/minimcp.io/v1alpha1/namespaces/ns1/widgets";
constexpr auto kWait = std::chrono::seconds(5);

class CaptureSink : public StreamSink {
 public:
  bool write(std::string chunk) override {
    std::lock_guard lock(mu_);
    lines_.push_back(json::parse(chunk));
    cv_.notify_all();
    return true;
  }
  void finish() override {
    std::lock_guard lock(mu_);
    finished_ = true;
    cv_.notify_all();
  }
  // The first `n` lines, or fewer after the timeout.
  std::vector<json> waitFor(size_t n, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return lines_.size() >= n; });
    return lines_;
  }
  bool waitFinished(std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return finished_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<json> lines_;
  bool finished_ = false;
};

class RestHandlerTest : public ::testing::Test {
 protected:
  RestHandlerTest() {
    store_ = store::openStore("sqlite:" + dir_.path() + "/test.db", 100);
    RestOptions opts;
    opts.bookmarkInterval = std::chrono::milliseconds(100);
    handler_ = std::make_unique<RestHandler>(*store_, registry_, clock_, opts);
  }

  Response call(const std::string& method, const std::string& target, const std::string& body = "",
                std::map<std::string, std::string> headers = {}, Identity who = {}) {
    Request r;
    r.method = method;
    r.target = target;
    parseTarget(target, r.path, r.query);
    r.headers.assign(headers.begin(), headers.end());
    r.body = body;
    auto path = parseResourcePath(r.path);
    EXPECT_TRUE(path) << target;
    return handler_->handle(r, *path, who);
  }
  static json j(const Response& r) { return json::parse(r.body); }

  json widget(const std::string& name, json spec = {{"size", 2}}) {
    return {{"apiVersion", "minimcp.io/v1alpha1"},
            {"kind", "Widget"},
            {"metadata", {{"name", name}, {"namespace", "ns1"}}},
            {"spec", spec}};
  }
  json createWidget(const std::string& name, json spec = {{"size", 2}}) {
    auto r = call("POST", kWidgets, widget(name, spec).dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return j(r);
  }
  std::optional<json> stored(const std::string& name) {
    return store_->get("widgets", "ns1", name);
  }

  std::shared_ptr<WatchStream> startWatch(const std::string& query, CaptureSink& sink,
                                          Response* out = nullptr) {
    auto r = call("GET", std::string(kWidgets) + "?watch=true&" + query);
    if (out) *out = r;
    if (!r.stream) return nullptr;
    auto w = std::dynamic_pointer_cast<WatchStream>(r.stream);
    w->start(std::shared_ptr<StreamSink>(&sink, [](StreamSink*) {}));
    return w;
  }

  TempDir dir_;
  std::unique_ptr<store::Store> store_;
  FakeStrategy widgets_{testing::widgetInfo()};
  FakeStrategy gadgets_{testing::gadgetInfo()};
  FakeStrategy events_{testing::eventInfo()};
  model::Registry registry_{{&widgets_, &gadgets_, &events_}};
  testing::FakeClock clock_;
  std::unique_ptr<RestHandler> handler_;
};

TEST_F(RestHandlerTest, CreateSetsServerMetadataAndDefaults) {
  auto in = widget("a", {{"color", "red"}});
  in["status"] = {{"phase", "Hacked"}};
  in["metadata"]["uid"] = "client-chosen";
  auto r = call("POST", kWidgets, in.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  auto out = j(r);
  EXPECT_NE(out["metadata"]["uid"], "client-chosen");
  EXPECT_FALSE(out["metadata"]["uid"].get<std::string>().empty());
  EXPECT_EQ(out["metadata"]["generation"], 1);
  EXPECT_EQ(out["metadata"]["creationTimestamp"], formatRfc3339(clock_.t));
  EXPECT_FALSE(out["metadata"]["resourceVersion"].get<std::string>().empty());
  EXPECT_EQ(out["spec"]["size"], 1);  // defaulted
  EXPECT_FALSE(out.contains("status"));
  EXPECT_EQ(*stored("a"), out);
}

TEST_F(RestHandlerTest, CreateAcceptsYamlAndFillsNamespace) {
  auto r = call(
      "POST", kWidgets,
      "apiVersion: minimcp.io/v1alpha1\nkind: Widget\nmetadata:\n  name: y\nspec:\n  size: 4\n",
      {{"content-type", "application/yaml"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(j(r)["metadata"]["namespace"], "ns1");
  EXPECT_EQ(j(r)["spec"]["size"], 4);
}

TEST_F(RestHandlerTest, CreateWithGenerateName) {
  auto in = widget("");
  in["metadata"].erase("name");
  in["metadata"]["generateName"] = "gen-";
  auto r = call("POST", kWidgets, in.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  std::string name = j(r)["metadata"]["name"];
  EXPECT_EQ(name.rfind("gen-", 0), 0u);
  EXPECT_EQ(name.size(), 9u);
}

TEST_F(RestHandlerTest, CreateOfExistingNameIs409AndKeepsTheOriginal) {
  auto first = createWidget("a");
  auto r = call("POST", kWidgets, widget("a", {{"size", 9}}).dump());
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(j(r)["reason"], "AlreadyExists");
  EXPECT_EQ(j(r)["kind"], "Status");
  EXPECT_EQ(*stored("a"), first);
}

TEST_F(RestHandlerTest, InvalidObjectIs422WithOneCausePerField) {
  auto r = call("POST", kWidgets, widget("a", {{"size", -1}, {"color", 5}}).dump());
  ASSERT_EQ(r.status, 422) << r.body;
  auto st = j(r);
  EXPECT_EQ(st["reason"], "Invalid");
  std::set<std::string> fields;
  for (auto& c : st["details"]["causes"]) fields.insert(c["field"]);
  EXPECT_EQ(fields, (std::set<std::string>{"spec.size", "spec.color"}));
  EXPECT_FALSE(stored("a"));
}

TEST_F(RestHandlerTest, BadBodiesAre400AndStoreNothing) {
  auto r = call("POST", kWidgets, "metadata:\n  name: a\n  labels: [unclosed\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(j(r)["message"].get<std::string>().find("line"), std::string::npos) << r.body;
  auto other = widget("a");
  other["metadata"]["namespace"] = "ns2";
  EXPECT_EQ(call("POST", kWidgets, other.dump()).status, 400);
  auto wrongKind = widget("a");
  wrongKind["kind"] = "Gadget";
  EXPECT_EQ(call("POST", kWidgets, wrongKind.dump()).status, 400);
  auto wrongVersion = widget("a");
  wrongVersion["apiVersion"] = "minimcp.io/v9";
  EXPECT_EQ(call("POST", kWidgets, wrongVersion.dump()).status, 400);
  EXPECT_EQ(call("POST", kWidgets, "").status, 400);
  EXPECT_FALSE(stored("a"));
}

TEST_F(RestHandlerTest, GetUnknownIs404Status) {
  auto r = call("GET", std::string(kWidgets) + "/nope");
  ASSERT_EQ(r.status, 404);
  auto st = j(r);
  EXPECT_EQ(st["kind"], "Status");
  EXPECT_EQ(st["reason"], "NotFound");
  EXPECT_EQ(call("GET", "/apis/minimcp.io/v1alpha1/namespaces/ns1/nothings").status, 404);
  EXPECT_EQ(call("GET", "/apis/minimcp.io/v1alpha1/namespaces/ns1/gadgets").status, 404);
  EXPECT_EQ(call("GET", std::string(kWidgets) + "/a/scale").status, 404);
}

TEST_F(RestHandlerTest, PutReplacesBumpsGenerationOnSpecChangeAndKeepsStatus) {
  auto a = createWidget("a");
  ASSERT_TRUE(store_
                  ->update(
                      "widgets",
                      [&] {
                        auto s = a;
                        s["status"] = {{"phase", "Running"}};
                        return s;
                      }(),
                      0)
                  .is_object());
  auto cur = *stored("a");
  auto next = cur;
  next["spec"]["size"] = 5;
  next.erase("status");
  next["metadata"]["creationTimestamp"] = "1999-01-01T00:00:00Z";
  auto r = call("PUT", std::string(kWidgets) + "/a", next.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto out = j(r);
  EXPECT_EQ(out["spec"]["size"], 5);
  EXPECT_EQ(out["metadata"]["generation"], 2);
  EXPECT_EQ(out["status"]["phase"], "Running");
  EXPECT_EQ(out["metadata"]["uid"], a["metadata"]["uid"]);
  EXPECT_EQ(out["metadata"]["creationTimestamp"], a["metadata"]["creationTimestamp"]);
  // A label change is not a spec change.
  auto labelled = out;
  labelled["metadata"]["labels"] = {{"k", "v"}};
  auto r2 = call("PUT", std::string(kWidgets) + "/a", labelled.dump());
  ASSERT_EQ(r2.status, 200);
  EXPECT_EQ(j(r2)["metadata"]["generation"], 2);
}

TEST_F(RestHandlerTest, PutWithStaleResourceVersionIs409AndStoresNothing) {
  auto a = createWidget("a");
  auto newer = call("PUT", std::string(kWidgets) + "/a", [&] {
    auto x = a;
    x["spec"]["size"] = 3;
    return x.dump();
  }());
  ASSERT_EQ(newer.status, 200);
  auto before = *stored("a");
  auto stale = a;  // carries the first resourceVersion
  stale["spec"]["size"] = 7;
  auto r = call("PUT", std::string(kWidgets) + "/a", stale.dump());
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(j(r)["reason"], "Conflict");
  EXPECT_EQ(*stored("a"), before);
  // Without a resourceVersion the update is unconditional.
  stale["metadata"].erase("resourceVersion");
  EXPECT_EQ(call("PUT", std::string(kWidgets) + "/a", stale.dump()).status, 200);
  EXPECT_EQ((*stored("a"))["spec"]["size"], 7);
}

TEST_F(RestHandlerTest, NoOpUpdateKeepsResourceVersion) {
  auto a = createWidget("a");
  auto r = call("PUT", std::string(kWidgets) + "/a", a.dump());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(j(r)["metadata"]["resourceVersion"], a["metadata"]["resourceVersion"]);
}

TEST_F(RestHandlerTest, StatusSubresourceChangesOnlyStatus) {
  auto a = createWidget("a");
  auto body = a;
  body["spec"]["size"] = 99;
  body["status"] = {{"phase", "Running"}};
  auto r = call("PUT", std::string(kWidgets) + "/a/status", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto out = j(r);
  EXPECT_EQ(out["status"]["phase"], "Running");
  EXPECT_EQ(out["spec"]["size"], 2);
  EXPECT_EQ(out["metadata"]["generation"], 1);
  // And the main resource cannot change status.
  auto main = out;
  main["status"] = {{"phase", "Hacked"}};
  main["spec"]["size"] = 3;
  auto r2 = call("PUT", std::string(kWidgets) + "/a", main.dump());
  ASSERT_EQ(r2.status, 200);
  EXPECT_EQ(j(r2)["status"]["phase"], "Running");
  // Merge patch through /status.
  auto r3 = call("PATCH", std::string(kWidgets) + "/a/status", R"({"status":{"phase":"Degraded"}})",
                 {{"content-type", "application/merge-patch+json"}});
  ASSERT_EQ(r3.status, 200) << r3.body;
  EXPECT_EQ(j(r3)["status"]["phase"], "Degraded");
  EXPECT_EQ(call("GET", std::string(kWidgets) + "/a/status").status, 200);
}

TEST_F(RestHandlerTest, PatchTypes) {
  createWidget("a");
  auto merge = call("PATCH", std::string(kWidgets) + "/a", R"({"spec":{"color":"blue"}})",
                    {{"content-type", "application/merge-patch+json"}});
  ASSERT_EQ(merge.status, 200) << merge.body;
  EXPECT_EQ(j(merge)["spec"]["color"], "blue");
  EXPECT_EQ(j(merge)["metadata"]["generation"], 2);

  auto before = *stored("a");
  auto failedTest = call("PATCH", std::string(kWidgets) + "/a",
                         R"([{"op":"test","path":"/spec/color","value":"green"},
                             {"op":"replace","path":"/spec/size","value":8}])",
                         {{"content-type", "application/json-patch+json"}});
  EXPECT_EQ(failedTest.status, 422);
  EXPECT_EQ(*stored("a"), before);

  auto invalid = call("PATCH", std::string(kWidgets) + "/a", R"({"spec":{"size":"big"}})",
                      {{"content-type", "application/merge-patch+json"}});
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(*stored("a"), before);

  auto smp = call("PATCH", std::string(kWidgets) + "/a", R"({"spec":{"size":3}})",
                  {{"content-type", "application/strategic-merge-patch+json"}});
  EXPECT_EQ(smp.status, 415);
  EXPECT_EQ(*stored("a"), before);

  auto stale = call("PATCH", std::string(kWidgets) + "/a",
                    R"({"metadata":{"resourceVersion":"1"},"spec":{"size":3}})",
                    {{"content-type", "application/merge-patch+json"}});
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(call("PATCH", std::string(kWidgets) + "/missing", R"({"spec":{}})",
                 {{"content-type", "application/merge-patch+json"}})
                .status,
            404);
}

TEST_F(RestHandlerTest, ApplyPatchCreatesThenUpdates) {
  std::string cfg =
      "apiVersion: minimcp.io/v1alpha1\nkind: Widget\nmetadata:\n  name: ap\n  namespace: ns1\n"
      "spec:\n  size: 3\n";
  auto r = call("PATCH", std::string(kWidgets) + "/ap?fieldManager=kubectl&force=true", cfg,
                {{"content-type", "application/apply-patch+yaml"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(j(r)["spec"]["size"], 3);
  auto again = call("PATCH", std::string(kWidgets) + "/ap?fieldManager=kubectl", cfg,
                    {{"content-type", "application/apply-patch+yaml"}});
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(j(again)["metadata"]["resourceVersion"], j(r)["metadata"]["resourceVersion"]);
  std::string changed = cfg;
  changed.replace(changed.find("size: 3"), 7, "size: 6");
  auto upd = call("PATCH", std::string(kWidgets) + "/ap?fieldManager=kubectl", changed,
                  {{"content-type", "application/apply-patch+yaml"}});
  ASSERT_EQ(upd.status, 200);
  EXPECT_EQ(j(upd)["spec"]["size"], 6);
  EXPECT_EQ(j(upd)["metadata"]["generation"], 2);
}

TEST_F(RestHandlerTest, DeleteWithoutFinalizersRemoves) {
  createWidget("a");
  auto r = call("DELETE", std::string(kWidgets) + "/a", R"({"propagationPolicy":"Background"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(j(r)["metadata"]["name"], "a");
  EXPECT_FALSE(stored("a"));
  EXPECT_EQ(call("DELETE", std::string(kWidgets) + "/a").status, 404);
}

TEST_F(RestHandlerTest, DeleteWithFinalizersWaitsForThem) {
  auto a = widget("f");
  a["metadata"]["finalizers"] = {"minimcp.io/process"};
  ASSERT_EQ(call("POST", kWidgets, a.dump()).status, 201);
  auto r = call("DELETE", std::string(kWidgets) + "/f");
  ASSERT_EQ(r.status, 200);
  auto marked = *stored("f");
  EXPECT_EQ(marked["metadata"]["deletionTimestamp"], formatRfc3339(clock_.t));
  // Deleting again changes nothing.
  EXPECT_EQ(call("DELETE", std::string(kWidgets) + "/f").status, 200);
  EXPECT_EQ(*stored("f"), marked);
  // The finalizer's owner lets go: the object disappears.
  auto done = call("PATCH", std::string(kWidgets) + "/f", R"({"metadata":{"finalizers":null}})",
                   {{"content-type", "application/merge-patch+json"}});
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_FALSE(stored("f"));
}

TEST_F(RestHandlerTest, DeletePreconditions) {
  auto a = createWidget("a");
  auto r = call("DELETE", std::string(kWidgets) + "/a", R"({"preconditions":{"uid":"other"}})");
  EXPECT_EQ(r.status, 409);
  auto r2 = call("DELETE", std::string(kWidgets) + "/a",
                 R"({"preconditions":{"resourceVersion":"999999"}})");
  EXPECT_EQ(r2.status, 409);
  EXPECT_TRUE(stored("a"));
  json ok = {
      {"preconditions",
       {{"uid", a["metadata"]["uid"]}, {"resourceVersion", a["metadata"]["resourceVersion"]}}}};
  EXPECT_EQ(call("DELETE", std::string(kWidgets) + "/a", ok.dump()).status, 200);
  EXPECT_FALSE(stored("a"));
}

TEST_F(RestHandlerTest, DryRunStoresNothing) {
  auto rv = store_->currentResourceVersion();
  auto r = call("POST", std::string(kWidgets) + "?dryRun=All", widget("d").dump());
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(j(r)["spec"]["size"], 2);
  EXPECT_FALSE(stored("d"));
  EXPECT_EQ(call("POST", std::string(kWidgets) + "?dryRun=All", widget("d", {{"size", -1}}).dump())
                .status,
            422);
  auto a = createWidget("a");
  rv = store_->currentResourceVersion();
  auto upd = a;
  upd["spec"]["size"] = 9;
  auto u = call("PUT", std::string(kWidgets) + "/a?dryRun=All", upd.dump());
  ASSERT_EQ(u.status, 200);
  EXPECT_EQ(j(u)["spec"]["size"], 9);
  EXPECT_EQ(call("DELETE", std::string(kWidgets) + "/a?dryRun=All").status, 200);
  EXPECT_EQ(call("DELETE", std::string(kWidgets) + "/a", R"({"dryRun":["All"]})").status, 200);
  EXPECT_EQ(*stored("a"), a);
  EXPECT_EQ(store_->currentResourceVersion(), rv);
}

// As kube-apiserver: "All" is the only dry-run value; any other is a 400, never a real write.
TEST_F(RestHandlerTest, DryRunValuesOtherThanAllAre400AndWriteNothing) {
  auto a = createWidget("a");
  auto rv = store_->currentResourceVersion();
  auto upd = a;
  upd["spec"]["size"] = 9;
  const std::string obj = std::string(kWidgets) + "/a";
  const std::map<std::string, std::string> merge = {
      {"content-type", "application/merge-patch+json"}};
  for (std::string q : {"dryRun=true", "dryRun=", "dryRun", "dryRun=all", "dryRun=All&dryRun=x",
                        "dryRun=x&dryRun=All", "dryRun=All%2Cx"}) {
    auto created = call("POST", std::string(kWidgets) + "?" + q, widget("b").dump());
    EXPECT_EQ(created.status, 400) << q;
    EXPECT_EQ(j(created)["reason"], "BadRequest");
    EXPECT_NE(j(created)["message"].get<std::string>().find("dryRun"), std::string::npos);
    EXPECT_EQ(call("PUT", obj + "?" + q, upd.dump()).status, 400) << q;
    EXPECT_EQ(call("PATCH", obj + "?" + q, R"({"spec":{"size":9}})", merge).status, 400) << q;
    EXPECT_EQ(call("DELETE", obj + "?" + q).status, 400) << q;
  }
  for (std::string opts : {R"({"dryRun":["true"]})", R"({"dryRun":"Server"})", R"({"dryRun":[1]})",
                           R"({"dryRun":["All","x"]})", R"({"dryRun":{}})"}) {
    EXPECT_EQ(call("DELETE", obj, opts).status, 400) << opts;
  }
  EXPECT_FALSE(stored("b"));
  EXPECT_EQ(*stored("a"), a);
  EXPECT_EQ(store_->currentResourceVersion(), rv);
  // "All", repeated or in a list, is a dry run.
  EXPECT_EQ(
      call("POST", std::string(kWidgets) + "?dryRun=All&dryRun=All", widget("b").dump()).status,
      201);
  EXPECT_EQ(call("DELETE", obj, R"({"dryRun":["All","All"]})").status, 200);
  EXPECT_EQ(call("DELETE", obj, R"({"dryRun":null})").status, 200);  // null: not a dry run
  EXPECT_FALSE(stored("b"));
  EXPECT_FALSE(stored("a"));
}

TEST_F(RestHandlerTest, BodiesMustBeJsonOrYaml) {
  auto a = createWidget("a");
  auto rv = store_->currentResourceVersion();
  const std::string obj = std::string(kWidgets) + "/a";
  for (std::string type : {"text/plain", "application/xml", "application/merge-patch+json",
                           "multipart/form-data", "application/x-www-form-urlencoded"}) {
    auto r = call("POST", kWidgets, widget("b").dump(), {{"content-type", type}});
    EXPECT_EQ(r.status, 415) << type;
    EXPECT_EQ(j(r)["reason"], "UnsupportedMediaType");
    EXPECT_NE(j(r)["message"].get<std::string>().find(type), std::string::npos) << r.body;
    EXPECT_EQ(call("PUT", obj, a.dump(), {{"content-type", type}}).status, 415) << type;
    EXPECT_EQ(call("DELETE", obj, "{}", {{"content-type", type}}).status, 415) << type;
  }
  for (std::string type : {"text/plain", "application/json", "application/yaml", ""}) {
    EXPECT_EQ(call("PATCH", obj, R"({"spec":{"size":9}})", {{"content-type", type}}).status, 415)
        << type;
  }
  EXPECT_FALSE(stored("b"));
  EXPECT_EQ(*stored("a"), a);
  EXPECT_EQ(store_->currentResourceVersion(), rv);
  // Parameters and case do not matter; no Content-Type at all is JSON, as with kube-apiserver.
  EXPECT_EQ(call("POST", kWidgets, widget("b").dump(),
                 {{"content-type", "Application/JSON; charset=utf-8"}})
                .status,
            201);
  EXPECT_EQ(call("POST", kWidgets, widget("c").dump()).status, 201);
  EXPECT_EQ(call("POST", kWidgets,
                 "apiVersion: minimcp.io/v1alpha1\nkind: Widget\nmetadata:\n  name: d\n"
                 "spec:\n  size: 1\n",
                 {{"content-type", "application/yaml"}})
                .status,
            201);
  EXPECT_EQ(call("PATCH", obj, R"({"spec":{"size":9}})",
                 {{"content-type", "application/merge-patch+json; charset=utf-8"}})
                .status,
            200);
  EXPECT_EQ(call("PATCH", obj + "?fieldManager=kubectl&force=true",
                 "apiVersion: minimcp.io/v1alpha1\nkind: Widget\nspec:\n  size: 3\n",
                 {{"content-type", "application/apply-patch+yaml; charset=utf-8"}})
                .status,
            200);
}

TEST_F(RestHandlerTest, NumbersOutOfRangeAre400) {
  auto a = createWidget("a");
  const std::string obj = std::string(kWidgets) + "/a";
  for (std::string n : {"1e400", "99999999999999999999", "9223372036854775808"}) {
    auto r = call("POST", kWidgets,
                  R"({"apiVersion":"minimcp.io/v1alpha1","kind":"Widget","metadata":{"name":"b"},)"
                  R"("spec":{"size":)" +
                      n + "}}");
    EXPECT_EQ(r.status, 400) << n << " " << r.body;
    EXPECT_NE(j(r)["message"].get<std::string>().find(n), std::string::npos) << r.body;
    EXPECT_EQ(call("PATCH", obj, R"({"spec":{"size":)" + n + "}}",
                   {{"content-type", "application/merge-patch+json"}})
                  .status,
              400)
        << n;
    EXPECT_EQ(call("PATCH", obj, R"([{"op":"replace","path":"/spec/size","value":)" + n + "}]",
                   {{"content-type", "application/json-patch+json"}})
                  .status,
              400)
        << n;
    EXPECT_EQ(call("DELETE", obj, R"({"gracePeriodSeconds":)" + n + "}").status, 400) << n;
  }
  EXPECT_FALSE(stored("b"));
  EXPECT_EQ(*stored("a"), a);
}

TEST_F(RestHandlerTest, ListWithSelectorsAndPages) {
  for (int i = 0; i < 5; ++i) {
    auto w = widget("w" + std::to_string(i));
    w["metadata"]["labels"] = {{"parity", i % 2 ? "odd" : "even"}};
    ASSERT_EQ(call("POST", kWidgets, w.dump()).status, 201);
  }
  auto r = call("GET", std::string(kWidgets) + "?labelSelector=parity%3Deven");
  ASSERT_EQ(r.status, 200);
  auto l = j(r);
  EXPECT_EQ(l["kind"], "WidgetList");
  EXPECT_EQ(l["apiVersion"], "minimcp.io/v1alpha1");
  EXPECT_EQ(l["items"].size(), 3u);
  EXPECT_EQ(l["metadata"]["resourceVersion"], std::to_string(store_->currentResourceVersion()));
  auto f = j(call("GET", std::string(kWidgets) + "?fieldSelector=metadata.name%3Dw3"));
  ASSERT_EQ(f["items"].size(), 1u);
  EXPECT_EQ(f["items"][0]["metadata"]["name"], "w3");
  auto p1 = j(call("GET", std::string(kWidgets) + "?limit=2"));
  ASSERT_EQ(p1["items"].size(), 2u);
  EXPECT_EQ(p1["metadata"]["remainingItemCount"], 3);
  std::string cont = p1["metadata"]["continue"];
  auto p2 = j(call("GET", std::string(kWidgets) + "?limit=10&continue=" + cont));
  EXPECT_EQ(p2["items"].size(), 3u);
  EXPECT_FALSE(p2["metadata"].contains("continue"));
  EXPECT_EQ(call("GET", std::string(kWidgets) + "?labelSelector=%3D%3D%3D").status, 400);
  // Across namespaces.
  auto all = j(call("GET", "/apis/minimcp.io/v1alpha1/widgets"));
  EXPECT_EQ(all["items"].size(), 5u);
}

TEST_F(RestHandlerTest, TableResponse) {
  createWidget("a", {{"size", 4}});
  std::map<std::string, std::string> accept = {
      {"accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}};
  auto t = j(call("GET", kWidgets, "", accept));
  EXPECT_EQ(t["kind"], "Table");
  EXPECT_EQ(t["apiVersion"], "meta.k8s.io/v1");
  ASSERT_EQ(t["columnDefinitions"].size(), 2u);
  EXPECT_EQ(t["columnDefinitions"][0]["name"], "Name");
  EXPECT_EQ(t["columnDefinitions"][1]["name"], "Size");
  ASSERT_EQ(t["rows"].size(), 1u);
  EXPECT_EQ(t["rows"][0]["cells"], json({"a", 4}));
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(t["rows"][0]["object"]["metadata"]["name"], "a");
  auto one = j(call("GET", std::string(kWidgets) + "/a?includeObject=Object", "", accept));
  ASSERT_EQ(one["rows"].size(), 1u);
  EXPECT_EQ(one["rows"][0]["object"]["kind"], "Widget");
}

TEST_F(RestHandlerTest, WriteOnlyFieldsNeverLeaveTheServer) {
  auto r = call("POST", kWidgets, widget("s", {{"size", 1}, {"secret", "hunter2"}}).dump());
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(r.body.find("hunter2"), std::string::npos);
  EXPECT_EQ(call("GET", std::string(kWidgets) + "/s").body.find("hunter2"), std::string::npos);
  EXPECT_EQ(call("GET", kWidgets).body.find("hunter2"), std::string::npos);
  EXPECT_EQ((*stored("s"))["spec"]["secret"], "hunter2");
}

TEST_F(RestHandlerTest, CoreEventsPathSpeaksV1) {
  json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", "e1"}}},
             {"involvedObject", {{"name", "a"}, {"kind", "Widget"}}}};
  auto r = call("POST", "/api/v1/namespaces/ns1/events", ev.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(j(r)["apiVersion"], "v1");
  EXPECT_EQ((*store_->get("events", "ns1", "e1"))["apiVersion"], "minimcp.io/v1alpha1");
  auto l = j(call("GET", "/api/v1/namespaces/ns1/events?fieldSelector=involvedObject.name%3Da"));
  EXPECT_EQ(l["apiVersion"], "v1");
  ASSERT_EQ(l["items"].size(), 1u);
  EXPECT_EQ(l["items"][0]["apiVersion"], "v1");
  EXPECT_EQ(
      j(call("GET", "/api/v1/namespaces/ns1/events?fieldSelector=involvedObject.name%3Db"))["items"]
          .size(),
      0u);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/ns1/widgets").status, 404);
}

TEST_F(RestHandlerTest, ReadsSeeWritesMadeBehindTheHandlersBack) {
  auto a = createWidget("a");
  EXPECT_EQ(j(call("GET", std::string(kWidgets) + "/a"))["spec"]["size"], 2);  // now cached
  EXPECT_EQ(j(call("GET", kWidgets))["items"].size(), 1u);
  auto changed = a;
  changed["spec"]["size"] = 3;
  store_->update("widgets", changed, 0);  // e.g. another node on a shared store
  EXPECT_EQ(j(call("GET", std::string(kWidgets) + "/a"))["spec"]["size"], 3);
  EXPECT_EQ(j(call("GET", kWidgets))["items"][0]["spec"]["size"], 3);
  store_->remove("widgets", "ns1", "a", 0);
  EXPECT_EQ(call("GET", std::string(kWidgets) + "/a").status, 404);
  EXPECT_EQ(j(call("GET", kWidgets))["items"].size(), 0u);
}

TEST_F(RestHandlerTest, NamespacesAreImplicit) {
  auto r = call("GET", "/api/v1/namespaces/anything");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(j(r)["kind"], "Namespace");
  EXPECT_EQ(j(r)["metadata"]["name"], "anything");
  EXPECT_EQ(call("DELETE", "/api/v1/namespaces/anything").status, 404);
}

TEST_F(RestHandlerTest, NamespaceTokensSeeOnlyTheirNamespace) {
  createWidget("a");
  Identity tenant{Identity::Role::Namespace, "ns2", "t"};
  EXPECT_EQ(call("GET", std::string(kWidgets) + "/a", "", {}, tenant).status, 404);
  EXPECT_EQ(call("GET", kWidgets, "", {}, tenant).status, 403);
  EXPECT_EQ(call("POST", kWidgets, widget("b").dump(), {}, tenant).status, 403);
  EXPECT_EQ(call("GET", "/apis/minimcp.io/v1alpha1/widgets", "", {}, tenant).status, 403);
  EXPECT_EQ(call("GET", "/apis/minimcp.io/v1alpha1/namespaces/ns2/widgets", "", {}, tenant).status,
            200);
}

TEST_F(RestHandlerTest, WatchFromEmptyResourceVersionListsThenFollows) {
  createWidget("a");
  createWidget("b");
  CaptureSink sink;
  auto w = startWatch("resourceVersion=", sink);
  ASSERT_TRUE(w);
  auto first = sink.waitFor(2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0]["type"], "ADDED");
  EXPECT_EQ(first[1]["type"], "ADDED");
  ASSERT_EQ(call("DELETE", std::string(kWidgets) + "/a").status, 200);
  auto all = sink.waitFor(3);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2]["type"], "DELETED");
  EXPECT_EQ(all[2]["object"]["metadata"]["name"], "a");
  w->stop();
}

TEST_F(RestHandlerTest, WatchFromResourceVersionDeliversEveryLaterChangeOnceInOrder) {
  auto a = createWidget("a");
  int64_t start = store_->currentResourceVersion();
  // Writers run while the watch starts, so changes land before, during and after its
  // subscribe/history read.
  std::atomic<bool> go{true};
  std::thread writer([&] {
    for (int i = 0; i < 60 && go; ++i) {
      call("PATCH", std::string(kWidgets) + "/a", json{{"spec", {{"size", i + 10}}}}.dump(),
           {{"content-type", "application/merge-patch+json"}});
    }
  });
  CaptureSink sink;
  auto w = startWatch("resourceVersion=" + std::to_string(start), sink);
  writer.join();
  int64_t end = store_->currentResourceVersion();
  auto lines = sink.waitFor(static_cast<size_t>(end - start));
  ASSERT_EQ(lines.size(), static_cast<size_t>(end - start));
  int64_t expect = start + 1;
  for (auto& l : lines) {
    EXPECT_EQ(l["type"], "MODIFIED");
    EXPECT_EQ(std::stoll(l["object"]["metadata"]["resourceVersion"].get<std::string>()), expect++);
  }
  EXPECT_EQ(lines.back()["object"]["spec"]["size"], 69);
  w->stop();
}

TEST_F(RestHandlerTest, WatchFiltersBySelectorsAndNamespace) {
  CaptureSink sink;
  auto w = startWatch("resourceVersion=0&fieldSelector=metadata.name%3Db", sink);
  createWidget("a");
  createWidget("b");
  auto other = widget("b");
  other["metadata"]["namespace"] = "ns2";
  ASSERT_EQ(call("POST", "/apis/minimcp.io/v1alpha1/namespaces/ns2/widgets", other.dump()).status,
            201);
  createWidget("c");
  // c's event arriving proves a and ns2/b were considered and dropped.
  auto lines = sink.waitFor(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["object"]["metadata"]["name"], "b");
  EXPECT_EQ(lines[0]["object"]["metadata"]["namespace"], "ns1");
  w->stop();
}

TEST_F(RestHandlerTest, WatchFromCompactedResourceVersionIs410) {
  createWidget("a");
  int64_t old = store_->currentResourceVersion();
  for (int i = 0; i < 5; ++i) createWidget("x" + std::to_string(i));
  store_->compactHistory(2);
  CaptureSink sink;
  Response r;
  auto w = startWatch("resourceVersion=" + std::to_string(old), sink, &r);
  EXPECT_FALSE(w);
  EXPECT_EQ(r.status, 410);
  EXPECT_EQ(j(r)["reason"], "Expired");
}

TEST_F(RestHandlerTest, WatchSendsBookmarksAndEndsAtTimeout) {
  createWidget("a");
  CaptureSink sink;
  auto w = startWatch("resourceVersion=0&allowWatchBookmarks=true&timeoutSeconds=1", sink);
  auto lines = sink.waitFor(2);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[1]["type"], "BOOKMARK");
  EXPECT_EQ(lines[1]["object"]["metadata"]["resourceVersion"],
            std::to_string(store_->currentResourceVersion()));
  EXPECT_TRUE(sink.waitFinished(std::chrono::seconds(5)));
  w->stop();
}

TEST_F(RestHandlerTest, LargeListsGoOutGzippedToClientsThatAcceptIt) {
  for (int i = 0; i < 150; ++i) {
    createWidget("w" + std::to_string(i), {{"size", 2}, {"note", std::string(1000, 'n')}});
  }
  auto encoding = [](const Response& r) {
    for (const auto& [k, v] : r.headers) {
      if (k == "Content-Encoding") return v;
    }
    return std::string();
  };
  const Response plain = call("GET", kWidgets);
  ASSERT_EQ(plain.status, 200);
  ASSERT_GT(plain.body.size(), kCompressAbove);
  EXPECT_EQ(encoding(plain), "");
  for (int pass = 0; pass < 2; ++pass) {  // built, then from the response cache
    const Response gz = call("GET", kWidgets, "", {{"accept-encoding", "deflate, gzip"}});
    ASSERT_EQ(gz.status, 200);
    EXPECT_EQ(encoding(gz), "gzip") << pass;
    EXPECT_LT(gz.body.size(), plain.body.size() / 10) << pass;
    EXPECT_EQ(gzipDecompress(gz.body), plain.body) << pass;
  }
  // A change is seen at once by both encodings.
  createWidget("late");
  const Response after = call("GET", kWidgets, "", {{"accept-encoding", "gzip"}});
  EXPECT_NE(gzipDecompress(after.body).find("\"late\""), std::string::npos);
  // Small bodies go out as they are.
  const Response one =
      call("GET", std::string(kWidgets) + "?limit=1", "", {{"accept-encoding", "gzip"}});
  EXPECT_EQ(encoding(one), "");
  EXPECT_EQ(j(one)["items"].size(), 1u);
}

TEST(Compression, AcceptEncodingAsRfc9110ReadsIt) {
  EXPECT_TRUE(acceptsGzip("gzip"));
  EXPECT_TRUE(acceptsGzip("deflate, GZIP;q=0.5"));
  EXPECT_TRUE(acceptsGzip("*"));
  EXPECT_FALSE(acceptsGzip("gzip;q=0"));
  EXPECT_FALSE(acceptsGzip("gzip; q=0.000, identity"));
  EXPECT_FALSE(acceptsGzip("identity"));
  EXPECT_FALSE(acceptsGzip(""));
  EXPECT_FALSE(acceptsGzip("x-gzip2"));
  EXPECT_THROW(gzipDecompress(gzipCompress("hello").substr(0, 8)), std::runtime_error);
}

TEST_F(RestHandlerTest, TableWatchSendsOneRowTables) {
  CaptureSink sink;
  Request r;
  r.method = "GET";
  r.target = std::string(kWidgets) + "?watch=1";
  parseTarget(r.target, r.path, r.query);
  r.headers.emplace_back("accept", "application/json;as=Table;v=v1;g=meta.k8s.io");
  auto resp = handler_->handle(r, *parseResourcePath(r.path), Identity{});
  ASSERT_TRUE(resp.stream);
  resp.stream->start(std::shared_ptr<StreamSink>(&sink, [](StreamSink*) {}));
  createWidget("a", {{"size", 3}});
  auto lines = sink.waitFor(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["object"]["kind"], "Table");
  EXPECT_EQ(lines[0]["object"]["rows"][0]["cells"], json({"a", 3}));
  resp.stream->stop();
}

// ---- secret hygiene: nothing a read hides is reachable through patches or selectors ----

TEST_F(RestHandlerTest, PatchesApplyToWhatAReaderSeesNotToHiddenFields) {
  // The fake strategy hides spec.secret from reads, as APIKey hides its sealed value.
  createWidget("s", {{"size", 2}, {"secret", "hunter2"}});
  ASSERT_EQ((*stored("s"))["spec"]["secret"], "hunter2");
  // A JSON patch "test" on a hidden field would be an oracle; "copy" would publish it.
  auto probe = call("PATCH", std::string(kWidgets) + "/s",
                    R"([{"op":"test","path":"/spec/secret","value":"hunter2"}])",
                    {{"content-type", "application/json-patch+json"}});
  EXPECT_EQ(probe.status, 422) << probe.body;
  auto copy = call("PATCH", std::string(kWidgets) + "/s",
                   R"([{"op":"copy","from":"/spec/secret","path":"/spec/color"}])",
                   {{"content-type", "application/json-patch+json"}});
  EXPECT_EQ(copy.status, 422) << copy.body;
  EXPECT_FALSE((*stored("s"))["spec"].contains("color"));
  EXPECT_EQ(copy.body.find("hunter2"), std::string::npos);
}

TEST_F(RestHandlerTest, FieldSelectorsAreLimitedToNameAndNamespace) {
  createWidget("w1");
  auto ok = call("GET", std::string(kWidgets) + "?fieldSelector=metadata.name%3Dw1");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(call("GET", std::string(kWidgets) + "?fieldSelector=metadata.namespace%3Dns1").status,
            200);
  for (std::string sel : {"spec.secret%3Dhunter2", "metadata.name%3Dw1,spec.size!%3D2",
                          "sealed.value%3Dx", "status.phase%3D%3DRunning"}) {
    auto r = call("GET", std::string(kWidgets) + "?fieldSelector=" + sel);
    EXPECT_EQ(r.status, 400) << sel;
    EXPECT_EQ(j(r)["reason"], "BadRequest");
    auto w = call("GET", std::string(kWidgets) + "?watch=true&fieldSelector=" + sel);
    EXPECT_EQ(w.status, 400) << sel;
    EXPECT_FALSE(w.stream);
  }
  auto r = call("GET", std::string(kWidgets) + "?fieldSelector=spec.foo%3Dbar");
  EXPECT_EQ(j(r)["message"], "field label not supported: spec.foo");
  // Events also select on what kubectl describe asks for.
  EXPECT_EQ(call("GET",
                 "/api/v1/namespaces/ns1/events?fieldSelector=involvedObject.name%3Da,"
                 "involvedObject.kind%3DWidget,type%3DWarning,reason%3DX")
                .status,
            200);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/ns1/events?fieldSelector=message%3Dx").status, 400);
}

// ---- subresources and admission ----

TEST_F(RestHandlerTest, ExtraSubresourcesGetTheStoredObjectAfterTheVisibilityCheck) {
  handler_->addSubresource("widgets", "peek", [](const Request&, const json& obj, const Identity&) {
    return Response::text(200, obj["spec"].value("secret", "none"));
  });
  createWidget("p", {{"size", 1}, {"secret", "s3"}});
  Identity own{Identity::Role::Namespace, "ns1", "t"};
  Identity other{Identity::Role::Namespace, "ns2", "t"};
  EXPECT_EQ(call("GET", std::string(kWidgets) + "/p/peek", "", {}, own).body, "s3");
  EXPECT_EQ(call("GET", std::string(kWidgets) + "/p/peek", "", {}, other).status, 404);
  EXPECT_EQ(call("GET", std::string(kWidgets) + "/absent/peek").status, 404);
  EXPECT_EQ(call("POST", std::string(kWidgets) + "/p/peek", "{}").status, 405);
  EXPECT_EQ(call("GET", std::string(kWidgets) + "/p/unknown").status, 404);
}

class CountingAdmission : public AdmissionPlugin {
 public:
  void mutate(AdmissionRequest& r) const override {
    if (!r.object["spec"].contains("color")) r.object["spec"]["color"] = "grey";
  }
  void validate(const AdmissionRequest& r) const override {
    if (r.object["spec"].value("size", 0) > 5) {
      throw ApiError::Forbidden(std::string(r.operation) + " refused: too big");
    }
  }
};

TEST_F(RestHandlerTest, AdmissionMutatesAndRefusesWritesDryRunsIncluded) {
  handler_->addAdmission("widgets", std::make_shared<CountingAdmission>());
  auto created = createWidget("a", {{"size", 1}});
  EXPECT_EQ(created["spec"]["color"], "grey");
  auto big = call("POST", kWidgets, widget("b", {{"size", 9}}).dump());
  EXPECT_EQ(big.status, 403);
  EXPECT_EQ(j(big)["message"], "create refused: too big");
  EXPECT_FALSE(stored("b"));
  auto dry = call("POST", std::string(kWidgets) + "?dryRun=All", widget("b", {{"size", 9}}).dump());
  EXPECT_EQ(dry.status, 403);
  auto patch = call("PATCH", std::string(kWidgets) + "/a", R"({"spec":{"size":7}})",
                    {{"content-type", "application/merge-patch+json"}});
  EXPECT_EQ(patch.status, 403);
  EXPECT_EQ(j(patch)["message"], "update refused: too big");
  EXPECT_EQ((*stored("a"))["spec"]["size"], 1);
  // The status subresource is the controller's and is never admitted.
  auto st =
      call("PUT", std::string(kWidgets) + "/a/status",
           json{{"metadata", {{"name", "a"}}}, {"spec", {{"size", 9}}}, {"status", {{"ok", true}}}}
               .dump());
  EXPECT_EQ(st.status, 200) << st.body;
}

}  // namespace
}  // namespace minimcp::server
