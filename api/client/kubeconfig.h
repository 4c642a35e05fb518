// Kubeconfig-format files (the subset kubectl and k3s use): clusters with server and
// certificate-authority-data (or certificate-authority path) / insecure-skip-tls-verify, users
// with token (or tokenFile), contexts with cluster, user and namespace, current-context.
#pragma once

#include <optional>
#include <string>

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

}  // namespace minimcp::client
