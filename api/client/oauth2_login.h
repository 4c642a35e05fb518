// The pure parts of `mcpctl oauth2 login`: the OAuth 2.0 authorization-code flow with PKCE (RFC
// 7636, S256) and a loopback redirect (RFC 8252 §7.3), as `gh auth login` and `gcloud auth login`
// run it. The network (the loopback listener, the token request) is mcpctl's.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace minimcp::client {

struct Pkce {
  std::string verifier;   // 43 characters of base64url (32 random bytes)
  std::string challenge;  // base64url(SHA-256(verifier))
};
Pkce newPkce();
std::string pkceChallenge(const std::string& verifier);
// 32 random bytes, base64url: the `state` that ties the redirect to this login.
std::string newState();

struct AuthorizationRequest {
  std::string authUrl;  // the provider's authorization endpoint (may carry a query already)
  std::string clientId;
  std::string redirectUri;  // http://127.0.0.1:PORT/callback
  std::vector<std::string> scopes;
  std::string state;
  std::string codeChallenge;
};
// The URL the user opens: response_type=code, client_id, redirect_uri, scope, state,
// code_challenge, code_challenge_method=S256, and access_type=offline + prompt=consent (Google
// issues a refresh token only then; other providers ignore parameters they do not know).
std::string authorizationUrl(const AuthorizationRequest& r);

// The redirect's request target ("/callback?code=…&state=…"): the code, or an error. nullopt for
// any other path (a browser's /favicon.ico). Throws std::runtime_error when `state` does not match
// (compared in constant time) or when neither code nor error is present.
struct CallbackResult {
  std::string code;
  std::string error;  // the provider's error (and error_description), when it refused
};
std::optional<CallbackResult> parseCallback(const std::string& target,
                                            const std::string& expectedState);

// application/x-www-form-urlencoded body of the authorization_code grant: client_id, and
// client_secret when a secret is given (client_secret_post); with `basic` neither (the client
// authenticates with basicClientAuthorization instead: one method per request).
std::string tokenRequestBody(const std::string& code, const std::string& redirectUri,
                             const std::string& clientId, const std::string& clientSecret,
                             const std::string& codeVerifier, bool basic = false);
// The Authorization header value of client_secret_basic (RFC 6749 §2.3.1): "Basic " +
// base64(urlencoded client id + ":" + urlencoded client secret).
std::string basicClientAuthorization(const std::string& clientId, const std::string& clientSecret);
// The refresh token from the token endpoint's answer; throws std::runtime_error (without any
// token in the message) when there is none.
std::string refreshTokenFrom(int status, const std::string& body);

// Splits "https://host:port/path?q" into the server ("https://host:port") and the request target
// ("/path?q"); throws std::invalid_argument when it is not an http(s) URL.
std::pair<std::string, std::string> splitUrl(const std::string& url);

// The decoded parameters of a query string (without its '?'); the first of repeated keys wins.
std::map<std::string, std::string> parseQuery(const std::string& query);

// spec.oauth2 of an APIKey (clientAuth "basic" or "post"; "" leaves it out: post).
nlohmann::json oauth2Spec(const std::string& tokenUrl, const std::string& clientId,
                          const std::string& clientSecret, const std::string& refreshToken,
                          const std::vector<std::string>& scopes,
                          const std::string& clientAuth = "");

}  // namespace minimcp::client
