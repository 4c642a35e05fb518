// mcpctl's logs, token, create apikey, limits and apply --prune against the real mcpd.
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

constexpr const char* kApi = "/apis/minimcp.io/v1alpha1";

class McpctlAdminTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { mcpd_ = new McpdProcess(); }
  static void TearDownTestSuite() {
    delete mcpd_;
    mcpd_ = nullptr;
  }

  static CommandResult ctl(const std::vector<std::string>& args, const std::string& in = "") {
    return mcpd_->mcpctl(args, in);
  }

  // mcpctl with the admin kubeconfig's server and CA but another token.
  static CommandResult ctlAs(const std::string& token, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {mcpd_->binDir() + "/mcpctl", "--kubeconfig",
                                     mcpd_->kubeconfig(), "--token", token};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv);
  }

  static client::Response api(const std::string& method, const std::string& target,
                              const std::string& body = "") {
    client::HttpClient http(mcpd_->connection());
    return http.request(method, target, body, {{"Content-Type", "application/json"}});
  }

  // Endpoints another engineer adds while this area is written: skip, clearly, until they land.
  static bool served(const std::string& target) { return api("GET", target).status != 404; }

  static McpdProcess* mcpd_;
};

McpdProcess* McpctlAdminTest::mcpd_ = nullptr;

std::string instanceYaml(const std::string& name, const std::string& ns,
                         const std::string& labels = "app: e2e") {
  return "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns + "\n  labels: {" + labels +
         "}\nspec:\n  type: e2e-echo\n  ttl: 1h\n  suspend: true\n";
}

std::string oneLine(const std::string& out) {
  EXPECT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n') << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  return out.empty() ? out : out.substr(0, out.size() - 1);
}

TEST_F(McpctlAdminTest, TokenCreateWorksForItsNamespaceUntilRevoked) {
  if (!served(std::string(kApi) + "/tokens")) GTEST_SKIP() << "the server has no /tokens yet";
  auto r = ctl({"token", "create", "--namespace", "tok-alice", "--name", "e2e-alice"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::string token = oneLine(r.out);
  EXPECT_THAT(r.err, HasSubstr("e2e-alice"));
  EXPECT_THAT(r.err, Not(HasSubstr(token)));

  r = ctl({"apply", "-f", "-"}, instanceYaml("t1", "tok-alice"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = ctlAs(token, {"get", "mi", "-n", "tok-alice", "-o", "name"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/t1\n");
  r = ctlAs(token, {"get", "mi", "-n", "tok-bob"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("Forbidden"));
  // Managing tokens is the admin's.
  r = ctlAs(token, {"token", "list"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("Forbidden"));

  r = ctl({"token", "list"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out.rfind("NAME", 0), 0u) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\ne2e-alice +tok-alice +[0-9]+s\n"))) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr(token)));
  EXPECT_THAT(r.out, HasSubstr("<admin>"));

  r = ctl({"token", "revoke", "e2e-alice"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "token \"e2e-alice\" revoked\n");
  r = ctlAs(token, {"get", "mi", "-n", "tok-alice"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("Unauthorized"));
  r = ctl({"token", "revoke", "e2e-alice"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("NotFound"));

  // An admin token works everywhere; exactly one of --namespace and --admin.
  r = ctl({"token", "create", "--admin", "--name", "e2e-admin"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::string admin = oneLine(r.out);
  EXPECT_EQ(ctlAs(admin, {"get", "mi", "-n", "tok-bob"}).exitCode, 0);
  EXPECT_EQ(ctl({"token", "revoke", "e2e-admin"}).exitCode, 0);
  r = ctl({"token", "create"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("--namespace"));
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(ctl({"token", "create", "--admin", "-n", "x"}).exitCode, 1);
}

TEST_F(McpctlAdminTest, InstanceTokenPrintsAloneAndRotates) {
  auto r = ctl({"apply", "-f", "-"}, instanceYaml("it1", "itok-ns"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto probe = api("GET", std::string(kApi) + "/namespaces/itok-ns/mcpinstances/it1/token");
  // 503 "not configured": the route exists but mcpd does not wire instance tokens in yet.
  if (probe.status == 404 || probe.status == 503) {
    GTEST_SKIP() << "the server does not issue instance tokens yet: " << probe.body;
  }
  r = ctl({"token", "mcpinstance", "it1", "-n", "itok-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::string first = oneLine(r.out);
  EXPECT_EQ(first.rfind("mcpi_", 0), 0u) << first;
  EXPECT_EQ(oneLine(ctl({"token", "mi", "it1", "-n", "itok-ns"}).out), first);  // stable

  r = ctl({"token", "mcpinstance", "it1", "-n", "itok-ns", "--rotate"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::string second = oneLine(r.out);
  EXPECT_NE(second, first);
  EXPECT_EQ(oneLine(ctl({"token", "mcpinstance", "it1", "-n", "itok-ns"}).out), second);
  r = ctl({"get", "mi", "it1", "-n", "itok-ns", "-o", "json"});
  EXPECT_EQ(json::parse(r.out)["spec"]["tokenGeneration"], 1) << r.out;

  r = ctl({"token", "mcpinstance", "nope", "-n", "itok-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("NotFound"));
  EXPECT_EQ(r.out, "");
}

TEST_F(McpctlAdminTest, CreateApiKeyNeverShowsTheValue) {
  const std::string secret = "sk-e2e-from-stdin-0123456789";
  auto r = ctl({"create", "apikey", "k1", "-n", "key-ns", "--type", "e2e-echo", "--from-stdin",
                "--rotation-period", "2160h"},
               secret + "\n");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "apikey.minimcp.io/k1 created\n");

  r = ctl({"get", "apikey", "k1", "-n", "key-ns", "-o", "yaml"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr(secret)));
  EXPECT_THAT(r.out, Not(HasSubstr("value:")));
  EXPECT_THAT(r.out, HasSubstr("hint:"));
  EXPECT_THAT(r.out, HasSubstr("rotationPeriod: 2160h"));
  json key = json::parse(ctl({"get", "ak", "k1", "-n", "key-ns", "-o", "json"}).out);
  // One trailing newline was stripped: the hint ends like the value itself.
  std::string hint = key["status"].value("hint", "");
  EXPECT_FALSE(hint.empty());
  EXPECT_EQ(secret.substr(secret.size() - 4), hint.substr(hint.size() - 4)) << hint;

  r = ctl({"create", "apikey", "k1", "-n", "key-ns", "--type", "e2e-echo", "--from-literal=x"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("Error from server (AlreadyExists)"));

  TempDir dir;
  std::ofstream(dir.path() + "/v") << "file-value-9876\n";
  r = ctl({"create", "ak", "k2", "-n", "key-ns", "--type", "e2e-echo",
           "--from-file=" + dir.path() + "/v"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = ctl({"create", "apikey", "k3", "-n", "key-ns", "--type", "e2e-echo", "--from-literal=abc",
           "--dry-run=server"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "apikey.minimcp.io/k3 created (server dry run)\n");
  EXPECT_EQ(ctl({"get", "ak", "k3", "-n", "key-ns"}).exitCode, 1);

  // Exactly one source; an empty value is refused before anything is sent.
  r = ctl({"create", "apikey", "k4", "-n", "key-ns", "--type", "e2e-echo"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("exactly one of"));
  r = ctl({"create", "apikey", "k4", "-n", "key-ns", "--type", "e2e-echo", "--from-stdin"}, "\n");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("empty"));
}

TEST_F(McpctlAdminTest, LogsTailAndFollow) {
  auto r = ctl({"apply", "-f", "-"}, instanceYaml("l1", "logs-ns"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::string dir = mcpd_->dataDir() + "/logs/logs-ns/l1";
  std::filesystem::create_directories(dir);
  std::string file = dir + "/output.log";
  std::ofstream(file) << "line1\nline2\nline3\n";
  if (!served(std::string(kApi) + "/namespaces/logs-ns/mcpinstances/l1/log")) {
    GTEST_SKIP() << "the server has no log endpoint yet";
  }

  r = ctl({"logs", "l1", "-n", "logs-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "line1\nline2\nline3\n");
  r = ctl({"logs", "mcpinstance/l1", "-n", "logs-ns", "--tail", "1"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "line3\n");
  r = ctl({"logs", "missing", "-n", "logs-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("NotFound"));
  r = ctl({"logs", "mcptype/x", "-n", "logs-ns"});
  EXPECT_EQ(r.exitCode, 1);

  TempDir out;
  std::string outPath = out.path() + "/follow.out";
  int fd = open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  pid_t pid = spawnProcess({mcpd_->binDir() + "/mcpctl", "--kubeconfig", mcpd_->kubeconfig(),
                            "logs", "l1", "-n", "logs-ns", "-f", "--tail", "2"},
                           -1, fd, fd);
  close(fd);
  bool initial =
      waitUntil([&] { return readFileOr(outPath) == "line2\nline3\n"; }, std::chrono::seconds(10));
  std::ofstream(file, std::ios::app) << "line4\n";
  bool followed =
      initial && waitUntil([&] { return readFileOr(outPath).find("line4\n") != std::string::npos; },
                           std::chrono::seconds(10));
  kill(pid, SIGINT);
  int status = waitPid(pid, std::chrono::seconds(10));
  if (status == -1) terminatePid(pid, std::chrono::seconds(1));
  EXPECT_TRUE(initial) << readFileOr(outPath);
  EXPECT_TRUE(followed) << readFileOr(outPath);
  EXPECT_EQ(readFileOr(outPath), "line2\nline3\nline4\n");
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(McpctlAdminTest, LimitsSetAndGet) {
  if (!served(std::string(kApi) + "/limits/lim-ns")) GTEST_SKIP() << "no /limits yet";
  auto r = ctl({"limits", "set", "lim-ns", "--max-instances", "1", "--max-ttl", "2h"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "limits for namespace \"lim-ns\" configured\n");
  r = ctl({"limits", "get", "lim-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\nlim-ns +1 +2h\n"))) << r.out;
  // Setting one keeps the other.
  r = ctl({"limits", "set", "lim-ns", "--max-ttl", "3h"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  json limits = json::parse(ctl({"limits", "get", "lim-ns", "-o", "json"}).out);
  EXPECT_EQ(limits["maxInstances"], 1) << limits.dump();
  EXPECT_EQ(limits["maxTTL"], "3h") << limits.dump();

  // Enforced by the server.
  r = ctl({"apply", "-f", "-"},
          instanceYaml("a", "lim-ns") + "---\n" + instanceYaml("b", "lim-ns"));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/a created"));
  EXPECT_THAT(r.err, HasSubstr("Forbidden"));

  r = ctl({"limits", "set", "lim-ns"});
  EXPECT_EQ(r.exitCode, 1);
  r = ctl({"limits", "set", "lim-ns", "--max-ttl", "forever"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("--max-ttl"));
}

TEST_F(McpctlAdminTest, ApplyPruneDeletesOnlyAppliedObjectsLeftOut) {
  std::string both = instanceYaml("p1", "prune-ns", "set: prune") + "---\n" +
                     instanceYaml("p2", "prune-ns", "set: prune");
  auto r = ctl({"apply", "-f", "-"}, both);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // Created without apply (no last-applied annotation): never pruned.
  json p3 = {
      {"apiVersion", "minimcp.io/v1alpha1"},
      {"kind", "MCPInstance"},
      {"metadata", {{"name", "p3"}, {"namespace", "prune-ns"}, {"labels", {{"set", "prune"}}}}},
      {"spec", {{"type", "e2e-echo"}, {"suspend", true}, {"ttl", "1h"}}}};
  ASSERT_EQ(api("POST", std::string(kApi) + "/namespaces/prune-ns/mcpinstances", p3.dump()).status,
            201);
  // Applied, but outside the selector: never pruned.
  r = ctl({"apply", "-f", "-"}, instanceYaml("p4", "prune-ns", "set: other"));
  ASSERT_EQ(r.exitCode, 0) << r.err;

  r = ctl({"apply", "-f", "-", "--prune"}, instanceYaml("p1", "prune-ns", "set: prune"));
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("--all"));

  r = ctl({"apply", "-f", "-", "--prune", "-l", "set=prune", "--dry-run=server"},
          instanceYaml("p1", "prune-ns", "set: prune"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out,
            "mcpinstance.minimcp.io/p1 unchanged (server dry run)\n"
            "mcpinstance.minimcp.io/p2 pruned (server dry run)\n");
  EXPECT_EQ(ctl({"get", "mi", "p2", "-n", "prune-ns"}).exitCode, 0);

  r = ctl({"apply", "-f", "-", "--prune", "-l", "set=prune"},
          instanceYaml("p1", "prune-ns", "set: prune"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out,
            "mcpinstance.minimcp.io/p1 unchanged\n"
            "mcpinstance.minimcp.io/p2 pruned\n");
  EXPECT_TRUE(waitUntil(
      [&] {
        return ctl({"get", "mi", "p2", "-n", "prune-ns"}).exitCode == 1;
      },
      std::chrono::seconds(20)));
  r = ctl({"get", "mi", "-n", "prune-ns", "-o", "name"});
  EXPECT_EQ(r.out,
            "mcpinstance.minimcp.io/p1\nmcpinstance.minimcp.io/p3\nmcpinstance.minimcp.io/p4\n");
}

}  // namespace
}  // namespace minimcp::testing
