#include "reconciler/runtime/sandbox.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace minimcp::runtime {
namespace {

// Whether `seq` appears in `args` as consecutive elements.
bool hasRun(const std::vector<std::string>& args, const std::vector<std::string>& seq) {
  return std::search(args.begin(), args.end(), seq.begin(), seq.end()) != args.end();
}

TEST(BwrapArgs, CodeDirsAreBoundBackReadOnlyAfterThePrivateTmp) {
  // A checkout under /tmp: the server's code must stay visible through the private /tmp.
  const std::string dir = "/tmp/data/instances/ns/name", code = "/tmp/checkout/mcp-servers";
  const auto args = bwrapArgs(dir, "/usr/bin/node", {code + "/echo/server.js"}, {code});
  auto at = [&](const std::vector<std::string>& seq) {
    return std::search(args.begin(), args.end(), seq.begin(), seq.end()) - args.begin();
  };
  ASSERT_TRUE(hasRun(args, {"--ro-bind", code, code}));
  EXPECT_LT(at({"--tmpfs", "/tmp"}), at({"--ro-bind", code, code}));
  EXPECT_LT(at({"--tmpfs", "/tmp"}), at({"--bind", dir, dir}));
  EXPECT_EQ(std::count(args.begin(), args.end(), "--bind"), 1);
}

TEST(BwrapArgs, ReadOnlyHostPrivateTmpAndProcOwnDirWritableAtTheSamePath) {
  const std::string dir = "/data/instances/ns/name";
  const auto args = bwrapArgs(dir, "/usr/bin/node", {"/srv/echo/server.js", "--flag"});
  const std::vector<std::vector<std::string>> required = {
      {"--ro-bind", "/", "/"},
      {"--proc", "/proc"},
      {"--tmpfs", "/tmp"},
      {"--dev", "/dev"},
      {"--bind", dir, dir},
      {"--unshare-pid"},
      {"--die-with-parent"},
      {"--chdir", dir},
      // The command last, with SIGTERM back to the default, then its own arguments unchanged.
      {"--", "/usr/bin/env", "--default-signal=TERM", "/usr/bin/node", "/srv/echo/server.js",
       "--flag"},
  };
  for (const auto& seq : required) EXPECT_TRUE(hasRun(args, seq)) << seq.front();
  EXPECT_EQ(args.back(), "--flag");
  // The server listens on the host's loopback: the network is not unshared. It stays in the
  // process group stop() signals: no new session.
  for (const char* forbidden : {"--unshare-net", "--unshare-all", "--new-session"}) {
    EXPECT_EQ(std::find(args.begin(), args.end(), forbidden), args.end()) << forbidden;
  }
  // Only its own dir is bound writable.
  EXPECT_EQ(std::count(args.begin(), args.end(), "--bind"), 1);
}

}  // namespace
}  // namespace minimcp::runtime
