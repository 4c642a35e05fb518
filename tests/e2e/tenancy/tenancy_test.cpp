// Issue 4's acceptance end to end against the real mcpd: an APIKey's value reaches only the
// instance process that uses it, and the gateway lets a namespace's tokens reach only that
// namespace's instances. The Cluster helper (mcpd + clean-up by pid) is the reconciler e2e one.
#include <dirent.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

constexpr auto kReadyTimeout = 40s;

// A copy of the echo type whose key is decrypted and injected as API_KEY.
constexpr const char* kKeyedTypeYaml = R"(apiVersion: minimcp.io/v1alpha1
kind: MCPType
metadata:
  name: echo-keyed
spec:
  displayName: Echo with a key
  server:
    command: node
    args: ["echo/server.js"]
    transport: streamable-http
  auth:
    type: api-key
    env: API_KEY
  healthCheck:
    path: /health
    periodSeconds: 5
    timeoutSeconds: 2
    failureThreshold: 3
    startupTimeoutSeconds: 15
  stopGracePeriodSeconds: 5
)";

std::string nsInstanceYaml(const std::string& name, const std::string& ns, const std::string& type,
                           const std::string& specExtra = "") {
  return "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns + "\nspec:\n  type: " + type + "\n  ttl: 1h\n" + specExtra;
}

// Waits until alice's (or `ns`'s) instance is Ready; returns it.
json awaitReady(Cluster& c, const std::string& name, const std::string& ns) {
  json mi;
  bool ready = pollUntil(
      [&] {
        mi = c.instance(name, ns);
        return !mi.is_null() && isReady(mi);
      },
      kReadyTimeout);
  EXPECT_TRUE(ready) << mi.dump(2) << "\n" << c.mcpd().log();
  return mi;
}

// Every file under `dir`, read whole (binary).
std::vector<std::pair<std::string, std::string>> filesUnder(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec)) {
      out.emplace_back(it->path().string(), testing::readFileOr(it->path().string()));
    }
  }
  return out;
}

// The cmdline of every process readable now.
std::vector<std::pair<int, std::string>> allCmdlines() {
  std::vector<std::pair<int, std::string>> out;
  DIR* dir = opendir("/proc");
  if (!dir) return out;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    out.emplace_back(static_cast<int>(pid),
                     testing::readFileOr(std::string("/proc/") + e->d_name + "/cmdline"));
  }
  closedir(dir);
  return out;
}

TEST(TenancyE2E, ApiKeyValueReachesOnlyTheInstanceProcess) {
  Cluster c;
  const std::string marker = "leak-marker-" + randomHex(16);
  applyOk(c, kKeyedTypeYaml);
  auto r = c.mcpd().mcpctl(
      {"create", "apikey", "k", "-n", "alice", "--type", "echo-keyed", "--from-stdin"}, marker);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out.find(marker), std::string::npos);
  applyOk(c, nsInstanceYaml("leak", "alice", "echo-keyed", "  keyRef: {name: k}\n"));
  json mi = awaitReady(c, "leak", "alice");
  const int pid = pidOf(mi);
  ASSERT_TRUE(processRunning(pid)) << mi.dump(2);

  // Present where it must be: the instance's environment, as API_KEY.
  EXPECT_EQ(procEnviron(pid)["API_KEY"], marker);

  // Absent from every API response.
  std::vector<std::vector<std::string>> commands = {
      {"get", "apikey", "k", "-n", "alice", "-o", "json"},
      {"get", "apikey", "k", "-n", "alice", "-o", "yaml"},
      {"get", "apikey", "-A", "-o", "wide"},
      {"get", "mi", "leak", "-n", "alice", "-o", "json"},
      {"get", "mi", "leak", "-n", "alice", "-o", "yaml"},
      {"get", "mi", "-A", "-o", "wide"},
      {"describe", "apikey", "k", "-n", "alice"},
      {"describe", "mcpinstance", "leak", "-n", "alice"},
      {"get", "events", "-n", "alice", "-o", "yaml"},
      {"logs", "leak", "-n", "alice"}};
  for (const auto& args : commands) {
    auto out = c.mcpd().mcpctl(args);
    std::string what;
    for (const auto& a : args) what += a + " ";
    EXPECT_EQ(out.exitCode, 0) << what << out.err;
    EXPECT_EQ(out.out.find(marker), std::string::npos) << "leaked by: " << what;
    EXPECT_EQ(out.err.find(marker), std::string::npos) << "leaked by: " << what;
  }
  for (const std::string& target :
       {std::string(kApi) + "/namespaces/alice/apikeys/k", std::string(kApi) + "/apikeys",
        std::string(kApi) + "/namespaces/alice/apikeys", std::string(kApi) + "/mcpinstances",
        std::string(kApi) + "/namespaces/alice/events"}) {
    auto resp = c.api().request("GET", target, "", {}, 10s);
    EXPECT_EQ(resp.status, 200) << target << resp.body;
    EXPECT_EQ(resp.body.find(marker), std::string::npos) << "leaked by GET " << target;
  }
  // A watch stream, read until its initial events have arrived (or 2 s of silence).
  for (const std::string& target : {std::string(kApi) + "/namespaces/alice/apikeys?watch=true",
                                    std::string(kApi) + "/mcpinstances?watch=true"}) {
    std::string streamed;
    client::HttpClient http(c.api().config());
    int status = http.stream(
        "GET", target,
        [&](const std::string& line) {
          streamed += line + "\n";
          return streamed.size() < 4096 && line.find("\"ADDED\"") == std::string::npos;
        },
        {}, 2s);
    EXPECT_EQ(status, 200) << target << streamed;
    EXPECT_NE(streamed.find("ADDED"), std::string::npos) << target << streamed;
    EXPECT_EQ(streamed.find(marker), std::string::npos) << "leaked by watch " << target;
  }

  // Absent from mcpd's log; the audit log records the decryption without the value.
  EXPECT_EQ(c.mcpd().log().find(marker), std::string::npos);
  const std::string audit = testing::readFileOr(c.mcpd().dataDir() + "/audit.log");
  EXPECT_NE(audit.find("\"decrypt\""), std::string::npos) << audit;
  EXPECT_NE(audit.find("\"alice/k\""), std::string::npos) << audit;
  EXPECT_EQ(audit.find(marker), std::string::npos);

  // Absent from every process's argv and every file of the data dir (db, -wal, -shm, logs).
  for (const auto& [p, cmdline] : allCmdlines()) {
    EXPECT_EQ(cmdline.find(marker), std::string::npos) << "in the argv of pid " << p;
  }
  auto files = filesUnder(c.mcpd().dataDir());
  bool sawDb = false;
  for (const auto& [path, content] : files) {
    sawDb = sawDb || path.find("minimcp.db") != std::string::npos;
    EXPECT_EQ(content.find(marker), std::string::npos) << "in " << path;
  }
  EXPECT_TRUE(sawDb) << "no minimcp.db under " << c.mcpd().dataDir();
}

TEST(TenancyE2E, GatewayLetsOnlyTheNamespaceAndTheInstanceTokenIn) {
  Cluster c;
  applyOk(c, nsInstanceYaml("a1", "alice", "echo"));
  applyOk(c, nsInstanceYaml("a2", "alice", "echo"));
  json a1 = awaitReady(c, "a1", "alice");
  awaitReady(c, "a2", "alice");
  const std::string gw = a1["status"].value("gatewayURL", "");
  ASSERT_EQ(gw, c.mcpd().url() + "/mcp/alice/a1");

  const std::string alice = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", "alice"}));
  const std::string bob = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", "bob"}));
  const std::string a1Token =
      tokenLine(c.mcpd().mcpctl({"token", "mcpinstance", "a1", "-n", "alice"}));
  const std::string a2Token =
      tokenLine(c.mcpd().mcpctl({"token", "mcpinstance", "a2", "-n", "alice"}));
  ASSERT_NE(a1Token, a2Token);

  for (const auto& [who, token] : {std::pair{"alice", alice}, std::pair{"a1's token", a1Token}}) {
    auto call = c.mcpCall(gw, token, "echo", R"({"text":"tenant"})");
    EXPECT_EQ(call.exitCode, 0) << who << ": " << call.out << call.err;
    EXPECT_NE(call.out.find("echo → tenant"), std::string::npos) << who << ": " << call.out;
  }
  for (const auto& [who, token] : {std::pair{"bob", bob}, std::pair{"a2's token", a2Token}}) {
    auto call = c.mcpCall(gw, token, "echo", R"({"text":"tenant"})");
    EXPECT_NE(call.exitCode, 0) << who << " reached alice/a1: " << call.out;
    EXPECT_EQ(call.out.find("echo → tenant"), std::string::npos) << who;
  }
  // The raw answer: bob does not even learn that alice/a1 exists.
  client::ConnectionConfig cfg = c.api().config();
  cfg.token = bob;
  client::HttpClient asBob(cfg);
  auto r =
      asBob.request("POST", "/mcp/alice/a1", "{}", {{"Content-Type", "application/json"}}, 10s);
  EXPECT_EQ(r.status, 404) << r.body;
  cfg.token = a2Token;
  client::HttpClient asA2(cfg);
  r = asA2.request("POST", "/mcp/alice/a1", "{}", {{"Content-Type", "application/json"}}, 10s);
  EXPECT_TRUE(r.status == 404 || r.status == 403 || r.status == 401) << r.status << r.body;
}

TEST(TenancyE2E, EverythingServerIsReadyAndListsToolsThroughTheGateway) {
  Cluster c;
  auto types = c.mcpd().mcpctl({"get", "mcptype", "everything", "-o", "name"});
  ASSERT_EQ(types.exitCode, 0) << "the everything MCPType is not loaded: " << types.err;
  applyOk(c, nsInstanceYaml("ev", "alice", "everything"));
  json mi = awaitReady(c, "ev", "alice");
  ASSERT_TRUE(isReady(mi));
  const std::string alice = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", "alice"}));
  auto call =
      c.mcpCall(mi["status"].value("gatewayURL", ""), alice, "echo", R"({"message":"everything"})");
  EXPECT_EQ(call.exitCode, 0) << call.out << call.err;
  EXPECT_NE(call.out.find("tools: "), std::string::npos) << call.out;
  EXPECT_NE(call.out.find("get-sum"), std::string::npos) << call.out;
  EXPECT_NE(call.out.find("everything"), std::string::npos) << call.out;

  // The same tool results directly from the instance (with its own token: the stdio bridge in
  // front of server-everything checks it) as through the gateway: the gateway carries a server
  // nobody here wrote without changing it.
  const std::string directToken =
      tokenLine(c.mcpd().mcpctl({"token", "mcpinstance", "ev", "-n", "alice"}));
  EXPECT_NE(c.mcpCall(mi["status"].value("url", ""), "", "echo", R"({"message":"x"})").exitCode, 0);
  for (const auto& [tool, args] : std::vector<std::pair<std::string, std::string>>{
           {"echo", R"({"message":"same both ways"})"}, {"get-sum", R"({"a":19,"b":23})"}}) {
    auto viaGateway = c.mcpCall(mi["status"].value("gatewayURL", ""), alice, tool, args);
    auto direct = c.mcpCall(mi["status"].value("url", ""), directToken, tool, args);
    ASSERT_EQ(viaGateway.exitCode, 0) << viaGateway.out << viaGateway.err;
    ASSERT_EQ(direct.exitCode, 0) << direct.out << direct.err;
    EXPECT_EQ(viaGateway.out, direct.out) << tool;
  }
}

}  // namespace
}  // namespace minimcp::e2e
