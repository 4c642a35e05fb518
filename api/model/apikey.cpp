// APIKey: a write-only secret sealed at rest. See apikey.h for the stored layout.
#include "api/model/apikey.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <cctype>
#include <stdexcept>

#include "api/crypto/aead.h"
#include "api/crypto/encoding.h"
#include "api/model/kind_strategy.h"
#include "api/model/kinds.h"

namespace minimcp::model {

using nlohmann::json;

namespace {

// kubectl's client-side apply keeps the whole manifest, value included, in this annotation.
constexpr const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";
constexpr std::string_view kDigestLabel = "apikey-digest";

std::atomic<const crypto::KeyRing*> gKeyRing{nullptr};

KindInfo apiKeyInfo() {
  KindInfo k;
  k.kind = "APIKey";
  k.plural = kApiKeyPlural;
  k.singular = "apikey";
  k.shortNames = {"ak"};
  k.categories = {"minimcp"};
  k.namespaced = true;
  k.hasStatus = true;
  k.columns = {
      {"Type", "string", ".spec.type", 0, "The MCPType this key is for"},
      {"Hint", "string", ".status.hint", 0, "The last characters of the value"},
      {"Version", "integer", ".status.version", 0, "Bumped by every new value"},
      {"Rotate-By", "string", ".status.rotateBy", 0, "Time left until rotation is due"},
      {"Age", "date", ".metadata.creationTimestamp", 0, ""},
  };
  return k;
}

// The value as the strategy may seal it: a non-empty string within limits. Anything else is left
// in place for validate() to report (without echoing it).
const std::string* sealableValue(const json& obj) {
  const json* spec = member(obj, "spec");
  const json* value = spec ? member(*spec, "value") : nullptr;
  if (!value || !value->is_string()) return nullptr;
  const auto& s = value->get_ref<const std::string&>();
  if (s.empty() || s.size() > kMaxApiKeyValueBytes || s.find('\0') != std::string::npos) {
    return nullptr;
  }
  return &s;
}

// mcpctl records "sha256:<64 hex>" of the value in its last-applied annotation, not the value,
// to tell an unchanged value without reading it back.
bool isRecordedDigest(const json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  constexpr std::string_view kPrefix = "sha256:";
  if (s.size() != kPrefix.size() + 64 || !s.starts_with(kPrefix)) return false;
  for (size_t i = kPrefix.size(); i < s.size(); ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// Removes spec.value (unless it is mcpctl's digest) from the last-applied annotation; drops the
// annotation when it does not parse (it might hold the value in a form we cannot edit).
void scrubLastApplied(json& obj) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return;
  json& meta = obj["metadata"];
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) return;
  json& annotations = meta["annotations"];
  auto it = annotations.find(kLastApplied);
  if (it == annotations.end()) return;
  json applied = it->is_string() ? json::parse(it->get<std::string>(), nullptr, false) : json();
  if (!applied.is_object()) {
    annotations.erase(it);
    return;
  }
  if (!applied.contains("spec") || !applied["spec"].is_object()) return;
  auto value = applied["spec"].find("value");
  if (value == applied["spec"].end() || isRecordedDigest(*value)) return;
  applied["spec"].erase(value);
  const bool newline = it->get_ref<const std::string&>().ends_with('\n');
  *it = applied.dump() + (newline ? "\n" : "");
}

void eraseValue(json& obj) {
  if (obj.is_object() && obj.contains("spec") && obj["spec"].is_object()) {
    obj["spec"].erase("value");
  }
}

json& statusOf(json& obj) {
  json& st = obj["status"];
  if (!st.is_object()) st = json::object();
  return st;
}

int64_t statusVersion(const json& obj) {
  json v = cellAt(obj, "status.version");
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

bool sameDigest(const std::string& a, const std::string& b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Seals `value` as the object's next version: sealed.{value,digest} and status.{version,hint,
// rotatedAt}. The caller removes spec.value.
void sealNewVersion(json& obj, const crypto::KeyRing& keys, const std::string& ns,
                    const std::string& name, const std::string& value, const std::string& digest,
                    int64_t version, TimePoint now) {
  obj[kApiKeySealedField] = {
      {"value", crypto::seal(keys, value, apiKeyAad(ns, name, version))},
      {"digest", digest},
  };
  json& st = statusOf(obj);
  st["version"] = version;
  st["hint"] = crypto::hint(value);
  st["rotatedAt"] = formatRfc3339(now);
}

// Seals spec.value when present and well-formed. `old` is the stored object on update.
void sealValue(json& obj, const json* old, TimePoint now) {
  const std::string* value = sealableValue(obj);
  const std::string ns = stringField(cellAt(obj, "metadata"), "namespace");
  const std::string name = stringField(cellAt(obj, "metadata"), "name");
  // Without a name there is no AAD; validation rejects the object and nothing is stored.
  if (!value || ns.empty() || name.empty()) return;
  const crypto::KeyRing* keys = apiKeyKeyRing();
  if (!keys) {
    throw ApiError::Internal("APIKey values cannot be stored: the server has no master key");
  }
  std::string digest = apiKeyDigest(*keys, ns, name, *value);
  int64_t oldVersion = old ? statusVersion(*old) : 0;
  std::string oldDigest = old ? stringField(cellAt(*old, kApiKeySealedField), "digest") : "";
  // The same value again (kubectl apply of an unchanged manifest) is no new version.
  if (!(oldVersion > 0 && sameDigest(digest, oldDigest))) {
    sealNewVersion(obj, *keys, ns, name, *value, digest, oldVersion + 1, now);
  }
  eraseValue(obj);
}

// status.rotateBy from rotatedAt + spec.rotationPeriod, and the RotationDue condition.
void updateRotation(json& obj, int64_t generation, TimePoint now) {
  json& st = statusOf(obj);
  std::optional<TimePoint> rotatedAt;
  if (st.contains("rotatedAt") && st["rotatedAt"].is_string()) {
    rotatedAt = parseRfc3339(st["rotatedAt"].get<std::string>());
  }
  json period = cellAt(obj, "spec.rotationPeriod");
  std::optional<std::chrono::milliseconds> d;
  if (period.is_string()) d = parseDuration(period.get<std::string>());
  std::optional<TimePoint> by;
  if (rotatedAt && d && d->count() > 0) by = addChecked(*rotatedAt, *d);
  if (!by) {
    st.erase("rotateBy");
    setCondition(obj, kConditionRotationDue, "False", "NoRotationPeriod",
                 "spec.rotationPeriod is not set", now);
  } else {
    st["rotateBy"] = formatRfc3339(*by);
    if (now >= *by) {
      setCondition(obj, kConditionRotationDue, "True", "RotationPeriodElapsed",
                   "the value is older than spec.rotationPeriod; set a new value", now);
    } else {
      setCondition(obj, kConditionRotationDue, "False", "WithinRotationPeriod",
                   "rotate the value by " + formatRfc3339(*by), now);
    }
  }
  // setCondition takes metadata.generation, which the REST layer bumps only after prepare.
  for (json& c : st["conditions"]) {
    if (stringField(c, "type") == kConditionRotationDue) c["observedGeneration"] = generation;
  }
}

class APIKeyStrategy : public KindStrategy {
 public:
  APIKeyStrategy() : KindStrategy(apiKeyInfo()) {}

  void prepareForCreate(json& obj, const Clock& clock) const override {
    KindStrategy::prepareForCreate(obj, clock);
    if (!obj.is_object()) return;
    obj.erase(kApiKeySealedField);  // only ever written by sealValue
    scrubLastApplied(obj);
    sealValue(obj, nullptr, clock.now());
    updateRotation(obj, 1, clock.now());
  }

  void prepareForUpdate(json& obj, const json& old, const Clock& clock) const override {
    KindStrategy::prepareForUpdate(obj, old, clock);
    if (!obj.is_object()) return;
    if (const json* sealed = member(old, kApiKeySealedField)) {
      obj[kApiKeySealedField] = *sealed;
    } else {
      obj.erase(kApiKeySealedField);
    }
    scrubLastApplied(obj);
    sealValue(obj, &old, clock.now());
    // Mirrors the REST layer, which bumps generation after prepare when spec changed.
    json oldGen = cellAt(old, "metadata.generation");
    int64_t generation = oldGen.is_number_integer() ? oldGen.get<int64_t>() : 0;
    if (cellAt(obj, "spec") != cellAt(old, "spec")) ++generation;
    updateRotation(obj, generation, clock.now());
  }

  // The controller may refresh conditions; what describes the value stays as the write left it.
  void prepareForStatusUpdate(json& obj, const json& old) const override {
    KindStrategy::prepareForStatusUpdate(obj, old);
    if (!obj.is_object()) return;
    const json* oldStatus = member(old, "status");
    json& st = statusOf(obj);
    for (const char* f : {"version", "hint", "rotatedAt", "rotateBy"}) {
      const json* v = oldStatus ? member(*oldStatus, f) : nullptr;
      if (v) {
        st[f] = *v;
      } else {
        st.erase(f);
      }
    }
  }

  void sanitizeForRead(json& obj) const override {
    if (!obj.is_object()) return;
    eraseValue(obj);
    obj.erase(kApiKeySealedField);
    scrubLastApplied(obj);
  }

  json tableCells(const json& obj, TimePoint now) const override {
    json rotateBy = nullptr;
    json by = cellAt(obj, "status.rotateBy");
    if (by.is_string()) {
      if (auto t = parseRfc3339(by.get<std::string>())) {
        rotateBy = *t <= now
                       ? json("due")
                       : json(humanDuration(
                             std::chrono::duration_cast<std::chrono::milliseconds>(*t - now)));
      }
    }
    return json::array({cellAt(obj, "spec.type"), cellAt(obj, "status.hint"),
                        cellAt(obj, "status.version"), rotateBy,
                        ageCell(cellAt(obj, "metadata.creationTimestamp"), now)});
  }

 protected:
  void validateBody(FieldErrors& errs, const json& obj) const override {
    rejectUnknownFields(errs, obj, "",
                        {"apiVersion", "kind", "metadata", "spec", "status", kApiKeySealedField});
    if (const json* st = member(obj, "status")) expectObject(errs, *st, "status");
    const json* sealed = member(obj, kApiKeySealedField);
    if (sealed &&
        (!sealed->is_object() || !member(*sealed, "value") || !(*sealed)["value"].is_string())) {
      errs.invalidHidden(kApiKeySealedField, "must be an object with a string value");
      sealed = nullptr;
    }
    const json* spec = member(obj, "spec");
    if (!spec) {
      errs.required("spec");
      return;
    }
    if (!expectObject(errs, *spec, "spec")) return;
    rejectUnknownFields(errs, *spec, "spec", {"type", "value", "rotationPeriod"});
    if (const std::string* type = requiredString(errs, *spec, "type", "spec.type")) {
      validateDns1123Label(errs, *type, "spec.type");
    }
    // Every message about the value leaves the value out.
    if (const json* value = member(*spec, "value")) {
      if (!value->is_string()) {
        errs.invalidHidden("spec.value", "must be of type string (quote it in YAML)");
      } else if (value->get_ref<const std::string&>().empty()) {
        errs.required("spec.value");
      } else if (value->get_ref<const std::string&>().size() > kMaxApiKeyValueBytes) {
        errs.tooLong("spec.value", kMaxApiKeyValueBytes);
      } else if (value->get_ref<const std::string&>().find('\0') != std::string::npos) {
        errs.invalidHidden("spec.value", "must not contain NUL characters");
      }
    } else if (!sealed) {
      errs.required("spec.value", "an APIKey needs a value when it is created");
    }
    if (const std::string* p =
            optionalString(errs, *spec, "rotationPeriod", "spec.rotationPeriod")) {
      auto d = parseDuration(*p);
      if (!d) {
        errs.invalid("spec.rotationPeriod", *p,
                     "must be a duration like 2160h (regex used for validation is "
                     "'^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$')");
      } else if (d->count() <= 0) {
        errs.invalid("spec.rotationPeriod", *p, "must be greater than 0");
      }
    }
  }
};

}  // namespace

const Strategy& apiKeyStrategy() {
  static const APIKeyStrategy strategy;
  return strategy;
}

void setApiKeyKeyRing(const crypto::KeyRing* keys) { gKeyRing.store(keys); }
const crypto::KeyRing* apiKeyKeyRing() { return gKeyRing.load(); }

std::string apiKeyAad(std::string_view ns, std::string_view name, int64_t version) {
  std::string aad;
  aad.reserve(ns.size() + name.size() + 24);
  aad.append(ns).append("/").append(name).append("/").append(std::to_string(version));
  return aad;
}

std::string apiKeyDigest(const crypto::KeyRing& keys, std::string_view ns, std::string_view name,
                         std::string_view value) {
  crypto::Key256 key = keys.primary().derive(kDigestLabel);
  std::string input;
  input.reserve(ns.size() + name.size() + value.size() + 2);
  input.append(ns).append("/").append(name).push_back('\0');
  input.append(value);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int macLen = 0;
  bool ok = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                 reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
                 &macLen) != nullptr;
  OPENSSL_cleanse(input.data(), input.size());
  if (!ok) throw std::runtime_error("HMAC-SHA256 failed");
  return keys.primary().id() + ":" +
         crypto::base64UrlEncode({reinterpret_cast<const char*>(mac), macLen});
}

StoredApiKey StoredApiKey::fromJson(const json& obj) {
  StoredApiKey k;
  k.ns = stringField(cellAt(obj, "metadata"), "namespace");
  k.name = stringField(cellAt(obj, "metadata"), "name");
  k.type = stringField(cellAt(obj, "spec"), "type");
  k.version = statusVersion(obj);
  json sealed = cellAt(obj, kApiKeySealedField);
  k.sealedValue = stringField(sealed, "value");
  k.digest = stringField(sealed, "digest");
  return k;
}

}  // namespace minimcp::model
