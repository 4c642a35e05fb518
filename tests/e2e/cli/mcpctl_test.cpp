// mcpctl against the real mcpd: apply/get/describe/diff/delete/wait and error exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "tests/e2e/cli/mcpd_process.h"

namespace minimcp::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class McpctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { mcpd_ = new McpdProcess(); }
  static void TearDownTestSuite() {
    delete mcpd_;
    mcpd_ = nullptr;
  }

  static CommandResult ctl(const std::vector<std::string>& args, const std::string& in = "") {
    return mcpd_->mcpctl(args, in);
  }

  // Writes `files` (name → content) into a fresh directory.
  static std::string writeDir(TempDir& dir, const std::map<std::string, std::string>& files) {
    for (const auto& [name, content] : files) {
      std::ofstream(dir.path() + "/" + name) << content;
    }
    return dir.path();
  }

  static json getJson(const std::vector<std::string>& args) {
    auto args2 = args;
    args2.push_back("-o");
    args2.push_back("json");
    auto r = ctl(args2);
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  static std::string rv(const json& obj) {
    return obj.value("metadata", json::object()).value("resourceVersion", "");
  }

  static McpdProcess* mcpd_;
};

McpdProcess* McpctlTest::mcpd_ = nullptr;

// A suspended instance never starts a process, so these tests need no MCP server code.
std::string instanceYaml(const std::string& name, const std::string& ns, const std::string& ttl,
                         const std::string& extra = "") {
  return "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns +
         "\n  labels:\n    app: e2e\nspec:\n  type: e2e-echo\n  ttl: " + ttl +
         "\n  suspend: true\n" + extra;
}

const char* kTypeYaml = R"(apiVersion: minimcp.io/v1alpha1
kind: MCPType
metadata:
  name: e2e-echo
spec:
  displayName: E2E echo
  server:
    command: node
    args: ["echo/server.js"]
    transport: streamable-http
)";

TEST_F(McpctlTest, ApiResourcesAndVersion) {
  auto r = ctl({"api-resources"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("NAME"));
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("mcpinstances +mi +minimcp.io/v1alpha1 +true +MCPInstance")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("mcptypes +mt +minimcp.io/v1alpha1 +false")))
      << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out,
      std::regex("notificationsinks +sink,sinks +minimcp.io/v1alpha1 +true +NotificationSink")))
      << r.out;

  r = ctl({"version"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Client Version: "));
  EXPECT_THAT(r.out, HasSubstr("Server Version: "));
}

TEST_F(McpctlTest, ApplyDirectoryTwiceIsIdempotent) {
  TempDir dir;
  writeDir(dir, {{"a-type.yaml", kTypeYaml},
                 {"b-instances.yaml", instanceYaml("one", "apply-ns", "1h") + "---\n" +
                                          instanceYaml("two", "apply-ns", "2h")},
                 {"c-three.json", json{{"apiVersion", "minimcp.io/v1alpha1"},
                                       {"kind", "MCPInstance"},
                                       {"metadata", {{"name", "three"}, {"namespace", "apply-ns"}}},
                                       {"spec", {{"type", "e2e-echo"}, {"suspend", true}}}}
                                      .dump()},
                 {"ignored.txt", "not a manifest"}});
  auto r = ctl({"apply", "-f", dir.path()});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("mcptype.minimcp.io/e2e-echo "));
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/one created"));
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/two created"));
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/three created"));

  json before = getJson({"get", "mi", "-n", "apply-ns"});
  ASSERT_EQ(before["items"].size(), 3u) << before.dump();

  r = ctl({"apply", "-f", dir.path()});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("mcptype.minimcp.io/e2e-echo unchanged"));
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/one unchanged"));
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/two unchanged"));
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/three unchanged"));
  EXPECT_THAT(r.out, Not(HasSubstr("configured")));

  json after = getJson({"get", "mi", "-n", "apply-ns"});
  ASSERT_EQ(after["items"].size(), 3u);
  // The controller's status writes may move resourceVersion meanwhile; what apply owns may not.
  for (size_t i = 0; i < 3; ++i) {
    for (const char* field : {"generation", "annotations", "labels"}) {
      EXPECT_EQ(after["items"][i]["metadata"].value(field, json()),
                before["items"][i]["metadata"].value(field, json()))
          << field;
    }
    EXPECT_EQ(after["items"][i]["spec"], before["items"][i]["spec"]);
  }

  // Change one field and drop a label: configured, and the label is gone from the live object.
  TempDir dir2;
  std::string changed = instanceYaml("one", "apply-ns", "3h");
  changed.replace(changed.find("  labels:\n    app: e2e\n"), 23, "");
  writeDir(dir2, {{"one.yaml", changed}});
  r = ctl({"apply", "-f", dir2.path() + "/one.yaml"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/one configured"));
  json one = getJson({"get", "mi", "one", "-n", "apply-ns"});
  EXPECT_EQ(one["spec"]["ttl"], "3h");
  EXPECT_FALSE(one["metadata"].value("labels", json::object()).contains("app")) << one.dump();
  EXPECT_NE(rv(one), rv(before["items"][0]));
}

TEST_F(McpctlTest, ApplyFromStdinDryRunAndPerDocumentErrors) {
  std::string docs = std::string(kTypeYaml) + "---\n" + instanceYaml("dry", "dry-ns", "1h");
  auto r = ctl({"apply", "-f", "-", "--dry-run=server"}, docs);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/dry created (server dry run)"));
  r = ctl({"get", "mi", "dry", "-n", "dry-ns"});
  EXPECT_EQ(r.exitCode, 1);

  // One bad document (invalid ttl) does not stop the others; the exit code reports it.
  std::string mixed =
      instanceYaml("bad", "dry-ns", "forever") + "---\n" + instanceYaml("good", "dry-ns", "1h");
  r = ctl({"apply", "-f", "-"}, mixed);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("The MCPInstance \"bad\" is invalid: spec.ttl: Invalid value"));
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/good created"));

  r = ctl({"apply", "-f", "-"},
          "apiVersion: minimcp.io/v1alpha1\nkind: Nope\nmetadata: {name: x}\n");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("no matches for kind \"Nope\""));
}

TEST_F(McpctlTest, GetInEveryFormat) {
  auto r = ctl({"apply", "-f", "-"}, std::string(kTypeYaml) + "---\n" +
                                         instanceYaml("g1", "get-ns", "1h") + "---\n" +
                                         instanceYaml("g2-longer-name", "get-ns", "2h"));
  ASSERT_EQ(r.exitCode, 0) << r.err;

  r = ctl({"get", "mcpinstances", "-n", "get-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto lines = r.out;
  EXPECT_EQ(lines.rfind("NAME", 0), 0u) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\ng1   "));
  EXPECT_THAT(r.out, HasSubstr("\ng2-longer-name   "));

  for (const char* kind : {"mi", "MCPInstance", "mcpinstance", "mcpinstances.minimcp.io"}) {
    r = ctl({"get", kind, "g1", "-n", "get-ns", "-o", "name"});
    EXPECT_EQ(r.exitCode, 0) << kind << r.err;
    EXPECT_EQ(r.out, "mcpinstance.minimcp.io/g1\n") << kind;
  }
  // Every name of a kind, its short names included, as kubectl takes them.
  r = ctl({"apply", "-f", "-"},
          "apiVersion: minimcp.io/v1alpha1\nkind: NotificationSink\nmetadata: {name: hooks, "
          "namespace: get-ns}\nspec: {url: 'https://hooks.example.com/x', events: "
          "[InstanceExpired]}\n");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  for (const char* kind :
       {"sinks", "sink", "notificationsinks", "NotificationSink", "notificationsinks.minimcp.io"}) {
    r = ctl({"get", kind, "-n", "get-ns", "-o", "name"});
    EXPECT_EQ(r.exitCode, 0) << kind << r.err;
    EXPECT_EQ(r.out, "notificationsink.minimcp.io/hooks\n") << kind;
  }
  r = ctl({"get", "mi/g1", "mi/g2-longer-name", "-n", "get-ns", "-o", "name"});
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/g1\nmcpinstance.minimcp.io/g2-longer-name\n");

  r = ctl({"get", "mi", "g1", "-n", "get-ns", "-o", "yaml"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("kind: MCPInstance"));
  EXPECT_THAT(r.out, HasSubstr("name: g1"));
  EXPECT_THAT(r.out, Not(HasSubstr("kind: List")));
  // managedFields only on request, as kubectl; mcpctl's writes are recorded under "mcpctl".
  EXPECT_THAT(r.out, Not(HasSubstr("managedFields")));
  r = ctl({"get", "mi", "g1", "-n", "get-ns", "-o", "yaml", "--show-managed-fields"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("managedFields"));
  EXPECT_THAT(r.out, HasSubstr("manager: mcpctl"));

  json list = getJson({"get", "mi", "-n", "get-ns"});
  EXPECT_EQ(list["kind"], "List");
  EXPECT_EQ(list["apiVersion"], "v1");
  EXPECT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(list["items"][0]["kind"], "MCPInstance");

  r = ctl({"get", "mi", "-n", "get-ns", "-o", "yaml"});
  EXPECT_THAT(r.out, HasSubstr("kind: List"));

  r = ctl({"get", "mi", "-n", "get-ns", "-o", "wide"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out.rfind("NAME", 0), 0u) << r.out;

  r = ctl({"get", "mi", "-A", "-l", "app=e2e"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out.rfind("NAMESPACE   NAME", 0), 0u) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\nget-ns +g1 ")));

  r = ctl({"get", "mi", "-n", "get-ns", "--show-labels"});
  EXPECT_THAT(r.out, HasSubstr("LABELS"));
  EXPECT_THAT(r.out, HasSubstr("app=e2e"));

  r = ctl({"get", "mt", "e2e-echo"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("e2e-echo"));

  r = ctl({"get", "mi", "-n", "empty-ns"});
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("No resources found in empty-ns namespace."));

  r = ctl({"get", "mi", "nope", "-n", "get-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(
      r.err, HasSubstr("Error from server (NotFound): mcpinstances.minimcp.io \"nope\" not found"));
}

TEST_F(McpctlTest, DescribeShowsSpecAndEvents) {
  auto r = ctl({"apply", "-f", "-"}, instanceYaml("d1", "describe-ns", "1h"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = ctl({"describe", "mi", "d1", "-n", "describe-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  for (const char* want : {"Name:         d1", "Namespace:    describe-ns", "Labels:       app=e2e",
                           "API Version:  minimcp.io/v1alpha1", "Kind:         MCPInstance",
                           "Metadata:", "Creation Timestamp:", "Spec:", "Ttl:", "Events:"}) {
    EXPECT_THAT(r.out, HasSubstr(want)) << r.out;
  }
  // The last-applied annotation is noise in describe, like kubectl hides it.
  EXPECT_THAT(r.out, Not(HasSubstr("last-applied-configuration")));

  r = ctl({"describe", "mi", "missing", "-n", "describe-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("NotFound"));
}

TEST_F(McpctlTest, DiffReportsChangesWithExitCodes) {
  TempDir dir;
  writeDir(dir, {{"x.yaml", instanceYaml("x", "diff-ns", "1h")}});
  auto r = ctl({"diff", "-f", dir.path() + "/x.yaml"});
  EXPECT_EQ(r.exitCode, 1) << r.err;  // absent: everything is new
  EXPECT_THAT(r.out, HasSubstr("+  name: x"));

  r = ctl({"apply", "-f", dir.path() + "/x.yaml"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = ctl({"diff", "-f", dir.path() + "/x.yaml"});
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "");

  writeDir(dir, {{"x.yaml", instanceYaml("x", "diff-ns", "2h")}});
  r = ctl({"diff", "-f", dir.path() + "/x.yaml"});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_THAT(r.out, HasSubstr("-  ttl: 1h"));
  EXPECT_THAT(r.out, HasSubstr("+  ttl: 2h"));
  // diff changed nothing on the server.
  EXPECT_EQ(getJson({"get", "mi", "x", "-n", "diff-ns"})["spec"]["ttl"], "1h");

  r = ctl({"diff", "-f", dir.path() + "/missing.yaml"});
  EXPECT_GT(r.exitCode, 1);
}

TEST_F(McpctlTest, DeleteAndWait) {
  auto r = ctl({"apply", "-f", "-"}, instanceYaml("del1", "delete-ns", "1h") + "---\n" +
                                         instanceYaml("del2", "delete-ns", "1h"));
  ASSERT_EQ(r.exitCode, 0) << r.err;

  r = ctl({"wait", "--for=condition=NeverTrue", "mi/del1", "-n", "delete-ns", "--timeout=1s"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("error: timed out waiting for the condition on mcpinstances/del1"));

  r = ctl({"delete", "mi", "del1", "-n", "delete-ns", "--timeout=20s"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io \"del1\" deleted\n");
  r = ctl({"get", "mi", "del1", "-n", "delete-ns"});
  EXPECT_EQ(r.exitCode, 1);  // --wait (the default) returned only once it was gone

  r = ctl({"delete", "mi/del2", "-n", "delete-ns", "--wait=false"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = ctl({"wait", "--for=delete", "mi", "del2", "-n", "delete-ns", "--timeout=20s"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/del2 condition met"));

  r = ctl({"delete", "mi", "del1", "-n", "delete-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("(NotFound)"));
  r = ctl({"delete", "mi", "del1", "-n", "delete-ns", "--ignore-not-found"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
}

TEST_F(McpctlTest, DeleteByFile) {
  TempDir dir;
  writeDir(dir, {{"f.yaml", instanceYaml("f1", "delete-file-ns", "1h") + "---\n" +
                                instanceYaml("f2", "delete-file-ns", "1h")}});
  auto r = ctl({"apply", "-f", dir.path()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = ctl({"delete", "-f", dir.path() + "/f.yaml", "--timeout=20s"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out,
            "mcpinstance.minimcp.io \"f1\" deleted\nmcpinstance.minimcp.io \"f2\" deleted\n");
  r = ctl({"get", "mi", "-n", "delete-file-ns", "-o", "name"});
  EXPECT_EQ(r.out, "");
}

TEST_F(McpctlTest, ApplyNeverRecordsAnAPIKeyValue) {
  if (ctl({"api-resources"}).out.find("APIKey") == std::string::npos) {
    GTEST_SKIP() << "the server does not serve apikeys yet";
  }
  const std::string secret = "e2e-very-secret-value-42";
  std::string key =
      "apiVersion: minimcp.io/v1alpha1\nkind: APIKey\nmetadata: {name: k, namespace: "
      "key-ns}\nspec: {type: e2e-echo, value: " +
      secret + "}\n";
  auto r = ctl({"apply", "-f", "-"}, key);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "apikey.minimcp.io/k created\n");
  r = ctl({"apply", "-f", "-"}, key);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "apikey.minimcp.io/k unchanged\n");
  r = ctl({"apply", "-f", "-", "--dry-run=server"}, key);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "apikey.minimcp.io/k unchanged (server dry run)\n");
  r = ctl({"diff", "-f", "-"}, key);
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;  // the same value is no difference
  r = ctl({"get", "ak", "k", "-n", "key-ns", "-o", "yaml"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr(secret)));
  EXPECT_THAT(r.out, Not(HasSubstr("sha256:")));  // not even a digest of it
  // A new value is sent.
  std::string rotated = key;
  rotated.replace(rotated.find(secret), secret.size(), "rotated-value-43");
  r = ctl({"apply", "-f", "-", "--dry-run=server"}, rotated);
  EXPECT_EQ(r.out, "apikey.minimcp.io/k configured (server dry run)\n") << r.err;
  json before = json::parse(ctl({"get", "ak", "k", "-n", "key-ns", "-o", "json"}).out);
  r = ctl({"apply", "-f", "-"}, rotated);
  EXPECT_EQ(r.out, "apikey.minimcp.io/k configured\n") << r.err;
  json after = json::parse(ctl({"get", "ak", "k", "-n", "key-ns", "-o", "json"}).out);
  EXPECT_EQ(after["status"]["version"], before["status"]["version"].get<int>() + 1);
  // The annotation mcpctl records has no trace of the value.
  json applied = json::parse(
      after["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
          .get<std::string>());
  EXPECT_FALSE(applied["spec"].contains("value")) << applied.dump();
}

TEST_F(McpctlTest, WatchPrintsNewObjects) {
  TempDir out;
  std::string outPath = out.path() + "/watch.out";
  int fd = open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  auto r = ctl({"apply", "-f", "-"}, instanceYaml("w1", "watch-ns", "1h"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  pid_t pid = spawnProcess({mcpd_->binDir() + "/mcpctl", "--kubeconfig", mcpd_->kubeconfig(), "get",
                            "mi", "-n", "watch-ns", "-w", "--request-timeout=20s"},
                           -1, fd, fd);
  close(fd);
  // The initial table is printed before the watch starts.
  ASSERT_TRUE(waitUntil([&] { return readFileOr(outPath).find("w1") != std::string::npos; },
                        std::chrono::seconds(10)))
      << readFileOr(outPath);
  r = ctl({"apply", "-f", "-"}, instanceYaml("w2", "watch-ns", "1h"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  bool seen = waitUntil([&] { return readFileOr(outPath).find("w2") != std::string::npos; },
                        std::chrono::seconds(10));
  terminatePid(pid, std::chrono::seconds(5));
  EXPECT_TRUE(seen) << readFileOr(outPath);
  EXPECT_EQ(readFileOr(outPath).rfind("NAME", 0), 0u) << readFileOr(outPath);
}

TEST_F(McpctlTest, ErrorsAndConnectionFlags) {
  auto r = ctl({"get", "pods"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("error: the server doesn't have a resource type \"pods\""));

  auto cfg = mcpd_->connection();
  // A wrong token: 401, and the token is never echoed.
  r = runCommand({mcpd_->binDir() + "/mcpctl", "--kubeconfig", mcpd_->kubeconfig(), "--token",
                  "wrong-token-value", "get", "mi"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("Unauthorized"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("wrong-token-value")));

  // Flags alone, without a kubeconfig: --server + --token + --insecure-skip-tls-verify.
  TempDir home;
  r = runCommand({mcpd_->binDir() + "/mcpctl", "get", "mt", "--server", cfg.server, "--token",
                  cfg.token, "--insecure-skip-tls-verify"},
                 "", std::chrono::seconds(30), {"HOME=" + home.path()});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  // Without the CA the server's certificate is not trusted.
  r = runCommand(
      {mcpd_->binDir() + "/mcpctl", "get", "mt", "--server", cfg.server, "--token", cfg.token}, "",
      std::chrono::seconds(30), {"HOME=" + home.path()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("certificate"));

  // Nothing listens on this port.
  r = runCommand(
      {mcpd_->binDir() + "/mcpctl", "get", "mt", "--server", "https://127.0.0.1:1", "--token", "x"},
      "", std::chrono::seconds(30), {"HOME=" + home.path()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("error: cannot connect to https://127.0.0.1:1"));

  // No configuration at all.
  r = runCommand({mcpd_->binDir() + "/mcpctl", "get", "mt"}, "", std::chrono::seconds(30),
                 {"HOME=" + home.path()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("no configuration found"));
}

TEST_F(McpctlTest, ConfigCommands) {
  TempDir dir;
  std::string path = dir.path() + "/config";
  std::ofstream(path) << readFileOr(mcpd_->kubeconfig());
  auto cfgctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {mcpd_->binDir() + "/mcpctl", "--kubeconfig", path};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv);
  };
  auto r = cfgctl({"config", "current-context"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "minimcp\n");
  r = cfgctl({"config", "view"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("REDACTED"));
  EXPECT_THAT(r.out, Not(HasSubstr(mcpd_->connection().token)));
  r = cfgctl({"config", "set-context", "--current", "--namespace", "cfg-ns"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  r = cfgctl({"config", "get-contexts"});
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\\* +minimcp +minimcp +minimcp +cfg-ns")))
      << r.out;
  // The context's namespace is now the default for requests.
  r = runCommand({mcpd_->binDir() + "/mcpctl", "--kubeconfig", path, "apply", "-f", "-"},
                 "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata: {name: c1}\n"
                 "spec: {type: e2e-echo, suspend: true}\n");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(ctl({"get", "mi", "c1", "-n", "cfg-ns", "-o", "name"}).out,
            "mcpinstance.minimcp.io/c1\n");
  r = cfgctl({"config", "use-context", "nope"});
  EXPECT_EQ(r.exitCode, 1);
}

// mcpctl asks for fieldValidation=Strict, as kubectl does: a mistyped field is an error naming
// it, and nothing is stored.
TEST_F(McpctlTest, UnknownFieldsAreRefusedByName) {
  auto r =
      ctl({"apply", "-f", "-"}, std::string(kTypeYaml) + "---\n" +
                                    instanceYaml("typo", "strict-ns", "1h", "  sspend: true\n"));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("unknown field \"spec.sspend\""));
  EXPECT_EQ(ctl({"get", "mi", "typo", "-n", "strict-ns"}).exitCode, 1);
  // The same on an update: refused, the stored object unchanged.
  r = ctl({"apply", "-f", "-"}, instanceYaml("typo", "strict-ns", "1h"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = ctl({"apply", "-f", "-"}, instanceYaml("typo", "strict-ns", "2h", "  sspend: true\n"));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("unknown field \"spec.sspend\""));
  r = ctl({"get", "mi", "typo", "-n", "strict-ns", "-o", "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["spec"]["ttl"], "1h");
}
}  // namespace
}  // namespace minimcp::testing
