// create apikey NAME --type T --from-literal|--from-file|--from-stdin, or with OAuth 2.0
// credentials: --oauth2-client-id ID [--oauth2-client-secret-file F] --refresh-token-file F
// --token-url URL [--scope S]... [--oauth2-client-auth basic|post]: secrets go into the request
// body only; they are never printed, logged or handed to another process, and are read from files
// (or stdin), not argv.
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/client/commands.h"
#include "api/client/oauth2_login.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

struct CreateApiKeyOptions {
  std::string name;
  std::string type;
  std::optional<std::string> literal;
  std::string file;
  bool fromStdin = false;
  std::string rotationPeriod;
  std::string dryRun = "none";
  // OAuth 2.0 credentials instead of a value.
  std::string clientId;
  std::string clientSecretFile;
  std::string refreshTokenFile;
  std::string tokenUrl;
  std::vector<std::string> scopes;
  std::string clientAuth;  // basic | post; "" = the server's default (post)

  bool oauth2() const {
    return !clientId.empty() || !clientSecretFile.empty() || !refreshTokenFile.empty() ||
           !tokenUrl.empty() || !scopes.empty() || !clientAuth.empty();
  }
};

json oauth2Credentials(const CreateApiKeyOptions& o) {
  if (o.literal || !o.file.empty() || o.fromStdin) {
    throw CommandError(
        "error: --from-literal, --from-file and --from-stdin give a static value; "
        "OAuth 2.0 credentials are given with the --oauth2-* flags instead");
  }
  if (o.clientId.empty() || o.refreshTokenFile.empty() || o.tokenUrl.empty()) {
    throw CommandError(
        "error: OAuth 2.0 credentials need --oauth2-client-id, "
        "--refresh-token-file and --token-url");
  }
  if (o.clientSecretFile == "-" && o.refreshTokenFile == "-") {
    throw CommandError(
        "error: only one of --oauth2-client-secret-file and --refresh-token-file "
        "can read standard input");
  }
  const std::string secret =
      o.clientSecretFile.empty()
          ? ""
          : readSecretFile(o.clientSecretFile, "--oauth2-client-secret-file");
  return client::oauth2Spec(o.tokenUrl, o.clientId, secret,
                            readSecretFile(o.refreshTokenFile, "--refresh-token-file"), o.scopes,
                            o.clientAuth);
}

std::string readValue(const CreateApiKeyOptions& o) {
  int sources = (o.literal ? 1 : 0) + (o.file.empty() ? 0 : 1) + (o.fromStdin ? 1 : 0);
  if (sources != 1) {
    throw CommandError(
        "error: exactly one of --from-literal, --from-file or --from-stdin must be given");
  }
  std::string value;
  if (o.literal) {
    value = *o.literal;
  } else {
    std::stringstream ss;
    if (o.fromStdin) {
      ss << std::cin.rdbuf();
    } else {
      std::ifstream in(o.file, std::ios::binary);
      if (!in) throw CommandError("error: cannot read " + o.file);
      ss << in.rdbuf();
    }
    value = client::trimOneTrailingNewline(ss.str());
  }
  if (value.empty()) throw CommandError("error: the API key value is empty");
  return value;
}

int runCreateApiKey(Session& s, const CreateApiKeyOptions& o) {
  parseDryRun(o.dryRun);
  if (o.type.empty()) throw CommandError("error: --type is required");
  ResourceInfo r = s.resolve("apikeys");
  json body;
  if (o.oauth2()) {
    body = client::apiKeyManifest(s.ns(), o.name, o.type, "", o.rotationPeriod);
    body["spec"].erase("value");
    body["spec"]["oauth2"] = oauth2Credentials(o);
  } else {
    body = client::apiKeyManifest(s.ns(), o.name, o.type, readValue(o), o.rotationPeriod);
  }
  const std::string id = r.kindDotGroup() + "/" + o.name;
  if (o.dryRun == "client") {
    std::cout << id << " created (dry run)" << std::endl;
    return 0;
  }
  auto res = s.send("POST", r.path(s.ns()) + (o.dryRun == "server" ? "?dryRun=All" : ""),
                    body.dump(), "application/json");
  if (!isSuccess(res)) throw CommandError(serverError(res));
  std::cout << id << " created" << (o.dryRun == "server" ? " (server dry run)" : "") << std::endl;
  return 0;
}

}  // namespace

std::string readSecretFile(const std::string& path, const std::string& flag) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw CommandError("error: cannot read " + path + " (" + flag + ")");
    ss << in.rdbuf();
  }
  std::string v = client::trimOneTrailingNewline(ss.str());
  if (v.empty()) throw CommandError("error: " + flag + " " + path + " is empty");
  return v;
}

void registerCreate(CLI::App& app, Session& session, Action& action) {
  auto* cmd = app.add_subcommand("create", "Create a resource from flags");
  addCommonFlags(cmd, session.flags);
  cmd->require_subcommand(1);

  auto opts = std::make_shared<CreateApiKeyOptions>();
  auto* key = cmd->add_subcommand("apikey", "Create an APIKey (the value is write-only)");
  key->alias("apikeys");
  key->alias("ak");
  addCommonFlags(key, session.flags);
  key->add_option("name", opts->name, "Name of the APIKey")->required();
  key->add_option("--type", opts->type, "The MCPType the key is for (e.g. gmail)")->required();
  key->add_option("--from-literal", opts->literal,
                  "The value itself (visible in your shell history and process list; prefer "
                  "--from-file or --from-stdin)");
  key->add_option("--from-file", opts->file, "Read the value from this file");
  key->add_flag("--from-stdin", opts->fromStdin, "Read the value from standard input");
  key->add_option("--rotation-period", opts->rotationPeriod,
                  "How long a value may be used before rotation is due (e.g. 2160h)");
  key->add_option("--dry-run", opts->dryRun, "none|server|client (--dry-run=server)");
  key->add_option("--oauth2-client-id", opts->clientId,
                  "OAuth 2.0 credentials instead of a value: the client id");
  key->add_option("--oauth2-client-secret-file", opts->clientSecretFile,
                  "Read the client secret from this file (- for standard input)");
  key->add_option("--refresh-token-file", opts->refreshTokenFile,
                  "Read the refresh token from this file (- for standard input)");
  key->add_option("--token-url", opts->tokenUrl, "The provider's token endpoint (https)");
  key->add_option("--scope", opts->scopes, "A scope to ask for on refresh (repeat the flag)");
  key->add_option("--oauth2-client-auth", opts->clientAuth,
                  "How the client authenticates to the token endpoint: post (client id and "
                  "secret in the form body, the default) or basic (HTTP Basic)")
      ->check(CLI::IsMember({"basic", "post"}));
  key->callback([&session, &action, opts] {
    action = [&session, opts] { return runCreateApiKey(session, *opts); };
  });
}

}  // namespace minimcp::mcpctl
