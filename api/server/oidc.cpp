#include "api/server/oidc.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

// cpp-jwt still calls OpenSSL's EC_KEY functions, deprecated in OpenSSL 3.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <jwt/jwt.hpp>
#pragma GCC diagnostic pop

#include "api/model/validation.h"
#include "api/util/random.h"

namespace minimcp::server {

namespace {

using json = nlohmann::json;

// Asymmetric algorithms only: an HMAC "verified" with a public key would accept tokens anyone
// can make, and `none` is no signature at all.
struct AlgInfo {
  const char* name;
  const char* kty;
  const char* crv;  // EC: the curve the key must be on
};
constexpr AlgInfo kAlgorithms[] = {
    {"RS256", "RSA", ""},     {"RS384", "RSA", ""},     {"RS512", "RSA", ""},
    {"ES256", "EC", "P-256"}, {"ES384", "EC", "P-384"}, {"ES512", "EC", "P-521"},
};

const AlgInfo* algInfo(const std::string& alg) {
  for (const auto& a : kAlgorithms) {
    if (alg == a.name) return &a;
  }
  return nullptr;
}

std::string b64url(const json& jwk, const char* field) {
  auto it = jwk.find(field);
  if (it == jwk.end() || !it->is_string()) {
    throw std::runtime_error(std::string("JWK without \"") + field + "\"");
  }
  const auto& s = it->get_ref<const std::string&>();
  return jwt::base64_uri_decode(s.data(), s.size());
}

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Bignum = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBuilder = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

Bignum bignum(const std::string& bytes) {
  Bignum bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                      static_cast<int>(bytes.size()), nullptr));
  if (!bn) throw std::runtime_error("JWK: bad integer");
  return bn;
}

double numericDate(const json& claims, const char* name, bool& present) {
  auto it = claims.find(name);
  present = it != claims.end();
  if (!present) return 0;
  if (!it->is_number()) throw std::invalid_argument(name);
  return it->get<double>();
}

// The namespaces a claim value grants: strings with the prefix, the prefix removed, that are
// namespace names.
std::vector<std::string> namespacesOf(const json& value, const std::string& prefix) {
  std::vector<std::string> values;
  if (value.is_string()) values.push_back(value.get<std::string>());
  if (value.is_array()) {
    for (const auto& v : value) {
      if (v.is_string()) values.push_back(v.get<std::string>());
    }
  }
  std::set<std::string> out;
  for (const auto& v : values) {
    if (v.size() <= prefix.size() || v.compare(0, prefix.size(), prefix) != 0) continue;
    std::string ns = v.substr(prefix.size());
    if (model::isDns1123Label(ns)) out.insert(ns);
  }
  return {out.begin(), out.end()};
}

constexpr size_t kVerifiedTokens = 4096;

}  // namespace

const char* describe(OidcRefusal r) {
  switch (r) {
    case OidcRefusal::None:
      return "accepted";
    case OidcRefusal::Malformed:
      return "not a well-formed JWT";
    case OidcRefusal::Algorithm:
      return "signature algorithm not accepted";
    case OidcRefusal::UnknownKey:
      return "signed by a key the issuer does not publish";
    case OidcRefusal::Signature:
      return "bad signature";
    case OidcRefusal::Issuer:
      return "issued by another issuer";
    case OidcRefusal::Audience:
      return "issued for another audience";
    case OidcRefusal::Expired:
      return "expired";
    case OidcRefusal::NotYetValid:
      return "not valid yet";
    case OidcRefusal::NoNamespace:
      return "grants no namespace";
  }
  return "refused";
}

std::string jwkToPem(const json& jwk) {
  if (!jwk.is_object()) throw std::runtime_error("JWK is not an object");
  std::string kty = jwk.value("kty", "");
  ParamBuilder bld(OSSL_PARAM_BLD_new());
  Bignum n, e;
  std::string point;
  const char* type = nullptr;
  if (kty == "RSA") {
    type = "RSA";
    n = bignum(b64url(jwk, "n"));
    e = bignum(b64url(jwk, "e"));
    if (!OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get())) {
      throw std::runtime_error("JWK: cannot build the RSA key");
    }
  } else if (kty == "EC") {
    type = "EC";
    std::string crv = jwk.value("crv", "");
    const char* group = crv == "P-256"   ? "prime256v1"
                        : crv == "P-384" ? "secp384r1"
                        : crv == "P-521" ? "secp521r1"
                                         : nullptr;
    if (!group) throw std::runtime_error("JWK: unsupported curve " + crv);
    size_t size = crv == "P-256" ? 32 : crv == "P-384" ? 48 : 66;
    std::string x = b64url(jwk, "x"), y = b64url(jwk, "y");
    if (x.size() != size || y.size() != size) throw std::runtime_error("JWK: bad EC point");
    point = "\x04" + x + y;  // uncompressed; OpenSSL refuses a point off the curve
    if (!OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                          point.size())) {
      throw std::runtime_error("JWK: cannot build the EC key");
    }
  } else {
    throw std::runtime_error("JWK: unsupported key type \"" + kty + "\"");
  }
  Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    throw std::runtime_error("JWK: not a valid " + kty + " public key");
  }
  Pkey pkey(raw);
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) {
    throw std::runtime_error("JWK: cannot encode the key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

struct OidcVerifier::Key {
  std::string kid;
  std::string kty;
  std::string crv;
  std::string alg;  // the JWK's own "alg", when it names one
  std::string pem;

  bool usableFor(const AlgInfo& a) const {
    return kty == a.kty && (crv.empty() || crv == a.crv) && (alg.empty() || alg == a.name);
  }
};

OidcVerifier::OidcVerifier(OidcOptions options, HttpGet get, const Clock& clock)
    : options_(std::move(options)), get_(std::move(get)), clock_(clock) {}

OidcVerifier::~OidcVerifier() = default;

bool OidcVerifier::looksLikeJwt(const std::string& token) {
  return std::count(token.begin(), token.end(), '.') == 2;
}

std::shared_ptr<const OidcVerifier::Key> OidcVerifier::key(const std::string& kid,
                                                           const std::string& alg) const {
  const AlgInfo* a = algInfo(alg);
  auto lookup = [&]() -> std::shared_ptr<const Key> {
    std::shared_lock lock(keysMu_);
    std::shared_ptr<const Key> found;
    int candidates = 0;
    for (const auto& k : keys_) {
      if (!k->usableFor(*a)) continue;
      if (!kid.empty() && k->kid == kid) return k;
      if (kid.empty()) {
        found = k;
        ++candidates;
      }
    }
    // Without a kid only an unambiguous key will do.
    return candidates == 1 ? found : nullptr;
  };
  if (auto k = lookup()) return k;
  refresh();
  return lookup();
}

bool OidcVerifier::refresh() const {
  std::lock_guard lock(fetchMu_);
  auto now = clock_.steadyNow();
  if (nextFetch_ && now < *nextFetch_) return false;
  try {
    fetch();
    backoff_ = std::chrono::milliseconds(0);
    nextFetch_ = now + options_.refreshInterval;
    return true;
  } catch (const std::exception& e) {
    backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(1000), options_.maxBackoff);
    nextFetch_ = now + backoff_;
    spdlog::warn("oidc: cannot fetch the signing keys of {}: {} (next attempt in {} ms)",
                 options_.issuer, e.what(), backoff_.count());
    return false;
  }
}

void OidcVerifier::fetch() const {
  if (jwksUri_.empty()) {
    std::string base = options_.issuer;
    while (!base.empty() && base.back() == '/') base.pop_back();
    json doc = json::parse(get_(base + "/.well-known/openid-configuration"));
    // OpenID Connect Discovery: the document must name the issuer it was fetched for.
    if (!doc.is_object() || doc.value("issuer", "") != options_.issuer) {
      throw std::runtime_error("the discovery document names another issuer");
    }
    std::string uri = doc.value("jwks_uri", "");
    if (uri.rfind("https://", 0) != 0) {
      throw std::runtime_error("the discovery document has no https jwks_uri");
    }
    jwksUri_ = uri;
  }
  json set = json::parse(get_(jwksUri_));
  if (!set.is_object() || !set.contains("keys") || !set["keys"].is_array()) {
    throw std::runtime_error("the key set has no \"keys\"");
  }
  std::vector<std::shared_ptr<const Key>> keys;
  for (const auto& jwk : set["keys"]) {
    if (!jwk.is_object() || jwk.value("use", "sig") != "sig") continue;
    try {
      auto k = std::make_shared<Key>();
      k->kid = jwk.value("kid", "");
      k->kty = jwk.value("kty", "");
      k->crv = jwk.value("crv", "");
      k->alg = jwk.value("alg", "");
      k->pem = jwkToPem(jwk);
      keys.push_back(std::move(k));
    } catch (const std::exception& e) {
      spdlog::debug("oidc: key {} skipped: {}", jwk.value("kid", "(no kid)"), e.what());
    }
  }
  if (keys.empty()) throw std::runtime_error("the key set holds no usable signing key");
  {
    std::unique_lock lock(keysMu_);
    keys_ = std::move(keys);
  }
  std::lock_guard lock(verifiedMu_);
  verified_.clear();
  ++keyGeneration_;
}

std::optional<json> OidcVerifier::signedClaims(const std::string& token,
                                               OidcRefusal& refusal) const {
  auto refuseClaims = [&](OidcRefusal r) -> std::optional<json> {
    refusal = r;
    return std::nullopt;
  };
  auto parts = jwt::jwt_object::three_parts(token);
  if (parts[0].empty() || parts[1].empty() || parts[2].empty()) {
    return refuseClaims(OidcRefusal::Malformed);
  }
  json header, claims;
  try {
    header = json::parse(jwt::base64_uri_decode(parts[0].data(), parts[0].size()));
    claims = json::parse(jwt::base64_uri_decode(parts[1].data(), parts[1].size()));
  } catch (const std::exception&) {
    return refuseClaims(OidcRefusal::Malformed);
  }
  if (!header.is_object() || !claims.is_object()) return refuseClaims(OidcRefusal::Malformed);
  auto algIt = header.find("alg");
  if (algIt == header.end() || !algIt->is_string()) return refuseClaims(OidcRefusal::Malformed);
  std::string alg = algIt->get<std::string>();
  if (!algInfo(alg)) return refuseClaims(OidcRefusal::Algorithm);
  auto kidIt = header.find("kid");
  std::string kid = kidIt != header.end() && kidIt->is_string() ? kidIt->get<std::string>() : "";
  auto k = key(kid, alg);
  if (!k) return refuseClaims(OidcRefusal::UnknownKey);

  // The signature, by cpp-jwt over the token's own first two parts: the algorithm is the one
  // allowed above, and the key's type must match it (cpp-jwt checks that too).
  try {
    jwt::jwt_signature signature(k->pem);
    jwt::jwt_header signedWith(jwt::str_to_alg(alg));
    auto input = jwt::string_view(token.data(), parts[0].size() + 1 + parts[1].size());
    auto [valid, error] = signature.verify(signedWith, input, parts[2]);
    if (!valid || error) return refuseClaims(OidcRefusal::Signature);
  } catch (const std::exception&) {
    return refuseClaims(OidcRefusal::Signature);
  }

  return claims;
}

std::optional<Identity> OidcVerifier::verify(const std::string& token,
                                             const std::vector<std::string>& audiences,
                                             OidcRefusal* why) const {
  OidcRefusal ignored;
  OidcRefusal& refusal = why ? *why : ignored;
  auto refuse = [&](OidcRefusal r) -> std::optional<Identity> {
    refusal = r;
    return std::nullopt;
  };
  if (!looksLikeJwt(token)) return refuse(OidcRefusal::Malformed);
  const std::string digest = sha256Hex(token);
  std::shared_ptr<const json> verified;
  uint64_t generation = 0;
  {
    std::lock_guard lock(verifiedMu_);
    if (auto it = verified_.find(digest); it != verified_.end()) verified = it->second;
    generation = keyGeneration_;
  }
  if (!verified) {
    auto claims = signedClaims(token, refusal);
    if (!claims) return std::nullopt;
    verified = std::make_shared<const json>(std::move(*claims));
    std::lock_guard lock(verifiedMu_);
    // Not when the key set changed meanwhile: the key may just have been withdrawn.
    if (generation == keyGeneration_) {
      if (verified_.size() >= kVerifiedTokens) verified_.clear();
      verified_.emplace(digest, verified);
    }
  }
  const json& claims = *verified;
  auto issIt = claims.find("iss");
  if (issIt == claims.end() || !issIt->is_string() || *issIt != options_.issuer) {
    return refuse(OidcRefusal::Issuer);
  }

  std::vector<std::string> accepted = audiences;
  if (!options_.audience.empty()) accepted.push_back(options_.audience);
  auto audIt = claims.find("aud");
  bool audienceOk = false;
  if (audIt != claims.end()) {
    auto matches = [&](const json& v) {
      return v.is_string() &&
             std::find(accepted.begin(), accepted.end(), v.get<std::string>()) != accepted.end();
    };
    if (audIt->is_array()) {
      audienceOk = std::any_of(audIt->begin(), audIt->end(), matches);
    } else {
      audienceOk = matches(*audIt);
    }
  }
  if (!audienceOk) return refuse(OidcRefusal::Audience);

  double now = std::chrono::duration<double>(clock_.now().time_since_epoch()).count();
  double leeway = static_cast<double>(options_.leeway.count());
  try {
    bool hasExp = false, hasNbf = false;
    double exp = numericDate(claims, "exp", hasExp);
    double nbf = numericDate(claims, "nbf", hasNbf);
    if (!hasExp || now >= exp + leeway) return refuse(OidcRefusal::Expired);
    if (hasNbf && now + leeway < nbf) return refuse(OidcRefusal::NotYetValid);
  } catch (const std::invalid_argument&) {
    return refuse(OidcRefusal::Malformed);
  }

  auto claimIt = claims.find(options_.namespacesClaim);
  std::vector<std::string> namespaces;
  if (claimIt != claims.end()) namespaces = namespacesOf(*claimIt, options_.namespacePrefix);
  if (namespaces.empty()) return refuse(OidcRefusal::NoNamespace);

  refusal = OidcRefusal::None;
  Identity who;
  who.role = Identity::Role::Namespace;
  auto subIt = claims.find("sub");
  who.name = "oidc:" + (subIt != claims.end() && subIt->is_string() ? subIt->get<std::string>()
                                                                    : std::string("unknown"));
  who.namespaces = std::move(namespaces);
  return who;
}

std::optional<Identity> RequestAuthenticator::authenticate(
    const std::string& token, const std::vector<std::string>& resources) const {
  if (auto who = own_.authenticate(token, resources)) return who;
  if (!oidc_ || !OidcVerifier::looksLikeJwt(token)) return std::nullopt;
  OidcRefusal why = OidcRefusal::None;
  auto who = oidc_->verify(token, resources, &why);
  if (!who) spdlog::debug("oidc: token refused: {}", describe(why));
  return who;
}

}  // namespace minimcp::server
