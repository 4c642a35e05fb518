// The kubectl on the machine (1.32) against a real mcpd, using only the admin kubeconfig mcpd
// wrote: get with printer columns, client- and server-side apply, describe with status and
// events, delete, and wait --for=condition=Ready.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/client/http_client.h"
#include "api/model/strategy.h"
#include "tests/e2e/cli/mcpd_process.h"
#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::McpdProcess;

constexpr const char* kKubectl = "/usr/bin/kubectl";
constexpr const char* kInstances = "/apis/minimcp.io/v1alpha1/namespaces/e2e/mcpinstances";

std::string manifest(const std::string& name, const std::string& ttl) {
  return "apiVersion: minimcp.io/v1alpha1\nkind: MCPType\nmetadata:\n  name: echo\nspec:\n"
         "  displayName: Echo\n  server:\n    command: node\n    args: [echo/server.js]\n"
         "    transport: streamable-http\n---\n"
         "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: " +
         name + "\n  namespace: e2e\nspec:\n  type: echo\n  ttl: " + ttl + "\n";
}

class KubectlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (access(kKubectl, X_OK) != 0) return;
    // API semantics only: the tests write status themselves, as a controller would.
    McpdProcess::Options o;
    o.extraArgs = {"--disable-reconciler"};
    mcpd_ = new McpdProcess(o);
    cache_ = new testing::TempDir("kubectl-cache");
  }
  static void TearDownTestSuite() {
    delete mcpd_;
    delete cache_;
    mcpd_ = nullptr;
    cache_ = nullptr;
  }
  void SetUp() override {
    if (!mcpd_) GTEST_SKIP() << kKubectl << " is not installed";
  }

  static CommandResult kubectl(const std::vector<std::string>& args, const std::string& in = "",
                               std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::vector<std::string> argv = {kKubectl, "--kubeconfig", mcpd_->kubeconfig(), "--cache-dir",
                                     cache_->path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::runCommand(argv, in, timeout);
  }
  client::Response api(const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::string& contentType = "application/merge-patch+json") {
    client::HttpClient http(mcpd_->connection());
    return http.request(method, target, body, {{"Content-Type", contentType}});
  }
  void applyOk(const std::string& name) {
    auto r = kubectl({"apply", "-f", "-"}, manifest(name, "2h"));
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }

  static McpdProcess* mcpd_;
  static testing::TempDir* cache_;
};

McpdProcess* KubectlTest::mcpd_ = nullptr;
testing::TempDir* KubectlTest::cache_ = nullptr;

TEST_F(KubectlTest, ApplyCreatesThenReportsUnchangedThenConfigured) {
  auto first = kubectl({"apply", "-f", "-"}, manifest("applied", "2h"));
  ASSERT_EQ(first.exitCode, 0) << first.err;
  EXPECT_NE(first.out.find("mcpinstance.minimcp.io/applied created"), std::string::npos)
      << first.out;
  auto second = kubectl({"apply", "-f", "-"}, manifest("applied", "2h"));
  ASSERT_EQ(second.exitCode, 0) << second.err;
  EXPECT_NE(second.out.find("mcpinstance.minimcp.io/applied unchanged"), std::string::npos)
      << second.out;
  auto third = kubectl({"apply", "-f", "-"}, manifest("applied", "3h"));
  ASSERT_EQ(third.exitCode, 0) << third.err;
  EXPECT_NE(third.out.find("mcpinstance.minimcp.io/applied configured"), std::string::npos)
      << third.out;
  auto stored = json::parse(api("GET", std::string(kInstances) + "/applied").body);
  EXPECT_EQ(stored["spec"]["ttl"], "3h");
  EXPECT_EQ(stored["metadata"]["generation"], 2);
}

TEST_F(KubectlTest, GetPrintsThePrinterColumns) {
  applyOk("listed");
  auto r = kubectl({"get", "mi", "-n", "e2e"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::string header = r.out.substr(0, r.out.find('\n'));
  const auto* s = model::Registry::instance().byPlural("mcpinstances");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(header.rfind("NAME", 0), 0u) << header;
  for (const auto& c : s->info().columns) {
    if (c.priority != 0) continue;
    std::string upper = c.name;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    EXPECT_NE(header.find(upper), std::string::npos) << upper << " missing in: " << header;
  }
  EXPECT_NE(r.out.find("listed"), std::string::npos) << r.out;
  auto one = kubectl({"get", "mcpinstance", "listed", "-n", "e2e", "-o", "json"});
  ASSERT_EQ(one.exitCode, 0) << one.err;
  EXPECT_EQ(json::parse(one.out)["metadata"]["name"], "listed");
  auto missing = kubectl({"get", "mi", "nope", "-n", "e2e"});
  EXPECT_NE(missing.exitCode, 0);
  EXPECT_NE(missing.err.find("not found"), std::string::npos) << missing.err;
}

// kubectl finds a kind by the short names discovery lists; a plural of a short name is one
// only when listed ("sinks"), as cert-manager lists "certs".
TEST_F(KubectlTest, GetNotificationSinksByTheirShortNames) {
  auto applied = kubectl({"apply", "-f", "-"},
                         "apiVersion: minimcp.io/v1alpha1\nkind: NotificationSink\nmetadata:\n"
                         "  name: hooks\n  namespace: e2e\nspec:\n"
                         "  url: https://hooks.example.com/x\n  events: [InstanceExpired]\n");
  ASSERT_EQ(applied.exitCode, 0) << applied.err;
  for (const char* kind : {"sinks", "sink", "notificationsinks", "notificationsink"}) {
    auto r = kubectl({"get", kind, "-n", "e2e", "-o", "name"});
    EXPECT_EQ(r.exitCode, 0) << kind << ": " << r.err;
    EXPECT_EQ(r.out, "notificationsink.minimcp.io/hooks\n") << kind;
  }
  auto table = kubectl({"get", "sinks", "-n", "e2e"});
  ASSERT_EQ(table.exitCode, 0) << table.err;
  EXPECT_EQ(table.out.rfind("NAME", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("\nhooks "), std::string::npos) << table.out;
  auto resources = kubectl({"api-resources", "--api-group", "minimcp.io"});
  ASSERT_EQ(resources.exitCode, 0) << resources.err;
  EXPECT_NE(resources.out.find("sink,sinks"), std::string::npos) << resources.out;
}

TEST_F(KubectlTest, ServerSideApply) {
  auto r = kubectl({"apply", "--server-side", "-f", "-"}, manifest("ssa", "2h"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("mcpinstance.minimcp.io/ssa serverside-applied"), std::string::npos)
      << r.out;
  auto again = kubectl({"apply", "--server-side", "-f", "-"}, manifest("ssa", "4h"));
  ASSERT_EQ(again.exitCode, 0) << again.err;
  auto stored = json::parse(api("GET", std::string(kInstances) + "/ssa").body);
  EXPECT_EQ(stored["spec"]["ttl"], "4h");
}

// Two field managers on one MCPInstance, as two GitOps tools would: a 409 naming the field and
// its owner, --force-conflicts taking it, a field dropped from a manifest removed, and
// managedFields shown only on request.
TEST_F(KubectlTest, ServerSideApplyOwnershipConflictsForceAndPruning) {
  applyOk("ssa-type-holder");  // the echo MCPType
  auto instance = [](const std::string& specYaml) {
    return "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: owned\n"
           "  namespace: e2e\nspec:\n" +
           specYaml;
  };
  auto ssa = [&](const std::string& manager, const std::string& specYaml, bool force = false) {
    std::vector<std::string> args = {"apply", "--server-side", "--field-manager=" + manager, "-f",
                                     "-"};
    if (force) args.push_back("--force-conflicts");
    return kubectl(args, instance(specYaml));
  };
  auto stored = [&] { return json::parse(api("GET", std::string(kInstances) + "/owned").body); };

  auto alice =
      ssa("alice", "  type: echo\n  ttl: 2h\n  env:\n  - {name: LOG_LEVEL, value: debug}\n");
  ASSERT_EQ(alice.exitCode, 0) << alice.err;

  auto bob = ssa("bob", "  type: echo\n  ttl: 3h\n");
  EXPECT_NE(bob.exitCode, 0);
  EXPECT_NE(bob.err.find("Apply failed with 1 conflict: conflict with \"alice\" using "
                         "minimcp.io/v1alpha1: .spec.ttl"),
            std::string::npos)
      << bob.err;
  EXPECT_EQ(stored()["spec"]["ttl"], "2h") << "a refused apply stores nothing";

  auto forced = ssa("bob", "  type: echo\n  ttl: 3h\n", true);
  ASSERT_EQ(forced.exitCode, 0) << forced.err;
  EXPECT_EQ(stored()["spec"]["ttl"], "3h");

  auto shown = kubectl({"get", "mi", "owned", "-n", "e2e", "-o", "json", "--show-managed-fields"});
  ASSERT_EQ(shown.exitCode, 0) << shown.err;
  std::map<std::string, json> byManager;
  const json shownObject = json::parse(shown.out);
  for (const auto& e : shownObject["metadata"]["managedFields"]) {
    byManager[e["manager"].get<std::string>()] = e;
  }
  ASSERT_TRUE(byManager.count("alice") && byManager.count("bob")) << shown.out;
  EXPECT_EQ(byManager["alice"]["operation"], "Apply");
  EXPECT_FALSE(byManager["alice"]["fieldsV1"]["f:spec"].contains("f:ttl")) << "force took it";
  EXPECT_TRUE(
      byManager["alice"]["fieldsV1"]["f:spec"]["f:env"].contains("k:{\"name\":\"LOG_LEVEL\"}"))
      << shown.out;
  EXPECT_TRUE(byManager["bob"]["fieldsV1"]["f:spec"].contains("f:ttl"));
  auto hidden = kubectl({"get", "mi", "owned", "-n", "e2e", "-o", "yaml"});
  ASSERT_EQ(hidden.exitCode, 0) << hidden.err;
  EXPECT_EQ(hidden.out.find("managedFields"), std::string::npos) << hidden.out;

  // alice stops sending env (and ttl, no longer hers): env goes, bob's ttl stays.
  auto dropped = ssa("alice", "  type: echo\n");
  ASSERT_EQ(dropped.exitCode, 0) << dropped.err;
  json after = stored();
  EXPECT_FALSE(after["spec"].contains("env")) << after.dump(2);
  EXPECT_EQ(after["spec"]["ttl"], "3h");

  // An apply must name its manager.
  auto r = api("PATCH", std::string(kInstances) + "/owned", "{}", "application/apply-patch+yaml");
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST_F(KubectlTest, DescribeShowsStatusAndEvents) {
  applyOk("described");
  auto obj = json::parse(api("GET", std::string(kInstances) + "/described").body);
  auto st = api("PATCH", std::string(kInstances) + "/described/status",
                R"({"status":{"phase":"Running","node":"node-e2e"}})");
  ASSERT_EQ(st.status, 200) << st.body;
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", "described.started"}, {"namespace", "e2e"}}},
                {"involvedObject",
                 {{"apiVersion", "minimcp.io/v1alpha1"},
                  {"kind", "MCPInstance"},
                  {"name", "described"},
                  {"namespace", "e2e"},
                  {"uid", obj["metadata"]["uid"]}}},
                {"type", "Normal"},
                {"reason", "ProcessStarted"},
                {"message", "started pid 4242"},
                {"count", 1},
                {"firstTimestamp", obj["metadata"]["creationTimestamp"]},
                {"lastTimestamp", obj["metadata"]["creationTimestamp"]},
                {"source", {{"component", "mcpd"}, {"host", "node-e2e"}}}};
  auto ev = api("POST", "/api/v1/namespaces/e2e/events", event.dump(), "application/json");
  ASSERT_EQ(ev.status, 201) << ev.body;
  auto r = kubectl({"describe", "mi", "described", "-n", "e2e"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("Status:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Running"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("node-e2e"), std::string::npos) << r.out;
  auto events = r.out.substr(r.out.find("Events:"));
  EXPECT_NE(events.find("ProcessStarted"), std::string::npos) << r.out;
  EXPECT_NE(events.find("started pid 4242"), std::string::npos) << r.out;
}

TEST_F(KubectlTest, DeleteReturnsOnceTheObjectIsGone) {
  applyOk("deleted");
  auto r = kubectl({"delete", "mi", "deleted", "-n", "e2e"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("deleted"), std::string::npos) << r.out;
  EXPECT_EQ(api("GET", std::string(kInstances) + "/deleted").status, 404);
}

TEST_F(KubectlTest, DeleteWaitsForFinalizers) {
  applyOk("finalized");
  ASSERT_EQ(api("PATCH", std::string(kInstances) + "/finalized",
                R"({"metadata":{"finalizers":["minimcp.io/test"]}})")
                .status,
            200);
  // With a finalizer present, delete marks the object and waits; a short timeout proves it.
  auto blocked = kubectl({"delete", "mi", "finalized", "-n", "e2e", "--timeout=1s"});
  EXPECT_NE(blocked.exitCode, 0) << blocked.out;
  auto marked = json::parse(api("GET", std::string(kInstances) + "/finalized").body);
  EXPECT_TRUE(marked["metadata"].contains("deletionTimestamp"));
  auto waiter = std::async(std::launch::async, [] {
    return kubectl({"delete", "mi", "finalized", "-n", "e2e", "--timeout=20s"});
  });
  ASSERT_EQ(
      api("PATCH", std::string(kInstances) + "/finalized", R"({"metadata":{"finalizers":null}})")
          .status,
      200);
  auto r = waiter.get();
  // Either kubectl saw the object disappear while waiting, or it was already gone (NotFound).
  EXPECT_TRUE(r.exitCode == 0 || r.err.find("NotFound") != std::string::npos ||
              r.err.find("not found") != std::string::npos)
      << r.out << r.err;
  EXPECT_EQ(api("GET", std::string(kInstances) + "/finalized").status, 404);
}

TEST_F(KubectlTest, WaitForConditionReadySetThroughStatus) {
  applyOk("waited");
  auto early = kubectl({"wait", "--for=condition=Ready", "mi/waited", "-n", "e2e", "--timeout=1s"});
  EXPECT_NE(early.exitCode, 0);
  auto waiter = std::async(std::launch::async, [] {
    return kubectl({"wait", "--for=condition=Ready", "mi/waited", "-n", "e2e", "--timeout=20s"});
  });
  // As a controller writes it: kubectl wait ignores a condition older than the generation.
  json status = {{"status",
                  {{"observedGeneration", 1},
                   {"conditions",
                    {{{"type", "Ready"},
                      {"status", "True"},
                      {"reason", "Healthy"},
                      {"message", "probe ok"},
                      {"lastTransitionTime", "2026-01-01T00:00:00Z"}}}}}}};
  auto st = api("PATCH", std::string(kInstances) + "/waited/status", status.dump());
  ASSERT_EQ(st.status, 200) << st.body;
  auto r = waiter.get();
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("condition met"), std::string::npos) << r.out;
}

// explain, validation, diff and dry run read the server's OpenAPI documents.

TEST_F(KubectlTest, ExplainReadsTheSchema) {
  auto r = kubectl({"explain", "mcpinstance.spec.ttl"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("FIELD: ttl <string>"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Lifetime from creation"), std::string::npos) << r.out;
  auto env = kubectl({"explain", "mi.spec.env"});
  ASSERT_EQ(env.exitCode, 0) << env.err;
  EXPECT_NE(env.out.find("name\t<string> -required-"), std::string::npos) << env.out;
  auto meta = kubectl({"explain", "mcptypes.metadata.labels"});
  EXPECT_EQ(meta.exitCode, 0) << meta.err;
  auto missing = kubectl({"explain", "mcpinstance.spec.nope"});
  EXPECT_NE(missing.exitCode, 0);
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << missing.err;
}

std::string withUnknownFields(const std::string& name) {
  return manifest(name, "2h") + "  foo: 1\n  restartPolicy: Always\n  bar: x\n";
}

TEST_F(KubectlTest, ValidateStrictNamesTheUnknownFieldsAndStoresNothing) {
  auto strict = kubectl({"apply", "--validate=strict", "-f", "-"}, withUnknownFields("strict"));
  EXPECT_EQ(strict.exitCode, 1);
  EXPECT_NE(strict.err.find("unknown field \"spec.foo\""), std::string::npos) << strict.err;
  EXPECT_NE(strict.err.find("unknown field \"spec.bar\""), std::string::npos) << strict.err;
  EXPECT_EQ(api("GET", std::string(kInstances) + "/strict").status, 404);
  // kubectl's default (--validate=true) is strict too.
  auto byDefault = kubectl({"create", "-f", "-"}, withUnknownFields("default"));
  EXPECT_EQ(byDefault.exitCode, 1);
  EXPECT_NE(byDefault.err.find("unknown field \"spec.foo\""), std::string::npos) << byDefault.err;

  auto warn = kubectl({"apply", "--validate=warn", "-f", "-"}, withUnknownFields("warned"));
  ASSERT_EQ(warn.exitCode, 0) << warn.err;
  EXPECT_NE(warn.err.find("Warning: unknown field \"spec.foo\""), std::string::npos) << warn.err;
  auto stored = json::parse(api("GET", std::string(kInstances) + "/warned").body);
  EXPECT_FALSE(stored["spec"].contains("foo")) << stored.dump();
  EXPECT_EQ(stored["spec"]["ttl"], "2h");

  auto ignore = kubectl({"apply", "--validate=false", "-f", "-"}, withUnknownFields("ignored"));
  ASSERT_EQ(ignore.exitCode, 0) << ignore.err;
  EXPECT_EQ(ignore.err.find("unknown field"), std::string::npos) << ignore.err;
  stored = json::parse(api("GET", std::string(kInstances) + "/ignored").body);
  EXPECT_FALSE(stored["spec"].contains("bar")) << stored.dump();
}

// Debian's kubectl 1.20 (tools/setup.sh extracts it): it checks the OpenAPI v2 document (in
// protobuf) for dry-run support before diff and --dry-run=server.
constexpr const char* kKubectl120 = MINIMCP_SOURCE_DIR "/.tools/kubectl-1.20/usr/bin/kubectl";

CommandResult kubectl120(const McpdProcess& mcpd, const std::string& cacheDir,
                         const std::vector<std::string>& args, const std::string& in) {
  std::vector<std::string> argv = {kKubectl120, "--kubeconfig", mcpd.kubeconfig(), "--cache-dir",
                                   cacheDir};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::runCommand(argv, in, std::chrono::seconds(30));
}

TEST_F(KubectlTest, Kubectl120DiffAndServerDryRun) {
  if (access(kKubectl120, X_OK) != 0) {
    GTEST_SKIP() << kKubectl120
                 << " is absent: run tools/setup.sh to extract Debian's kubectl 1.20";
  }
  const std::string cache = cache_->path() + "/kubectl-1.20";
  auto old = [&](const std::vector<std::string>& args, const std::string& in) {
    return kubectl120(*mcpd_, cache, args, in);
  };
  applyOk("diffed");
  const std::string before = api("GET", std::string(kInstances) + "/diffed").body;

  auto same = old({"diff", "-f", "-"}, manifest("diffed", "2h"));
  EXPECT_EQ(same.exitCode, 0) << same.out << same.err;
  EXPECT_EQ(same.out, "");
  auto changed = old({"diff", "-f", "-"}, manifest("diffed", "3h"));
  EXPECT_EQ(changed.exitCode, 1) << changed.err;
  EXPECT_NE(changed.out.find("-  ttl: 2h"), std::string::npos) << changed.out;
  EXPECT_NE(changed.out.find("+  ttl: 3h"), std::string::npos) << changed.out;

  auto dry = old({"apply", "--dry-run=server", "-f", "-"}, manifest("diffed", "3h"));
  ASSERT_EQ(dry.exitCode, 0) << dry.err;
  EXPECT_NE(dry.out.find("mcpinstance.minimcp.io/diffed configured (server dry run)"),
            std::string::npos)
      << dry.out;
  auto created = old({"apply", "--dry-run=server", "-f", "-"}, manifest("never-stored", "3h"));
  ASSERT_EQ(created.exitCode, 0) << created.err;
  EXPECT_NE(created.out.find("mcpinstance.minimcp.io/never-stored created (server dry run)"),
            std::string::npos)
      << created.out;
  // Nothing was stored: the object is as before, the other never created.
  EXPECT_EQ(api("GET", std::string(kInstances) + "/diffed").body, before);
  EXPECT_EQ(api("GET", std::string(kInstances) + "/never-stored").status, 404);
}

TEST_F(KubectlTest, AuthCanIAndWhoamiForAdminAndNamespaceTokens) {
  auto yes = kubectl({"auth", "can-i", "create", "mcptypes"});
  EXPECT_EQ(yes.exitCode, 0) << yes.err;
  EXPECT_EQ(yes.out, "yes\n");
  auto admin = kubectl({"auth", "whoami", "-o", "json"});
  ASSERT_EQ(admin.exitCode, 0) << admin.err;
  EXPECT_EQ(json::parse(admin.out)["status"]["userInfo"]["groups"][0], "minimcp:admins");

  auto token =
      mcpd_->mcpctl({"token", "create", "--namespace", "can-alice", "--name", "can-alice"});
  ASSERT_EQ(token.exitCode, 0) << token.err;
  const std::string t = token.out.substr(0, token.out.find('\n'));
  auto as = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--token", t});
    return kubectl(args);
  };
  struct Case {
    std::vector<std::string> args;
    bool allowed;
  };
  const std::vector<Case> cases = {
      {{"auth", "can-i", "create", "mcpinstances", "-n", "can-alice"}, true},
      {{"auth", "can-i", "delete", "mcpinstances", "-n", "can-alice"}, true},
      {{"auth", "can-i", "create", "mcpinstances", "-n", "e2e"}, false},
      {{"auth", "can-i", "get", "mcpinstances", "-n", "e2e"}, false},
      {{"auth", "can-i", "list", "mcptypes"}, true},
      {{"auth", "can-i", "create", "mcptypes"}, false},
      {{"auth", "can-i", "patch", "mcpinstances", "--subresource=status", "-n", "can-alice"},
       false},
  };
  for (const Case& c : cases) {
    auto r = as(c.args);
    std::string what;
    for (const auto& a : c.args) what += a + " ";
    EXPECT_EQ(r.exitCode, c.allowed ? 0 : 1) << what << r.err;
    EXPECT_EQ(r.out.rfind(c.allowed ? "yes" : "no", 0), 0u) << what << r.out;
  }
  // --list: the rules a SelfSubjectRulesReview answers, as kubectl prints them.
  auto lineOf = [](const std::string& out, const std::string& start) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(start, 0) == 0) return line;
    }
    return std::string();
  };
  auto adminList = kubectl({"auth", "can-i", "--list", "-n", "can-alice"});
  ASSERT_EQ(adminList.exitCode, 0) << adminList.err;
  EXPECT_NE(lineOf(adminList.out, "*.* ").find("[*]"), std::string::npos) << adminList.out;
  auto own = as({"auth", "can-i", "--list", "-n", "can-alice"});
  ASSERT_EQ(own.exitCode, 0) << own.err;
  const std::string instances = lineOf(own.out, "mcpinstances.minimcp.io ");
  EXPECT_NE(instances.find("[get list watch create update patch delete connect]"),
            std::string::npos)
      << own.out;
  EXPECT_NE(lineOf(own.out, "mcpinstances.minimcp.io/status ").find("[get list watch]"),
            std::string::npos)
      << own.out;
  EXPECT_NE(lineOf(own.out, "limits.minimcp.io ").find("[can-alice]"), std::string::npos)
      << own.out;
  EXPECT_EQ(lineOf(own.out, "*.* "), "") << own.out;
  EXPECT_EQ(lineOf(own.out, "tokens.minimcp.io "), "") << own.out;
  auto elsewhere = as({"auth", "can-i", "--list", "-n", "e2e"});
  ASSERT_EQ(elsewhere.exitCode, 0) << elsewhere.err;
  EXPECT_EQ(lineOf(elsewhere.out, "mcpinstances.minimcp.io "), "") << elsewhere.out;
  EXPECT_NE(lineOf(elsewhere.out, "mcptypes.minimcp.io ").find("[get list watch]"),
            std::string::npos)
      << elsewhere.out;

  auto whoami = as({"auth", "whoami"});
  ASSERT_EQ(whoami.exitCode, 0) << whoami.err;
  EXPECT_NE(whoami.out.find("can-alice"), std::string::npos) << whoami.out;
  EXPECT_NE(whoami.out.find("minimcp:namespace:can-alice"), std::string::npos) << whoami.out;
}

TEST_F(KubectlTest, VersionWithoutSkewWarning) {
  auto r = kubectl({"version"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("Server Version: v1.32."), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("WARNING"), std::string::npos) << r.err;
}

// With the reconciler running: the controller's status writes show in managedFields as an Update
// through subresource "status", and a GitOps tool's later server-side apply of the same instance
// does not conflict with them.
TEST(KubectlReconciledTest, ControllerStatusWritesShowAsAStatusManager) {
  if (access(kKubectl, X_OK) != 0) GTEST_SKIP() << kKubectl << " is not installed";
  e2e::Cluster c;
  testing::TempDir cache("kubectl-cache");
  auto kubectl = [&](std::vector<std::string> args, const std::string& in = "") {
    std::vector<std::string> argv = {kKubectl, "--kubeconfig", c.mcpd().kubeconfig(), "--cache-dir",
                                     cache.path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::runCommand(argv, in, std::chrono::seconds(45));
  };
  auto apply = [&](const std::string& ttl) {
    return kubectl({"apply", "--server-side", "--field-manager=gitops", "-f", "-"},
                   "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: "
                   "managed\n  namespace: default\nspec:\n  type: echo\n  ttl: " +
                       ttl + "\n");
  };
  auto applied = apply("1h");
  ASSERT_EQ(applied.exitCode, 0) << applied.err;
  auto running = kubectl({"wait", "--for=jsonpath={.status.phase}=Running", "mi/managed", "-n",
                          "default", "--timeout=30s"});
  ASSERT_EQ(running.exitCode, 0) << running.out << running.err << c.mcpd().log();

  auto shown =
      kubectl({"get", "mi", "managed", "-n", "default", "-o", "json", "--show-managed-fields"});
  ASSERT_EQ(shown.exitCode, 0) << shown.err;
  json status;
  const json object = json::parse(shown.out);  // the loop below must not iterate a temporary
  for (const auto& e : object["metadata"]["managedFields"]) {
    if (e.value("subresource", "") == "status") status = e;
  }
  ASSERT_TRUE(status.is_object()) << shown.out;
  EXPECT_EQ(status["manager"], "mcpd-controller");
  EXPECT_EQ(status["operation"], "Update");
  EXPECT_EQ(status["fieldsType"], "FieldsV1");
  EXPECT_TRUE(status["fieldsV1"]["f:status"].contains("f:phase")) << shown.out;
  auto yaml =
      kubectl({"get", "mi", "managed", "-n", "default", "-o", "yaml", "--show-managed-fields"});
  EXPECT_NE(yaml.out.find("subresource: status"), std::string::npos) << yaml.out;

  auto again = apply("2h");
  ASSERT_EQ(again.exitCode, 0) << again.err;
  EXPECT_EQ(c.instance("managed")["spec"]["ttl"], "2h");
}

}  // namespace
}  // namespace minimcp
