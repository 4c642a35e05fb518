// OpenID Connect access tokens: a table of tokens (good, forged, for the wrong issuer or
// audience, out of their lifetime, granting nothing) against one verifier, then the key set's
// life (fetched once, refetched for an unknown kid at a limited rate, backoff while the issuer
// is down, known keys unaffected) and what the identity may do. Keys are generated here with
// OpenSSL; the issuer is a fake HTTP GET on a fake clock.
#include "api/server/oidc.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <map>
#include <nlohmann/json.hpp>

#include "api/crypto/encoding.h"
#include "api/server/authorizer.h"
#include "tests/unit/reconciler/fake_clock.h"

namespace minimcp::server {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kIssuer = "https://idp.example.com/realms/acme";
constexpr const char* kJwksUri = "https://idp.example.com/realms/acme/keys";
constexpr const char* kResource = "https://mcp.example.com:7443/mcp/alice/inbox";

std::string b64(std::string_view s) { return crypto::base64UrlEncode(s); }

// A signing key of the test issuer.
struct TestKey {
  std::string kid;
  EVP_PKEY* pkey = nullptr;
  bool ec = false;

  static TestKey rsa(std::string kid) {
    return {std::move(kid), EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}), false};
  }
  static TestKey p256(std::string kid) {
    return {std::move(kid), EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), true};
  }

  std::string bnParam(const char* name) const {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(pkey, name, &bn);
    std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(bn);
    return out;
  }

  json jwk() const {
    if (!ec) {
      return {{"kty", "RSA"},
              {"kid", kid},
              {"use", "sig"},
              {"n", b64(bnParam(OSSL_PKEY_PARAM_RSA_N))},
              {"e", b64(bnParam(OSSL_PKEY_PARAM_RSA_E))}};
    }
    unsigned char point[65];
    size_t len = 0;
    EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len);
    std::string p(reinterpret_cast<char*>(point), len);
    return {{"kty", "EC"},
            {"kid", kid},
            {"crv", "P-256"},
            {"x", b64(p.substr(1, 32))},
            {"y", b64(p.substr(33, 32))}};
  }

  std::string publicPem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
  }

  // The JWS signature of `input` in the JOSE form (ECDSA: r || s, 32 bytes each).
  std::string sign(const std::string& input) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey);
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    if (!ec) return sig;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    return raw;
  }
};

const TestKey& rsaKey() {
  static const TestKey k = TestKey::rsa("rsa-1");
  return k;
}
const TestKey& ecKey() {
  static const TestKey k = TestKey::p256("ec-1");
  return k;
}
const TestKey& rotatedKey() {
  static const TestKey k = TestKey::rsa("rsa-2");
  return k;
}

std::string jws(const json& header, const json& claims, const TestKey& key) {
  std::string input = b64(header.dump()) + "." + b64(claims.dump());
  return input + "." + b64(key.sign(input));
}

int64_t epoch(std::chrono::seconds offset = 0s) {
  return (test::FakeClock::kEpoch + offset).count();
}

json goodClaims() {
  return {{"iss", kIssuer},     {"sub", "u-123"},
          {"aud", kResource},   {"exp", epoch(300s)},
          {"iat", epoch(-10s)}, {"groups", json::array({"minimcp:alice", "staff"})}};
}

json rsaHeader() { return {{"alg", "RS256"}, {"typ", "at+jwt"}, {"kid", "rsa-1"}}; }

// The issuer: discovery document and key set, answered by a fake GET that counts its calls.
struct FakeIssuer {
  std::map<std::string, std::string> pages;
  bool down = false;
  int jwksFetches = 0;

  FakeIssuer() {
    pages[std::string(kIssuer) + "/.well-known/openid-configuration"] =
        json{{"issuer", kIssuer}, {"jwks_uri", kJwksUri}}.dump();
    publish({rsaKey().jwk(), ecKey().jwk()});
  }
  void publish(const std::vector<json>& keys) { pages[kJwksUri] = json{{"keys", keys}}.dump(); }

  HttpGet getter() {
    return [this](const std::string& url) {
      if (down) throw std::runtime_error("connection refused");
      if (url == kJwksUri) ++jwksFetches;
      auto it = pages.find(url);
      if (it == pages.end()) throw std::runtime_error(url + " answered HTTP 404");
      return it->second;
    };
  }
};

class OidcTest : public testing::Test {
 protected:
  OidcOptions options() {
    OidcOptions o;
    o.issuer = kIssuer;
    o.audience = "minimcp-api";
    return o;
  }
  test::FakeClock clock_;
  FakeIssuer issuer_;
  OidcVerifier verifier_{options(), issuer_.getter(), clock_};

  OidcRefusal refusal(const std::string& token,
                      const std::vector<std::string>& resources = {kResource}) {
    OidcRefusal why = OidcRefusal::None;
    verifier_.verify(token, resources, &why);
    return why;
  }
};

struct Case {
  const char* name;
  std::function<std::string()> token;
  OidcRefusal expect;
  std::vector<std::string> resources = {kResource};
};

TEST_F(OidcTest, TokenTable) {
  auto with = [](const std::function<void(json & header, json & claims)>& change,
                 const TestKey& key = rsaKey()) {
    return [change, &key] {
      json header = rsaHeader(), claims = goodClaims();
      if (key.ec) header = {{"alg", "ES256"}, {"kid", key.kid}};
      change(header, claims);
      return jws(header, claims, key);
    };
  };
  auto same = [](json&, json&) {};
  std::string rsaPem = rsaKey().publicPem();
  const std::vector<Case> cases = {
      {"RS256 at+jwt", with(same), OidcRefusal::None},
      {"ES256", with(same, ecKey()), OidcRefusal::None},
      {"typ JWT", with([](json& h, json&) { h["typ"] = "JWT"; }), OidcRefusal::None},
      {"aud array naming the resource", with([](json&, json& c) {
         c["aud"] = {"other", kResource};
       }),
       OidcRefusal::None},
      {"configured audience on the gateway", with([](json&, json& c) { c["aud"] = "minimcp-api"; }),
       OidcRefusal::None},
      {"configured audience on the API",
       with([](json&, json& c) { c["aud"] = "minimcp-api"; }),
       OidcRefusal::None,
       {}},
      {"instance audience on the API", with(same), OidcRefusal::Audience, {}},
      {"another instance's audience",
       with([](json&, json& c) { c["aud"] = "https://mcp.example.com:7443/mcp/alice/other"; }),
       OidcRefusal::Audience},
      {"no aud", with([](json&, json& c) { c.erase("aud"); }), OidcRefusal::Audience},
      {"aud not a string", with([](json&, json& c) { c["aud"] = 7; }), OidcRefusal::Audience},
      {"bad signature",
       [] {
         std::string t = jws(rsaHeader(), goodClaims(), rsaKey());
         json forged = goodClaims();
         forged["groups"] = {"minimcp:bob"};
         auto dot = t.find('.');
         auto last = t.rfind('.');
         return t.substr(0, dot + 1) + b64(forged.dump()) + t.substr(last);
       },
       OidcRefusal::Signature},
      {"signed by a key the issuer does not publish",
       [] {
         static const TestKey stranger = TestKey::rsa("rsa-1");
         return jws(rsaHeader(), goodClaims(), stranger);
       },
       OidcRefusal::Signature},
      {"alg none",
       [] {
         return b64(json{{"alg", "none"}}.dump()) + "." + b64(goodClaims().dump()) + ".";
       },
       OidcRefusal::Malformed},
      {"alg none with a signature",
       [] {
         return b64(json{{"alg", "none"}, {"kid", "rsa-1"}}.dump()) + "." +
                b64(goodClaims().dump()) + ".c2ln";
       },
       OidcRefusal::Algorithm},
      {"HS256 keyed with the public key",
       [rsaPem] {
         std::string input =
             b64(json{{"alg", "HS256"}, {"kid", "rsa-1"}}.dump()) + "." + b64(goodClaims().dump());
         unsigned char mac[32];
         unsigned len = 0;
         HMAC(EVP_sha256(), rsaPem.data(), static_cast<int>(rsaPem.size()),
              reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
         return input + "." + b64(std::string(reinterpret_cast<char*>(mac), len));
       },
       OidcRefusal::Algorithm},
      {"PS256 (not accepted)", with([](json& h, json&) { h["alg"] = "PS256"; }),
       OidcRefusal::Algorithm},
      {"RS256 naming the EC key", with([](json& h, json&) { h["kid"] = "ec-1"; }),
       OidcRefusal::UnknownKey},
      {"ES256 header signed with RSA", with([](json& h, json&) { h["alg"] = "ES256"; }),
       OidcRefusal::UnknownKey},
      {"unknown kid", with([](json& h, json&) { h["kid"] = "nope"; }), OidcRefusal::UnknownKey},
      {"no kid, one RSA key", with([](json& h, json&) { h.erase("kid"); }), OidcRefusal::None},
      {"wrong iss", with([](json&, json& c) { c["iss"] = "https://evil.example.com"; }),
       OidcRefusal::Issuer},
      {"iss with a trailing slash",
       with([](json&, json& c) { c["iss"] = std::string(kIssuer) + "/"; }), OidcRefusal::Issuer},
      {"no iss", with([](json&, json& c) { c.erase("iss"); }), OidcRefusal::Issuer},
      {"expired", with([](json&, json& c) { c["exp"] = epoch(-31s); }), OidcRefusal::Expired},
      {"expired within the leeway", with([](json&, json& c) { c["exp"] = epoch(-29s); }),
       OidcRefusal::None},
      {"no exp", with([](json&, json& c) { c.erase("exp"); }), OidcRefusal::Expired},
      {"exp not a number", with([](json&, json& c) { c["exp"] = "tomorrow"; }),
       OidcRefusal::Malformed},
      {"nbf in the future", with([](json&, json& c) { c["nbf"] = epoch(60s); }),
       OidcRefusal::NotYetValid},
      {"nbf within the leeway", with([](json&, json& c) { c["nbf"] = epoch(20s); }),
       OidcRefusal::None},
      {"no namespaces claim", with([](json&, json& c) { c.erase("groups"); }),
       OidcRefusal::NoNamespace},
      {"no value with the prefix", with([](json&, json& c) {
         c["groups"] = {"alice", "staff"};
       }),
       OidcRefusal::NoNamespace},
      {"prefix only, or not a namespace name", with([](json&, json& c) {
         c["groups"] = {"minimcp:", "minimcp:Bad_NS", "minimcp:a/b"};
       }),
       OidcRefusal::NoNamespace},
      {"a string claim", with([](json&, json& c) { c["groups"] = "minimcp:alice"; }),
       OidcRefusal::None},
      {"two parts", [] { return std::string("abc.def"); }, OidcRefusal::Malformed},
      {"four parts", [] { return std::string("a.b.c.d"); }, OidcRefusal::Malformed},
      {"header not JSON", [] { return b64("{") + "." + b64("{}") + ".c2ln"; },
       OidcRefusal::Malformed},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string token = c.token();
    EXPECT_EQ(describe(refusal(token, c.resources)), std::string(describe(c.expect)));
  }
}

TEST_F(OidcTest, IdentityIsATenantOfTheGrantedNamespacesOnly) {
  json claims = goodClaims();
  claims["groups"] = {"minimcp:alice", "minimcp:bob", "minimcp:alice", "admins", "minimcp:"};
  auto who = verifier_.verify(jws(rsaHeader(), claims, rsaKey()), {kResource});
  ASSERT_TRUE(who);
  EXPECT_EQ(who->role, Identity::Role::Namespace);
  EXPECT_FALSE(who->isAdmin());
  EXPECT_EQ(who->namespaces, (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(who->name, "oidc:u-123");

  Authorizer authz;
  auto connect = [&](const std::string& ns) {
    return authz.authorize(*who, {kConnectVerb, "mcpinstances", "", ns, "inbox"}).effect;
  };
  EXPECT_EQ(connect("alice"), Decision::Effect::Allow);
  EXPECT_EQ(connect("bob"), Decision::Effect::Allow);
  EXPECT_EQ(connect("carol"), Decision::Effect::Hide);
  EXPECT_EQ(connect(""), Decision::Effect::Hide);
  EXPECT_FALSE(authz.authorize(*who, {"list", "mcpinstances", "", "", ""}).allowed());
  EXPECT_FALSE(authz.authorize(*who, {"list", kTokensResource, "", "", ""}).allowed());
  EXPECT_FALSE(authz.authorize(*who, {"get", kMetricsResource, "", "", ""}).allowed());
  EXPECT_FALSE(authz.authorize(*who, {"update", "mcpinstances", "status", "alice", "x"}).allowed());
}

TEST_F(OidcTest, UnknownKidRefetchesAtALimitedRate) {
  EXPECT_EQ(refusal(jws(rsaHeader(), goodClaims(), rsaKey())), OidcRefusal::None);
  EXPECT_EQ(issuer_.jwksFetches, 1);
  EXPECT_EQ(refusal(jws(rsaHeader(), goodClaims(), rsaKey())), OidcRefusal::None);
  EXPECT_EQ(issuer_.jwksFetches, 1) << "a known key needs no fetch";

  // The issuer rotates to rsa-2: the first token naming it fetches the set again.
  clock_.advance(11s);
  issuer_.publish({rsaKey().jwk(), rotatedKey().jwk()});
  json header = rsaHeader();
  header["kid"] = "rsa-2";
  EXPECT_EQ(refusal(jws(header, goodClaims(), rotatedKey())), OidcRefusal::None);
  EXPECT_EQ(issuer_.jwksFetches, 2);

  // Unknown kids within the refresh interval cost no fetch.
  header["kid"] = "made-up";
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(refusal(jws(header, goodClaims(), rotatedKey())), OidcRefusal::UnknownKey);
  }
  EXPECT_EQ(issuer_.jwksFetches, 2);
  clock_.advance(10s);
  EXPECT_EQ(refusal(jws(header, goodClaims(), rotatedKey())), OidcRefusal::UnknownKey);
  EXPECT_EQ(issuer_.jwksFetches, 3);
}

TEST_F(OidcTest, IssuerOutageBacksOffAndSparesKnownKeys) {
  EXPECT_EQ(refusal(jws(rsaHeader(), goodClaims(), rsaKey())), OidcRefusal::None);
  issuer_.down = true;
  clock_.advance(11s);
  json unknown = rsaHeader();
  unknown["kid"] = "rsa-2";
  // The attempt fails: the next one waits 1 s.
  EXPECT_EQ(refusal(jws(unknown, goodClaims(), rotatedKey())), OidcRefusal::UnknownKey);
  // Known keys keep working, with no attempt to reach the issuer.
  EXPECT_EQ(refusal(jws(rsaHeader(), goodClaims(), rsaKey())), OidcRefusal::None);

  issuer_.down = false;
  issuer_.publish({rsaKey().jwk(), rotatedKey().jwk()});
  EXPECT_EQ(refusal(jws(unknown, goodClaims(), rotatedKey())), OidcRefusal::UnknownKey)
      << "within the backoff no fetch is made";
  EXPECT_EQ(issuer_.jwksFetches, 1);
  clock_.advance(1s);
  EXPECT_EQ(refusal(jws(unknown, goodClaims(), rotatedKey())), OidcRefusal::None);
  EXPECT_EQ(issuer_.jwksFetches, 2);
}

TEST_F(OidcTest, BackoffDoubles) {
  json unknown = rsaHeader();
  int attempts = 0;
  HttpGet get = [&](const std::string&) -> std::string {
    ++attempts;
    throw std::runtime_error("timeout");
  };
  OidcVerifier v(options(), get, clock_);
  auto tryOnce = [&] { v.verify(jws(unknown, goodClaims(), rsaKey()), {kResource}); };
  tryOnce();
  EXPECT_EQ(attempts, 1);
  clock_.advance(999ms);
  tryOnce();
  EXPECT_EQ(attempts, 1);
  clock_.advance(1ms);
  tryOnce();
  EXPECT_EQ(attempts, 2);  // next wait: 2 s
  clock_.advance(1999ms);
  tryOnce();
  EXPECT_EQ(attempts, 2);
  clock_.advance(1ms);
  tryOnce();
  EXPECT_EQ(attempts, 3);
}

TEST_F(OidcTest, DiscoveryMustNameTheIssuer) {
  issuer_.pages[std::string(kIssuer) + "/.well-known/openid-configuration"] =
      json{{"issuer", "https://evil.example.com"}, {"jwks_uri", kJwksUri}}.dump();
  EXPECT_EQ(refusal(jws(rsaHeader(), goodClaims(), rsaKey())), OidcRefusal::UnknownKey);
  EXPECT_EQ(issuer_.jwksFetches, 0);
}

// A token seen again skips its signature, nothing else: audience, time and keys still count.
TEST_F(OidcTest, AVerifiedTokenIsCheckedAgainButForItsSignature) {
  std::string token = jws(rsaHeader(), goodClaims(), rsaKey());
  EXPECT_EQ(refusal(token), OidcRefusal::None);
  EXPECT_EQ(refusal(token), OidcRefusal::None);
  EXPECT_EQ(refusal(token, {"https://mcp.example.com:7443/mcp/alice/other"}),
            OidcRefusal::Audience);
  EXPECT_EQ(refusal(token, {}), OidcRefusal::Audience);
  clock_.advance(331s);
  EXPECT_EQ(refusal(token), OidcRefusal::Expired);
}

TEST_F(OidcTest, AWithdrawnKeyStopsWorkingAtTheNextFetch) {
  std::string token = jws(rsaHeader(), goodClaims(), rsaKey());
  EXPECT_EQ(refusal(token), OidcRefusal::None);
  // The issuer withdraws rsa-1; the first token naming its new key fetches the set.
  issuer_.publish({rotatedKey().jwk()});
  clock_.advance(11s);
  json header = rsaHeader();
  header["kid"] = "rsa-2";
  EXPECT_EQ(refusal(jws(header, goodClaims(), rotatedKey())), OidcRefusal::None);
  EXPECT_EQ(refusal(token), OidcRefusal::UnknownKey);
}

TEST(JwkToPem, RefusesWhatIsNotAPublicSigningKey) {
  EXPECT_EQ(jwkToPem(rsaKey().jwk()), rsaKey().publicPem());
  EXPECT_EQ(jwkToPem(ecKey().jwk()), ecKey().publicPem());
  json offCurve = ecKey().jwk();
  offCurve["y"] = b64(std::string(32, '\x01'));
  EXPECT_THROW(jwkToPem(offCurve), std::runtime_error);
  EXPECT_THROW(jwkToPem(json{{"kty", "oct"}, {"k", "c2VjcmV0"}}), std::runtime_error);
  EXPECT_THROW(jwkToPem(json{{"kty", "RSA"}, {"n", "AQAB"}}), std::runtime_error);
}

// mcpd's own tokens come first; only a JWT reaches the verifier.
TEST_F(OidcTest, RequestAuthenticatorTriesOwnTokensFirst) {
  struct Own : Authenticator {
    std::optional<Identity> authenticate(const std::string& token,
                                         const std::vector<std::string>&) const override {
      if (token == "own") return Identity{Identity::Role::Admin, "", "admin"};
      return std::nullopt;
    }
  } own;
  auto verifier = std::make_shared<OidcVerifier>(options(), issuer_.getter(), clock_);
  RequestAuthenticator auth(own, verifier);
  EXPECT_TRUE(auth.authenticate("own", {})->isAdmin());
  EXPECT_FALSE(auth.authenticate("not-a-jwt", {kResource}));
  EXPECT_EQ(issuer_.jwksFetches, 0);
  auto who = auth.authenticate(jws(rsaHeader(), goodClaims(), rsaKey()), {kResource});
  ASSERT_TRUE(who);
  EXPECT_EQ(who->namespaces, std::vector<std::string>{"alice"});
  EXPECT_FALSE(auth.authenticate(jws(rsaHeader(), goodClaims(), rsaKey()), {}))
      << "a token bound to an instance does not open the API";
  RequestAuthenticator ownOnly(own, nullptr);
  EXPECT_FALSE(ownOnly.authenticate(jws(rsaHeader(), goodClaims(), rsaKey()), {kResource}));
}

}  // namespace
}  // namespace minimcp::server
