// APIKey: a write-only secret sealed at rest. See apikey.h for the stored layout.
#include "api/model/apikey.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <optional>
#include <stdexcept>
#include <vector>

#include "api/crypto/aead.h"
#include "api/crypto/encoding.h"
#include "api/model/kind_strategy.h"
#include "api/model/kinds.h"
#include "api/util/addresses.h"
#include "api/util/ascii.h"
#include "api/util/clock.h"
#include "api/util/url.h"

namespace minimcp::model {

using nlohmann::json;

namespace {

// kubectl's client-side apply keeps the whole manifest, value included, in this annotation.
constexpr const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";
constexpr std::string_view kDigestLabel = "apikey-digest";

std::atomic<const crypto::KeyRing*> gKeyRing{nullptr};
std::atomic<TokenUrlHosts> gTokenUrlHosts{TokenUrlHosts::Public};

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

bool isLoopbackHost(std::string_view host) {
  return host == "127.0.0.1" || host == "[::1]" || host == "localhost";
}

// spec.oauth2, every message without a secret in it.
void validateOAuth2(FieldErrors& errs, const json& o, const std::string& path) {
  if (!o.is_object()) {
    errs.invalidHidden(path, "must be of type object");
    return;
  }
  rejectUnknownFields(
      errs, o, path,
      {"tokenURL", "clientID", "clientSecret", "refreshToken", "scopes", "clientAuth"});
  if (const std::string* url = requiredString(errs, o, "tokenURL", path + ".tokenURL")) {
    if (url->size() > kMaxTokenUrlBytes) {
      errs.tooLong(path + ".tokenURL", kMaxTokenUrlBytes);
    } else if (std::string why = tokenUrlProblem(*url, apiKeyTokenUrlHosts()); !why.empty()) {
      errs.invalid(path + ".tokenURL", *url, why);
    }
  }
  if (const std::string* id = requiredString(errs, o, "clientID", path + ".clientID")) {
    if (id->size() > 1024) {
      errs.tooLong(path + ".clientID", 1024);
    } else if (hasControlCharacter(*id)) {
      errs.invalidHidden(path + ".clientID", "must not contain control characters");
    }
  }
  // The two secrets: the values never appear in a message.
  for (const char* f : {"clientSecret", "refreshToken"}) {
    const std::string field = path + "." + f;
    const json* v = member(o, f);
    if (!v) {
      if (std::string_view(f) == "refreshToken") {
        errs.required(field, "the credentials are written whole: give the refresh token with them");
      }
      continue;
    }
    if (!v->is_string()) {
      errs.invalidHidden(field, "must be of type string (quote it in YAML)");
    } else if (v->get_ref<const std::string&>().empty()) {
      errs.required(field);
    } else if (v->get_ref<const std::string&>().size() > kMaxApiKeyValueBytes / 2) {
      errs.tooLong(field, kMaxApiKeyValueBytes / 2);
    } else if (hasControlCharacter(v->get_ref<const std::string&>())) {
      errs.invalidHidden(field, "must not contain control characters");
    }
  }
  if (const std::string* how = optionalString(errs, o, "clientAuth", path + ".clientAuth")) {
    if (*how != kClientAuthBasic && *how != kClientAuthPost) {
      errs.notSupported(path + ".clientAuth", *how, {kClientAuthBasic, kClientAuthPost});
    } else if (*how == kClientAuthBasic && !member(o, "clientSecret")) {
      errs.invalid(path + ".clientAuth", *how,
                   "needs clientSecret: HTTP Basic sends the client id with the client secret "
                   "(a public client, without a secret, uses post)");
    }
  }
  if (const json* scopes = member(o, "scopes")) {
    if (expectArray(errs, *scopes, path + ".scopes")) {
      if (scopes->size() > 64) errs.invalid(path + ".scopes", *scopes, "at most 64 scopes");
      for (size_t i = 0; i < scopes->size() && i < 64; ++i) {
        const json& sc = (*scopes)[i];
        const std::string field = indexPath(path + ".scopes", i);
        if (!expectString(errs, sc, field)) continue;
        const auto& text = sc.get_ref<const std::string&>();
        // RFC 6749 §3.3: scope tokens are printable ASCII without space, '"' or '\\'.
        bool ok = !text.empty() && text.size() <= 512;
        for (unsigned char c : text) ok = ok && c > 0x20 && c < 0x7f && c != '"' && c != '\\';
        if (!ok) {
          errs.invalid(field, sc,
                       "must be a scope token: 1-512 printable ASCII characters, no space, '\"' "
                       "or '\\'");
        }
      }
    }
  }
}

// The secret as the strategy may seal it: the plaintext (spec.value, or oauth2Plaintext of a
// valid spec.oauth2) and what status shows of it. Anything else (both shapes, a malformed one) is
// left in place for validate() to report (without echoing it).
struct Sealable {
  std::string plaintext;
  std::string hint;
  json oauth2Description;  // null for a static value
};

std::optional<Sealable> sealableSecret(const json& obj) {
  const json* spec = member(obj, "spec");
  const json* value = spec ? member(*spec, "value") : nullptr;
  const json* oauth2 = spec ? member(*spec, "oauth2") : nullptr;
  if (value && oauth2) return std::nullopt;
  if (oauth2) {
    FieldErrors errs;
    validateOAuth2(errs, *oauth2, "spec.oauth2");
    if (!errs.empty()) return std::nullopt;
    Sealable s{oauth2Plaintext(*oauth2), crypto::hint((*oauth2)["refreshToken"].get<std::string>()),
               json::object()};
    if (s.plaintext.size() > kMaxApiKeyValueBytes) return std::nullopt;
    for (const char* f : {"tokenURL", "clientID", "scopes", "clientAuth"}) {
      if (const json* v = member(*oauth2, f)) s.oauth2Description[f] = *v;
    }
    return s;
  }
  if (!value || !value->is_string()) return std::nullopt;
  const auto& v = value->get_ref<const std::string&>();
  if (v.empty() || v.size() > kMaxApiKeyValueBytes || v.find('\0') != std::string::npos) {
    return std::nullopt;
  }
  return Sealable{v, crypto::hint(v), nullptr};
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
  json& spec = applied["spec"];
  auto value = spec.find("value");
  const bool valueInClear = value != spec.end() && !isRecordedDigest(*value);
  if (!valueInClear && !spec.contains("oauth2")) return;
  if (valueInClear) spec.erase("value");
  spec.erase("oauth2");
  const bool newline = it->get_ref<const std::string&>().ends_with('\n');
  *it = applied.dump() + (newline ? "\n" : "");
}

void eraseSecret(json& obj) {
  if (obj.is_object() && obj.contains("spec") && obj["spec"].is_object()) {
    obj["spec"].erase("value");
    obj["spec"].erase("oauth2");
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

// Seals `secret` as the object's next version: sealed.{value,digest} and status.{version,hint,
// rotatedAt,oauth2}. The caller removes the secret from spec.
void sealNewVersion(json& obj, const crypto::KeyRing& keys, const std::string& ns,
                    const std::string& name, const Sealable& secret, const std::string& digest,
                    int64_t version, TimePoint now) {
  obj[kApiKeySealedField] = {
      {"value", crypto::seal(keys, secret.plaintext, apiKeyAad(ns, name, version))},
      {"digest", digest},
  };
  json& st = statusOf(obj);
  st["version"] = version;
  st["hint"] = secret.hint;
  st["rotatedAt"] = formatRfc3339(now);
  if (secret.oauth2Description.is_object()) {
    st["oauth2"] = secret.oauth2Description;
  } else {
    st.erase("oauth2");
  }
}

// Seals spec.value or spec.oauth2 when present and well-formed. `old` is the stored object on
// update.
void sealValue(json& obj, const json* old, TimePoint now) {
  std::optional<Sealable> secret = sealableSecret(obj);
  const std::string ns = stringField(cellAt(obj, "metadata"), "namespace");
  const std::string name = stringField(cellAt(obj, "metadata"), "name");
  // Without a name there is no AAD; validation rejects the object and nothing is stored.
  if (!secret || ns.empty() || name.empty()) return;
  const crypto::KeyRing* keys = apiKeyKeyRing();
  if (!keys) {
    throw ApiError::Internal("APIKey values cannot be stored: the server has no master key");
  }
  std::string digest = apiKeyDigest(*keys, ns, name, secret->plaintext);
  int64_t oldVersion = old ? statusVersion(*old) : 0;
  std::string oldDigest = old ? stringField(cellAt(*old, kApiKeySealedField), "digest") : "";
  // The same value again (kubectl apply of an unchanged manifest) is no new version.
  if (!(oldVersion > 0 && sameDigest(digest, oldDigest))) {
    sealNewVersion(obj, *keys, ns, name, *secret, digest, oldVersion + 1, now);
  }
  OPENSSL_cleanse(secret->plaintext.data(), secret->plaintext.size());
  eraseSecret(obj);
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
    for (const char* f : {"version", "hint", "rotatedAt", "rotateBy", "oauth2"}) {
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
    eraseSecret(obj);
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
    rejectUnknownFields(errs, *spec, "spec", {"type", "value", "oauth2", "rotationPeriod"});
    if (const std::string* type = requiredString(errs, *spec, "type", "spec.type")) {
      validateDns1123Label(errs, *type, "spec.type");
    }
    // Every message about the value leaves the value out.
    const json* oauth2 = member(*spec, "oauth2");
    if (oauth2) {
      if (member(*spec, "value")) {
        errs.invalidHidden("spec.oauth2", "must not be set together with spec.value");
      } else {
        FieldErrors oauth2Errs;
        validateOAuth2(oauth2Errs, *oauth2, "spec.oauth2");
        if (oauth2Errs.empty() && oauth2Plaintext(*oauth2).size() > kMaxApiKeyValueBytes) {
          oauth2Errs.tooLong("spec.oauth2", kMaxApiKeyValueBytes);
        }
        errs.append(oauth2Errs.take());
      }
    } else if (const json* value = member(*spec, "value")) {
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
      errs.required("spec.value",
                    "an APIKey needs a value (or spec.oauth2 credentials) when it is created");
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
void setApiKeyTokenUrlHosts(TokenUrlHosts hosts) { gTokenUrlHosts.store(hosts); }
TokenUrlHosts apiKeyTokenUrlHosts() { return gTokenUrlHosts.load(); }

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

namespace {

// The address a URL parser (WHATWG's, which Node's fetch uses) reads from a host whose last
// label is a number (decimal, 0x-hex or 0-prefixed octal): "127.1", "2130706433", "0x7f.0.0.1"
// and "127.0.0.1." all are 127.0.0.1. nullopt for a name; `malformed` when it ends in a
// number yet is no address (the parser refuses such a URL).
std::optional<uint32_t> ipv4Of(std::string_view host, bool& malformed) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t dot = host.find('.', start);
    parts.push_back(host.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts.size() > 1 && parts.back().empty()) parts.pop_back();
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  const std::string_view last = parts.back();
  const bool endsInNumber =
      !last.empty() && (std::all_of(last.begin(), last.end(), digit) ||
                        (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
                         std::all_of(last.begin() + 2, last.end(), hex)));
  if (!endsInNumber) return std::nullopt;
  malformed = true;
  if (parts.size() > 4) return std::nullopt;
  std::vector<uint64_t> numbers;
  for (std::string_view p : parts) {
    if (p.empty()) return std::nullopt;
    unsigned base = 10;
    if (p.size() >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
      base = 16;
      p.remove_prefix(2);
    } else if (p.size() >= 2 && p[0] == '0') {
      base = 8;
      p.remove_prefix(1);
    }
    uint64_t v = 0;
    for (char c : p) {
      unsigned d = digit(c) ? static_cast<unsigned>(c - '0')
                   : hex(c) ? static_cast<unsigned>(std::tolower(c) - 'a' + 10)
                            : base;
      if (d >= base) return std::nullopt;
      v = v * base + d;
      if (v > 0xffffffffULL) return std::nullopt;
    }
    numbers.push_back(v);
  }
  const size_t n = numbers.size();
  uint64_t address = numbers.back();
  if (address >= (1ULL << (8 * (5 - n)))) return std::nullopt;
  for (size_t i = 0; i + 1 < n; ++i) {
    if (numbers[i] > 255) return std::nullopt;
    address += numbers[i] << (8 * (3 - i));
  }
  malformed = false;
  return static_cast<uint32_t>(address);
}

}  // namespace

std::string nonPublicHostReason(std::string_view host) {
  if (host.starts_with('[')) {
    std::string inside(host.substr(1, host.size() >= 2 ? host.size() - 2 : 0));
    unsigned char b[16];
    if (inet_pton(AF_INET6, inside.c_str(), b) != 1) return "a malformed IPv6 address";
    return ipv6NonPublicReason(b);
  }
  std::string name = asciiLower(host);
  bool malformed = false;
  if (auto a = ipv4Of(name, malformed)) return ipv4NonPublicReason(*a);
  if (malformed) return "a malformed IPv4 address";
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name == "localhost" || name.ends_with(".localhost")) return "a loopback name";
  return "";
}

std::string tokenUrlProblem(std::string_view url, TokenUrlHosts hosts) {
  OutboundUrl parsed;
  if (std::string why = outboundUrlProblem(url, parsed); !why.empty()) return why;
  const std::string_view host = parsed.host;
  const bool https = parsed.https;
  if (hosts == TokenUrlHosts::Public) {
    if (std::string why = nonPublicHostReason(host); !why.empty()) {
      if (why.starts_with("a malformed")) return "has " + why;
      return "must not name " + why +
             " (token endpoints on the host or its networks need mcpd "
             "--oauth2-allow-private-token-urls)";
    }
    if (!https) return "must be an https:// URL";
  } else if (!https && !isLoopbackHost(host)) {
    return "must be an https:// URL (plain http only to 127.0.0.1, [::1] or localhost)";
  }
  return "";
}

std::string oauth2Plaintext(const json& oauth2) {
  json o = json::object();
  for (const char* f :
       {"tokenURL", "clientID", "clientSecret", "refreshToken", "scopes", "clientAuth"}) {
    if (const json* v = member(oauth2, f)) o[f] = *v;
  }
  return json{{"oauth2", std::move(o)}}.dump();
}

void sealRotatedRefreshToken(json& obj, const crypto::KeyRing& keys, const json& oauth2,
                             const std::string& reporterUid) {
  const std::string ns = stringField(cellAt(obj, "metadata"), "namespace");
  const std::string name = stringField(cellAt(obj, "metadata"), "name");
  const int64_t from = statusVersion(obj);
  Sealable secret{oauth2Plaintext(oauth2), crypto::hint(oauth2.value("refreshToken", "")), nullptr};
  const std::string digest = apiKeyDigest(keys, ns, name, secret.plaintext);
  const json& st = statusOf(obj);
  // The user's rotation clock and the credentials' description stay as they were.
  const json rotatedAt = st.value("rotatedAt", json());
  const json description = st.value("oauth2", json());
  sealNewVersion(obj, keys, ns, name, secret, digest, from + 1, SystemClock::instance().now());
  OPENSSL_cleanse(secret.plaintext.data(), secret.plaintext.size());
  json& status = statusOf(obj);
  if (rotatedAt.is_null()) {
    status.erase("rotatedAt");
  } else {
    status["rotatedAt"] = rotatedAt;
  }
  if (description.is_null()) {
    status.erase("oauth2");
  } else {
    status["oauth2"] = description;
  }
  obj[kApiKeySealedField]["reportedBy"] = {{"uid", reporterUid}, {"fromVersion", from}};
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
  const json reporter = cellAt(obj, std::string(kApiKeySealedField) + ".reportedBy");
  k.reportedByUid = stringField(reporter, "uid");
  const json from = cellAt(reporter, "fromVersion");
  k.reportedFromVersion = from.is_number_integer() ? from.get<int64_t>() : 0;
  return k;
}

}  // namespace minimcp::model
