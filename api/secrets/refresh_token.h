// A refresh token that an instance's OAuth 2.0 provider rotated (returned a new one with a
// refresh, invalidating the old), persisted into the APIKey the instance runs with, so that its
// next process (after a crash, a replacement, a wake from Idle, an mcpd restart) starts with the
// token that still works. The instance reports it (POST .../mcpinstances/{name}/oauth2token,
// api/server/api_server.cpp); this re-seals it as the APIKey's next version.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "api/crypto/master_key.h"
#include "api/secrets/audit_log.h"
#include "api/store/store.h"

namespace minimcp::secrets {

struct RotatedRefreshToken {
  std::string ns;
  std::string apiKey;        // the APIKey (the instance's spec.keyRef)
  std::string instance;      // the reporting instance's name, for the audit log
  std::string instanceUid;   // recorded with the new version (model::sealRotatedRefreshToken)
  std::string refreshToken;  // the provider's new refresh token
  // Lowercase hex SHA-256 of the refresh token it replaces: a compare-and-swap. When the stored
  // one differs (a newer report, or a user's new value, came first), nothing is stored.
  std::string previousSha256;
};

struct StoredRefreshToken {
  int64_t fromVersion = 0;  // the APIKey's version before
  int64_t version = 0;      // after (== fromVersion when unchanged)
  // The stored refresh token was already this one (the same report again, after an answer that
  // got lost): nothing was written.
  bool unchanged = false;
  // apiVersion, kind and metadata of the APIKey (no secret): what an event about it names.
  nlohmann::json apiKey;
};

// Opens the APIKey's sealed credentials (an audited decryption by `actor` for the instance),
// checks `previousSha256`, and writes the credentials with the new refresh token as the next
// version through registry::guaranteedUpdate, as `fieldManager`. Nothing but the refresh token
// (and what describes the sealed value: status.version, status.hint) changes.
// Throws ApiError 409 Conflict when the stored token is not the one `previousSha256` names or the
// key holds no OAuth 2.0 credentials (or cannot be opened), store::StoreError NotFound when the
// APIKey is gone, and what the store and the audit log throw. No message contains a token.
StoredRefreshToken storeRotatedRefreshToken(store::Store& store, const crypto::KeyRing& keys,
                                            AuditLog& audit, const RotatedRefreshToken& report,
                                            const std::string& actor,
                                            const std::string& fieldManager);

}  // namespace minimcp::secrets
