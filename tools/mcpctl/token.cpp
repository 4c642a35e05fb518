// token: an instance's access token (print, rotate) and the admin's API tokens (create, list,
// revoke). Tokens go to stdout alone so that `$(mcpctl token …)` captures exactly the token.
#include <iostream>

#include "api/client/commands.h"
#include "api/client/table.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

const std::string kTokensPath = std::string(kGroupVersionPath) + "/tokens";

json parseOrThrow(const client::Response& res) {
  json body = json::parse(res.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    throw CommandError("error: the server sent an invalid JSON response");
  }
  return body;
}

int64_t tokenGenerationOf(const json& instance) {
  const json spec = instance.value("spec", json::object());
  auto it = spec.find("tokenGeneration");
  return it != spec.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// Bumps spec.tokenGeneration by one. The patch carries the resourceVersion it was computed
// from, so two concurrent rotations cannot both land on the same generation.
int64_t rotate(Session& s, const std::string& path) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    json instance = s.getJson(path);
    int64_t next = tokenGenerationOf(instance) + 1;
    json patch = {{"metadata",
                   {{"resourceVersion",
                     instance.value("metadata", json::object()).value("resourceVersion", "")}}},
                  {"spec", {{"tokenGeneration", next}}}};
    auto res = s.send("PATCH", path, patch.dump(), "application/merge-patch+json");
    if (res.status == 409) continue;
    if (!isSuccess(res)) throw CommandError(serverError(res));
    return next;
  }
  throw CommandError("error: the instance kept changing while rotating its token; try again");
}

int runInstanceToken(Session& s, const std::string& name, bool doRotate) {
  std::string path = s.resolve("mcpinstances").path(s.ns(), name);
  int64_t wanted = doRotate ? rotate(s, path) : 0;
  auto res = s.get(path + "/token");
  if (!isSuccess(res)) throw CommandError(serverError(res));
  json body = parseOrThrow(res);
  std::string token = body.value("token", "");
  if (token.empty()) throw CommandError("error: the server's response holds no token");
  if (body.value("tokenGeneration", int64_t{0}) < wanted) {
    throw CommandError("error: the server still issues the token of an older generation");
  }
  std::cout << token << std::endl;
  return 0;
}

struct CreateTokenOptions {
  bool admin = false;
  std::string name;
};

int runCreateToken(Session& s, const CreateTokenOptions& o) {
  json body;
  try {
    body = client::tokenRequest(s.flags.ns, o.admin, o.name);
  } catch (const std::invalid_argument& e) {
    throw CommandError(std::string("error: ") + e.what());
  }
  auto res = s.send("POST", kTokensPath, body.dump(), "application/json");
  if (!isSuccess(res)) throw CommandError(serverError(res));
  json created = parseOrThrow(res);
  std::string token = created.value("token", "");
  if (token.empty()) throw CommandError("error: the server's response holds no token");
  std::cout << token << std::endl;
  // The note goes to stderr: stdout must hold the token alone.
  std::cerr << "token \"" << created.value("name", "") << "\" created for "
            << (o.admin ? std::string("the admin role")
                        : "namespace \"" + created.value("namespace", s.flags.ns) + "\"")
            << "; it is shown only this once\n";
  return 0;
}

int runListTokens(Session& s, const std::string& output, bool noHeaders) {
  json list = s.getJson(kTokensPath);
  if (output == "json") {
    std::cout << toJsonText(list);
  } else if (output == "yaml") {
    std::cout << toYamlText(list);
  } else if (output.empty()) {
    client::TableOptions topts;
    topts.noHeaders = noHeaders;
    json table = client::tokenTable(list);
    if (table["rows"].empty()) {
      std::cerr << "No tokens found\n";
    } else {
      std::cout << client::alignColumns(client::tableRows(table, topts));
    }
  } else {
    throw CommandError("error: unable to match a printer suitable for the output format \"" +
                       output + "\", allowed formats are: json,yaml");
  }
  return 0;
}

int runRevokeToken(Session& s, const std::vector<std::string>& names) {
  int exitCode = 0;
  for (const auto& name : names) {
    auto res =
        s.send("DELETE", kTokensPath + "/" + client::urlEncode(name), "", "application/json");
    if (!isSuccess(res)) {
      std::cout.flush();
      std::cerr << serverError(res) << "\n";
      exitCode = 1;
      continue;
    }
    std::cout << "token \"" << name << "\" revoked" << std::endl;
  }
  return exitCode;
}

}  // namespace

void registerToken(CLI::App& app, Session& session, Action& action) {
  auto* cmd = app.add_subcommand("token", "Print, rotate, create, list or revoke access tokens");
  addCommonFlags(cmd, session.flags);
  cmd->require_subcommand(1);

  struct InstanceOptions {
    std::string name;
    bool rotate = false;
  };
  auto inst = std::make_shared<InstanceOptions>();
  auto* mi =
      cmd->add_subcommand("mcpinstance", "Print an instance's access token (alone, for $(...))");
  mi->alias("mcpinstances");
  mi->alias("mi");
  addCommonFlags(mi, session.flags);
  mi->add_option("name", inst->name, "Instance name")->required();
  mi->add_flag("--rotate", inst->rotate,
               "Issue a new token first (bumps spec.tokenGeneration; the process is replaced)");
  mi->callback([&session, &action, inst] {
    action = [&session, inst] { return runInstanceToken(session, inst->name, inst->rotate); };
  });

  auto create = std::make_shared<CreateTokenOptions>();
  auto* createCmd = cmd->add_subcommand(
      "create", "Create an API token for a namespace (-n NS) or the admin role (--admin)");
  addCommonFlags(createCmd, session.flags);
  createCmd->add_flag("--admin", create->admin, "A token with the admin role");
  createCmd->add_option("--name", create->name, "Name of the token (default: generated)");
  createCmd->callback([&session, &action, create] {
    action = [&session, create] { return runCreateToken(session, *create); };
  });

  auto output = std::make_shared<std::string>();
  auto noHeaders = std::make_shared<bool>(false);
  auto* list = cmd->add_subcommand("list", "List the API tokens (never their values)");
  addCommonFlags(list, session.flags);
  list->add_option("--output,-o", *output, "json|yaml");
  list->add_flag("--no-headers", *noHeaders, "Do not print headers");
  list->callback([&session, &action, output, noHeaders] {
    action = [&session, output, noHeaders] { return runListTokens(session, *output, *noHeaders); };
  });

  auto names = std::make_shared<std::vector<std::string>>();
  auto* revoke = cmd->add_subcommand("revoke", "Revoke API tokens by name");
  addCommonFlags(revoke, session.flags);
  revoke->add_option("names", *names, "Token names")->required();
  revoke->callback([&session, &action, names] {
    action = [&session, names] { return runRevokeToken(session, *names); };
  });
}

}  // namespace minimcp::mcpctl
