// oauth2 login KEY: the authorization-code flow with PKCE and a loopback redirect, then the
// refresh token stored into the APIKey (created, or its spec.oauth2 replaced). The refresh
// token and the client secret go only into the token request and the API request bodies.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <iostream>
#include <map>

#include "api/client/commands.h"
#include "api/client/oauth2_login.h"
#include "api/model/apikey.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct LoginOptions {
  std::string key;
  std::string type;
  std::string authUrl;
  std::string tokenUrl;
  std::vector<std::string> scopes;
  std::string clientId;
  std::string clientSecretFile;
  std::string clientAuth;  // basic | post; "" = post
  std::string timeout = "5m";
};

// Waits on 127.0.0.1:port for the browser's redirect to /callback; answers it with a page
// saying what happened. Other requests (a favicon) get 404 and the wait goes on.
class LoopbackRedirect {
 public:
  LoopbackRedirect() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
  int port() const { return acceptor_.local_endpoint().port(); }

  client::CallbackResult wait(const std::string& state, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      tcp::socket socket(io_);
      beast::error_code ec;
      bool done = false;
      acceptor_.async_accept(socket, [&](beast::error_code e) {
        ec = e;
        done = true;
      });
      io_.restart();
      io_.run_until(deadline);
      if (!done) {
        acceptor_.cancel();
        throw CommandError("error: no redirect arrived within " + timeoutText_ +
                           ": open the URL above in a browser on this machine");
      }
      if (ec) continue;
      beast::tcp_stream stream(std::move(socket));
      stream.expires_after(std::chrono::seconds(10));
      beast::flat_buffer buffer;
      http::request<http::empty_body> req;
      bool read = false;
      http::async_read(stream, buffer, req, [&](beast::error_code e, std::size_t) {
        ec = e;
        read = true;
      });
      io_.restart();
      io_.run_until(deadline);
      if (!read || ec) continue;
      std::optional<client::CallbackResult> result;
      std::string failure;
      try {
        result = client::parseCallback(std::string(req.target()), state);
      } catch (const std::exception& e) {
        failure = e.what();
      }
      const bool ours = result || !failure.empty();
      const std::string page =
          !ours ? "not found"
          : !failure.empty()
              ? "MiniMCP: " + failure
              : (result->error.empty() ? "MiniMCP: signed in; you can close this window."
                                       : "MiniMCP: the sign-in was refused.");
      http::response<http::string_body> res{ours ? http::status::ok : http::status::not_found, 11};
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.set(http::field::cache_control, "no-store");
      res.set(http::field::connection, "close");
      res.body() = page + "\n";
      res.prepare_payload();
      http::async_write(stream, res, [](beast::error_code, std::size_t) {});
      io_.restart();
      io_.run_until(deadline);
      if (!failure.empty()) throw CommandError("error: " + failure);
      if (result) return *result;
    }
  }
  void setTimeoutText(std::string t) { timeoutText_ = std::move(t); }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::string timeoutText_;
};

std::string exchangeCode(const LoginOptions& o, const std::string& clientSecret,
                         const std::string& code, const std::string& redirectUri,
                         const std::string& verifier) {
  auto [server, target] = client::splitUrl(o.tokenUrl);
  client::ConnectionConfig cfg;
  cfg.server = server;
  client::HttpClient http(cfg);
  const bool basic = o.clientAuth == model::kClientAuthBasic;
  std::map<std::string, std::string> headers = {
      {"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  if (basic) headers["Authorization"] = client::basicClientAuthorization(o.clientId, clientSecret);
  client::Response res = http.request(
      "POST", target,
      client::tokenRequestBody(code, redirectUri, o.clientId, clientSecret, verifier, basic),
      headers);
  try {
    return client::refreshTokenFrom(res.status, res.body);
  } catch (const std::runtime_error& e) {
    throw CommandError(std::string("error: ") + e.what());
  }
}

int runLogin(Session& s, const LoginOptions& o) {
  const std::pair<const char*, const std::string*> urls[] = {{"--token-url", &o.tokenUrl},
                                                             {"--auth-url", &o.authUrl}};
  for (const auto& [flag, url] : urls) {
    // Which hosts a tenant may name is the server's to say (it refuses the key otherwise).
    if (std::string why = model::tokenUrlProblem(*url, model::TokenUrlHosts::Any); !why.empty()) {
      throw CommandError(std::string("error: ") + flag + " \"" + *url + "\" " + why);
    }
  }
  const auto timeout = parseTimeoutFlag(o.timeout, "--timeout");
  const std::string clientSecret =
      o.clientSecretFile.empty() ? "" : readSecretFile(o.clientSecretFile, "--client-secret-file");
  if (o.clientAuth == model::kClientAuthBasic && clientSecret.empty()) {
    throw CommandError("error: --client-auth basic needs --client-secret-file");
  }

  // The key's type: the existing key's, else --type.
  ResourceInfo r = s.resolve("apikeys");
  const std::string path = r.path(s.ns()) + "/" + o.key;
  client::Response existing = s.get(path);
  if (existing.status != 404 && !isSuccess(existing)) throw CommandError(serverError(existing));
  const bool exists = existing.status != 404;
  if (!exists && o.type.empty()) {
    throw CommandError("error: APIKey \"" + o.key + "\" does not exist yet: give its --type");
  }

  LoopbackRedirect redirect;
  redirect.setTimeoutText(o.timeout);
  const std::string redirectUri =
      "http://127.0.0.1:" + std::to_string(redirect.port()) + "/callback";
  const client::Pkce pkce = client::newPkce();
  const std::string state = client::newState();
  std::cerr << "Open this URL in a browser on this machine to sign in:\n\n  "
            << client::authorizationUrl(
                   {o.authUrl, o.clientId, redirectUri, o.scopes, state, pkce.challenge})
            << "\n\nWaiting for the redirect to " << redirectUri << " ..." << std::endl;
  const client::CallbackResult cb = redirect.wait(state, timeout);
  if (!cb.error.empty()) throw CommandError("error: the sign-in was refused (" + cb.error + ")");
  const std::string refreshToken =
      exchangeCode(o, clientSecret, cb.code, redirectUri, pkce.verifier);

  json oauth2 = client::oauth2Spec(o.tokenUrl, o.clientId, clientSecret, refreshToken, o.scopes,
                                   o.clientAuth);
  client::Response res;
  if (exists) {
    res = s.send("PATCH", path, json{{"spec", {{"oauth2", oauth2}}}}.dump(),
                 "application/merge-patch+json");
  } else {
    json body = client::apiKeyManifest(s.ns(), o.key, o.type, "", "");
    body["spec"].erase("value");
    body["spec"]["oauth2"] = oauth2;
    res = s.send("POST", r.path(s.ns()), body.dump(), "application/json");
  }
  if (!isSuccess(res)) throw CommandError(serverError(res));
  std::cout << r.kindDotGroup() << "/" << o.key << (exists ? " configured" : " created")
            << std::endl;
  return 0;
}

}  // namespace

void registerOAuth2(CLI::App& app, Session& session, Action& action) {
  auto* cmd = app.add_subcommand("oauth2", "OAuth 2.0 credentials for upstream APIs");
  addCommonFlags(cmd, session.flags);
  cmd->require_subcommand(1);
  auto opts = std::make_shared<LoginOptions>();
  auto* login = cmd->add_subcommand(
      "login",
      "Sign in with the authorization-code flow (PKCE, loopback redirect) and store the refresh "
      "token in APIKey KEY");
  addCommonFlags(login, session.flags);
  login->add_option("key", opts->key, "Name of the APIKey (created when absent)")->required();
  login->add_option("--auth-url", opts->authUrl, "The provider's authorization endpoint")
      ->required();
  login->add_option("--token-url", opts->tokenUrl, "The provider's token endpoint")->required();
  login->add_option("--client-id", opts->clientId, "The OAuth 2.0 client id")->required();
  login->add_option("--client-secret-file", opts->clientSecretFile,
                    "Read the client secret from this file (- for standard input); none for a "
                    "public client");
  login->add_option("--scope", opts->scopes, "A scope to ask for (repeat the flag for more)");
  login
      ->add_option("--client-auth", opts->clientAuth,
                   "How the client authenticates to the token endpoint: post (client id and "
                   "secret in the form body, the default) or basic (HTTP Basic); kept in the key")
      ->check(CLI::IsMember({"basic", "post"}));
  login->add_option("--type", opts->type, "The MCPType of a new APIKey (e.g. gmail)");
  login->add_option("--timeout", opts->timeout, "How long to wait for the redirect (default 5m)");
  login->callback([&session, &action, opts] {
    action = [&session, opts] { return runLogin(session, *opts); };
  });
}

}  // namespace minimcp::mcpctl
