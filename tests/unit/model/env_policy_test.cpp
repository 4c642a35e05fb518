// The env policy (api/model/env_policy.h) and the config constraints
// (api/model/config_constraints.h) on their own: which names an instance may set, and where a
// constrained config path may resolve, with real symlinks in a temporary directory.
#include "api/model/env_policy.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "api/model/config_constraints.h"
#include "tests/unit/server/fake_kinds.h"

namespace minimcp::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

enum class Verdict { Allowed, Loader, Reserved, NotListed };

Verdict verdict(const std::string& name, const MCPTypeSpec& type) {
  if (loaderEnvReason(name)) return Verdict::Loader;
  if (reservedEnvReason(name, type.auth.env)) return Verdict::Reserved;
  return instanceEnvRefusal(name, type, "slack") ? Verdict::NotListed : Verdict::Allowed;
}

TEST(EnvPolicy, InstanceNamesTable) {
  MCPTypeSpec type;
  type.auth.env = "API_KEY";
  type.instanceEnv = {"SLACK_TEAM", "GREETING"};
  struct Case {
    std::string name;
    Verdict want;
  };
  const std::vector<Case> cases = {
      {"LOG_LEVEL", Verdict::Allowed},
      {"DEBUG", Verdict::Allowed},
      {"SLACK_TEAM", Verdict::Allowed},
      {"GREETING", Verdict::Allowed},
      {"greeting", Verdict::NotListed},  // the allowlist is exact
      {"SLACK_API_URL", Verdict::NotListed},
      {"GITHUB_API_URL", Verdict::NotListed},
      {"PATHS", Verdict::NotListed},
      {"LD_PRELOAD", Verdict::Loader},
      {"LD_LIBRARY_PATH", Verdict::Loader},
      {"LD_AUDIT", Verdict::Loader},
      {"ld_preload", Verdict::Loader},
      {"NODE_OPTIONS", Verdict::Loader},
      {"NODE_PATH", Verdict::Loader},
      {"NODE_EXTRA_CA_CERTS", Verdict::Loader},
      {"NODE_ENV", Verdict::Loader},
      {"PATH", Verdict::Loader},
      {"HOME", Verdict::Loader},
      {"TMPDIR", Verdict::Loader},
      {"BASH_ENV", Verdict::Loader},
      {"ENV", Verdict::Loader},
      {"GCONV_PATH", Verdict::Loader},
      {"LOCPATH", Verdict::Loader},
      {"MALLOC_CHECK_", Verdict::Loader},
      {"GLIBC_TUNABLES", Verdict::Loader},
      {"PYTHONPATH", Verdict::Loader},
      {"PYTHONSTARTUP", Verdict::Loader},
      {"PERL5OPT", Verdict::Loader},
      {"RUBYOPT", Verdict::Loader},
      {"SSL_CERT_FILE", Verdict::Loader},
      {"SSL_CERT_DIR", Verdict::Loader},
      {"OPENSSL_CONF", Verdict::Loader},
      {"UV_THREADPOOL_SIZE", Verdict::Loader},
      {"HTTPS_PROXY", Verdict::Loader},
      {"http_proxy", Verdict::Loader},
      {"JAVA_TOOL_OPTIONS", Verdict::Loader},
      {"PORT", Verdict::Reserved},
      {"MCP_ID", Verdict::Reserved},
      {"MCP_ACCESS_TOKEN", Verdict::Reserved},
      {"MCP_CONFIG", Verdict::Reserved},
      {"MCP_ANYTHING", Verdict::Reserved},
      {"mcp_id", Verdict::Reserved},
      {"API_KEY", Verdict::Reserved},
  };
  for (const auto& c : cases) EXPECT_EQ(verdict(c.name, type), c.want) << c.name;
}

TEST(EnvPolicy, TheAuthVariableIsReservedOnlyWhenTheTypeHasOne) {
  EXPECT_TRUE(reservedEnvReason("API_KEY", "API_KEY"));
  EXPECT_FALSE(reservedEnvReason("API_KEY", ""));
  EXPECT_TRUE(reservedEnvReason("PORT", ""));
}

TEST(EnvPolicy, TheRefusalNamesTheTypeAndWhatItAllows) {
  MCPTypeSpec type;
  type.instanceEnv = {"SLACK_TEAM"};
  auto why = instanceEnvRefusal("SLACK_API_URL", type, "slack");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("MCPType \"slack\""), std::string::npos) << *why;
  EXPECT_NE(why->find("LOG_LEVEL, DEBUG, SLACK_TEAM"), std::string::npos) << *why;
  EXPECT_NE(why->find("spec.instanceEnv"), std::string::npos) << *why;
}

// A directory tree with an instance dir, an allowed root, a place outside both and symlinks.
class ConfigConstraintsTest : public ::testing::Test {
 protected:
  ConfigConstraintsTest() {
    base_ = fs::canonical(dir_.path());
    inst_ = base_ / "instances" / "alice" / "files";
    shared_ = base_ / "shared";
    fs::create_directories(inst_ / "docs");
    fs::create_directories(shared_ / "team");
    fs::create_directories(base_ / "outside");
    fs::create_directory_symlink(base_ / "outside", inst_ / "escape");
    fs::create_directory_symlink("/", shared_ / "slash");
    fs::create_directory_symlink(shared_ / "team", inst_ / "to-shared");
    type_.configConstraints = {{"root", "directory", {shared_.string()}}};
  }

  // The fields of `config` refused with `resolve`, as "field" strings.
  std::vector<std::string> refused(const json& config, const ResolvePath& resolve) {
    std::vector<std::string> out;
    for (const auto& v : checkConfigConstraints(type_, config, inst_, resolve)) {
      out.push_back(v.field);
    }
    return out;
  }

  server::testing::TempDir dir_;
  fs::path base_, inst_, shared_;
  MCPTypeSpec type_;
};

TEST_F(ConfigConstraintsTest, PathsTable) {
  using Fields = std::vector<std::string>;
  struct Case {
    std::string name;
    json root;
    Fields api;     // refused at the API (resolveExisting)
    Fields launch;  // refused at launch (resolveDirectory)
  };
  const std::vector<Case> cases = {
      {"the instance dir", ".", {}, {}},
      {"relative inside", "docs", {}, {}},
      {"relative, not made yet", "later", {}, {"root"}},
      {"absolute inside", (inst_ / "docs").string(), {}, {}},
      {"trailing slash", (inst_ / "docs").string() + "/", {}, {}},
      {"allowed root", shared_.string(), {}, {}},
      {"below the allowed root", (shared_ / "team").string(), {}, {}},
      {"symlink to the allowed root", "to-shared", {}, {}},
      {"host root", "/", {"root"}, {"root"}},
      {"etc", "/etc", {"root"}, {"root"}},
      {"dot-dot out", "../../..", {"root"}, {"root"}},
      {"dot-dot out and back in", "docs/../../files/docs", {}, {}},
      {"dot-dot through the allowed root", shared_.string() + "/../outside", {"root"}, {"root"}},
      {"symlink out of the instance dir", "escape", {"root"}, {"root"}},
      {"below a symlink out", "escape/x", {"root"}, {"root"}},
      {"symlink to / in the allowed root", (shared_ / "slash").string(), {"root"}, {"root"}},
      {"through a symlink to /", (shared_ / "slash" / "etc").string(), {"root"}, {"root"}},
      {"prefix is not a parent", shared_.string() + "-evil", {"root"}, {"root"}},
      {"empty", "", {"root"}, {"root"}},
      {"NUL", std::string("docs") + std::string(1, '\0') + "/../../..", {"root"}, {"root"}},
      {"not a string", 7, {"root"}, {"root"}},
      {"list",
       json::array({"docs", "/", "escape"}),
       {"root[1]", "root[2]"},
       {"root[1]", "root[2]"}},
      {"list with a number", json::array({"docs", 1}), {"root[1]"}, {"root[1]"}},
      {"absent", nullptr, {}, {}},
  };
  for (const auto& c : cases) {
    json config = {{"maxSessions", 8}};
    if (!c.root.is_null()) config["root"] = c.root;
    EXPECT_EQ(refused(config, resolveExisting), c.api) << c.name;
    EXPECT_EQ(refused(config, resolveDirectory), c.launch) << c.name;
  }
}

TEST_F(ConfigConstraintsTest, OnlyTheInstanceDirWithoutAllowedRoots) {
  type_.configConstraints[0].allowedRoots.clear();
  EXPECT_EQ(refused({{"root", shared_.string()}}, resolveExisting),
            std::vector<std::string>{"root"});
  EXPECT_TRUE(refused({{"root", "docs"}}, resolveExisting).empty());
}

TEST_F(ConfigConstraintsTest, ResolvedConfigCarriesTheRealPaths) {
  json resolved;
  auto v = checkConfigConstraints(type_, {{"root", json::array({"to-shared", "."})}, {"n", 1}},
                                  inst_, resolveDirectory, &resolved);
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(resolved,
            json({{"root", json::array({(shared_ / "team").string(), inst_.string()})}, {"n", 1}}));
}

TEST_F(ConfigConstraintsTest, TheMessageSaysWhereTheValueMayPoint) {
  auto v = checkConfigConstraints(type_, {{"root", "/"}}, inst_, resolveExisting);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].value, "/");
  EXPECT_NE(v[0].message.find("the instance's own directory or " + shared_.string()),
            std::string::npos)
      << v[0].message;
  EXPECT_NE(v[0].message.find("symlinks followed"), std::string::npos) << v[0].message;
}

}  // namespace
}  // namespace minimcp::model
