// Connection resolution, discovery and server error messages.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/client/kubeconfig.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace fs = std::filesystem;

bool isSuccess(const client::Response& response) {
  return response.status >= 200 && response.status < 300;
}

namespace {

// kubectl's wording for a 422 Invalid Status: `The Kind "name" is invalid: field: why` (several
// causes as "[a, b]"), or "The request is invalid: message" when the Status has no details.
std::string invalidMessage(const json& status, const std::string& message) {
  const json details = status.value("details", json());
  if (!details.is_object()) {
    return "The request is invalid" + (message.empty() ? std::string() : ": " + message);
  }
  std::string out = "The request is invalid";
  std::string kind = details.value("kind", ""), name = details.value("name", "");
  if (!kind.empty() || !name.empty()) out = "The " + kind + " " + json(name).dump() + " is invalid";
  std::vector<std::string> causes;
  for (const auto& c : details.value("causes", json::array())) {
    if (c.is_object()) causes.push_back(c.value("field", "") + ": " + c.value("message", ""));
  }
  if (causes.size() == 1) return out + ": " + causes[0];
  if (causes.size() > 1) {
    std::string joined;
    for (const auto& c : causes) joined += (joined.empty() ? "" : ", ") + c;
    return out + ": [" + joined + "]";
  }
  return out;
}

}  // namespace

std::string serverError(const client::Response& response, const std::string& context) {
  json status = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  std::string reason, message;
  if (status.is_object() && status.value("kind", "") == "Status") {
    reason = status.value("reason", "");
    message = status.value("message", "");
  }
  if (response.status == 401) {
    return "error: You must be logged in to the server (" +
           (message.empty() ? std::string("Unauthorized") : message) + ")";
  }
  if (response.status == 422 && reason == "Invalid") return invalidMessage(status, message);
  if (message.empty()) {
    message = response.body;
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) {
      message.pop_back();
    }
    if (message.empty())
      message = "the server responded with status " + std::to_string(response.status);
  }
  if (reason.empty()) reason = "HTTP " + std::to_string(response.status);
  return "Error from server (" + reason + "): " + (context.empty() ? "" : context + ": ") + message;
}

void addCommonFlags(CLI::App* app, GlobalFlags& f) {
  const char* group = "Connection";
  app->add_option("--kubeconfig", f.kubeconfig, "Path to the kubeconfig file")->group(group);
  app->add_option("--server,-s", f.server, "The address of the API server")->group(group);
  app->add_option("--token", f.token, "Bearer token for authentication")->group(group);
  app->add_option("--certificate-authority", f.certificateAuthority,
                  "Path to a cert file for the certificate authority")
      ->group(group);
  app->add_flag("--insecure-skip-tls-verify", f.insecureSkipTlsVerify,
                "Do not check the server's certificate (insecure)")
      ->group(group);
  app->add_option("--context", f.context, "The kubeconfig context to use")->group(group);
  app->add_option("--namespace,-n", f.ns, "The namespace for this request")->group(group);
  app->add_option("--request-timeout", f.requestTimeout,
                  "How long to wait for one server response (e.g. 30s)")
      ->group(group);
}

std::string Session::kubeconfigPath() const {
  return flags.kubeconfig.empty() ? client::defaultKubeconfigPath() : flags.kubeconfig;
}

void Session::connect() {
  client::ConnectionConfig cfg;
  std::string path = kubeconfigPath();
  std::error_code ec;
  bool explicitFile = !flags.kubeconfig.empty() || std::getenv("MCPCTL_KUBECONFIG") != nullptr;
  if (fs::exists(path, ec)) {
    try {
      cfg = client::loadKubeconfig(path, flags.context);
    } catch (const std::exception& e) {
      throw CommandError(std::string("error: ") + e.what());
    }
  } else if (explicitFile) {
    throw CommandError("error: kubeconfig " + path + " does not exist");
  } else if (flags.server.empty()) {
    throw CommandError("error: no configuration found: pass --kubeconfig or --server (looked for " +
                       client::userKubeconfigPath() + " and " + path +
                       "; mcpd writes the latter at first start)");
  }
  if (!flags.server.empty()) cfg.server = flags.server;
  if (!flags.token.empty()) cfg.token = flags.token;
  if (!flags.certificateAuthority.empty()) {
    std::ifstream in(flags.certificateAuthority);
    if (!in) throw CommandError("error: cannot read " + flags.certificateAuthority);
    std::stringstream ss;
    ss << in.rdbuf();
    cfg.caPem = ss.str();
  }
  if (flags.insecureSkipTlsVerify) cfg.insecureSkipVerify = true;
  if (!flags.ns.empty()) cfg.ns = flags.ns;
  ns_ = cfg.ns.empty() ? "default" : cfg.ns;
  try {
    http_ = std::make_unique<client::HttpClient>(cfg);
  } catch (const std::exception& e) {
    throw CommandError(std::string("error: ") + e.what());
  }
}

client::HttpClient& Session::http() {
  if (!http_) connect();
  return *http_;
}

const std::string& Session::ns() {
  if (!http_) connect();
  return ns_;
}

namespace {

std::chrono::milliseconds requestTimeout(const GlobalFlags& flags) {
  if (flags.requestTimeout.empty() || flags.requestTimeout == "0") return std::chrono::seconds(30);
  return parseTimeoutFlag(flags.requestTimeout, "--request-timeout");
}

}  // namespace

client::Response Session::get(const std::string& target, const std::string& accept) {
  return http().request("GET", target, "", {{"Accept", accept}}, requestTimeout(flags));
}

client::Response Session::send(const std::string& method, const std::string& target,
                               const std::string& body, const std::string& contentType) {
  // As kubectl (--validate=true): a field the server's schema does not know is an error, not
  // a warning the server drops it with.
  if (method != "DELETE" && target.find("fieldValidation=") == std::string::npos) {
    const std::string strict =
        (target.find('?') == std::string::npos ? "?" : "&") + std::string("fieldValidation=Strict");
    return http().request(method, target + strict, body,
                          {{"Accept", "application/json"}, {"Content-Type", contentType}},
                          requestTimeout(flags));
  }
  return http().request(method, target, body,
                        {{"Accept", "application/json"}, {"Content-Type", contentType}},
                        requestTimeout(flags));
}

json Session::getJson(const std::string& target, const std::string& accept) {
  auto res = get(target, accept);
  if (!isSuccess(res)) throw CommandError(serverError(res));
  json body = json::parse(res.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    throw CommandError("error: the server sent an invalid JSON response for " + target);
  }
  return body;
}

const std::vector<ResourceInfo>& Session::resources() {
  if (!resources_) resources_ = client::parseResourceList(getJson(kGroupVersionPath));
  return *resources_;
}

ResourceInfo Session::resolve(const std::string& typed) {
  if (auto r = client::resolveResource(resources(), typed)) return *r;
  throw CommandError("error: the server doesn't have a resource type \"" + typed + "\"");
}

ResourceInfo Session::resolveKind(const std::string& apiVersion, const std::string& kind) {
  for (const auto& r : resources()) {
    if (r.kind == kind && r.groupVersion() == apiVersion) return r;
  }
  throw CommandError("no matches for kind \"" + kind + "\" in version \"" + apiVersion + "\"");
}

std::vector<Target> parseTargets(Session& s, const std::vector<std::string>& args,
                                 const char* verb) {
  if (args.empty()) {
    throw CommandError(std::string("error: You must specify the type of resource to ") + verb +
                       ". Use \"mcpctl api-resources\" for a complete list of supported "
                       "resources.");
  }
  std::vector<Target> targets;
  if (client::splitKindName(args[0])) {
    for (const auto& arg : args) {
      auto kn = client::splitKindName(arg);
      if (!kn) {
        throw CommandError(
            "error: there is no need to specify a resource type as a separate "
            "argument when passing arguments in resource/name form");
      }
      ResourceInfo r = s.resolve(kn->first);
      if (!targets.empty() && targets.back().resource.name == r.name) {
        targets.back().names.push_back(kn->second);
      } else {
        targets.push_back({r, {kn->second}});
      }
    }
    return targets;
  }
  targets.push_back({s.resolve(args[0]), {args.begin() + 1, args.end()}});
  return targets;
}

}  // namespace minimcp::mcpctl
