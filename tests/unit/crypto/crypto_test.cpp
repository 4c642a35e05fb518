#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <set>

#include "api/crypto/aead.h"
#include "api/crypto/encoding.h"
#include "api/crypto/instance_token.h"
#include "api/crypto/master_key.h"

namespace minimcp::crypto {
namespace {

namespace fs = std::filesystem;

std::string unhex(std::string_view hex) {
  auto raw = hexDecode(hex);
  EXPECT_TRUE(raw.has_value()) << hex;
  return raw.value_or("");
}

MasterKey keyOf(char fill) { return MasterKey::fromBytes(std::string(32, fill)); }

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "minimcp-crypto-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void writeFile(const fs::path& p, const std::string& content, mode_t mode) {
  std::ofstream(p, std::ios::binary) << content;
  ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

mode_t modeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_mode & 07777;
}

// --- encodings ----------------------------------------------------------------------------

TEST(EncodingTest, Rfc4648Vectors) {
  const std::pair<std::string, std::string> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, b64] : cases) {
    EXPECT_EQ(base64Encode(plain), b64);
    EXPECT_EQ(base64Decode(b64), plain);
    std::string url = b64.substr(0, b64.find('='));
    EXPECT_EQ(base64UrlEncode(plain), url);
    EXPECT_EQ(base64UrlDecode(url), plain);
  }
  EXPECT_EQ(base64Encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64UrlDecode("-_8"), "\xfb\xff");
  EXPECT_FALSE(base64Decode("Zm9").has_value());     // not a multiple of 4
  EXPECT_FALSE(base64Decode("Zm9v\n").has_value());  // whitespace
  EXPECT_FALSE(base64Decode("Zh==").has_value());    // non-canonical trailing bits
  EXPECT_FALSE(base64Decode("-_8=").has_value());    // url alphabet in standard base64
  EXPECT_FALSE(base64UrlDecode("Zm9vYg==").has_value());
  EXPECT_FALSE(base64UrlDecode("Z").has_value());

  EXPECT_EQ(hexEncode(std::string("\x00\xab\xff", 3)), "00abff");
  EXPECT_EQ(hexDecode("00ABff"), std::string("\x00\xab\xff", 3));
  EXPECT_FALSE(hexDecode("abc").has_value());
  EXPECT_FALSE(hexDecode("zz").has_value());
}

// --- HKDF ---------------------------------------------------------------------------------

TEST(HkdfTest, Rfc5869TestCase1) {
  std::string okm = detail::hkdfSha256(std::string(22, '\x0b'), unhex("000102030405060708090a0b0c"),
                                       unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  EXPECT_EQ(hexEncode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(HkdfTest, Rfc5869TestCase3NoSaltNoInfo) {
  std::string okm = detail::hkdfSha256(std::string(22, '\x0b'), "", "", 42);
  EXPECT_EQ(hexEncode(okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(MasterKeyTest, DeriveIsDeterministicAndSeparatesLabels) {
  MasterKey a = keyOf('a');
  EXPECT_EQ(a.derive("apikey-encryption"), keyOf('a').derive("apikey-encryption"));
  EXPECT_FALSE(a.derive("apikey-encryption") == a.derive("instance-token"));
  EXPECT_FALSE(a.derive("instance-token") == keyOf('b').derive("instance-token"));
  EXPECT_EQ(a.derive("x").view(), detail::hkdfSha256(std::string(32, 'a'), "", "x", 32));
  // The subkey is not the master key itself.
  EXPECT_NE(a.derive("apikey-encryption").view(), std::string(32, 'a'));
}

TEST(MasterKeyTest, IdIsStableShortAndPerKey) {
  MasterKey a = keyOf('a');
  EXPECT_EQ(a.id().size(), 8u);
  EXPECT_EQ(a.id().find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(a.id(), keyOf('a').id());
  EXPECT_NE(a.id(), keyOf('b').id());
  EXPECT_NE(MasterKey::generate().id(), MasterKey::generate().id());
  EXPECT_TRUE(a.sameKeyAs(keyOf('a')));
  EXPECT_FALSE(a.sameKeyAs(keyOf('b')));
}

TEST(MasterKeyTest, ParseAcceptsHexAndBase64Only) {
  std::string raw(32, '\x5a');
  MasterKey fromHex = MasterKey::parse(hexEncode(raw) + "\n", "test");
  EXPECT_TRUE(fromHex.sameKeyAs(MasterKey::fromBytes(raw)));
  EXPECT_TRUE(MasterKey::parse(" " + base64Encode(raw), "test").sameKeyAs(fromHex));
  EXPECT_TRUE(MasterKey::parse(base64UrlEncode(raw), "test").sameKeyAs(fromHex));
  EXPECT_THROW(MasterKey::parse(hexEncode(std::string(31, 'x')), "test"), MasterKeyError);
  EXPECT_THROW(MasterKey::parse(std::string(64, 'g'), "test"), MasterKeyError);
  EXPECT_THROW(MasterKey::parse("", "test"), MasterKeyError);
  EXPECT_THROW(MasterKey::fromBytes(std::string(16, 'x')), MasterKeyError);
  try {
    MasterKey::parse("nope", "environment variable X");
    FAIL() << "expected MasterKeyError";
  } catch (const MasterKeyError& e) {
    EXPECT_NE(std::string(e.what()).find("environment variable X"), std::string::npos);
  }
}

TEST(MasterKeyTest, FromEnvironment) {
  const char* var = "MINIMCP_TEST_MASTER_KEY";
  ::unsetenv(var);
  EXPECT_FALSE(MasterKey::fromEnvironment(var).has_value());
  ::setenv(var, "", 1);
  EXPECT_FALSE(MasterKey::fromEnvironment(var).has_value());

  std::string raw(32, '\x11');
  ::setenv(var, hexEncode(raw).c_str(), 1);
  auto k = MasterKey::fromEnvironment(var);
  ASSERT_TRUE(k.has_value());
  EXPECT_TRUE(k->sameKeyAs(MasterKey::fromBytes(raw)));
  EXPECT_NE(::getenv(var), nullptr);

  ::setenv(var, base64Encode(raw).c_str(), 1);
  k = MasterKey::fromEnvironment(var, /*unsetAfterRead=*/true);
  ASSERT_TRUE(k.has_value());
  EXPECT_TRUE(k->sameKeyAs(MasterKey::fromBytes(raw)));
  EXPECT_EQ(::getenv(var), nullptr);

  ::setenv(var, "secret-but-not-a-key", 1);
  try {
    MasterKey::fromEnvironment(var);
    FAIL() << "expected MasterKeyError";
  } catch (const MasterKeyError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(var), std::string::npos);
    EXPECT_EQ(msg.find("secret-but-not-a-key"), std::string::npos);  // never echo the value
  }
  ::unsetenv(var);
}

// --- master key files ---------------------------------------------------------------------

TEST(MasterKeyFileTest, CreatedWith0600AndReloadedIdentical) {
  TempDir dir;
  fs::path p = dir.path() / "master.key";
  bool created = false;
  MasterKey k1 = MasterKey::loadOrCreate(p, &created);
  EXPECT_TRUE(created);
  EXPECT_EQ(modeOf(p), 0600u);
  EXPECT_EQ(fs::file_size(p), 65u);  // 64 hex digits and a newline
  MasterKey k2 = MasterKey::loadOrCreate(p, &created);
  EXPECT_FALSE(created);
  EXPECT_TRUE(k1.sameKeyAs(k2));
  EXPECT_EQ(k1.id(), k2.id());
  EXPECT_TRUE(MasterKey::load(p).sameKeyAs(k1));
  // Nothing left behind but the key.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  EXPECT_THROW(MasterKey::createFile(p), MasterKeyError);
}

TEST(MasterKeyFileTest, CreatedWith0600EvenUnderAPermissiveUmask) {
  TempDir dir;
  mode_t old = ::umask(0);
  MasterKey::createFile(dir.path() / "k");
  ::umask(old);
  EXPECT_EQ(modeOf(dir.path() / "k"), 0600u);
}

TEST(MasterKeyFileTest, ConcurrentCreatorsAgreeOnOneKey) {
  TempDir dir;
  fs::path p = dir.path() / "master.key";
  std::vector<std::future<MasterKey>> creators;
  for (int i = 0; i < 4; ++i) {
    creators.push_back(std::async(std::launch::async, [&] { return MasterKey::loadOrCreate(p); }));
  }
  std::vector<MasterKey> keys;
  for (auto& f : creators) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    keys.push_back(f.get());
  }
  MasterKey onDisk = MasterKey::load(p);
  for (const auto& k : keys) EXPECT_TRUE(k.sameKeyAs(onDisk));
}

TEST(MasterKeyFileTest, RefusesGroupOrOtherPermissions) {
  TempDir dir;
  fs::path p = dir.path() / "master.key";
  MasterKey::createFile(p);
  for (mode_t mode : {0640, 0604, 0660, 0644, 0601}) {
    ASSERT_EQ(::chmod(p.c_str(), mode), 0);
    try {
      MasterKey::load(p);
      FAIL() << "mode " << std::oct << mode << " accepted";
    } catch (const MasterKeyError& e) {
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
    }
    EXPECT_THROW(MasterKey::loadOrCreate(p), MasterKeyError);
  }
  ASSERT_EQ(::chmod(p.c_str(), 0400), 0);
  EXPECT_NO_THROW(MasterKey::load(p));
}

TEST(MasterKeyFileTest, RefusesWrongSizeAndFormat) {
  TempDir dir;
  fs::path p = dir.path() / "master.key";
  for (const std::string& content :
       {std::string(), std::string(31, 'x'), std::string(33, 'x'), std::string(32, 'x'),
        std::string(64, 'z'), hexEncode(std::string(16, 'x')), std::string(5000, 'a')}) {
    writeFile(p, content, 0600);
    try {
      MasterKey::load(p);
      FAIL() << "accepted " << content.size() << " bytes";
    } catch (const MasterKeyError& e) {
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
    }
    EXPECT_THROW(MasterKey::loadOrCreate(p), MasterKeyError);  // never silently replaced
  }
}

TEST(MasterKeyFileTest, AcceptsRawHexAndBase64Files) {
  TempDir dir;
  fs::path p = dir.path() / "master.key";
  std::string raw(32, '\n');  // raw bytes are taken as they are, whitespace included
  writeFile(p, raw, 0600);
  EXPECT_TRUE(MasterKey::load(p).sameKeyAs(MasterKey::fromBytes(raw)));
  writeFile(p, hexEncode(raw), 0400);
  EXPECT_TRUE(MasterKey::load(p).sameKeyAs(MasterKey::fromBytes(raw)));
  ASSERT_EQ(::chmod(p.c_str(), 0600), 0);
  writeFile(p, base64Encode(raw) + "\n", 0600);
  EXPECT_TRUE(MasterKey::load(p).sameKeyAs(MasterKey::fromBytes(raw)));
}

TEST(MasterKeyFileTest, MissingFileOrDirectoryIsAClearError) {
  TempDir dir;
  fs::path p = dir.path() / "missing" / "master.key";
  try {
    MasterKey::loadOrCreate(p);
    FAIL() << "expected MasterKeyError";
  } catch (const MasterKeyError& e) {
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(MasterKey::load(dir.path() / "nope"), MasterKeyError);
  EXPECT_THROW(MasterKey::load(dir.path()), MasterKeyError);  // a directory
}

// --- key ring -----------------------------------------------------------------------------

TEST(KeyRingTest, FindsKeysByIdPrimaryFirst) {
  KeyRing ring(keyOf('b'), {keyOf('a'), keyOf('b'), keyOf('a')});
  EXPECT_EQ(ring.primary().id(), keyOf('b').id());
  EXPECT_EQ(ring.ids(), (std::vector<std::string>{keyOf('b').id(), keyOf('a').id()}));
  ASSERT_NE(ring.find(keyOf('a').id()), nullptr);
  EXPECT_TRUE(ring.find(keyOf('a').id())->sameKeyAs(keyOf('a')));
  EXPECT_EQ(ring.find("00000000"), nullptr);
}

// --- AES-256-GCM --------------------------------------------------------------------------

// NIST CAVP gcmEncryptExtIV256 / McGrew–Viega GCM spec test case 16.
TEST(GcmTest, NistKnownAnswer) {
  const std::string key = unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  const std::string iv = unhex("cafebabefacedbaddecaf888");
  const std::string pt = unhex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
      "49a6b525b16aedf5aa0de657ba637b39");
  const std::string aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const std::string ct = unhex(
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
      "56828838c5f61e6393ba7a0abcc9f662");
  const std::string tag = unhex("76fc6ece0f4e1768cddf8853bb2d551b");

  detail::GcmOutput out = detail::gcmEncrypt(key, iv, pt, aad);
  EXPECT_EQ(hexEncode(out.ciphertext), hexEncode(ct));
  EXPECT_EQ(hexEncode(out.tag), hexEncode(tag));

  std::string decrypted;
  ASSERT_TRUE(detail::gcmDecrypt(key, iv, ct, tag, aad, decrypted));
  EXPECT_EQ(decrypted, pt);
  std::string badTag = tag;
  badTag[0] ^= 1;
  EXPECT_FALSE(detail::gcmDecrypt(key, iv, ct, badTag, aad, decrypted));
  EXPECT_TRUE(decrypted.empty());
}

// McGrew–Viega test case 13: empty plaintext, empty aad, zero key and IV.
TEST(GcmTest, EmptyInputKnownAnswer) {
  detail::GcmOutput out = detail::gcmEncrypt(std::string(32, '\0'), std::string(12, '\0'), "", "");
  EXPECT_TRUE(out.ciphertext.empty());
  EXPECT_EQ(hexEncode(out.tag), "530f8afbc74536b9a963b4f1c4cb738b");
}

class SealTest : public ::testing::Test {
 protected:
  KeyRing ring{keyOf('a')};
  const std::string aad = "alice/gmail-key/1";
};

TEST_F(SealTest, RoundTripsAndHidesThePlaintext) {
  for (const std::string& value : {std::string(), std::string("sk-live-1234567890abcdef"),
                                   std::string(10000, 'x'), std::string("\0bin\xff", 5)}) {
    std::string sealed = seal(ring, value, aad);
    EXPECT_EQ(sealed.rfind("v1:" + ring.primary().id() + ":", 0), 0u) << sealed;
    if (value.size() > 4) {
      EXPECT_EQ(sealed.find(value), std::string::npos);
    }
    EXPECT_EQ(open(ring, sealed, aad), value);
    EXPECT_EQ(sealedKeyId(sealed), ring.primary().id());
  }
  // Same value, fresh nonce: different ciphertexts.
  EXPECT_NE(seal(ring, "same", aad), seal(ring, "same", aad));
}

TEST_F(SealTest, EveryFlippedBitFailsAuthentication) {
  std::string sealed = seal(ring, "sk-live-1234567890abcdef", aad);
  const std::string prefix = sealed.substr(0, sealed.rfind(':') + 1);
  const std::string raw = *base64Decode(sealed.substr(prefix.size()));
  ASSERT_EQ(raw.size(), 12 + 24 + 16u);
  // Every bit: nonce (0..11), ciphertext (12..35), tag (36..51).
  for (size_t byte = 0; byte < raw.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string tampered = raw;
      tampered[byte] = static_cast<char>(tampered[byte] ^ (1 << bit));
      try {
        open(ring, prefix + base64Encode(tampered), aad);
        FAIL() << "byte " << byte << " bit " << bit << " accepted";
      } catch (const DecryptFailed& e) {
        EXPECT_EQ(e.reason(), DecryptFailed::Reason::AuthenticationFailed);
      }
    }
  }
  // Truncated: the tag no longer lines up.
  EXPECT_THROW(open(ring, prefix + base64Encode(raw.substr(0, raw.size() - 1)), aad),
               DecryptFailed);
}

TEST_F(SealTest, AnotherRowsAadFails) {
  std::string sealed = seal(ring, "sk-secret-xyz", aad);
  for (const std::string& other : {std::string("alice/other-key/1"), std::string("bob/gmail-key/1"),
                                   std::string("alice/gmail-key/2"), std::string()}) {
    try {
      open(ring, sealed, other);
      FAIL() << "opened with aad '" << other << "'";
    } catch (const DecryptFailed& e) {
      EXPECT_EQ(e.reason(), DecryptFailed::Reason::AuthenticationFailed);
      EXPECT_EQ(std::string(e.what()).find("sk-secret"), std::string::npos);
    }
  }
}

TEST_F(SealTest, WrongKeyWithForgedIdFails) {
  std::string sealed = seal(KeyRing(keyOf('b')), "value", aad);
  // Relabel the blob with the id of a key that is present.
  std::string relabelled = "v1:" + ring.primary().id() + sealed.substr(sealed.rfind(':'));
  try {
    open(ring, relabelled, aad);
    FAIL();
  } catch (const DecryptFailed& e) {
    EXPECT_EQ(e.reason(), DecryptFailed::Reason::AuthenticationFailed);
  }
}

TEST_F(SealTest, UnknownKeyAndMalformedInputAreReported) {
  std::string sealed = seal(KeyRing(keyOf('b')), "value", aad);
  try {
    open(ring, sealed, aad);
    FAIL();
  } catch (const DecryptFailed& e) {
    EXPECT_EQ(e.reason(), DecryptFailed::Reason::UnknownKey);
    EXPECT_NE(std::string(e.what()).find(keyOf('b').id()), std::string::npos) << e.what();
  }
  const std::string payload = sealed.substr(sealed.rfind(':') + 1);
  for (const std::string& bad :
       {std::string(), std::string("value"),
        std::string("v2:") + ring.primary().id() + ":" + payload, std::string("v1:") + payload,
        std::string("v1::") + payload, "v1:" + ring.primary().id() + ":not base64!",
        "v1:" + ring.primary().id() + ":" + base64Encode(std::string(27, 'x'))}) {
    try {
      open(ring, bad, aad);
      FAIL() << "accepted '" << bad << "'";
    } catch (const DecryptFailed& e) {
      EXPECT_EQ(e.reason(), DecryptFailed::Reason::Malformed) << bad;
    }
  }
}

TEST_F(SealTest, HundredThousandSealsNeverRepeatANonce) {
  std::set<std::string> nonces;
  constexpr int kSeals = 100000;
  for (int i = 0; i < kSeals; ++i) {
    std::string sealed = seal(ring, "v", aad);
    auto raw = base64Decode(std::string_view(sealed).substr(sealed.rfind(':') + 1));
    ASSERT_TRUE(raw.has_value());
    nonces.insert(raw->substr(0, 12));
  }
  EXPECT_EQ(nonces.size(), static_cast<size_t>(kSeals));
}

TEST_F(SealTest, RotationOpensOldValuesAndResealsUnderTheNewKey) {
  MasterKey a = keyOf('a');
  MasterKey b = keyOf('b');
  std::string underA = seal(KeyRing(a), "sk-old-value", aad);

  KeyRing rotated(b, {a});
  EXPECT_TRUE(needsReseal(rotated, underA));
  EXPECT_EQ(open(rotated, underA, aad), "sk-old-value");

  std::string underB = reseal(rotated, underA, aad);
  EXPECT_EQ(sealedKeyId(underB), b.id());
  EXPECT_FALSE(needsReseal(rotated, underB));
  EXPECT_EQ(open(KeyRing(b), underB, aad), "sk-old-value");  // A no longer needed
  EXPECT_THROW(open(KeyRing(a), underB, aad), DecryptFailed);
  EXPECT_THROW(reseal(rotated, underA, "alice/other/1"), DecryptFailed);
  EXPECT_TRUE(needsReseal(rotated, "garbage"));
}

TEST(HintTest, ShowsOnlyTheLastFourCharacters) {
  const std::string ellipsis = "\xE2\x80\xA6";
  EXPECT_EQ(hint("sk-live-abcd"), ellipsis + "abcd");
  EXPECT_EQ(hint("12345678"), ellipsis + "5678");
  EXPECT_EQ(hint("1234567"), ellipsis);
  EXPECT_EQ(hint(""), ellipsis);
  // UTF-8 characters are never split.
  EXPECT_EQ(hint("geheim-schlüssel-äöüß"), ellipsis + "äöüß");
  EXPECT_EQ(hint("äöüßäöü"), ellipsis);  // 7 characters, 14 bytes
}

// --- instance tokens ----------------------------------------------------------------------

TEST(InstanceTokenTest, DeterministicPerUidAndGeneration) {
  MasterKey m = keyOf('a');
  const std::string uid = "5f0c3a52-8a5e-4d0b-9a43-0b6f2b0d9e11";
  std::string t = instanceToken(m, uid, 1);
  EXPECT_EQ(t.rfind("mcpi_", 0), 0u);
  EXPECT_EQ(t.size(), 5 + 43u);
  EXPECT_EQ(
      t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 5),
      std::string::npos);
  EXPECT_EQ(instanceToken(keyOf('a'), uid, 1), t);  // another node, same master key
  EXPECT_EQ(InstanceTokens(m).issue(uid, 1), t);

  std::set<std::string> distinct{t, instanceToken(m, uid, 2), instanceToken(m, uid, 0),
                                 instanceToken(m, "other-uid", 1),
                                 instanceToken(keyOf('b'), uid, 1),
                                 // uid/generation boundary: "a:1"+":"+"1" vs "a"+":"+"1:1"-ish
                                 instanceToken(m, uid + ":1", 1)};
  EXPECT_EQ(distinct.size(), 6u);
}

TEST(InstanceTokenTest, MatchesTheDesignFormula) {
  MasterKey m = keyOf('c');
  Key256 k = m.derive("instance-token");
  unsigned char mac[32];
  unsigned int len = 0;
  const std::string msg = "uid-1:7";
  ASSERT_NE(HMAC(EVP_sha256(), k.data(), 32, reinterpret_cast<const unsigned char*>(msg.data()),
                 msg.size(), mac, &len),
            nullptr);
  EXPECT_EQ(instanceToken(m, "uid-1", 7),
            "mcpi_" + base64UrlEncode({reinterpret_cast<const char*>(mac), len}));
}

TEST(InstanceTokenTest, Verify) {
  MasterKey m = keyOf('a');
  InstanceTokens tokens(m);
  std::string t = tokens.issue("uid-1", 3);
  EXPECT_TRUE(tokens.verify(t, "uid-1", 3));
  EXPECT_TRUE(verifyInstanceToken(m, t, "uid-1", 3));
  EXPECT_FALSE(tokens.verify(t, "uid-1", 4));  // rotated
  EXPECT_FALSE(tokens.verify(t, "uid-2", 3));
  EXPECT_FALSE(verifyInstanceToken(keyOf('b'), t, "uid-1", 3));
  EXPECT_FALSE(tokens.verify("", "uid-1", 3));
  EXPECT_FALSE(tokens.verify(t.substr(0, t.size() - 1), "uid-1", 3));
  std::string flipped = t;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(tokens.verify(flipped, "uid-1", 3));
}

}  // namespace
}  // namespace minimcp::crypto
