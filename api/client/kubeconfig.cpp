#include "api/client/kubeconfig.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "api/crypto/encoding.h"

namespace minimcp::client {

namespace fs = std::filesystem;

void writeFilePrivate(const std::string& path, const std::string& content) {
  fs::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
  }
  // Write a sibling temp file and rename it over, so a reader never sees half a file and the
  // token is never world-readable even for an instant.
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write " + path + ": " + std::strerror(err));
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(err));
  }
}

void writeKubeconfig(const std::string& path, const std::string& name, const std::string& server,
                     const std::string& caPem, const std::string& token, const std::string& ns) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "v1";
  out << YAML::Key << "kind" << YAML::Value << "Config";
  out << YAML::Key << "preferences" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::EndMap;
  out << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << name;
  out << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "server" << YAML::Value << server;
  if (!caPem.empty()) {
    out << YAML::Key << "certificate-authority-data" << YAML::Value << crypto::base64Encode(caPem);
  }
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "users" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << name;
  out << YAML::Key << "user" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "token" << YAML::Value << token;
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << name;
  out << YAML::Key << "context" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "cluster" << YAML::Value << name;
  out << YAML::Key << "user" << YAML::Value << name;
  out << YAML::Key << "namespace" << YAML::Value << ns;
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "current-context" << YAML::Value << name;
  out << YAML::EndMap;
  writeFilePrivate(path, std::string(out.c_str()) + "\n");
}

namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `name`d entry of a kubeconfig list ("clusters", "users", "contexts"), or an undefined node.
YAML::Node findNamed(const YAML::Node& root, const char* list, const std::string& name) {
  const YAML::Node items = root[list];
  if (items && items.IsSequence()) {
    for (const auto& item : items) {
      if (item["name"] && item["name"].as<std::string>() == name) return item;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string str(const YAML::Node& node, const char* key) {
  if (!node || !node.IsMap() || !node[key] || !node[key].IsScalar()) return "";
  return node[key].as<std::string>();
}

// kubectl resolves relative file references against the kubeconfig's directory.
std::string resolveRelative(const std::string& kubeconfig, const std::string& file) {
  fs::path p(file);
  if (p.is_absolute()) return file;
  return (fs::path(kubeconfig).parent_path() / p).string();
}

}  // namespace

namespace {

YAML::Node loadKubeconfigYaml(const std::string& path) {
  std::string text = readFile(path);
  try {
    YAML::Node root = YAML::Load(text);
    if (!root || root.IsNull()) return YAML::Node(YAML::NodeType::Map);
    if (!root.IsMap()) throw std::runtime_error("not a mapping");
    return root;
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("invalid kubeconfig " + path + ": " + e.what());
  }
}

}  // namespace

ConnectionConfig loadKubeconfig(const std::string& path, const std::string& context) {
  YAML::Node root = loadKubeconfigYaml(path);
  std::string ctxName = context.empty() ? str(root, "current-context") : context;
  if (ctxName.empty()) throw std::runtime_error("kubeconfig " + path + " has no current-context");
  YAML::Node ctxEntry = findNamed(root, "contexts", ctxName);
  if (!ctxEntry) {
    throw std::runtime_error("context \"" + ctxName + "\" not found in kubeconfig " + path);
  }
  YAML::Node ctx = ctxEntry["context"];
  std::string clusterName = str(ctx, "cluster");
  std::string userName = str(ctx, "user");

  ConnectionConfig cfg;
  std::string ns = str(ctx, "namespace");
  if (!ns.empty()) cfg.ns = ns;

  YAML::Node clusterEntry = findNamed(root, "clusters", clusterName);
  if (!clusterEntry) {
    throw std::runtime_error("cluster \"" + clusterName + "\" (of context \"" + ctxName +
                             "\") not found in kubeconfig " + path);
  }
  YAML::Node cluster = clusterEntry["cluster"];
  cfg.server = str(cluster, "server");
  if (cfg.server.empty()) {
    throw std::runtime_error("cluster \"" + clusterName + "\" in kubeconfig " + path +
                             " has no server");
  }
  std::string caData = str(cluster, "certificate-authority-data");
  std::string caFile = str(cluster, "certificate-authority");
  if (!caData.empty()) {
    // kubectl tolerates line breaks in the data; the strict decoder does not.
    std::erase_if(caData, [](unsigned char c) { return std::isspace(c); });
    auto pem = crypto::base64Decode(caData);
    if (!pem) {
      throw std::runtime_error("cluster \"" + clusterName + "\" in kubeconfig " + path +
                               ": certificate-authority-data is not valid base64");
    }
    cfg.caPem = *pem;
  } else if (!caFile.empty()) {
    cfg.caPem = readFile(resolveRelative(path, caFile));
  }
  std::string insecure = str(cluster, "insecure-skip-tls-verify");
  cfg.insecureSkipVerify = insecure == "true";

  if (!userName.empty()) {
    YAML::Node userEntry = findNamed(root, "users", userName);
    if (!userEntry) {
      throw std::runtime_error("user \"" + userName + "\" (of context \"" + ctxName +
                               "\") not found in kubeconfig " + path);
    }
    YAML::Node user = userEntry["user"];
    cfg.token = str(user, "token");
    std::string tokenFile = str(user, "tokenFile");
    if (cfg.token.empty() && !tokenFile.empty()) {
      cfg.token = readFile(resolveRelative(path, tokenFile));
      while (!cfg.token.empty() && std::isspace(static_cast<unsigned char>(cfg.token.back()))) {
        cfg.token.pop_back();
      }
    }
  }
  return cfg;
}

namespace {

std::string homeDir() {
  const char* home = std::getenv("HOME");
  return home && *home ? home : "/root";
}

}  // namespace

std::string defaultDataDir() { return homeDir() + "/.local/state/minimcp"; }

std::string userKubeconfigPath() { return homeDir() + "/.config/minimcp/config"; }

std::string defaultKubeconfigPath() {
  const char* env = std::getenv("MCPCTL_KUBECONFIG");
  if (env && *env) return env;
  std::string user = userKubeconfigPath();
  std::error_code ec;
  if (fs::exists(user, ec)) return user;
  return defaultDataDir() + "/admin.kubeconfig";
}

std::vector<ContextInfo> listContexts(const std::string& path) {
  YAML::Node root = loadKubeconfigYaml(path);
  std::vector<ContextInfo> out;
  if (root["contexts"] && root["contexts"].IsSequence()) {
    for (const auto& item : root["contexts"]) {
      ContextInfo info;
      info.name = str(item, "name");
      info.cluster = str(item["context"], "cluster");
      info.user = str(item["context"], "user");
      info.ns = str(item["context"], "namespace");
      out.push_back(std::move(info));
    }
  }
  return out;
}

std::string currentContext(const std::string& path) {
  return str(loadKubeconfigYaml(path), "current-context");
}

namespace {

// Editing starts from an empty Config when the file does not exist yet (kubectl does the same).
YAML::Node loadForEdit(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    YAML::Node root(YAML::NodeType::Map);
    root["apiVersion"] = "v1";
    root["kind"] = "Config";
    return root;
  }
  return loadKubeconfigYaml(path);
}

void save(const std::string& path, const YAML::Node& root) {
  YAML::Emitter out;
  out << root;
  writeFilePrivate(path, std::string(out.c_str()) + "\n");
}

}  // namespace

void useContext(const std::string& path, const std::string& name) {
  YAML::Node root = loadForEdit(path);
  if (!findNamed(root, "contexts", name)) {
    throw std::runtime_error("no context exists with the name: \"" + name + "\" in " + path);
  }
  root["current-context"] = name;
  save(path, root);
}

void setContext(const std::string& path, const std::string& name, const std::string& ns,
                const std::string& cluster, const std::string& user) {
  YAML::Node root = loadForEdit(path);
  std::string ctxName = name.empty() ? str(root, "current-context") : name;
  if (ctxName.empty()) throw std::runtime_error("no current context is set in " + path);
  YAML::Node entry = findNamed(root, "contexts", ctxName);
  if (!entry) {
    entry = YAML::Node(YAML::NodeType::Map);
    entry["name"] = ctxName;
    entry["context"] = YAML::Node(YAML::NodeType::Map);
    root["contexts"].push_back(entry);
  }
  YAML::Node ctx = entry["context"];
  if (!ns.empty()) ctx["namespace"] = ns;
  if (!cluster.empty()) ctx["cluster"] = cluster;
  if (!user.empty()) ctx["user"] = user;
  save(path, root);
}

std::string viewKubeconfig(const std::string& path, bool raw, bool minify) {
  YAML::Node root = YAML::Clone(loadKubeconfigYaml(path));
  if (minify) {
    std::string current = str(root, "current-context");
    YAML::Node ctx = findNamed(root, "contexts", current);
    auto keepOnly = [&](const char* list, const std::string& name) {
      YAML::Node kept(YAML::NodeType::Sequence);
      YAML::Node item = findNamed(root, list, name);
      if (item) kept.push_back(item);
      root[list] = kept;
    };
    std::string cluster = ctx ? str(ctx["context"], "cluster") : "";
    std::string user = ctx ? str(ctx["context"], "user") : "";
    keepOnly("contexts", current);
    keepOnly("clusters", cluster);
    keepOnly("users", user);
  }
  if (!raw) {
    if (root["clusters"] && root["clusters"].IsSequence()) {
      for (auto item : root["clusters"]) {
        YAML::Node cluster = item["cluster"];
        if (cluster && cluster.IsMap() && cluster["certificate-authority-data"]) {
          cluster["certificate-authority-data"] = "DATA+OMITTED";
        }
      }
    }
    if (root["users"] && root["users"].IsSequence()) {
      for (auto item : root["users"]) {
        YAML::Node user = item["user"];
        if (!user || !user.IsMap()) continue;
        for (const char* secret : {"token", "client-key-data", "password"}) {
          if (user[secret]) user[secret] = "REDACTED";
        }
      }
    }
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

}  // namespace minimcp::client
