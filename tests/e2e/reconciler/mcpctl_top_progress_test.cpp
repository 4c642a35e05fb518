// mcpctl top mcpinstances and the progress of apply --wait and wait, against a real mcpd with
// running instances.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string suspendedYaml(const std::string& name) {
  return instanceYaml(name, "  suspend: true\n");
}

// status.usage follows the runtime's first sample of the process, even when the first health
// check answers before it (then a second write carries it).
TEST(McpctlE2E, TopShowsCpuAndMemoryOfRunningInstancesOfTheNamespacesACallerMaySee) {
  Cluster c;
  applyOk(c, instanceYaml("busy"));
  applyOk(c, suspendedYaml("asleep"));
  ASSERT_TRUE(c.await(
      "busy",
      [](const json& m) {
        return isReady(m) && m["status"].value("usage", json::object()).contains("memoryBytes");
      },
      30s))
      << c.lastSeen();

  auto top = c.mcpd().mcpctl({"top", "mcpinstances", "-n", "default"});
  ASSERT_EQ(top.exitCode, 0) << top.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      top.out, m,
      std::regex(R"(^NAME +CPU\(cores\) +MEMORY\(bytes\)\nbusy +([0-9]+)m +([0-9]+)Mi\n$)")))
      << top.out;
  EXPECT_GE(std::stoi(m[2]), 5) << "a node process holds more than 5 MiB: " << top.out;
  EXPECT_THAT(top.out, Not(HasSubstr("asleep")));  // no process, no usage

  auto all = c.mcpd().mcpctl({"top", "mi", "-A", "--no-headers", "--sort-by", "memory"});
  ASSERT_EQ(all.exitCode, 0) << all.err;
  EXPECT_TRUE(std::regex_match(all.out, std::regex(R"(default +busy +[0-9]+m +[0-9]+Mi\n)")))
      << all.out;
  auto one = c.mcpd().mcpctl({"top", "mcpinstance", "asleep", "-n", "default"});
  EXPECT_EQ(one.exitCode, 1);
  EXPECT_THAT(one.err, HasSubstr("metrics not available yet for mcpinstance default/asleep"));

  // A tenant of another namespace sees its own (none), and nothing of default.
  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", "bob"}));
  const std::vector<std::string> asBob = {"--server", c.mcpd().url(), "--certificate-authority",
                                          c.caFile(), "--token",      token};
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {MINIMCP_BIN_DIR "/mcpctl"};
    argv.insert(argv.end(), asBob.begin(), asBob.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::runCommand(argv, "", 30s, {"KUBECONFIG=/nonexistent"});
  };
  auto own = run({"top", "mcpinstances", "-n", "bob"});
  EXPECT_EQ(own.exitCode, 0) << own.err;
  EXPECT_THAT(own.err, HasSubstr("No resources found in bob namespace."));
  auto other = run({"top", "mcpinstances", "-n", "default"});
  EXPECT_EQ(other.exitCode, 1);
  EXPECT_THAT(other.out + other.err, Not(HasSubstr("busy")));
}

TEST(McpctlE2E, ApplyWaitShowsPlainProgressLinesWhenNotOnATerminal) {
  Cluster c;
  auto r = c.mcpd().mcpctl(
      {"apply", "--wait", "--timeout", "90s", "-f", "-"},
      instanceYaml("first") + "---\n" + instanceYaml("second") + "---\n" + suspendedYaml("parked"),
      120s);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/first created\n"));
  // stdout stays what scripts parse; the progress is on stderr, one line per change.
  EXPECT_THAT(r.out, Not(HasSubstr("ready")));
  EXPECT_THAT(r.err, HasSubstr("[1/2 ready] mcpinstance.minimcp.io/first: ready\n")) << r.err;
  EXPECT_THAT(r.err, HasSubstr("[2/2 ready] mcpinstance.minimcp.io/second: ready\n")) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("parked")));  // suspended: nothing to wait for
  EXPECT_EQ(r.err.find('\r'), std::string::npos);
  EXPECT_TRUE(isReady(c.instance("first")));
  EXPECT_TRUE(isReady(c.instance("second")));

  // A timeout: exit 1, named like kubectl wait's.
  auto slow = c.mcpd().mcpctl({"apply", "--wait", "--timeout", "1ms", "-f", "-"},
                              instanceYaml("third"), 60s);
  EXPECT_EQ(slow.exitCode, 1) << slow.out << slow.err;
  EXPECT_THAT(slow.err, HasSubstr("timed out waiting for the condition on mcpinstances/third"));
}

TEST(McpctlE2E, WaitDrawsABarOnATerminal) {
  Cluster c;
  applyOk(c, instanceYaml("tty-a") + "---\n" + instanceYaml("tty-b"));
  // script(1) gives mcpctl a pseudo-terminal for stdout and stderr.
  const std::string cmd = std::string(MINIMCP_BIN_DIR) + "/mcpctl --kubeconfig '" +
                          c.mcpd().kubeconfig() +
                          "' wait --for=condition=Ready --timeout 90s mcpinstance tty-a tty-b -n "
                          "default";
  auto r = testing::runCommand({"/usr/bin/script", "-qfec", cmd, "/dev/null"}, "", 120s);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("\r[############............] 1/2 condition met")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\r[########################] 2/2 condition met")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/tty-b condition met\r\n")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\x1b[K"));
}

}  // namespace
}  // namespace minimcp::e2e
