// api-resources, version, config, completion.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/client/kubeconfig.h"
#include "api/client/table.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

int runApiResources(Session& s, const std::string& output, bool noHeaders) {
  client::Rows rows;
  bool wide = output == "wide";
  if (output == "name") {
    for (const auto& r : s.resources()) std::cout << r.name << "." << r.group << "\n";
    return 0;
  }
  if (!noHeaders) {
    rows.push_back({"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"});
    if (wide) rows.back().push_back("VERBS");
  }
  for (const auto& r : s.resources()) {
    rows.push_back({r.name, join(r.shortNames, ","), r.groupVersion(),
                    r.namespaced ? "true" : "false", r.kind});
    if (wide) rows.back().push_back("[" + join(r.verbs, " ") + "]");
  }
  std::cout << client::alignColumns(rows);
  return 0;
}

int runVersion(Session& s, bool clientOnly, const std::string& output) {
  json info = {{"clientVersion", {{"gitVersion", kClientVersion}}}};
  std::string serverError;
  if (!clientOnly) {
    try {
      info["serverVersion"] = s.getJson("/version");
    } catch (const CommandError& e) {
      serverError = e.what();
    }
  }
  if (output == "json") {
    std::cout << toJsonText(info);
  } else if (output == "yaml") {
    std::cout << toYamlText(info);
  } else {
    std::cout << "Client Version: " << kClientVersion << "\n";
    if (info.contains("serverVersion")) {
      std::cout << "Server Version: " << info["serverVersion"].value("gitVersion", "unknown")
                << "\n";
    }
  }
  if (!serverError.empty()) throw CommandError(serverError);
  return 0;
}

std::string configPath(Session& s) {
  // Edits go to the named file, else the user's file (created on first edit), like kubectl
  // writing ~/.kube/config; reads fall back to the admin kubeconfig as connection does.
  return s.flags.kubeconfig.empty() ? client::defaultKubeconfigPath() : s.flags.kubeconfig;
}

std::string editPath(Session& s) {
  if (!s.flags.kubeconfig.empty()) return s.flags.kubeconfig;
  if (const char* env = std::getenv("MCPCTL_KUBECONFIG"); env && *env) return env;
  return client::userKubeconfigPath();
}

const char* kCompletion = R"(# bash completion for mcpctl
_mcpctl() {
  local cur prev words cword
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  local commands="apply create diff get describe delete wait edit patch label annotate events explain logs token limits oauth2 top api-resources version config completion"
  local kinds="mcpinstances mcpinstance mi mcptypes mcptype mt apikeys apikey ak events"
  if [[ ${COMP_CWORD} -eq 1 ]]; then
    COMPREPLY=( $(compgen -W "${commands}" -- "${cur}") )
    return 0
  fi
  case "${prev}" in
    -f|--filename|--kubeconfig|--certificate-authority)
      COMPREPLY=( $(compgen -f -- "${cur}") ); return 0 ;;
    -o|--output)
      COMPREPLY=( $(compgen -W "wide yaml json name jsonpath= custom-columns=" -- "${cur}") ); return 0 ;;
    -n|--namespace)
      return 0 ;;
  esac
  case "${COMP_WORDS[1]}" in
    get|describe|delete|wait|edit|patch|label|annotate|explain)
      if [[ ${COMP_CWORD} -eq 2 ]]; then
        COMPREPLY=( $(compgen -W "${kinds}" -- "${cur}") )
      elif [[ ${COMP_CWORD} -eq 3 && "${cur}" != -* ]]; then
        local names
        names=$(mcpctl get "${COMP_WORDS[2]}" -o name 2>/dev/null | sed 's|.*/||')
        COMPREPLY=( $(compgen -W "${names}" -- "${cur}") )
      fi ;;
    logs)
      if [[ "${cur}" != -* ]]; then
        local names
        names=$(mcpctl get mcpinstances -o name 2>/dev/null | sed 's|.*/||')
        COMPREPLY=( $(compgen -W "${names}" -- "${cur}") )
      fi ;;
    token)
      if [[ ${COMP_CWORD} -eq 2 ]]; then
        COMPREPLY=( $(compgen -W "mcpinstance create list revoke" -- "${cur}") )
      fi ;;
    create)
      if [[ ${COMP_CWORD} -eq 2 ]]; then
        COMPREPLY=( $(compgen -W "apikey" -- "${cur}") )
      fi ;;
    oauth2)
      if [[ ${COMP_CWORD} -eq 2 ]]; then
        COMPREPLY=( $(compgen -W "login" -- "${cur}") )
      fi ;;
    limits)
      if [[ ${COMP_CWORD} -eq 2 ]]; then
        COMPREPLY=( $(compgen -W "get set" -- "${cur}") )
      fi ;;
    config)
      COMPREPLY=( $(compgen -W "view get-contexts current-context use-context set-context" -- "${cur}") ) ;;
    completion)
      COMPREPLY=( $(compgen -W "bash" -- "${cur}") ) ;;
  esac
  if [[ "${cur}" == -* ]]; then
    COMPREPLY=( $(compgen -W "--kubeconfig --server --token --certificate-authority --insecure-skip-tls-verify --context --namespace -n -o -l -A -w -f --dry-run --timeout --for --prune --tail --rotate --type --from-literal --from-file --from-stdin --oauth2-client-id --oauth2-client-secret-file --refresh-token-file --token-url --scope --auth-url --client-id --client-secret-file --help" -- "${cur}") )
  fi
  return 0
}
complete -F _mcpctl mcpctl
)";

}  // namespace

void registerApiResources(CLI::App& app, Session& session, Action& action) {
  auto output = std::make_shared<std::string>();
  auto noHeaders = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("api-resources", "Print the supported API resources");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("--output,-o", *output, "wide|name");
  cmd->add_flag("--no-headers", *noHeaders, "Do not print headers");
  cmd->callback([&session, &action, output, noHeaders] {
    action = [&session, output, noHeaders] {
      return runApiResources(session, *output, *noHeaders);
    };
  });
}

void registerVersion(CLI::App& app, Session& session, Action& action) {
  auto clientOnly = std::make_shared<bool>(false);
  auto output = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("version", "Print the client and server version");
  addCommonFlags(cmd, session.flags);
  cmd->add_flag("--client", *clientOnly, "Client version only (no server needed)");
  cmd->add_option("--output,-o", *output, "yaml|json");
  cmd->callback([&session, &action, clientOnly, output] {
    action = [&session, clientOnly, output] { return runVersion(session, *clientOnly, *output); };
  });
}

void registerConfig(CLI::App& app, Session& session, Action& action) {
  auto* cmd = app.add_subcommand("config", "Show or edit kubeconfig files");
  addCommonFlags(cmd, session.flags);
  cmd->require_subcommand(1);

  auto raw = std::make_shared<bool>(false);
  auto minify = std::make_shared<bool>(false);
  auto* view = cmd->add_subcommand("view", "Show the kubeconfig (secrets hidden unless --raw)");
  addCommonFlags(view, session.flags);
  view->add_flag("--raw", *raw, "Show tokens and certificate data");
  view->add_flag("--minify", *minify, "Only the current context");
  view->callback([&session, &action, raw, minify] {
    action = [&session, raw, minify] {
      try {
        std::cout << client::viewKubeconfig(configPath(session), *raw, *minify);
      } catch (const std::exception& e) {
        throw CommandError(std::string("error: ") + e.what());
      }
      return 0;
    };
  });

  auto* getContexts = cmd->add_subcommand("get-contexts", "List the contexts");
  addCommonFlags(getContexts, session.flags);
  getContexts->callback([&session, &action] {
    action = [&session] {
      std::string path = configPath(session);
      try {
        std::string current = client::currentContext(path);
        client::Rows rows = {{"CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"}};
        for (const auto& c : client::listContexts(path)) {
          rows.push_back({c.name == current ? "*" : "", c.name, c.cluster, c.user, c.ns});
        }
        std::cout << client::alignColumns(rows);
      } catch (const std::exception& e) {
        throw CommandError(std::string("error: ") + e.what());
      }
      return 0;
    };
  });

  auto* current = cmd->add_subcommand("current-context", "Print the current context");
  addCommonFlags(current, session.flags);
  current->callback([&session, &action] {
    action = [&session] {
      std::string name;
      try {
        name = client::currentContext(configPath(session));
      } catch (const std::exception& e) {
        throw CommandError(std::string("error: ") + e.what());
      }
      if (name.empty()) throw CommandError("error: current-context is not set");
      std::cout << name << "\n";
      return 0;
    };
  });

  auto useName = std::make_shared<std::string>();
  auto* use = cmd->add_subcommand("use-context", "Set the current context");
  addCommonFlags(use, session.flags);
  use->add_option("name", *useName, "Context name")->required();
  use->callback([&session, &action, useName] {
    action = [&session, useName] {
      std::string path = editPath(session);
      try {
        client::useContext(path, *useName);
      } catch (const std::exception& e) {
        throw CommandError(std::string("error: ") + e.what());
      }
      std::cout << "Switched to context \"" << *useName << "\".\n";
      return 0;
    };
  });

  struct SetContext {
    std::string name, cluster, user;
    bool current = false;
  };
  auto set = std::make_shared<SetContext>();
  auto* setCtx =
      cmd->add_subcommand("set-context", "Create or change a context (e.g. its namespace)");
  addCommonFlags(setCtx, session.flags);
  setCtx->add_option("name", set->name, "Context name (default: the current context)");
  setCtx->add_flag("--current", set->current, "Change the current context");
  setCtx->add_option("--cluster", set->cluster, "Cluster entry of the context");
  setCtx->add_option("--user", set->user, "User entry of the context");
  setCtx->callback([&session, &action, set] {
    action = [&session, set] {
      std::string path = editPath(session);
      std::string name = set->current ? "" : set->name;
      try {
        // Editing the user's file for the first time: start from the file connection uses.
        std::error_code ec;
        if (session.flags.kubeconfig.empty() && !std::filesystem::exists(path, ec)) {
          std::string from = client::defaultKubeconfigPath();
          if (from != path && std::filesystem::exists(from, ec)) {
            std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
            std::ifstream in(from);
            std::stringstream ss;
            ss << in.rdbuf();
            client::writeFilePrivate(path, ss.str());
          }
        }
        if (name.empty()) name = client::currentContext(path);
        client::setContext(path, name, session.flags.ns, set->cluster, set->user);
      } catch (const std::exception& e) {
        throw CommandError(std::string("error: ") + e.what());
      }
      std::cout << "Context \"" << name << "\" modified.\n";
      return 0;
    };
  });
}

void registerCompletion(CLI::App& app, Session& session, Action& action) {
  auto shell = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("completion", "Print a shell completion script (bash)");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("shell", *shell, "bash")->required();
  cmd->callback([&action, shell] {
    action = [shell] {
      if (*shell != "bash") throw CommandError("error: unsupported shell type \"" + *shell + "\"");
      std::cout << kCompletion;
      return 0;
    };
  });
}

}  // namespace minimcp::mcpctl
