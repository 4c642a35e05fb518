// logs NAME [-f] [--tail N]: an MCPInstance's process output from the server's log endpoint.
#include <signal.h>
#include <unistd.h>

#include <iostream>

#include "api/client/commands.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

struct LogsOptions {
  std::string target;
  bool follow = false;
  int64_t tail = -1;
};

// Ctrl-C is how a follow ends: every line is flushed as it is printed, so there is nothing left
// to write, and _exit is async-signal-safe.
void exitOnInterrupt() {
  struct sigaction sa {};
  sa.sa_handler = [](int) { _exit(0); };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
}

int runLogs(Session& s, const LogsOptions& o) {
  ResourceInfo r = s.resolve("mcpinstances");
  std::string name = o.target;
  if (auto kn = client::splitKindName(o.target)) {
    if (s.resolve(kn->first).name != r.name) {
      throw CommandError("error: logs are only available for mcpinstances, not \"" + kn->first +
                         "\"");
    }
    name = kn->second;
  }
  if (name.empty()) throw CommandError("error: expected NAME or mcpinstance/NAME");
  std::optional<int64_t> tail;
  if (o.tail >= 0) tail = o.tail;
  std::string target = client::logTarget(r.path(s.ns(), name), tail, o.follow);
  if (!o.follow) {
    auto res = s.get(target, "text/plain");
    if (!isSuccess(res)) throw CommandError(serverError(res));
    std::cout << res.body << std::flush;
    return 0;
  }
  // A follow streams straight to stdout, so errors (unknown instance, no permission) are found
  // first with a plain request that returns nothing but the status.
  auto check = s.get(client::logTarget(r.path(s.ns(), name), 0, false), "text/plain");
  if (!isSuccess(check)) throw CommandError(serverError(check));
  exitOnInterrupt();
  int status = s.http().stream("GET", target,
                               [](const std::string& line) {
                                 std::cout << line << std::endl;
                                 return true;
                               },
                               {{"Accept", "text/plain"}});
  if (status < 200 || status >= 300) throw CommandError(serverError({status, {}, ""}));
  return 0;
}

}  // namespace

void registerLogs(CLI::App& app, Session& session, Action& action) {
  auto opts = std::make_shared<LogsOptions>();
  auto* cmd = app.add_subcommand("logs", "Print the output of an MCP instance's process");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("name", opts->target, "NAME or mcpinstance/NAME")->required();
  cmd->add_flag("--follow,-f", opts->follow, "Keep printing new output until Ctrl-C");
  cmd->add_option("--tail", opts->tail, "Lines from the end to show (default: all)");
  cmd->callback(
      [&session, &action, opts] { action = [&session, opts] { return runLogs(session, *opts); }; });
}

}  // namespace minimcp::mcpctl
