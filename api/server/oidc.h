// OpenID Connect access tokens: JWTs signed by the configured issuer, accepted beside mcpd's own
// bearer tokens by the API and the gateway.
//
// What a token must carry to be accepted:
// - a signature by a key of the issuer's JWKS, with an asymmetric algorithm (RS256/384/512,
//   ES256/384/512) the key is for: never `none`, never an HMAC (the public key is no secret);
// - `iss` equal to the issuer, character for character;
// - `aud` (a string or an array) naming an audience the request accepts (RFC 8707): on the
//   gateway the instance's resource URL or the configured audience, on the API only the
//   configured audience (a token bound to one instance never opens the API);
// - `exp` in the future and `nbf`, when present, in the past (both with a small leeway);
// - the namespaces claim (a string or an array of strings), whose values carrying the prefix
//   name the namespaces granted; at least one valid namespace name.
// The identity is a tenant of exactly those namespaces (Identity::Role::Namespace), never admin.
//
// Keys: `{issuer}/.well-known/openid-configuration` names `jwks_uri`; the key set is fetched
// on first use and again when a token names a key it does not hold, at most once per
// refreshInterval (and, after a failed fetch, after a doubling backoff). A request whose key is
// held never waits for a fetch, so an unreachable issuer only delays tokens signed by new keys.
// Tokens are never logged.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/server/auth.h"
#include "api/util/clock.h"

namespace minimcp::server {

struct OidcOptions {
  std::string issuer;    // "" = OpenID Connect off
  std::string audience;  // accepted on the API and on every instance; "" = none
  std::string namespacesClaim = "groups";
  std::string namespacePrefix = "minimcp:";  // only values with it count; "" = every value
  std::chrono::seconds leeway{30};           // for exp and nbf
  std::chrono::milliseconds refreshInterval{10000};
  std::chrono::milliseconds maxBackoff{300000};
};

// An HTTPS GET returning the body of a 200 answer; throws std::runtime_error otherwise
// (including a timeout). The real one lives with mcpd's wiring; tests give a fake.
using HttpGet = std::function<std::string(const std::string& url)>;

// Why a token was refused, for tests and debug logs (never with the token).
enum class OidcRefusal {
  None,
  Malformed,
  Algorithm,
  UnknownKey,
  Signature,
  Issuer,
  Audience,
  Expired,
  NotYetValid,
  NoNamespace,
};
const char* describe(OidcRefusal r);

class OidcVerifier {
 public:
  OidcVerifier(OidcOptions options, HttpGet get, const Clock& clock = SystemClock::instance());
  ~OidcVerifier();

  // Whether `token` has the shape of a JWS (three dot-separated parts); others are not ours.
  static bool looksLikeJwt(const std::string& token);

  // The identity `token` grants for a request that accepts `audiences` (besides the configured
  // audience), or nullopt with the reason in `why`.
  std::optional<Identity> verify(const std::string& token,
                                 const std::vector<std::string>& audiences,
                                 OidcRefusal* why = nullptr) const;

  const OidcOptions& options() const { return options_; }

 private:
  struct Key;
  std::shared_ptr<const Key> key(const std::string& kid, const std::string& alg) const;
  // The claims of `token` when its signature is good (by a key of the set, with an allowed
  // algorithm), else nullopt with the refusal.
  std::optional<nlohmann::json> signedClaims(const std::string& token, OidcRefusal& refusal) const;
  bool refresh() const;  // fetches the key set now if allowed; true when it changed
  void fetch() const;

  OidcOptions options_;
  HttpGet get_;
  const Clock& clock_;

  mutable std::shared_mutex keysMu_;
  mutable std::vector<std::shared_ptr<const Key>> keys_;

  // Claims of tokens whose signature was verified, by the token's SHA-256: a token seen again
  // skips the signature (cpp-jwt decodes the PEM key for every verification, most of a JWT's
  // cost); issuer, time, audience and namespaces are checked every time. Emptied when the key
  // set changes, so a key the issuer withdrew stops working at the next fetch; bounded.
  mutable std::mutex verifiedMu_;
  mutable std::unordered_map<std::string, std::shared_ptr<const nlohmann::json>> verified_;
  mutable uint64_t keyGeneration_ = 0;  // +1 with every new key set

  mutable std::mutex fetchMu_;  // one fetch at a time; held only by requests with a new key
  mutable std::string jwksUri_;
  mutable std::optional<std::chrono::steady_clock::time_point> nextFetch_;
  mutable std::chrono::milliseconds backoff_{0};
};

// mcpd's own tokens first, then (when configured) OpenID Connect access tokens.
class RequestAuthenticator : public Authenticator {
 public:
  RequestAuthenticator(const Authenticator& own, std::shared_ptr<const OidcVerifier> oidc)
      : own_(own), oidc_(std::move(oidc)) {}
  std::optional<Identity> authenticate(const std::string& token,
                                       const std::vector<std::string>& resources) const override;

 private:
  const Authenticator& own_;
  std::shared_ptr<const OidcVerifier> oidc_;
};

// The PEM (SubjectPublicKeyInfo) of a JWK's public key: RSA (n, e) or EC (crv P-256/384/521,
// x, y). Throws std::runtime_error for anything else.
std::string jwkToPem(const nlohmann::json& jwk);

}  // namespace minimcp::server
