// The launch applies the env policy and the config constraints again (the type may have changed
// since the instance was written, a symlink may have been planted since): what is not allowed
// is not passed and says so, a config path out of bounds fails the launch with a clear
// condition, and the command is looked up on mcpd's PATH, never the child's.
#include "reconciler/launch_env.h"

#include <sys/stat.h>

#include <fstream>

#include "reconciler/controller.h"
#include "tests/unit/controller/controller_fixture.h"

namespace minimcp::test {
namespace {

namespace fs = std::filesystem;
using reconciler::LaunchEnvError;

std::map<std::string, std::string> envOf(const runtime::LaunchSpec& spec) {
  return {spec.env.begin(), spec.env.end()};
}

class LaunchEnvTest : public ::testing::Test {
 protected:
  LaunchEnvTest() {
    type_.server.command = "sh";
    type_.auth.type = "api-key";
    type_.auth.env = "API_KEY";
    type_.instanceEnv = {"GREETING"};
    inst_.type = "greeter";
    ctx_.key = "alice/inbox";
    ctx_.uid = "u1";
    ctx_.port = 41000;
    ctx_.accessToken = "mcpi_token";
    ctx_.apiKey = "the-key";
    ctx_.dataDir = dir_.path();
    ctx_.mcpServersDir = dir_.path();
  }
  fs::path instDir() const { return reconciler::instanceDir(dir_.path(), "alice", "inbox"); }

  TempDir dir_;
  model::MCPTypeSpec type_;
  model::MCPInstanceSpec inst_;
  reconciler::LaunchContext ctx_;
};

TEST_F(LaunchEnvTest, InstanceEnvPassesOnlyWhatThePolicyAllowsAndSaysWhatItDropped) {
  inst_.env = {{"LOG_LEVEL", "debug"},
               {"DEBUG", "mcp:*"},
               {"GREETING", "hi"},
               {"NODE_OPTIONS", "--import=data:text/javascript,evil"},
               {"LD_PRELOAD", "/tmp/evil.so"},
               {"PATH", "/tmp/evil"},
               {"HOME", "/"},
               {"PORT", "1"},
               {"MCP_ACCESS_TOKEN", "forged"},
               {"API_KEY", "forged"},
               {"SLACK_API_URL", "http://127.0.0.1:22"}};
  std::vector<std::string> warnings;
  auto spec = reconciler::buildLaunchSpec(type_, inst_, ctx_, &warnings);
  auto env = envOf(spec);
  EXPECT_EQ(env["LOG_LEVEL"], "debug");
  EXPECT_EQ(env["DEBUG"], "mcp:*");
  EXPECT_EQ(env["GREETING"], "hi");
  EXPECT_EQ(env.count("NODE_OPTIONS"), 0u);
  EXPECT_EQ(env.count("LD_PRELOAD"), 0u);
  EXPECT_EQ(env.count("SLACK_API_URL"), 0u);
  EXPECT_EQ(env["PATH"], reconciler::kInstancePath);
  EXPECT_EQ(env["HOME"], instDir().string());
  EXPECT_EQ(env["PORT"], "41000");
  EXPECT_EQ(env["MCP_ACCESS_TOKEN"], "mcpi_token");
  EXPECT_EQ(env["API_KEY"], "the-key");
  ASSERT_EQ(warnings.size(), 8u);
  const char* dropped[] = {"NODE_OPTIONS", "LD_PRELOAD",       "PATH",    "HOME",
                           "PORT",         "MCP_ACCESS_TOKEN", "API_KEY", "SLACK_API_URL"};
  for (size_t i = 0; i < warnings.size(); ++i) {
    EXPECT_EQ(warnings[i].rfind(std::string("spec.env ") + dropped[i] + " is not passed: ", 0), 0u)
        << warnings[i];
    EXPECT_EQ(warnings[i].find("forged"), std::string::npos) << "values are never shown";
  }
  EXPECT_NE(warnings.back().find("MCPType \"greeter\""), std::string::npos) << warnings.back();
}

TEST_F(LaunchEnvTest, TheTypesEnvMaySetAnythingButTheReservedNames) {
  type_.env = {{"PATH", "/opt/tool/bin:/usr/bin:/bin"},
               {"NODE_OPTIONS", "--max-old-space-size=64"},
               {"PORT", "1"},
               {"MCP_ID", "other"}};
  std::vector<std::string> warnings;
  auto env = envOf(reconciler::buildLaunchSpec(type_, inst_, ctx_, &warnings));
  EXPECT_EQ(env["PATH"], "/opt/tool/bin:/usr/bin:/bin");
  EXPECT_EQ(env["NODE_OPTIONS"], "--max-old-space-size=64");
  EXPECT_EQ(env["PORT"], "41000");
  EXPECT_EQ(env["MCP_ID"], "u1");
  EXPECT_EQ(warnings.size(), 2u);
}

TEST_F(LaunchEnvTest, TheCommandIsLookedUpOnMcpdsPathNeverTheChilds) {
  // A "sh" and a command of its own in a directory the child's PATH names first.
  const fs::path bin = dir_.path() / "bin";
  fs::create_directories(bin);
  for (const char* name : {"sh", "only-here"}) {
    std::ofstream(bin / name) << "#!/bin/sh\n";
    fs::permissions(bin / name, fs::perms::owner_all);
  }
  type_.env = {{"PATH", bin.string() + ":/usr/bin:/bin"}};
  auto spec = reconciler::buildLaunchSpec(type_, inst_, ctx_);
  EXPECT_EQ(spec.command,
            reconciler::resolveCommand("sh", reconciler::kInstancePath, ctx_.mcpServersDir));
  EXPECT_NE(spec.command, (bin / "sh").string());
  type_.server.command = "only-here";
  EXPECT_THROW(reconciler::buildLaunchSpec(type_, inst_, ctx_), LaunchEnvError);
}

TEST_F(LaunchEnvTest, AConfigPathOutsideTheConstraintFailsTheLaunch) {
  type_.configConstraints = {{"root", "directory", {}}};
  fs::create_directories(instDir() / "docs");
  fs::create_directories(dir_.path() / "outside");
  fs::create_directory_symlink(dir_.path() / "outside", instDir() / "planted");

  inst_.config = {{"root", "docs"}};
  auto env = envOf(reconciler::buildLaunchSpec(type_, inst_, ctx_));
  EXPECT_EQ(nlohmann::json::parse(env["MCP_CONFIG"])["root"],
            fs::canonical(instDir() / "docs").string())
      << "the server gets the path that was checked";

  for (const char* root : {"/", "planted", "../..", "missing"}) {
    inst_.config = {{"root", root}};
    try {
      reconciler::buildLaunchSpec(type_, inst_, ctx_);
      ADD_FAILURE() << root << " was launched";
    } catch (const LaunchEnvError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("config.root \"" + std::string(root) + "\": ", 0), 0u)
          << e.what();
    }
  }
  // The type's own value is checked too: it is what the server gets when the instance sets none.
  inst_.config = nlohmann::json::object();
  type_.config = {{"root", "/etc"}};
  EXPECT_THROW(reconciler::buildLaunchSpec(type_, inst_, ctx_), LaunchEnvError);
}

TEST_F(ControllerTest, EnvTheTypeNoLongerAllowsIsNotPassedAndAWarningSaysSo) {
  json spec = {{"server", {{"command", "sh"}, {"args", {"echo/server.js"}}}},
               {"instanceEnv", {"GREETING"}}};
  createType(spec);
  createInstance(
      "inbox",
      {{"env",
        {{{"name", "GREETING"}, {"value", "hi"}}, {{"name", "LOG_LEVEL"}, {"value", "debug"}}}}});
  // The admin narrows the type after the instance was written.
  json type = *store_->get("mcptypes", "", "echo");
  type["spec"].erase("instanceEnv");
  store_->update("mcptypes", type, 0);

  auto c = makeController();
  ASSERT_TRUE(
      reconcileUntil(*c, "alice/inbox", [&] { return !table_.launches("alice/inbox").empty(); }));
  auto env = envOf(table_.launches("alice/inbox")[0]);
  EXPECT_EQ(env.count("GREETING"), 0u);
  EXPECT_EQ(env["LOG_LEVEL"], "debug");
  auto warnings = eventsWithReason("EnvNotPassed");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0]["type"], "Warning");
  EXPECT_NE(warnings[0].value("message", "").find("GREETING"), std::string::npos)
      << warnings[0].dump();
}

TEST_F(ControllerTest, ASymlinkPlantedAfterTheWriteFailsTheLaunchWithAClearCondition) {
  json spec = {{"server", {{"command", "sh"}, {"args", {"echo/server.js"}}}},
               {"configConstraints", {{{"field", "root"}}}}};
  createType(spec);
  const fs::path dir = reconciler::instanceDir(dir_.path() / "data", "alice", "inbox");
  fs::create_directories(dir);
  fs::create_directory_symlink("/", dir / "docs");  // planted where the API saw nothing
  createInstance("inbox", {{"config", {{"root", "docs"}}}});

  auto c = makeController();
  ASSERT_TRUE(reconcileUntil(
      *c, "alice/inbox", [&] { return condition("inbox", "Ready", "reason") == "SpawnFailed"; }));
  EXPECT_TRUE(table_.launches("alice/inbox").empty());
  EXPECT_EQ(condition("inbox", "Ready"), "False");
  EXPECT_EQ(condition("inbox", "Stalled"), "True");  // kstatus: Failed
  EXPECT_EQ(condition("inbox", "Stalled", "reason"), "SpawnFailed");
  const std::string message = condition("inbox", "Ready", "message");
  EXPECT_EQ(message.rfind("config.root \"docs\": must resolve, symlinks followed, inside the "
                          "instance's own directory",
                          0),
            0u)
      << message;
}

}  // namespace
}  // namespace minimcp::test
