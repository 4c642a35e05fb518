#include "api/secrets/refresh_token.h"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>

#include "api/model/apikey.h"
#include "api/registry/guaranteed_update.h"
#include "api/secrets/key_resolver.h"
#include "api/util/api_error.h"
#include "api/util/random.h"

namespace minimcp::secrets {

using nlohmann::json;

namespace {

void wipe(std::string& s) { OPENSSL_cleanse(s.data(), s.size()); }

// Wipes every string in `j` (the parsed plaintext) before it is freed.
void wipe(json& j) {
  if (j.is_string()) {
    wipe(j.get_ref<std::string&>());
  } else if (j.is_structured()) {
    for (auto& v : j) wipe(v);
  }
}

ApiError conflict(const std::string& message) { return ApiError(409, "Conflict", message); }

}  // namespace

StoredRefreshToken storeRotatedRefreshToken(store::Store& store, const crypto::KeyRing& keys,
                                            AuditLog& audit, const RotatedRefreshToken& report,
                                            const std::string& actor,
                                            const std::string& fieldManager) {
  const KeyResolver opener(store, keys, audit);
  const std::string subject = "APIKey \"" + report.apiKey + "\"";
  const std::string newSha256 = sha256Hex(report.refreshToken);
  StoredRefreshToken out;
  registry::UpdateOptions options;
  options.fieldManager = fieldManager;
  auto result = registry::guaranteedUpdate(
      store, model::kApiKeyPlural, report.ns, report.apiKey,
      [&](const json* current) {
        out = {};
        ResolvedKey key =
            opener.resolve(current, report.ns, report.apiKey, "", actor, report.instance);
        if (!key.available()) throw conflict(key.message);
        out.fromVersion = out.version = key.version;
        json plain = json::parse(key.value, nullptr, false);
        const json* oauth2 = plain.is_object() ? &plain["oauth2"] : nullptr;
        const bool credentials = oauth2 && oauth2->is_object() &&
                                 oauth2->contains("refreshToken") &&
                                 (*oauth2)["refreshToken"].is_string();
        if (!credentials) {
          wipe(plain);
          throw conflict(subject + " holds a static value, not OAuth 2.0 credentials");
        }
        std::string storedSha256 = sha256Hex((*oauth2)["refreshToken"].get<std::string>());
        if (constantTimeEquals(storedSha256, newSha256)) {
          wipe(plain);
          out.unchanged = true;
          return registry::Change::keep();
        }
        if (!constantTimeEquals(storedSha256, report.previousSha256)) {
          wipe(plain);
          throw conflict("the refresh token stored in " + subject +
                         " is not the one \"previous\" names (a newer report or a new value "
                         "came first): nothing was stored");
        }
        json next = *oauth2;
        wipe(plain);
        next["refreshToken"] = report.refreshToken;
        json obj = *current;
        model::sealRotatedRefreshToken(obj, keys, next, report.instanceUid);
        wipe(next);
        out.version = out.fromVersion + 1;
        return registry::Change::write(std::move(obj));
      },
      options);
  if (result.object) {
    for (const char* f : {"apiVersion", "kind", "metadata"}) {
      if (result.object->contains(f)) out.apiKey[f] = (*result.object)[f];
    }
  }
  return out;
}

}  // namespace minimcp::secrets
