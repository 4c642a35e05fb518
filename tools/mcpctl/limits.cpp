// limits set|get NS: a namespace's limits (max instances, max TTL); admin only on the server.
#include <iostream>

#include "api/client/commands.h"
#include "api/client/table.h"
#include "api/util/clock.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

std::string limitsPath(const std::string& ns) {
  return std::string(kGroupVersionPath) + "/limits/" + client::urlEncode(ns);
}

struct SetLimitsOptions {
  std::string ns;
  std::optional<int64_t> maxInstances;
  std::optional<std::string> maxTTL;
};

int runSetLimits(Session& s, const SetLimitsOptions& o) {
  if (!o.maxInstances && !o.maxTTL) {
    throw CommandError("error: give at least one of --max-instances and --max-ttl");
  }
  if (o.maxInstances && *o.maxInstances < 0) {
    throw CommandError("error: --max-instances must not be negative");
  }
  if (o.maxTTL && !parseDuration(*o.maxTTL)) {
    throw CommandError("error: invalid value \"" + *o.maxTTL +
                       "\" for --max-ttl: want a duration such as 30m, 48h or 1h30m");
  }
  // PUT replaces all limits: start from the current ones so that setting one keeps the other.
  json current = json::object();
  auto res = s.get(limitsPath(o.ns));
  if (isSuccess(res)) {
    current = json::parse(res.body, nullptr, false);
  } else if (res.status != 404) {
    throw CommandError(serverError(res));
  }
  json body = client::mergeLimits(current, o.maxInstances, o.maxTTL);
  res = s.send("PUT", limitsPath(o.ns), body.dump(), "application/json");
  if (!isSuccess(res)) throw CommandError(serverError(res));
  std::cout << "limits for namespace \"" << o.ns << "\" configured" << std::endl;
  return 0;
}

int runGetLimits(Session& s, const std::string& ns, const std::string& output) {
  json limits = s.getJson(limitsPath(ns));
  if (output == "json") {
    std::cout << toJsonText(limits);
  } else if (output == "yaml") {
    std::cout << toYamlText(limits);
  } else if (output.empty()) {
    std::cout << client::alignColumns(
        client::tableRows(client::limitsTable(ns, limits), client::TableOptions{}));
  } else {
    throw CommandError("error: unable to match a printer suitable for the output format \"" +
                       output + "\", allowed formats are: json,yaml");
  }
  return 0;
}

}  // namespace

void registerLimits(CLI::App& app, Session& session, Action& action) {
  auto* cmd = app.add_subcommand("limits", "Show or set a namespace's limits (admin)");
  addCommonFlags(cmd, session.flags);
  cmd->require_subcommand(1);

  auto set = std::make_shared<SetLimitsOptions>();
  auto* setCmd = cmd->add_subcommand("set", "Set limits; the ones not given stay as they are");
  addCommonFlags(setCmd, session.flags);
  setCmd->add_option("namespace", set->ns, "The namespace (tenant)")->required();
  setCmd->add_option("--max-instances", set->maxInstances, "Most instances the namespace may have");
  setCmd->add_option("--max-ttl", set->maxTTL, "Longest TTL an instance may ask for (e.g. 48h)");
  setCmd->callback([&session, &action, set] {
    action = [&session, set] { return runSetLimits(session, *set); };
  });

  auto ns = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto* getCmd = cmd->add_subcommand("get", "Show a namespace's limits");
  addCommonFlags(getCmd, session.flags);
  getCmd->add_option("namespace", *ns, "The namespace (tenant)")->required();
  getCmd->add_option("--output,-o", *output, "json|yaml");
  getCmd->callback([&session, &action, ns, output] {
    action = [&session, ns, output] { return runGetLimits(session, *ns, *output); };
  });
}

}  // namespace minimcp::mcpctl
