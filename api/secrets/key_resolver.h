// KeyResolver: from an MCPInstance's spec.keyRef to the plaintext API key, at spawn time only.
// Reads the "apikeys" object in the instance's namespace, checks it is for the
// instance's MCPType, opens its sealed value with the key ring (AAD "namespace/name/version"),
// and writes every decryption, successful or not, to the audit log.
//
// The plaintext goes only into ResolvedKey::value; messages never contain it, so they can go
// into conditions, events and logs as they are.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "api/crypto/master_key.h"
#include "api/secrets/audit_log.h"
#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp::secrets {

struct ResolvedKey {
  enum class State { Available, NotFound, DecryptFailed, TypeMismatch };

  State state = State::NotFound;
  int64_t version = 0;  // the APIKey's status.version (0 when not found); a new value bumps it
  std::string value;    // the plaintext: only from resolve(), only when Available
  std::string message;  // why it is not available, for the KeyAvailable condition
  // This version holds a refresh token its OAuth 2.0 provider rotated, reported by the instance
  // with this uid, which ran with version `reportedFromVersion` (model::StoredApiKey).
  std::string reportedByUid;
  int64_t reportedFromVersion = 0;

  // The KeyAvailable condition's reason: Decrypted | KeyNotFound | DecryptFailed | TypeMismatch.
  const char* reason() const;
  bool available() const { return state == State::Available; }

  ResolvedKey() = default;
  ResolvedKey(const ResolvedKey&) = default;
  ResolvedKey(ResolvedKey&&) = default;
  ResolvedKey& operator=(const ResolvedKey&) = default;
  ResolvedKey& operator=(ResolvedKey&&) = default;
  ~ResolvedKey();  // wipes `value`
};

class KeyResolver {
 public:
  // All three must outlive the resolver.
  KeyResolver(store::Store& store, const crypto::KeyRing& keys, AuditLog& audit,
              const Clock& clock = SystemClock::instance());

  // The state without decrypting (nothing is audited): NotFound, TypeMismatch, DecryptFailed
  // when there is no sealed value or it names a master key the ring lacks, else Available
  // (with version, without value). For every reconcile; decryption itself may still fail in
  // resolve(), e.g. for a sealed value copied from another APIKey.
  ResolvedKey check(const std::string& ns, const std::string& keyName,
                    const std::string& expectedType) const;

  // Decrypts for a launch. `expectedType` is the instance's spec.type ("" skips the check);
  // `actor` is "mcpd/<node>"; `instanceName` the instance in namespace `ns`. Throws
  // AuditLogError when the audit record cannot be written (the value is then not returned)
  // and StoreError when the store is unavailable.
  ResolvedKey resolve(const std::string& ns, const std::string& keyName,
                      const std::string& expectedType, const std::string& actor,
                      const std::string& instanceName) const;

  // The same for an APIKey object already at hand (an informer cache); nullptr: not found.
  ResolvedKey check(const nlohmann::json* apiKey, const std::string& ns, const std::string& keyName,
                    const std::string& expectedType) const;
  ResolvedKey resolve(const nlohmann::json* apiKey, const std::string& ns,
                      const std::string& keyName, const std::string& expectedType,
                      const std::string& actor, const std::string& instanceName) const;

  // Decrypts the signing key of the NotificationSink `sinkName` (an APIKey of any type in the
  // sink's namespace `ns`), audited as a launch's is, with the sink in place of an instance.
  ResolvedKey resolveForSink(const nlohmann::json* apiKey, const std::string& ns,
                             const std::string& keyName, const std::string& actor,
                             const std::string& sinkName) const;

 private:
  // resolve() with the audit record's who and what for already filled in.
  ResolvedKey open(const nlohmann::json* apiKey, const std::string& ns, const std::string& keyName,
                   const std::string& expectedType, AuditRecord record) const;

  store::Store& store_;
  const crypto::KeyRing& keys_;
  AuditLog& audit_;
  const Clock& clock_;
};

}  // namespace minimcp::secrets
