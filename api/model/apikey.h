// APIKey: a namespaced, write-only secret for one MCPType.
//
// The secret is one of two shapes: spec.value (a static key) or spec.oauth2 (OAuth 2.0 client
// credentials and a refresh token: {tokenURL, clientID, clientSecret?, refreshToken, scopes?,
// clientAuth?: basic|post (how the client authenticates to the token endpoint; absent = post)}),
// which is sealed whole as the canonical JSON {"oauth2": {...}} (oauth2Plaintext) and reaches the
// instance in that form; the instance, never mcpd, fetches the token URL.
// status.oauth2 {tokenURL, clientID, scopes, clientAuth} describes a sealed OAuth 2.0 credential as
// status.hint describes a value (the hint is then the refresh token's).
//
// spec.value is accepted on create/update and never stored or served: the strategy seals it
// (AES-256-GCM, api/crypto/aead.h) under the process-wide key ring set with setApiKeyKeyRing(),
// removes it from spec, and keeps the sealed form in the top-level field `sealed`, which the store
// keeps and sanitizeForRead() removes from everything that leaves the server:
//
//   sealed: {value: "v1:<keyId>:<base64>", digest: "<keyId>:<base64url HMAC>"}
//   status: {version: 3, hint: "…abcd", rotatedAt, rotateBy, conditions: [RotationDue]}
//
// The sealed value's additional authenticated data is apiKeyAad(ns, name, status.version), so a
// sealed value copied onto another APIKey (or another version) does not open. `digest` is a keyed
// HMAC of the value: re-applying the same value (kubectl apply of an unchanged manifest) is
// recognised without decrypting and keeps the version, so it does not restart instances; a
// different value always makes a new version.
//
// A refresh token the OAuth 2.0 provider rotated, reported by an instance that uses the key
// (POST .../mcpinstances/{name}/oauth2token), is sealed as the next version by
// sealRotatedRefreshToken, which also records in `sealed.reportedBy` {uid, fromVersion} which
// instance reported it and from which version: that instance's running process already holds the
// new token, so the controller does not replace it for this version.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "api/crypto/master_key.h"

namespace minimcp::model {

inline constexpr const char* kApiKeyPlural = "apikeys";
// Top-level, stored, never served.
inline constexpr const char* kApiKeySealedField = "sealed";
inline constexpr size_t kMaxApiKeyValueBytes = 16 * 1024;
// spec.oauth2.tokenURL: at most this long.
inline constexpr size_t kMaxTokenUrlBytes = 2048;
// spec.oauth2.clientAuth (RFC 6749 §2.3.1): client_secret_basic or client_secret_post (absent).
inline constexpr const char* kClientAuthBasic = "basic";
inline constexpr const char* kClientAuthPost = "post";

// The condition the strategy keeps on every write: True once status.rotateBy has passed.
inline constexpr const char* kConditionRotationDue = "RotationDue";

// The key ring new values are sealed under (its primary key). Set once at mcpd start, before the
// API serves; nullptr (the default) makes every write that carries spec.value fail with 500.
// The ring must outlive every later APIKey write.
void setApiKeyKeyRing(const crypto::KeyRing* keys);
const crypto::KeyRing* apiKeyKeyRing();

// "namespace/name/version": the additional authenticated data of a sealed value.
std::string apiKeyAad(std::string_view ns, std::string_view name, int64_t version);
// "<primary key id>:" + base64url(HMAC-SHA256(derive("apikey-digest"), ns/name + '\0' + value)).
// Bound to the key's identity so equal values of different keys are not linkable.
std::string apiKeyDigest(const crypto::KeyRing& keys, std::string_view ns, std::string_view name,
                         std::string_view value);

// Which hosts an OAuth 2.0 token URL may name.
enum class TokenUrlHosts {
  // Public ones only, what a tenant may name: no loopback, unspecified, link-local or private
  // address (IPv4 in every notation a URL parser reads as one: "127.1", "2130706433",
  // "0x7f.0.0.1"; IPv6, IPv4-mapped included), no `localhost` or `*.localhost`. Otherwise the
  // instance would send its refresh-token grant to a service of the host or its network.
  Public,
  // Any host, plain http to a loopback one too: an admin lets token endpoints live on the host
  // or its networks (mcpd --oauth2-allow-private-token-urls: tests, an in-house provider), or
  // the user's own mcpctl checks a URL it fetches itself.
  Any,
};

// Why `url` cannot be an OAuth 2.0 token endpoint ("" when it can): an absolute https URL with a
// host written in ASCII (no percent-encoding), no user info and no fragment, the host allowed by
// `hosts`; plain http only to a loopback host (127.0.0.1, [::1], localhost) and only with
// TokenUrlHosts::Any. The instance that fetches it checks again.
std::string tokenUrlProblem(std::string_view url, TokenUrlHosts hosts);

// Why `host` (a URL's host as written, an IPv6 address in brackets) is not a public one: "a
// loopback address", "a private address", …; "" when it is public.
std::string nonPublicHostReason(std::string_view host);

// The hosts the APIKey strategy accepts in spec.oauth2.tokenURL: Public unless set at mcpd
// start (before the API serves).
void setApiKeyTokenUrlHosts(TokenUrlHosts hosts);
TokenUrlHosts apiKeyTokenUrlHosts();

// The canonical plaintext sealed for a valid spec.oauth2 object: {"oauth2": {...}} with exactly
// the fields given (keys sorted, so the same credentials always give the same digest).
std::string oauth2Plaintext(const nlohmann::json& oauth2);

// Seals `oauth2` (spec.oauth2 of a stored OAuth 2.0 APIKey, as its sealed plaintext holds it,
// with the provider's new refresh token) into stored APIKey `obj` as its next version:
// sealed.{value,digest}, status.{version,hint}; sealed.reportedBy = {uid: reporterUid,
// fromVersion: the version it replaces}. Nothing else changes: the credentials' description
// (status.oauth2), spec and status.rotatedAt (the user's rotation clock) stay.
void sealRotatedRefreshToken(nlohmann::json& obj, const crypto::KeyRing& keys,
                             const nlohmann::json& oauth2, const std::string& reporterUid);

// The parts of a stored APIKey that key resolution and rotation read. Tolerant: absent or
// mistyped fields stay empty/0.
struct StoredApiKey {
  std::string ns;
  std::string name;
  std::string type;         // spec.type: the MCPType the key is for
  int64_t version = 0;      // status.version
  std::string sealedValue;  // sealed.value; empty when the object carries none
  std::string digest;       // sealed.digest
  // sealed.reportedBy: the instance (uid) that reported this version's refresh token, rotated by
  // its provider, and the version it replaced; empty/0 for a value a user wrote.
  std::string reportedByUid;
  int64_t reportedFromVersion = 0;

  static StoredApiKey fromJson(const nlohmann::json& obj);
};

}  // namespace minimcp::model
