#include "api/client/kubeconfig.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace minimcp::client {
namespace {

namespace fs = std::filesystem;

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kubeconfig-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/sub/config";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_, path_;
};

const char* kPem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

TEST_F(KubeconfigTest, WriteLoadRoundTrip) {
  writeKubeconfig(path_, "minimcp", "https://127.0.0.1:7443", kPem, "s3cret", "alice");
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  ConnectionConfig cfg = loadKubeconfig(path_);
  EXPECT_EQ(cfg.server, "https://127.0.0.1:7443");
  EXPECT_EQ(cfg.caPem, kPem);
  EXPECT_EQ(cfg.token, "s3cret");
  EXPECT_EQ(cfg.ns, "alice");
  EXPECT_FALSE(cfg.insecureSkipVerify);

  // The layout kubectl and k3s use.
  std::ifstream in(path_);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  for (const char* want :
       {"apiVersion: v1", "kind: Config", "clusters:", "certificate-authority-data:", "users:",
        "contexts:", "current-context: minimcp"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
}

TEST_F(KubeconfigTest, RelativeFilesTokenFileAndInsecure) {
  fs::create_directories(dir_ + "/sub");
  std::ofstream(dir_ + "/sub/ca.crt") << kPem;
  std::ofstream(dir_ + "/sub/token") << "tok-from-file\n";
  std::ofstream(path_) << R"(apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: {server: "https://h:1", certificate-authority: ca.crt}
- name: c2
  cluster: {server: "https://h:2", insecure-skip-tls-verify: true}
users:
- name: u1
  user: {tokenFile: token}
contexts:
- name: one
  context: {cluster: c1, user: u1}
- name: two
  context: {cluster: c2, user: u1, namespace: bob}
current-context: one
)";
  ConnectionConfig one = loadKubeconfig(path_);
  EXPECT_EQ(one.server, "https://h:1");
  EXPECT_EQ(one.caPem, kPem);
  EXPECT_EQ(one.token, "tok-from-file");
  EXPECT_EQ(one.ns, "default");
  ConnectionConfig two = loadKubeconfig(path_, "two");
  EXPECT_TRUE(two.insecureSkipVerify);
  EXPECT_EQ(two.ns, "bob");
  EXPECT_THROW(loadKubeconfig(path_, "three"), std::runtime_error);
  EXPECT_THROW(loadKubeconfig(dir_ + "/missing"), std::runtime_error);
}

TEST_F(KubeconfigTest, ContextsEditingAndRedactedView) {
  writeKubeconfig(path_, "minimcp", "https://127.0.0.1:7443", kPem, "s3cret");
  auto contexts = listContexts(path_);
  ASSERT_EQ(contexts.size(), 1u);
  EXPECT_EQ(contexts[0].name, "minimcp");
  EXPECT_EQ(contexts[0].ns, "default");

  setContext(path_, "", "alice");
  EXPECT_EQ(loadKubeconfig(path_).ns, "alice");
  setContext(path_, "other", "bob", "minimcp", "minimcp");
  EXPECT_EQ(listContexts(path_).size(), 2u);
  EXPECT_EQ(currentContext(path_), "minimcp");
  useContext(path_, "other");
  EXPECT_EQ(currentContext(path_), "other");
  EXPECT_EQ(loadKubeconfig(path_).ns, "bob");
  EXPECT_THROW(useContext(path_, "nope"), std::runtime_error);

  std::string view = viewKubeconfig(path_, false);
  EXPECT_EQ(view.find("s3cret"), std::string::npos);
  EXPECT_NE(view.find("REDACTED"), std::string::npos);
  EXPECT_NE(view.find("DATA+OMITTED"), std::string::npos);
  EXPECT_NE(viewKubeconfig(path_, true).find("s3cret"), std::string::npos);
  std::string minified = viewKubeconfig(path_, true, true);
  EXPECT_EQ(minified.find("name: minimcp\n  context"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(DefaultPaths, FollowHomeAndEnv) {
  std::string oldHome = std::getenv("HOME") ? std::getenv("HOME") : "";
  setenv("HOME", "/nonexistent-home", 1);
  unsetenv("MCPCTL_KUBECONFIG");
  EXPECT_EQ(defaultDataDir(), "/nonexistent-home/.local/state/minimcp");
  EXPECT_EQ(defaultKubeconfigPath(), "/nonexistent-home/.local/state/minimcp/admin.kubeconfig");
  setenv("MCPCTL_KUBECONFIG", "/x/config", 1);
  EXPECT_EQ(defaultKubeconfigPath(), "/x/config");
  unsetenv("MCPCTL_KUBECONFIG");
  setenv("HOME", oldHome.c_str(), 1);
}

}  // namespace
}  // namespace minimcp::client
