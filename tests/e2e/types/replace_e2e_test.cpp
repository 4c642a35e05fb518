// Issue 14's replacement without downtime, end to end against the real mcpd: a slack instance
// pointed at the recording fake Slack serves an SDK client calling a tool in a loop through the
// gateway (tests/e2e/types/call_loop.mjs) while its APIKey gets a new value and then while its
// spec changes. Not one call fails; afterwards the fake sees only the new key, the instance has
// exactly one process (the new one) and the old one is gone; the events say what happened.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/model/yaml.h"
#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

constexpr const char* kNs = "replace";
constexpr const char* kName = "team-slack";

std::string apiKeyYaml(const std::string& value) {
  return std::string(
             "apiVersion: minimcp.io/v1alpha1\nkind: APIKey\nmetadata: {name: slack-key, "
             "namespace: ") +
         kNs + "}\nspec: {type: slack, value: \"" + value + "\"}\n";
}

std::string instanceYaml(const std::string& endpoint, const std::string& logLevel) {
  return std::string("apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata: {name: ") +
         kName + ", namespace: " + kNs +
         "}\nspec:\n  type: slack\n  ttl: 1h\n  keyRef: {name: slack-key}\n" +
         "  env:\n  - {name: SLACK_API_URL, value: \"" + endpoint + "\"}\n" +
         "  - {name: LOG_LEVEL, value: " + logLevel + "}\n";
}

// The SDK client's loop through the gateway, in the background.
class CallLoop {
 public:
  CallLoop(Cluster& c, const std::string& dir, const std::string& url, const std::string& token,
           const std::string& client)
      : out_(dir + "/loop-" + client + ".out"), stop_(dir + "/loop-" + client + ".stop") {
    const std::string argsPath = dir + "/loop-args.json";
    std::ofstream(argsPath) << R"({"limit": 5})";
    int in = open(argsPath.c_str(), O_RDONLY | O_CLOEXEC);
    int out = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_ = testing::spawnProcess(
        {nodeBinary(), kE2eScripts + "/call_loop.mjs", url, client, "list_channels", stop_}, in,
        out, out, {"NODE_EXTRA_CA_CERTS=" + c.caFile(), "MCP_TOKEN=" + token});
    close(in);
    close(out);
  }
  ~CallLoop() {
    if (pid_ > 0) testing::terminatePid(pid_, 5s);
  }

  // Calls answered so far, and the failed ones' lines.
  int ok() const { return count(true); }
  std::vector<std::string> failures() const {
    std::vector<std::string> out;
    for (const json& line : lines()) {
      if (line.contains("n") && !line.value("ok", false)) out.push_back(line.dump());
    }
    return out;
  }
  // Stops the loop; its last line {"done", "calls", "failures"} (null when it never came).
  json finish() {
    std::ofstream(stop_) << "stop";
    testing::waitPid(pid_, 30s);
    pid_ = -1;
    auto all = lines();
    return !all.empty() && all.back().contains("done") ? all.back() : json();
  }
  std::string output() const { return testing::readFileOr(out_); }

 private:
  std::vector<json> lines() const {
    std::vector<json> out;
    std::istringstream in(testing::readFileOr(out_));
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
  }
  int count(bool ok) const {
    int n = 0;
    for (const json& line : lines()) n += line.contains("n") && line.value("ok", false) == ok;
    return n;
  }

  std::string out_, stop_;
  pid_t pid_ = -1;
};

// The bearer tokens the fake saw on conversations.list (what list_channels sends), in order.
std::vector<std::string> listAuthorizations(FakeUpstream& fake) {
  std::vector<std::string> out;
  for (const json& r : fake.requests()) {
    if (r.value("path", "") == "/api/conversations.list") {
      out.push_back(r["headers"].value("authorization", ""));
    }
  }
  return out;
}

bool hasEvent(Cluster& c, const std::string& uid, const std::string& reason,
              const std::string& text) {
  for (const json& e : c.eventsFor(uid, kNs)) {
    if (e.value("reason", "") == reason && e.value("message", "").find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// The instance converged on one process started with `pred`; no old process is recorded.
bool replaced(const json& mi, const std::function<bool(const json& launchedWith)>& pred) {
  const json status = mi.value("status", json::object());
  return isReady(mi) && !status.contains("previousProcess") &&
         pred(status.value("launchedWith", json::object()));
}

TEST(ReplaceE2E, KeyRotationAndSpecChangeUnderLoadFailNoCallAndLeaveOneProcess) {
  testing::TempDir dir("replace-e2e");
  FakeUpstream fake("slack", dir.path());
  Cluster c;  // after the fake: its clean-up runs first, while the fake still answers
  fake.awaitListening();
  std::ifstream manifest(MINIMCP_SOURCE_DIR "/mcp-servers/slack/mcptype.yaml");
  std::stringstream text;
  text << manifest.rdbuf();
  json type = model::parseYamlDocuments(text.str()).at(0);
  type["spec"]["instanceEnv"] = {"SLACK_API_URL"};
  applyOk(c, type.dump());

  const std::string key1 = "xoxb-old-" + randomHex(8), key2 = "xoxb-new-" + randomHex(8);
  const std::string endpoint = fake.url() + "/api";
  applyOk(c, apiKeyYaml(key1));
  applyOk(c, instanceYaml(endpoint, "info"));
  json mi;
  ASSERT_TRUE(pollUntil(
      [&] {
        mi = c.instance(kName, kNs);
        return !mi.is_null() && isReady(mi);
      },
      40s))
      << mi.dump(2) << c.mcpd().log();
  const std::string uid = uidOf(mi);
  const int oldPid = pidOf(mi);
  const std::string url = mi["status"].value("gatewayURL", "");
  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", kNs}));

  CallLoop loop(c, dir.path(), url, token, "v2-pinned");
  ASSERT_TRUE(pollUntil([&] { return loop.ok() >= 5; }, 30s)) << loop.output();

  // --- a new key value ---------------------------------------------------------------------
  applyOk(c, apiKeyYaml(key2));
  ASSERT_TRUE(pollUntil(
      [&] {
        mi = c.instance(kName, kNs);
        return replaced(mi, [](const json& l) { return l.value("keyVersion", 0) == 2; });
      },
      60s))
      << mi.dump(2) << loop.output();
  const int newPid = pidOf(mi);
  EXPECT_NE(newPid, oldPid);
  EXPECT_TRUE(pollUntil([&] { return !processRunning(oldPid); }, 15s)) << oldPid;
  EXPECT_EQ(pidsWithMcpId(uid), std::vector<int>{newPid});
  EXPECT_EQ(restartsOf(mi), 0);  // a replacement is no restart
  // Calls after the switch reach the fake with the new key only.
  const int afterSwitch = loop.ok();
  ASSERT_TRUE(pollUntil([&] { return loop.ok() >= afterSwitch + 5; }, 30s)) << loop.output();
  std::vector<std::string> seen = listAuthorizations(fake);
  ASSERT_GE(seen.size(), 10u);
  EXPECT_EQ(seen.front(), "Bearer " + key1);
  for (size_t i = seen.size() - 5; i < seen.size(); ++i) EXPECT_EQ(seen[i], "Bearer " + key2);
  EXPECT_TRUE(hasEvent(c, uid, "Replacing", "replacing: key changed (API key version 1 → 2)"));
  EXPECT_TRUE(
      hasEvent(c, uid, "Switched", "switched to new process pid " + std::to_string(newPid)));
  EXPECT_TRUE(hasEvent(c, uid, "OldProcessStopped", "old process pid " + std::to_string(oldPid)));

  // --- a spec change -----------------------------------------------------------------------
  const int64_t generation = mi["metadata"].value("generation", 0);
  applyOk(c, instanceYaml(endpoint, "debug"));
  ASSERT_TRUE(pollUntil(
      [&] {
        mi = c.instance(kName, kNs);
        return replaced(mi, [&](const json& l) { return l.value("generation", 0) > generation; });
      },
      60s))
      << mi.dump(2) << loop.output();
  const int thirdPid = pidOf(mi);
  EXPECT_NE(thirdPid, newPid);
  EXPECT_TRUE(pollUntil([&] { return !processRunning(newPid); }, 15s)) << newPid;
  EXPECT_EQ(pidsWithMcpId(uid), std::vector<int>{thirdPid});
  EXPECT_TRUE(hasEvent(c, uid, "Replacing", "replacing: spec changed"));
  const int afterSpec = loop.ok();
  ASSERT_TRUE(pollUntil([&] { return loop.ok() >= afterSpec + 5; }, 30s)) << loop.output();

  json done = loop.finish();
  ASSERT_FALSE(done.is_null()) << loop.output();
  EXPECT_EQ(done.value("failures", -1), 0) << ::testing::PrintToString(loop.failures());
  EXPECT_GE(done.value("calls", 0), 15);
  // The key never reaches mcpd's log or the events.
  EXPECT_EQ(c.mcpd().log().find(key2), std::string::npos);
  for (const json& e : c.eventsFor(uid, kNs)) {
    EXPECT_EQ(e.dump().find(key2), std::string::npos) << e.dump();
  }
}

}  // namespace
}  // namespace minimcp::e2e
