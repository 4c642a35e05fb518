// The REST API of a real mcpd over HTTPS: every verb and error path, watch
// guarantees, authentication, and restart durability. Each refused write is checked by
// reading the store back through the API.
#include <gtest/gtest.h>

#include <latch>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/client/http_client.h"
#include "api/client/kubeconfig.h"
#include "api/util/random.h"
#include "tests/e2e/cli/mcpd_process.h"

namespace minimcp {
namespace {

using client::HttpClient;
using client::Response;
using nlohmann::json;
using testing::McpdProcess;

constexpr const char* kApi = "/apis/minimcp.io/v1alpha1";

std::string instances(const std::string& ns) {
  return std::string(kApi) + "/namespaces/" + ns + "/mcpinstances";
}

json instance(const std::string& ns, const std::string& name, const std::string& ttl = "2h") {
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "MCPInstance"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"type", "echo"}, {"ttl", ttl}}}};
}

// API semantics only: no controller writes to the objects these tests compare.
McpdProcess::Options apiOnly() {
  McpdProcess::Options o;
  o.extraArgs = {"--disable-reconciler"};
  return o;
}

class ApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { mcpd_ = new McpdProcess(apiOnly()); }
  static void TearDownTestSuite() {
    delete mcpd_;
    mcpd_ = nullptr;
  }

  ApiTest() : http_(mcpd_->connection()) {}

  Response req(const std::string& method, const std::string& target, const std::string& body = "",
               std::map<std::string, std::string> headers = {}) {
    if (!body.empty() && !headers.count("Content-Type"))
      headers["Content-Type"] = "application/json";
    return http_.request(method, target, body, headers);
  }
  static json j(const Response& r) { return json::parse(r.body); }
  // The object as stored, or null when absent.
  json readBack(const std::string& path) {
    auto r = req("GET", path);
    return r.status == 200 ? j(r) : json();
  }
  json create(const std::string& ns, const std::string& name) {
    auto r = req("POST", instances(ns), instance(ns, name).dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return j(r);
  }

  static McpdProcess* mcpd_;
  HttpClient http_;
};

McpdProcess* ApiTest::mcpd_ = nullptr;

TEST_F(ApiTest, HealthAndVersionNeedNoToken) {
  auto cfg = mcpd_->connection();
  cfg.token = "";
  HttpClient anon(cfg);
  EXPECT_EQ(anon.request("GET", "/healthz").status, 200);
  EXPECT_EQ(anon.request("GET", "/readyz").status, 200);
  auto v = anon.request("GET", "/version");
  ASSERT_EQ(v.status, 200);
  EXPECT_EQ(j(v)["gitVersion"], "v1.32.0-minimcp");
}

TEST_F(ApiTest, EverythingElseNeedsTheToken) {
  auto cfg = mcpd_->connection();
  cfg.token = "";
  HttpClient anon(cfg);
  for (std::string path : {std::string("/apis"), instances("default"), std::string("/metrics"),
                           std::string("/api/v1/namespaces/default/events")}) {
    auto r = anon.request("GET", path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(j(r)["kind"], "Status");
    EXPECT_EQ(j(r)["reason"], "Unauthorized");
  }
  cfg.token = std::string(64, 'a');
  HttpClient wrong(cfg);
  EXPECT_EQ(wrong.request("GET", instances("default")).status, 401);
  auto write = wrong.request("POST", instances("auth"), instance("auth", "x").dump(),
                             {{"Content-Type", "application/json"}});
  EXPECT_EQ(write.status, 401);
  EXPECT_TRUE(readBack(instances("auth") + "/x").is_null());
}

TEST_F(ApiTest, CreateIs201AndSecondCreateIs409) {
  auto created = create("crud", "a");
  EXPECT_FALSE(created["metadata"]["uid"].get<std::string>().empty());
  EXPECT_EQ(created["metadata"]["generation"], 1);
  auto again = req("POST", instances("crud"), instance("crud", "a", "5h").dump());
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(j(again)["reason"], "AlreadyExists");
  EXPECT_EQ(readBack(instances("crud") + "/a"), created);
}

TEST_F(ApiTest, UnknownObjectIs404Status) {
  auto r = req("GET", instances("crud") + "/does-not-exist");
  ASSERT_EQ(r.status, 404);
  EXPECT_EQ(j(r)["kind"], "Status");
  EXPECT_EQ(j(r)["reason"], "NotFound");
  EXPECT_EQ(req("GET", std::string(kApi) + "/nothings").status, 404);
  EXPECT_EQ(req("DELETE", instances("crud") + "/does-not-exist").status, 404);
}

TEST_F(ApiTest, InvalidObjectIs422WithOneCausePerBadField) {
  auto bad = instance("inv", "bad", "forever");
  bad["spec"]["restartPolicy"] = "Sometimes";
  auto r = req("POST", instances("inv"), bad.dump());
  ASSERT_EQ(r.status, 422) << r.body;
  auto status = j(r);
  std::set<std::string> fields;
  for (auto& c : status["details"]["causes"]) fields.insert(c["field"].get<std::string>());
  EXPECT_TRUE(fields.count("spec.ttl")) << r.body;
  EXPECT_TRUE(fields.count("spec.restartPolicy")) << r.body;
  EXPECT_EQ(fields.size(), 2u) << r.body;
  EXPECT_TRUE(readBack(instances("inv") + "/bad").is_null());
}

TEST_F(ApiTest, UnparsableBodyIs400WithLineAndColumn) {
  std::string yaml =
      "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: y\n"
      "spec: {type: echo, ttl: [1h\n";
  auto r = req("POST", instances("parse"), yaml, {{"Content-Type", "application/yaml"}});
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_NE(j(r)["message"].get<std::string>().find("line"), std::string::npos) << r.body;
  EXPECT_NE(j(r)["message"].get<std::string>().find("column"), std::string::npos) << r.body;
  auto badJson = req("POST", instances("parse"), R"({"apiVersion": "minimcp.io/v1alpha1",)");
  EXPECT_EQ(badJson.status, 400);
  EXPECT_TRUE(readBack(instances("parse") + "/y").is_null());
}

TEST_F(ApiTest, YamlBodiesAreAccepted) {
  std::string yaml =
      "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: y\n"
      "spec:\n  type: echo\n  ttl: 1h\n";
  auto r = req("POST", instances("yaml"), yaml, {{"Content-Type", "application/yaml"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(j(r)["metadata"]["namespace"], "yaml");
}

TEST_F(ApiTest, BodyOverTheLimitIs413AndTheConnectionSurvives) {
  auto existing = create("big", "a");
  auto big = instance("big", "a");
  big["metadata"]["annotations"] = {{"filler", std::string(1100 * 1024, 'x')}};
  auto r = req("PUT", instances("big") + "/a", big.dump());
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(j(r)["reason"], "RequestEntityTooLarge");
  EXPECT_EQ(readBack(instances("big") + "/a"), existing);
  EXPECT_EQ(req("GET", "/healthz").status, 200);
}

TEST_F(ApiTest, StaleResourceVersionIs409) {
  auto a = create("rv", "a");
  auto fresh = a;
  fresh["spec"]["ttl"] = "3h";
  auto ok = req("PUT", instances("rv") + "/a", fresh.dump());
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(j(ok)["metadata"]["generation"], 2);
  auto stored = readBack(instances("rv") + "/a");
  auto stale = a;
  stale["spec"]["ttl"] = "9h";
  auto r = req("PUT", instances("rv") + "/a", stale.dump());
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(j(r)["reason"], "Conflict");
  EXPECT_EQ(readBack(instances("rv") + "/a"), stored);
}

TEST_F(ApiTest, PatchTypes) {
  create("patch", "a");
  auto merge = req("PATCH", instances("patch") + "/a", R"({"metadata":{"labels":{"tier":"gold"}}})",
                   {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(merge.status, 200) << merge.body;
  EXPECT_EQ(j(merge)["metadata"]["labels"]["tier"], "gold");
  auto jp = req("PATCH", instances("patch") + "/a",
                R"([{"op":"replace","path":"/spec/ttl","value":"4h"}])",
                {{"Content-Type", "application/json-patch+json"}});
  ASSERT_EQ(jp.status, 200) << jp.body;
  EXPECT_EQ(j(jp)["spec"]["ttl"], "4h");
  auto stored = readBack(instances("patch") + "/a");
  auto smp = req("PATCH", instances("patch") + "/a", R"({"spec":{"ttl":"5h"}})",
                 {{"Content-Type", "application/strategic-merge-patch+json"}});
  EXPECT_EQ(smp.status, 415);
  EXPECT_EQ(j(smp)["kind"], "Status");
  auto failedTest = req("PATCH", instances("patch") + "/a",
                        R"([{"op":"test","path":"/spec/ttl","value":"1h"},
                            {"op":"replace","path":"/spec/ttl","value":"6h"}])",
                        {{"Content-Type", "application/json-patch+json"}});
  EXPECT_EQ(failedTest.status, 422);
  EXPECT_EQ(readBack(instances("patch") + "/a"), stored);
  // Server-side apply creates when absent.
  std::string applyCfg =
      "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: ssa\n"
      "  namespace: patch\nspec:\n  type: echo\n  ttl: 1h\n";
  auto created = req("PATCH", instances("patch") + "/ssa?fieldManager=test&force=true", applyCfg,
                     {{"Content-Type", "application/apply-patch+yaml"}});
  EXPECT_EQ(created.status, 201) << created.body;
  auto same = req("PATCH", instances("patch") + "/ssa?fieldManager=test", applyCfg,
                  {{"Content-Type", "application/apply-patch+yaml"}});
  EXPECT_EQ(same.status, 200);
  EXPECT_EQ(j(same)["metadata"]["resourceVersion"], j(created)["metadata"]["resourceVersion"]);
}

// Writers without a resourceVersion precondition never see a conflict: the server retries a
// lost compare-and-swap on the fresh object, so every patch lands and none undoes another.
TEST_F(ApiTest, SixteenConcurrentMergePatchesAllSucceed) {
  constexpr int kWriters = 16;
  create("concurrent", "a");
  std::latch start(kWriters);
  std::vector<int> statuses(kWriters, 0);
  std::vector<std::string> bodies(kWriters);
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      HttpClient http(mcpd_->connection());
      json patch = {{"metadata", {{"labels", {{"writer-" + std::to_string(i), "done"}}}}}};
      start.arrive_and_wait();
      auto r = http.request("PATCH", instances("concurrent") + "/a", patch.dump(),
                            {{"Content-Type", "application/merge-patch+json"}});
      statuses[i] = r.status;
      bodies[i] = r.body;
    });
  }
  for (auto& t : writers) t.join();
  for (int i = 0; i < kWriters; ++i) EXPECT_EQ(statuses[i], 200) << "writer " << i << bodies[i];
  auto labels = readBack(instances("concurrent") + "/a")["metadata"]["labels"];
  for (int i = 0; i < kWriters; ++i) {
    EXPECT_EQ(labels.value("writer-" + std::to_string(i), ""), "done") << labels.dump();
  }
}

TEST_F(ApiTest, StatusSubresourceAndDryRun) {
  auto a = create("status", "a");
  auto body = a;
  body["status"] = {{"phase", "Running"}};
  body["spec"]["ttl"] = "7h";
  auto r = req("PUT", instances("status") + "/a/status", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(j(r)["status"]["phase"], "Running");
  EXPECT_EQ(j(r)["spec"]["ttl"], "2h");
  auto stored = readBack(instances("status") + "/a");
  auto dry = req("DELETE", instances("status") + "/a?dryRun=All");
  EXPECT_EQ(dry.status, 200);
  auto dryCreate = req("POST", instances("status") + "?dryRun=All", instance("status", "b").dump());
  EXPECT_EQ(dryCreate.status, 201);
  EXPECT_EQ(readBack(instances("status") + "/a"), stored);
  EXPECT_TRUE(readBack(instances("status") + "/b").is_null());
}

TEST_F(ApiTest, OnlyTheControlPlaneWritesStatus) {
  auto a = create("tenant", "a");
  auto issued = req("POST", std::string(kApi) + "/tokens", R"({"namespace":"tenant"})");
  ASSERT_EQ(issued.status, 201) << issued.body;
  auto cfg = mcpd_->connection();
  cfg.token = j(issued)["token"];
  HttpClient tenant(cfg);
  const std::string status = instances("tenant") + "/a/status";
  const std::map<std::string, std::string> merge = {
      {"Content-Type", "application/merge-patch+json"}};
  const std::string forged = R"({"status":{"pid":1,"processStartTime":"1","port":22}})";
  const json before = readBack(instances("tenant") + "/a");

  auto patched = tenant.request("PATCH", status, forged, merge);
  EXPECT_EQ(patched.status, 403) << patched.body;
  EXPECT_EQ(j(patched)["reason"], "Forbidden");
  EXPECT_NE(j(patched)["message"].get<std::string>().find("mcpinstances/status"),
            std::string::npos);
  auto body = a;
  body["status"] = {{"pid", 1}, {"port", 22}};
  auto put = tenant.request("PUT", status, body.dump(), {{"Content-Type", "application/json"}});
  EXPECT_EQ(put.status, 403) << put.body;
  // Status in a write of the main resource is ignored (Kubernetes semantics).
  auto main =
      tenant.request("PATCH", instances("tenant") + "/a",
                     R"({"metadata":{"labels":{"x":"y"}},"status":{"pid":1,"port":22}})", merge);
  ASSERT_EQ(main.status, 200) << main.body;
  EXPECT_EQ(j(main)["metadata"]["labels"]["x"], "y");
  EXPECT_EQ(j(main)["status"], before["status"]);
  // Reading it is fine.
  auto get = tenant.request("GET", status);
  EXPECT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(readBack(instances("tenant") + "/a")["status"], before["status"]);

  // The admin (and the nodes, which hold admin tokens) write it.
  auto admin = req("PATCH", status, forged, merge);
  ASSERT_EQ(admin.status, 200) << admin.body;
  EXPECT_EQ(j(admin)["status"]["port"], 22);
}

TEST_F(ApiTest, DotSegmentsInThePathAre400) {
  create("dots", "a");
  for (std::string path :
       {instances("dots") + "/a/../a", instances("dots") + "/../../dots/mcpinstances/a",
        instances("dots") + "/%2e%2e/x", instances("dots") + "/a/.",
        instances("dots") + "/a%2fstatus", std::string(kApi) + "/namespaces/dots/./mcpinstances/a",
        std::string(kApi) + "/tokens/..", std::string(kApi) + "/limits/%2E%2E"}) {
    SCOPED_TRACE(path);
    auto r = req("GET", path);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(j(r)["reason"], "BadRequest");
    EXPECT_EQ(req("DELETE", path).status, 400);
  }
  EXPECT_FALSE(readBack(instances("dots") + "/a").is_null());
}

TEST_F(ApiTest, DeleteRemovesAndReturnsTheObject) {
  auto a = create("del", "a");
  auto r = req("DELETE", instances("del") + "/a");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(j(r)["metadata"]["uid"], a["metadata"]["uid"]);
  EXPECT_TRUE(readBack(instances("del") + "/a").is_null());
}

TEST_F(ApiTest, ListAndDiscovery) {
  create("list", "a");
  create("list", "b");
  auto l = j(req("GET", instances("list") + "?limit=1"));
  EXPECT_EQ(l["kind"], "MCPInstanceList");
  EXPECT_EQ(l["items"].size(), 1u);
  EXPECT_EQ(l["metadata"]["remainingItemCount"], 1);
  auto groups = j(req("GET", "/apis"));
  EXPECT_EQ(groups["kind"], "APIGroupList");
  auto resources = j(req("GET", kApi));
  EXPECT_EQ(resources["kind"], "APIResourceList");
  bool found = false;
  for (auto& res : resources["resources"]) {
    if (res["name"] == "mcpinstances") {
      found = true;
      EXPECT_EQ(res["shortNames"], json({"mi"}));
      EXPECT_TRUE(res["namespaced"].get<bool>());
    }
  }
  EXPECT_TRUE(found);
  auto openapi = req("GET", "/openapi/v2");
  EXPECT_EQ(openapi.status, 200);
  EXPECT_EQ(j(openapi)["swagger"], "2.0");
  auto v3 = j(req("GET", "/openapi/v3"));
  const std::string url = v3["paths"]["apis/minimcp.io/v1alpha1"]["serverRelativeURL"];
  auto gv = req("GET", url);
  EXPECT_EQ(gv.status, 200);
  EXPECT_TRUE(j(gv)["components"]["schemas"].contains("io.minimcp.v1alpha1.MCPInstance"));
  EXPECT_EQ(req("GET", "/openapi/v3/apis/apps/v1").status, 404);
  auto metrics = req("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("minimcp_apiserver_requests_total"), std::string::npos);
}

// Collects watch lines on a thread until `want` arrived (or the stream idles out).
class Watcher {
 public:
  Watcher(client::ConnectionConfig cfg, std::string target, size_t want)
      : thread_([this, cfg = std::move(cfg), target = std::move(target), want] {
          HttpClient http(cfg);
          status_ = http.stream(
              "GET", target,
              [&](const std::string& line) {
                std::lock_guard lock(mu_);
                lines_.push_back(json::parse(line));
                cv_.notify_all();
                return lines_.size() < want;
              },
              {}, std::chrono::seconds(10));
          std::lock_guard lock(mu_);
          done_ = true;
          cv_.notify_all();
        }) {}
  ~Watcher() { join(); }
  std::vector<json> wait(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return lines_.size() >= n || done_; });
    return lines_;
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  int status() const { return status_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<json> lines_;
  bool done_ = false;
  int status_ = 0;
  std::thread thread_;
};

int64_t rvOf(const json& obj) {
  return std::stoll(obj["metadata"]["resourceVersion"].get<std::string>());
}

TEST_F(ApiTest, WatchDeliversEveryLaterChangeOnceInOrderAndResumes) {
  auto a = create("watch", "a");
  int64_t start = rvOf(a);
  constexpr int kChanges = 20;
  std::vector<int64_t> expected;
  {
    Watcher w(mcpd_->connection(),
              instances("watch") + "?watch=true&resourceVersion=" + std::to_string(start),
              kChanges);
    for (int i = 0; i < kChanges; ++i) {
      auto r = req("PATCH", instances("watch") + "/a",
                   json{{"metadata", {{"labels", {{"n", std::to_string(i)}}}}}}.dump(),
                   {{"Content-Type", "application/merge-patch+json"}});
      ASSERT_EQ(r.status, 200);
      expected.push_back(rvOf(j(r)));
      if (i == kChanges / 2) {
        auto first = w.wait(1);  // some events arrive live, the rest after
        ASSERT_FALSE(first.empty());
      }
    }
    auto lines = w.wait(kChanges);
    ASSERT_EQ(lines.size(), static_cast<size_t>(kChanges));
    for (int i = 0; i < kChanges; ++i) {
      EXPECT_EQ(lines[i]["type"], "MODIFIED");
      EXPECT_EQ(rvOf(lines[i]["object"]), expected[i]);
      EXPECT_EQ(lines[i]["object"]["metadata"]["labels"]["n"], std::to_string(i));
    }
  }
  // A client that saw events up to the 5th reconnects from there and misses nothing.
  Watcher resumed(mcpd_->connection(),
                  instances("watch") + "?watch=1&resourceVersion=" + std::to_string(expected[4]),
                  kChanges - 5);
  auto rest = resumed.wait(kChanges - 5);
  ASSERT_EQ(rest.size(), static_cast<size_t>(kChanges - 5));
  for (int i = 5; i < kChanges; ++i) EXPECT_EQ(rvOf(rest[i - 5]["object"]), expected[i]);
}

TEST_F(ApiTest, WatchFromScratchListsThenFollowsAndEndsAtTimeout) {
  create("watch2", "a");
  Watcher w(mcpd_->connection(),
            instances("watch2") + "?watch=true&timeoutSeconds=2&allowWatchBookmarks=true", 100);
  auto first = w.wait(1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["type"], "ADDED");
  ASSERT_EQ(req("DELETE", instances("watch2") + "/a").status, 200);
  w.join();  // the server ends the stream after timeoutSeconds
  // Bookmarks aside (one comes shortly before the timeout), the changes in order.
  std::vector<std::string> types;
  bool bookmarked = false;
  for (const auto& l : w.wait(100)) {
    if (l["type"] == "BOOKMARK") {
      bookmarked = true;
    } else {
      types.push_back(l["type"]);
    }
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ADDED", "DELETED"}));
  EXPECT_TRUE(bookmarked);
  EXPECT_EQ(w.status(), 200);
}

TEST(ApiWatchHistory, CompactedResourceVersionIs410) {
  McpdProcess::Options opts = apiOnly();
  opts.extraArgs.push_back("--watch-history");
  opts.extraArgs.push_back("5");
  McpdProcess mcpd(opts);
  HttpClient http(mcpd.connection());
  int64_t first = 0;
  for (int i = 0; i < 30; ++i) {
    auto r =
        http.request("POST", instances("gone"), instance("gone", "o" + std::to_string(i)).dump(),
                     {{"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 201);
    if (i == 0) first = rvOf(json::parse(r.body));
  }
  auto r = http.request("GET",
                        instances("gone") + "?watch=true&resourceVersion=" + std::to_string(first));
  EXPECT_EQ(r.status, 410);
  EXPECT_EQ(json::parse(r.body)["code"], 410);
}

TEST(ApiRestart, RestartKeepsEveryObject) {
  McpdProcess mcpd(apiOnly());
  std::vector<json> before;
  {
    HttpClient http(mcpd.connection());
    for (auto name : {"one", "two"}) {
      auto r = http.request("POST", instances("restart"), instance("restart", name).dump(),
                            {{"Content-Type", "application/json"}});
      ASSERT_EQ(r.status, 201);
    }
    auto upd = http.request("PATCH", instances("restart") + "/two", R"({"spec":{"ttl":"5h"}})",
                            {{"Content-Type", "application/merge-patch+json"}});
    ASSERT_EQ(upd.status, 200);
    before = json::parse(http.request("GET", instances("restart")).body)["items"];
  }
  std::string tokenBefore = mcpd.connection().token;
  int status = mcpd.stop();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);  // SIGTERM is a clean stop
  mcpd.start();
  EXPECT_EQ(mcpd.connection().token, tokenBefore);
  HttpClient http(mcpd.connection());
  auto after = json::parse(http.request("GET", instances("restart")).body)["items"];
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i]["metadata"]["uid"], before[i]["metadata"]["uid"]);
    EXPECT_EQ(after[i]["metadata"]["resourceVersion"], before[i]["metadata"]["resourceVersion"]);
    EXPECT_EQ(after[i]["metadata"]["generation"], before[i]["metadata"]["generation"]);
  }
}

TEST(ApiFirstStart, WritesPrivateKubeconfigAndTls) {
  McpdProcess mcpd(apiOnly());
  struct stat st {};
  ASSERT_EQ(::stat(mcpd.kubeconfig().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(mcpd.dataDir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (auto f : {"/tls/ca.key", "/tls/server.key"}) {
    ASSERT_EQ(::stat((mcpd.dataDir() + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  auto cfg = mcpd.connection();
  EXPECT_EQ(cfg.server.rfind("https://127.0.0.1:", 0), 0u);
  EXPECT_FALSE(cfg.caPem.empty());
  // The token is stored only as a hash: the plaintext is nowhere in the database file.
  std::string db = testing::readFileOr(mcpd.dataDir() + "/minimcp.db") +
                   testing::readFileOr(mcpd.dataDir() + "/minimcp.db-wal");
  EXPECT_EQ(db.find(cfg.token), std::string::npos);
  EXPECT_EQ(mcpd.log().find(cfg.token), std::string::npos);
  // The admin's token list names the tokens, never their hashes or plaintexts.
  HttpClient http(cfg);
  auto tokens = http.request("GET", std::string(kApi) + "/tokens");
  EXPECT_EQ(tokens.status, 200);
  EXPECT_EQ(tokens.body.find("sha256"), std::string::npos);
  EXPECT_EQ(tokens.body.find(sha256Hex(cfg.token)), std::string::npos);
  EXPECT_EQ(tokens.body.find(cfg.token), std::string::npos);
}

}  // namespace
}  // namespace minimcp
