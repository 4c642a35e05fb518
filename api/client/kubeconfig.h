// Kubeconfig-format files (the subset kubectl and k3s use): clusters with server and
// certificate-authority-data (or certificate-authority path) / insecure-skip-tls-verify, users
// with token (or tokenFile), contexts with cluster, user and namespace, current-context.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/client/http_client.h"

namespace minimcp::client {

// Writes a kubeconfig with one cluster/user/context named `name`. The file is created 0600.
void writeKubeconfig(const std::string& path, const std::string& name, const std::string& server,
                     const std::string& caPem, const std::string& token,
                     const std::string& ns = "default");

// Resolves the connection from a kubeconfig file and `context` ("" = current-context).
// Throws std::runtime_error naming the file and the missing piece.
ConnectionConfig loadKubeconfig(const std::string& path, const std::string& context = "");

// The file mcpctl reads when --kubeconfig is not given: $MCPCTL_KUBECONFIG, else
// ~/.config/minimcp/config if it exists, else <default data dir>/admin.kubeconfig.
std::string defaultKubeconfigPath();

// ~/.local/state/minimcp (respects $HOME).
std::string defaultDataDir();

// ~/.config/minimcp/config (respects $HOME): where `mcpctl config` writes when no file is named.
std::string userKubeconfigPath();

// Editing helpers for `mcpctl config`. All throw std::runtime_error naming the file.
struct ContextInfo {
  std::string name, cluster, user, ns;
};
std::vector<ContextInfo> listContexts(const std::string& path);
std::string currentContext(const std::string& path);  // "" when unset
// Sets current-context; throws when no context of that name exists.
void useContext(const std::string& path, const std::string& name);
// Creates or updates context `name` ("" = current-context); empty fields are left unchanged.
void setContext(const std::string& path, const std::string& name, const std::string& ns,
                const std::string& cluster = "", const std::string& user = "");
// The file as YAML with secrets hidden like `kubectl config view` does (token: REDACTED,
// certificate-authority-data: DATA+OMITTED) unless `raw`; `minify` keeps only the current context.
std::string viewKubeconfig(const std::string& path, bool raw, bool minify = false);

// Shared with mcpd (which writes the admin kubeconfig) and the tests.
// Writes `content` to `path` atomically (temp file + rename) with mode 0600, creating parents.
void writeFilePrivate(const std::string& path, const std::string& content);

}  // namespace minimcp::client
