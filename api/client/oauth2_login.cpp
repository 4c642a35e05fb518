#include "api/client/oauth2_login.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <stdexcept>

#include "api/client/http_client.h"
#include "api/crypto/encoding.h"
#include "api/util/random.h"
#include "api/util/url.h"

namespace minimcp::client {

namespace {

std::string randomBase64Url(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("no randomness available");
  }
  return crypto::base64UrlEncode(raw);
}

}  // namespace

std::string pkceChallenge(const std::string& verifier) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), digest);
  return crypto::base64UrlEncode({reinterpret_cast<const char*>(digest), sizeof digest});
}

Pkce newPkce() {
  Pkce p;
  p.verifier = randomBase64Url(32);
  p.challenge = pkceChallenge(p.verifier);
  return p;
}

std::string newState() { return randomBase64Url(32); }

std::string authorizationUrl(const AuthorizationRequest& r) {
  std::string scope;
  for (const auto& s : r.scopes) scope += (scope.empty() ? "" : " ") + s;
  std::string url = r.authUrl;
  url += url.find('?') == std::string::npos ? '?' : '&';
  url += "response_type=code&client_id=" + urlEncode(r.clientId) +
         "&redirect_uri=" + urlEncode(r.redirectUri);
  if (!scope.empty()) url += "&scope=" + urlEncode(scope);
  url += "&state=" + urlEncode(r.state) + "&code_challenge=" + urlEncode(r.codeChallenge) +
         "&code_challenge_method=S256&access_type=offline&prompt=consent";
  return url;
}

std::map<std::string, std::string> parseQuery(const std::string& query) {
  std::map<std::string, std::string> out;
  forEachQueryParam(query, [&](std::string key, std::string value) {
    out.emplace(std::move(key), std::move(value));  // the first of repeated keys wins
  });
  return out;
}

std::optional<CallbackResult> parseCallback(const std::string& target,
                                            const std::string& expectedState) {
  const size_t q = target.find('?');
  if (target.substr(0, q) != "/callback") return std::nullopt;
  auto params = parseQuery(q == std::string::npos ? "" : target.substr(q + 1));
  if (!constantTimeEquals(params["state"], expectedState) || expectedState.empty()) {
    throw std::runtime_error(
        "the redirect's state does not match this login (another login, or "
        "a forged redirect): nothing stored");
  }
  CallbackResult r;
  if (!params["error"].empty()) {
    r.error = params["error"];
    if (!params["error_description"].empty()) r.error += ": " + params["error_description"];
    return r;
  }
  r.code = params["code"];
  if (r.code.empty()) throw std::runtime_error("the redirect carries neither a code nor an error");
  return r;
}

std::string tokenRequestBody(const std::string& code, const std::string& redirectUri,
                             const std::string& clientId, const std::string& clientSecret,
                             const std::string& codeVerifier, bool basic) {
  std::string body = "grant_type=authorization_code&code=" + urlEncode(code) +
                     "&redirect_uri=" + urlEncode(redirectUri);
  if (!basic) body += "&client_id=" + urlEncode(clientId);
  body += "&code_verifier=" + urlEncode(codeVerifier);
  if (!basic && !clientSecret.empty()) body += "&client_secret=" + urlEncode(clientSecret);
  return body;
}

std::string basicClientAuthorization(const std::string& clientId, const std::string& clientSecret) {
  return "Basic " + crypto::base64Encode(urlEncode(clientId) + ":" + urlEncode(clientSecret));
}

std::string refreshTokenFrom(int status, const std::string& body) {
  const nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  auto text = [&](const char* field) -> std::string {
    if (!doc.is_object()) return "";
    auto it = doc.find(field);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : "";
  };
  if (status < 200 || status >= 300) {
    std::string error = text("error");
    // The error code is RFC 6749's vocabulary; the description is the provider's text.
    std::string why = error.empty() ? "HTTP " + std::to_string(status) : error;
    if (!text("error_description").empty()) why += ": " + text("error_description").substr(0, 300);
    throw std::runtime_error("the token endpoint refused the code (" + why + ")");
  }
  std::string refresh = text("refresh_token");
  if (refresh.empty()) {
    throw std::runtime_error(
        "the token endpoint answered without a refresh token (does the client ask for offline "
        "access?)");
  }
  return refresh;
}

std::pair<std::string, std::string> splitUrl(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos ||
      (url.compare(0, scheme, "https") != 0 && url.compare(0, scheme, "http") != 0)) {
    throw std::invalid_argument("\"" + url + "\" is not an http(s) URL");
  }
  size_t path = url.find_first_of("/?#", scheme + 3);
  std::string server = url.substr(0, path);
  std::string target = path == std::string::npos ? "/" : url.substr(path);
  if (size_t hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  if (target.empty() || target[0] == '?') target = "/" + target;
  return {server, target};
}

nlohmann::json oauth2Spec(const std::string& tokenUrl, const std::string& clientId,
                          const std::string& clientSecret, const std::string& refreshToken,
                          const std::vector<std::string>& scopes, const std::string& clientAuth) {
  nlohmann::json o = {
      {"tokenURL", tokenUrl}, {"clientID", clientId}, {"refreshToken", refreshToken}};
  if (!clientSecret.empty()) o["clientSecret"] = clientSecret;
  if (!scopes.empty()) o["scopes"] = scopes;
  if (!clientAuth.empty()) o["clientAuth"] = clientAuth;
  return o;
}

}  // namespace minimcp::client
