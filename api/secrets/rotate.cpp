#include "api/secrets/rotate.h"

#include <openssl/crypto.h>

#include "api/crypto/aead.h"
#include "api/model/apikey.h"
#include "api/registry/guaranteed_update.h"

namespace minimcp::secrets {

using nlohmann::json;

namespace {

std::string keyIdOfDigest(const std::string& digest) {
  auto colon = digest.find(':');
  return colon == std::string::npos ? "" : digest.substr(0, colon);
}

enum class Outcome { Resealed, Unchanged, Gone };

// Re-seals one object in place; throws crypto::DecryptFailed.
bool resealObject(json& obj, const crypto::KeyRing& keys, AuditLog& audit, const std::string& actor,
                  const Clock& clock) {
  auto key = model::StoredApiKey::fromJson(obj);
  if (key.sealedValue.empty()) return false;
  bool digestCurrent = keyIdOfDigest(key.digest) == keys.primary().id();
  if (!crypto::needsReseal(keys, key.sealedValue) && digestCurrent) return false;

  const std::string aad = model::apiKeyAad(key.ns, key.name, key.version);
  AuditRecord record{.time = clock.now(),
                     .actor = actor,
                     .action = "reseal",
                     .apiKey = key.ns + "/" + key.name,
                     .version = key.version,
                     .instance = "",
                     .sink = "",
                     .result = "ok"};
  std::string value;
  try {
    value = crypto::open(keys, key.sealedValue, aad);
  } catch (const crypto::DecryptFailed& e) {
    record.result = std::string("DecryptFailed: ") + e.what();
    audit.append(record);
    throw;
  }
  try {
    audit.append(record);
    // Only the value and its digest: what else `sealed` records (reportedBy) stays.
    json& sealed = obj[model::kApiKeySealedField];
    sealed["value"] = crypto::seal(keys, value, aad);
    sealed["digest"] = model::apiKeyDigest(keys, key.ns, key.name, value);
  } catch (...) {
    OPENSSL_cleanse(value.data(), value.size());
    throw;
  }
  OPENSSL_cleanse(value.data(), value.size());
  return true;
}

Outcome rotateOne(store::Store& store, const json& listed, const crypto::KeyRing& keys,
                  AuditLog& audit, const std::string& actor, const Clock& clock) {
  auto key = model::StoredApiKey::fromJson(listed);
  registry::UpdateOptions absentIsFine;
  absentIsFine.ignoreNotFound = true;
  // Someone may write the key meanwhile (a new value, a status update): each attempt reseals
  // their version.
  auto result = registry::guaranteedUpdate(
      store, model::kApiKeyPlural, key.ns, key.name,
      [&](const json* current) {
        if (!current) return registry::Change::keep();
        json obj = *current;
        if (!resealObject(obj, keys, audit, actor, clock)) return registry::Change::keep();
        return registry::Change::write(std::move(obj));
      },
      absentIsFine);
  if (result.outcome == registry::UpdateResult::Outcome::Updated) return Outcome::Resealed;
  return result.object ? Outcome::Unchanged : Outcome::Gone;
}

}  // namespace

RotationReport rotateMasterKey(store::Store& store, const crypto::KeyRing& keys, AuditLog& audit,
                               const std::string& actor, const Clock& clock) {
  RotationReport report;
  store::ListOptions opts{.limit = 100};
  do {
    store::ListResult page = store.list(model::kApiKeyPlural, opts);
    for (json& obj : page.items) {
      auto key = model::StoredApiKey::fromJson(obj);
      try {
        switch (rotateOne(store, obj, keys, audit, actor, clock)) {
          case Outcome::Resealed:
            ++report.resealed;
            break;
          case Outcome::Unchanged:
            ++report.unchanged;
            break;
          case Outcome::Gone:
            break;
        }
      } catch (const crypto::DecryptFailed& e) {
        report.failed.push_back(key.ns + "/" + key.name + ": " + e.what());
      }
    }
    opts.continueToken = page.continueToken;
  } while (!opts.continueToken.empty());
  return report;
}

}  // namespace minimcp::secrets
