#include "api/secrets/key_resolver.h"

#include <openssl/crypto.h>

#include <optional>

#include "api/crypto/aead.h"
#include "api/model/apikey.h"

namespace minimcp::secrets {

using nlohmann::json;
using State = ResolvedKey::State;

namespace {

std::string inQuotes(const std::string& s) { return "\"" + s + "\""; }

ResolvedKey withState(State state, int64_t version, std::string message) {
  ResolvedKey r;
  r.state = state;
  r.version = version;
  r.message = std::move(message);
  return r;
}

}  // namespace

const char* ResolvedKey::reason() const {
  switch (state) {
    case State::Available:
      return "Decrypted";
    case State::NotFound:
      return "KeyNotFound";
    case State::DecryptFailed:
      return "DecryptFailed";
    case State::TypeMismatch:
      return "TypeMismatch";
  }
  return "DecryptFailed";
}

ResolvedKey::~ResolvedKey() { OPENSSL_cleanse(value.data(), value.size()); }

KeyResolver::KeyResolver(store::Store& store, const crypto::KeyRing& keys, AuditLog& audit,
                         const Clock& clock)
    : store_(store), keys_(keys), audit_(audit), clock_(clock) {}

ResolvedKey KeyResolver::check(const std::string& ns, const std::string& keyName,
                               const std::string& expectedType) const {
  std::optional<json> obj = store_.get(model::kApiKeyPlural, ns, keyName);
  return check(obj ? &*obj : nullptr, ns, keyName, expectedType);
}

ResolvedKey KeyResolver::resolve(const std::string& ns, const std::string& keyName,
                                 const std::string& expectedType, const std::string& actor,
                                 const std::string& instanceName) const {
  std::optional<json> obj = store_.get(model::kApiKeyPlural, ns, keyName);
  return resolve(obj ? &*obj : nullptr, ns, keyName, expectedType, actor, instanceName);
}

ResolvedKey KeyResolver::check(const json* apiKey, const std::string& ns,
                               const std::string& keyName, const std::string& expectedType) const {
  if (!apiKey) {
    return withState(State::NotFound, 0,
                     "APIKey " + inQuotes(keyName) + " not found in namespace " + inQuotes(ns));
  }
  auto key = model::StoredApiKey::fromJson(*apiKey);
  if (!expectedType.empty() && key.type != expectedType) {
    return withState(State::TypeMismatch, key.version,
                     "APIKey " + inQuotes(keyName) + " is for type " + inQuotes(key.type) +
                         ", not " + inQuotes(expectedType));
  }
  if (key.sealedValue.empty() || key.version <= 0) {
    return withState(State::DecryptFailed, key.version,
                     "APIKey " + inQuotes(keyName) + " has no stored value");
  }
  try {
    std::string keyId = crypto::sealedKeyId(key.sealedValue);
    if (!keys_.find(keyId)) {
      return withState(State::DecryptFailed, key.version,
                       "APIKey " + inQuotes(keyName) + " is sealed under master key " +
                           inQuotes(keyId) + ", which this server does not have");
    }
  } catch (const crypto::DecryptFailed& e) {
    return withState(State::DecryptFailed, key.version,
                     "APIKey " + inQuotes(keyName) + " cannot be decrypted: " + e.what());
  }
  ResolvedKey r = withState(State::Available, key.version, "");
  r.reportedByUid = key.reportedByUid;
  r.reportedFromVersion = key.reportedFromVersion;
  return r;
}

ResolvedKey KeyResolver::resolve(const json* apiKey, const std::string& ns,
                                 const std::string& keyName, const std::string& expectedType,
                                 const std::string& actor, const std::string& instanceName) const {
  AuditRecord record;
  record.actor = actor;
  record.instance = instanceName.empty() ? "" : ns + "/" + instanceName;
  return open(apiKey, ns, keyName, expectedType, std::move(record));
}

ResolvedKey KeyResolver::resolveForSink(const json* apiKey, const std::string& ns,
                                        const std::string& keyName, const std::string& actor,
                                        const std::string& sinkName) const {
  AuditRecord record;
  record.actor = actor;
  record.sink = ns + "/" + sinkName;
  return open(apiKey, ns, keyName, "", std::move(record));
}

ResolvedKey KeyResolver::open(const json* apiKey, const std::string& ns, const std::string& keyName,
                              const std::string& expectedType, AuditRecord record) const {
  ResolvedKey r = check(apiKey, ns, keyName, expectedType);
  // Every attempt on an existing key of the right type is audited, including those that fail
  // before the cipher runs; a missing or mismatched key reveals nothing.
  if (r.state == State::NotFound || r.state == State::TypeMismatch) return r;

  auto key = model::StoredApiKey::fromJson(*apiKey);
  record.time = clock_.now();
  record.action = "decrypt";
  record.apiKey = ns + "/" + keyName;
  record.version = key.version;
  record.result = "ok";
  if (r.state == State::Available) {
    try {
      r.value = crypto::open(keys_, key.sealedValue, model::apiKeyAad(ns, keyName, key.version));
    } catch (const crypto::DecryptFailed& e) {
      r = withState(State::DecryptFailed, key.version,
                    "APIKey " + inQuotes(keyName) + " cannot be decrypted: " + e.what());
    }
  }
  if (r.state == State::DecryptFailed) record.result = "DecryptFailed: " + r.message;
  try {
    audit_.append(record);
  } catch (...) {
    OPENSSL_cleanse(r.value.data(), r.value.size());
    throw;
  }
  return r;
}

}  // namespace minimcp::secrets
