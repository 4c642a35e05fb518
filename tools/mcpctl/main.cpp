// mcpctl: the kubectl-like CLI for MiniMCP.
#include <iostream>

#include "tools/mcpctl/mcpctl.h"

int main(int argc, char** argv) {
  using namespace minimcp::mcpctl;
  CLI::App app{"mcpctl controls MiniMCP: declarative MCP server instances.", "mcpctl"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  Session session;
  addCommonFlags(&app, session.flags);
  Action action;
  registerApply(app, session, action);
  registerCreate(app, session, action);
  registerDiff(app, session, action);
  registerGet(app, session, action);
  registerDescribe(app, session, action);
  registerDelete(app, session, action);
  registerWait(app, session, action);
  registerLogs(app, session, action);
  registerToken(app, session, action);
  registerLimits(app, session, action);
  registerEdit(app, session, action);
  registerPatch(app, session, action);
  registerLabel(app, session, action);
  registerAnnotate(app, session, action);
  registerEvents(app, session, action);
  registerExplain(app, session, action);
  registerOAuth2(app, session, action);
  registerTop(app, session, action);
  registerApiResources(app, session, action);
  registerVersion(app, session, action);
  registerConfig(app, session, action);
  registerCompletion(app, session, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return action ? action() : 0;
  } catch (const CommandError& e) {
    std::cout.flush();
    std::cerr << e.what() << "\n";
    return e.exitCode();
  } catch (const std::exception& e) {
    // Connection failures from the HTTP client ("cannot connect to https://…: why").
    std::cout.flush();
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
