// Bearer-token authentication. Tokens are random 256-bit values stored only as SHA-256 hashes
// in the store (internal resource "tokens", never served over REST) and compared in constant
// time. The interface leaves room for namespace-bound tokens (tenancy).
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "api/store/store.h"

namespace minimcp::crypto {
class InstanceTokens;
}

namespace minimcp::server {

inline constexpr const char* kTokensResource = "tokens";

struct Identity {
  // What each role may do: authorizer.h. Instance identities are never stored: the gateway
  // makes one for a verified instance token.
  enum class Role { Admin, Namespace, Instance };
  Role role = Role::Admin;
  std::string ns;    // Namespace: the only namespace it may touch; Instance: the instance's
  std::string name;  // the token record's name, for logs; Instance: the instance's name
  // Namespace from an OpenID Connect token (ns empty): every namespace it is a tenant of.
  std::vector<std::string> namespaces{};
  bool isAdmin() const { return role == Role::Admin; }
  // Namespace: whether `n` is (one of) its namespace(s).
  bool tenantOf(const std::string& n) const {
    return !n.empty() &&
           (n == ns || std::find(namespaces.begin(), namespaces.end(), n) != namespaces.end());
  }
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // nullopt when the token is unknown. `resources`: the RFC 8707 resources the request is for
  // (the gateway: the instance's URLs; none for the API), audiences a token may be bound to.
  virtual std::optional<Identity> authenticate(const std::string& token,
                                               const std::vector<std::string>& resources) const = 0;
};

// Tokens kept in the store; a cache follows the store's changes, so a token added or revoked
// by any writer (another node on a shared store too) takes effect at once.
class StoreTokenAuthenticator : public Authenticator {
 public:
  explicit StoreTokenAuthenticator(store::Store& store);
  ~StoreTokenAuthenticator() override;

  std::optional<Identity> authenticate(
      const std::string& token, const std::vector<std::string>& resources = {}) const override;

  // Creates or replaces the token record `name`; returns the plaintext, which exists nowhere
  // else afterwards.
  std::string issueToken(const std::string& name, const Identity& identity);
  // Like issueToken, but never replaces: throws store::StoreError AlreadyExists.
  std::string createToken(const std::string& name, const Identity& identity);
  // True when `token` is the current token of record `name`.
  bool verify(const std::string& name, const std::string& token) const;

  struct TokenInfo {
    std::string name;
    Identity identity;
    std::string createdAt;  // RFC 3339; "" for records written before it was kept
  };
  // Every token record, by name (never the hashes).
  std::vector<TokenInfo> listTokens() const;

  enum class RevokeResult { Revoked, NotFound, LastAdmin };
  // Deletes record `name`; the token stops working at once. The last admin token is kept
  // (LastAdmin), so the API can never be left without an administrator by accident.
  RevokeResult revokeToken(const std::string& name);

 private:
  void upsert(const nlohmann::json& record);
  void erase(const std::string& name);
  void eraseLocked(const std::string& name);  // mu_ held exclusively
  std::string writeToken(const std::string& name, const Identity& identity, bool replace);

  store::Store& store_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::string> sha256ByName_;  // record name → its token's SHA-256
  std::map<std::string, Identity> bySha256_;         // a token's SHA-256 → its identity
  std::unique_ptr<store::Subscription> subscription_;
  std::mutex revokeMu_;  // one revocation at a time, so two can't both remove "the other" admin
};

// Instance tokens (api/crypto/instance_token.h) presented to the API. Each MCPInstance's current
// token, derived from its uid and tokenGeneration, is held only as its SHA-256 (as stored tokens
// are) in a cache that follows the store's changes, so a new tokenGeneration revokes the old
// token for the very next request; a match is that instance's identity (Role::Instance).
class InstanceTokenAuthenticator : public Authenticator {
 public:
  // Both must outlive this.
  InstanceTokenAuthenticator(store::Store& store, const crypto::InstanceTokens& tokens);
  ~InstanceTokenAuthenticator() override;

  std::optional<Identity> authenticate(
      const std::string& token, const std::vector<std::string>& resources = {}) const override;

 private:
  struct Entry {
    std::string sha256;  // of the current token; "" while deleted
    int64_t resourceVersion = 0;
  };
  void apply(const nlohmann::json& obj, int64_t resourceVersion, bool deleted);

  const crypto::InstanceTokens& tokens_;
  mutable std::shared_mutex mu_;
  std::map<std::string, Entry> byKey_;        // "ns/name"
  std::map<std::string, Identity> bySha256_;  // the token's SHA-256 → its instance
  bool filling_ = true;                       // the constructor lists the instances
  std::unique_ptr<store::Subscription> subscription_;
};

// Extracts the token of an "Authorization: Bearer X" header value; "" when absent.
std::string bearerToken(const std::string& authorizationHeader);

}  // namespace minimcp::server
