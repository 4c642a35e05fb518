// README "Connecting MCP clients", run as written against a real mcpd serving alice's echo
// instance: the blocks are read from the README itself. The shell blocks run in bash with HOME
// set so that mcpd's data dir is the default one (~/.local/state/minimcp) and build/bin is this
// build's; the mcp-remote configuration is started the way a desktop client starts it (command,
// args, env: tests/e2e/clients/stdio_client.mjs, the SDK's StdioClientTransport), with the
// example URL, token and CA path replaced by this mcpd's.
// The OpenID Connect sign-in block runs too, with the test provider (tests/e2e/oidc/idp.mjs) and
// an mcpd it starts itself, on free ports instead of the example ones.
// And the acceptance case of a wrong token: mcp-remote, with no authorization server
// configured, exits with an error within 30 s instead of waiting for a sign-in.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "api/client/http_client.h"
#include "tests/e2e/cli/mcpd_process.h"

namespace minimcp {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CommandResult;
using testing::McpdProcess;
using testing::runCommand;

const std::string kSourceDir = MINIMCP_SOURCE_DIR;

// The fenced blocks of README's "## Connecting MCP clients" section, in order, with their
// language ("sh", "json").
std::vector<std::pair<std::string, std::string>> readmeBlocks() {
  const std::string readme = testing::readFileOr(kSourceDir + "/README.md");
  const auto start = readme.find("\n## Connecting MCP clients\n");
  if (start == std::string::npos) throw std::runtime_error("README has no Connecting MCP clients");
  const auto end = readme.find("\n## ", start + 1);
  const std::string section = readme.substr(start, end - start);
  std::vector<std::pair<std::string, std::string>> blocks;
  static const std::regex fence("\n```([a-z]+)\n([\\s\\S]*?)\n```\n");
  for (std::sregex_iterator it(section.begin(), section.end(), fence), last; it != last; ++it) {
    blocks.emplace_back((*it)[1], (*it)[2]);
  }
  return blocks;
}

void replaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

struct Env {
  testing::TempDir tmp{"minimcp-clients"};
  std::string home, work;
  std::unique_ptr<McpdProcess> mcpd;
  std::string aliceToken, url, caFile;

  Env() {
    home = tmp.path() + "/home";
    work = tmp.path() + "/work";
    // The instance runs as a uid of its own: it must be able to reach its dir in the data dir.
    for (const auto& d : {home + "/.local/state", work + "/build"}) fs::create_directories(d);
    for (const auto& d : {tmp.path(), home, home + "/.local", home + "/.local/state"}) {
      ::chmod(d.c_str(), 0755);
    }
    fs::create_symlink(MINIMCP_BIN_DIR, work + "/build/bin");
    McpdProcess::Options o;
    o.dataDir = home + "/.local/state/minimcp";
    o.extraArgs = {"--mcp-servers-dir", kSourceDir + "/mcp-servers"};
    mcpd = std::make_unique<McpdProcess>(o);
    caFile = o.dataDir + "/tls/ca.crt";
    client::HttpClient admin(mcpd->connection());
    auto token = admin.request("POST", "/apis/minimcp.io/v1alpha1/tokens",
                               R"({"namespace":"alice"})", {{"Content-Type", "application/json"}});
    if (token.status != 201) throw std::runtime_error("token: " + token.body);
    aliceToken = json::parse(token.body)["token"];
    json instance = {{"apiVersion", "minimcp.io/v1alpha1"},
                     {"kind", "MCPInstance"},
                     {"metadata", {{"name", "echo"}, {"namespace", "alice"}}},
                     {"spec", {{"type", "echo"}, {"ttl", "1h"}}}};
    const std::string path = "/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances";
    auto created =
        admin.request("POST", path, instance.dump(), {{"Content-Type", "application/json"}});
    if (created.status != 201) throw std::runtime_error("instance: " + created.body);
    json last;
    bool ready = testing::waitUntil(
        [&] {
          auto r = admin.request("GET", path + "/echo", "", {});
          last = json::parse(r.body, nullptr, false);
          if (!last.is_object()) return false;
          for (const auto& c : last["status"].value("conditions", json::array())) {
            if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
          }
          return false;
        },
        std::chrono::seconds(90));
    if (!ready) throw std::runtime_error("echo not Ready: " + last.dump() + "\n" + mcpd->log());
    url = last["status"].value("gatewayURL", "");
  }

  // `script` in bash, in the work dir (build/bin is this build's), as a user whose HOME holds
  // mcpd's data dir.
  CommandResult bash(const std::string& script) const {
    return runCommand({"/bin/bash", "-c", "set -euo pipefail\ncd " + work + "\n" + script}, "",
                      std::chrono::seconds(60), {"HOME=" + home, "MCPCTL_KUBECONFIG="});
  }

  // README's mcp-remote configuration with this mcpd's URL, `token` and CA file, started by a
  // stdio client; its one line of output.
  json mcpRemote(const std::string& token) const {
    std::string config;
    for (const auto& [lang, body] : readmeBlocks()) {
      if (lang == "json" && body.find("mcp-remote") != std::string::npos) config = body;
    }
    if (config.empty()) throw std::runtime_error("README has no mcp-remote configuration");
    replaceAll(config, "https://127.0.0.1:7443/mcp/alice/echo", url);
    replaceAll(config, "Bearer TOKEN", "Bearer " + token);
    replaceAll(config, "/home/me/.local/state/minimcp/tls/ca.crt", caFile);
    const std::string file = tmp.path() + "/client-config.json";
    std::ofstream(file) << config;
    ::chmod(file.c_str(), 0600);
    // In the repository's mcp-servers, npx finds the pinned mcp-remote without a download.
    CommandResult r = runCommand(
        {nodeBinary(), kSourceDir + "/tests/e2e/clients/stdio_client.mjs", file, "alice-echo"}, "",
        std::chrono::seconds(90), {"HOME=" + home, "CLIENT_CWD=" + kSourceDir + "/mcp-servers"});
    auto nl = r.out.find('\n');
    if (nl == std::string::npos) return {{"ok", false}, {"error", "no output: " + r.err}};
    return json::parse(r.out.substr(0, nl), nullptr, false);
  }

  static std::string nodeBinary() {
    for (const char* dir : {"/usr/local/bin", "/usr/bin", "/bin"}) {
      std::string p = std::string(dir) + "/node";
      if (::access(p.c_str(), X_OK) == 0) return p;
    }
    throw std::runtime_error("node not found");
  }
};

Env* env = nullptr;

class ConnectingClients : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { env = new Env(); }
  static void TearDownTestSuite() {
    delete env;
    env = nullptr;
  }
};

TEST_F(ConnectingClients, TheReadmeHasTheBlocksThisTestRuns) {
  auto blocks = readmeBlocks();
  ASSERT_GE(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].first, "sh");
  EXPECT_NE(blocks[0].second.find("TOKEN="), std::string::npos);
  EXPECT_EQ(blocks[1].first, "sh");
  EXPECT_NE(blocks[1].second.find("curl"), std::string::npos);
  EXPECT_EQ(blocks[2].first, "json");
  EXPECT_EQ(env->url, env->mcpd->url() + "/mcp/alice/echo");
}

TEST_F(ConnectingClients, DirectHttpWithAHeader) {
  auto blocks = readmeBlocks();
  ASSERT_GE(blocks.size(), 2u);
  auto r = env->bash(blocks[0].second + "\n" + blocks[1].second);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  // The initialize result, as an SSE event or plain JSON.
  EXPECT_NE(r.out.find(R"("serverInfo":{"name":"echo")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"("id":1)"), std::string::npos) << r.out;
}

TEST_F(ConnectingClients, McpRemoteWithAHeaderCallsATool) {
  auto out = env->mcpRemote(env->aliceToken);
  ASSERT_TRUE(out.value("ok", false)) << out.dump();
  EXPECT_EQ(out["echo"], "hello through mcp-remote");
  EXPECT_NE(std::find(out["tools"].begin(), out["tools"].end(), "echo"), out["tools"].end());
}

// No authorization server is configured (no --oidc-issuer): every discovery path answers 404,
// so mcp-remote cannot start a sign-in and gives up.
TEST_F(ConnectingClients, McpRemoteWithAWrongTokenExitsWithAnErrorWithin30s) {
  auto out = env->mcpRemote("wrong");
  EXPECT_FALSE(out.value("ok", true)) << out.dump();
  EXPECT_TRUE(out.value("closed", false)) << "mcp-remote still ran: " << out.dump();
  EXPECT_LT(out.value("elapsedMs", 1e9), 30000) << out.dump();
  const std::string stderrText = out.value("stderr", "");
  EXPECT_EQ(stderrText.find("Waiting for authorization"), std::string::npos) << stderrText;
  EXPECT_NE(stderrText.find("404"), std::string::npos) << stderrText;
}

// A port nothing listens on now, for a block that names its ports.
int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// README's sign-in block as written, but for its ports (9443, 7443) and /tmp paths, which become
// free ports and this test's dir: it starts the test provider and an mcpd of its own (in a HOME of
// its own, so the default data dir is not the suite's mcpd's), creates alice's echo instance,
// signs in and calls echo. Both background processes stop when the block ends, and so does
// the instance process that mcpd started.
TEST_F(ConnectingClients, SigningInThroughOpenIdConnect) {
  std::string block;
  for (const auto& [lang, body] : readmeBlocks()) {
    if (lang == "sh" && body.find("--oidc-issuer") != std::string::npos) block = body;
  }
  ASSERT_FALSE(block.empty()) << "README has no OpenID Connect sign-in block";
  testing::TempDir tmp("minimcp-oidc-readme");
  const std::string home = tmp.path() + "/home", work = tmp.path() + "/work";
  fs::create_directories(home + "/.local/state");
  fs::create_directories(work + "/build");
  for (const auto& d : {tmp.path(), home, home + "/.local", home + "/.local/state"}) {
    ::chmod(d.c_str(), 0755);
  }
  fs::create_symlink(MINIMCP_BIN_DIR, work + "/build/bin");
  fs::create_symlink(kSourceDir + "/tests", work + "/tests");
  fs::create_symlink(kSourceDir + "/mcp-servers", work + "/mcp-servers");
  const std::string idpPort = std::to_string(freePort());
  std::string mcpdPort;
  do {
    mcpdPort = std::to_string(freePort());
  } while (mcpdPort == idpPort);
  replaceAll(block, "9443", idpPort);
  replaceAll(block, "7443", mcpdPort);
  replaceAll(block, "/tmp/", tmp.path() + "/");
  replaceAll(block, "build/bin/mcpd ", "build/bin/mcpd --listen 127.0.0.1:" + mcpdPort + " ");
  CommandResult r =
      runCommand({"/bin/bash", "-c",
                  "set -euo pipefail\ncd " + work +
                      "\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + block},
                 "", std::chrono::seconds(150), {"HOME=" + home, "MCPCTL_KUBECONFIG="});
  testing::killProcessesIn(home + "/.local/state/minimcp/instances/");
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(R"("isError":false)"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find(R"("text":"hi")"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find(R"("aud":"https://127.0.0.1:)" + mcpdPort + R"(/mcp/alice/echo")"),
            std::string::npos)
      << r.out << r.err;
}

}  // namespace
}  // namespace minimcp
