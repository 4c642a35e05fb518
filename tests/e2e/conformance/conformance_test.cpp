// The MCP conformance suite (@modelcontextprotocol/conformance, tests/conformance) against the
// conformance MCPType run by the real mcpd, for both protocol eras (2025-11-25, 2026-07-28):
// directly at the instance's port with the instance token, and through mcpd's gateway with the
// tenant's namespace token. tests/conformance/run.mjs judges the results: every failure on the
// direct run is in tests/conformance/expected-failures.txt, and every scenario that passes
// directly passes through the gateway too.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

constexpr const char* kNs = "conformance";

std::string conformanceYaml(const std::string& name) {
  return "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: " + name +
         "\n  namespace: " + kNs + "\nspec:\n  type: conformance\n  ttl: 1h\n";
}

TEST(ConformanceE2E, BothErasPassDirectlyAndThroughTheGatewayWithinTheBaseline) {
  const std::string runner = MINIMCP_SOURCE_DIR "/tests/conformance/run.mjs";
  ASSERT_TRUE(std::filesystem::exists(MINIMCP_SOURCE_DIR
                                      "/tests/conformance/node_modules/@modelcontextprotocol/"
                                      "conformance/package.json"))
      << "the conformance suite is not installed: run tools/setup.sh";

  Cluster c;
  const std::string tenant = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", kNs}));
  auto applied = c.mcpd().mcpctl({"apply", "-f", "-", "--token", tenant}, conformanceYaml("suite"));
  ASSERT_EQ(applied.exitCode, 0) << applied.out << applied.err;
  json mi;
  ASSERT_TRUE(pollUntil(
      [&] {
        mi = c.instance("suite", kNs);
        return !mi.is_null() && isReady(mi);
      },
      60s))
      << mi.dump(2) << c.mcpd().log();
  const int port = portOf(mi);
  ASSERT_GT(port, 0) << mi.dump(2);
  const std::string gateway = mi["status"].value("gatewayURL", "");
  ASSERT_EQ(gateway, c.mcpd().url() + "/mcp/" + kNs + "/suite");
  const std::string instanceToken =
      tokenLine(c.mcpd().mcpctl({"token", "mcpinstance", "suite", "-n", kNs}));

  testing::TempDir out("conformance-e2e");
  // Tokens through the environment, never argv.
  auto r = testing::runCommand(
      {nodeBinary(), runner, "--out", out.path(),
       "direct=http://127.0.0.1:" + std::to_string(port) + "/mcp", "gateway=" + gateway},
      "", 10min,
      {"NODE_EXTRA_CA_CERTS=" + c.caFile(), "CONFORMANCE_TOKEN_DIRECT=" + instanceToken,
       "CONFORMANCE_TOKEN_GATEWAY=" + tenant});
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  // Shown on success too: the per-era counts, direct and through the gateway.
  std::cout << r.out;
}

}  // namespace
}  // namespace minimcp::e2e
