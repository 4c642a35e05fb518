#include "api/crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

#include "api/crypto/encoding.h"

namespace minimcp::crypto {

namespace {

constexpr std::string_view kFormat = "v1";
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

CipherCtx newGcmContext(bool encrypt, std::string_view key, std::string_view iv) {
  if (key.size() != 32) throw std::invalid_argument("AES-256-GCM needs a 32-byte key");
  if (iv.empty()) throw std::invalid_argument("AES-256-GCM needs a non-empty IV");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  if (!ctx ||
      EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr, encrypt) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()),
                          nullptr) != 1 ||
      EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, bytes(key), bytes(iv), encrypt) != 1) {
    throw std::runtime_error("AES-256-GCM initialisation failed");
  }
  return ctx;
}

void addAad(EVP_CIPHER_CTX* ctx, std::string_view aad) {
  int len = 0;
  if (!aad.empty() &&
      EVP_CipherUpdate(ctx, nullptr, &len, bytes(aad), static_cast<int>(aad.size())) != 1) {
    throw std::runtime_error("AES-256-GCM: adding associated data failed");
  }
}

struct ParsedBlob {
  std::string keyId;
  std::string raw;  // nonce || ciphertext || tag
};

ParsedBlob parseBlob(std::string_view sealed) {
  auto malformed = [](const std::string& why) {
    return DecryptFailed(DecryptFailed::Reason::Malformed, "sealed value is malformed: " + why);
  };
  size_t first = sealed.find(':');
  if (first == std::string_view::npos) throw malformed("no format version");
  if (sealed.substr(0, first) != kFormat) {
    throw malformed("unknown format version '" + std::string(sealed.substr(0, first)) + "'");
  }
  size_t second = sealed.find(':', first + 1);
  if (second == std::string_view::npos) throw malformed("no key id");
  ParsedBlob out;
  out.keyId = std::string(sealed.substr(first + 1, second - first - 1));
  if (out.keyId.empty()) throw malformed("empty key id");
  auto raw = base64Decode(sealed.substr(second + 1));
  if (!raw) throw malformed("payload is not base64");
  if (raw->size() < kNonceSize + kTagSize) throw malformed("payload too short");
  out.raw = std::move(*raw);
  return out;
}

}  // namespace

namespace detail {

GcmOutput gcmEncrypt(std::string_view key, std::string_view iv, std::string_view plaintext,
                     std::string_view aad) {
  CipherCtx ctx = newGcmContext(true, key, iv);
  addAad(ctx.get(), aad);
  GcmOutput out;
  out.ciphertext.resize(plaintext.size());
  int len = 0;
  int finalLen = 0;
  out.tag.resize(kTagSize);
  if (EVP_CipherUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.ciphertext.data()), &len,
                       bytes(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_CipherFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.ciphertext.data()) + len,
                         &finalLen) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize),
                          out.tag.data()) != 1) {
    throw std::runtime_error("AES-256-GCM encryption failed");
  }
  out.ciphertext.resize(static_cast<size_t>(len + finalLen));
  return out;
}

bool gcmDecrypt(std::string_view key, std::string_view iv, std::string_view ciphertext,
                std::string_view tag, std::string_view aad, std::string& plaintext) {
  plaintext.clear();
  if (tag.size() != kTagSize) return false;
  CipherCtx ctx = newGcmContext(false, key, iv);
  addAad(ctx.get(), aad);
  std::string buf(ciphertext.size(), '\0');
  int len = 0;
  int finalLen = 0;
  if (EVP_CipherUpdate(ctx.get(), reinterpret_cast<unsigned char*>(buf.data()), &len,
                       bytes(ciphertext), static_cast<int>(ciphertext.size())) != 1) {
    throw std::runtime_error("AES-256-GCM decryption failed");
  }
  std::string tagCopy(tag);  // the ctrl interface takes a mutable pointer
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize),
                          tagCopy.data()) != 1) {
    throw std::runtime_error("AES-256-GCM: setting the tag failed");
  }
  // The tag is checked here; until then `buf` is unauthenticated and must not escape.
  if (EVP_CipherFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(buf.data()) + len,
                         &finalLen) != 1) {
    OPENSSL_cleanse(buf.data(), buf.size());
    return false;
  }
  buf.resize(static_cast<size_t>(len + finalLen));
  plaintext = std::move(buf);
  return true;
}

}  // namespace detail

std::string seal(const KeyRing& keys, std::string_view plaintext, std::string_view aad) {
  const MasterKey& master = keys.primary();
  Key256 key = master.derive(kValueKeyLabel);
  std::string nonce(kNonceSize, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(kNonceSize)) !=
      1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  detail::GcmOutput enc = detail::gcmEncrypt(key.view(), nonce, plaintext, aad);
  return std::string(kFormat) + ":" + master.id() + ":" +
         base64Encode(nonce + enc.ciphertext + enc.tag);
}

std::string open(const KeyRing& keys, std::string_view sealed, std::string_view aad) {
  ParsedBlob blob = parseBlob(sealed);
  const MasterKey* master = keys.find(blob.keyId);
  if (master == nullptr) {
    throw DecryptFailed(DecryptFailed::Reason::UnknownKey,
                        "sealed value uses master key " + blob.keyId +
                            ", which is not loaded (primary key is " + keys.primary().id() + ")");
  }
  Key256 key = master->derive(kValueKeyLabel);
  std::string_view raw = blob.raw;
  std::string plaintext;
  if (!detail::gcmDecrypt(key.view(), raw.substr(0, kNonceSize),
                          raw.substr(kNonceSize, raw.size() - kNonceSize - kTagSize),
                          raw.substr(raw.size() - kTagSize), aad, plaintext)) {
    throw DecryptFailed(DecryptFailed::Reason::AuthenticationFailed,
                        "sealed value failed authentication: it was tampered with or belongs to "
                        "another object or version");
  }
  return plaintext;
}

std::string sealedKeyId(std::string_view sealed) { return parseBlob(sealed).keyId; }

bool needsReseal(const KeyRing& keys, std::string_view sealed) {
  try {
    return sealedKeyId(sealed) != keys.primary().id();
  } catch (const DecryptFailed&) {
    return true;
  }
}

std::string reseal(const KeyRing& keys, std::string_view sealed, std::string_view aad) {
  std::string plaintext = open(keys, sealed, aad);
  std::string out = seal(keys, plaintext, aad);
  OPENSSL_cleanse(plaintext.data(), plaintext.size());
  return out;
}

std::string hint(std::string_view value) {
  static const std::string kEllipsis = "\xE2\x80\xA6";  // U+2026
  auto isContinuation = [](char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; };
  size_t chars = 0;
  for (char c : value) {
    if (!isContinuation(c)) ++chars;
  }
  if (chars < 8) return kEllipsis;
  // Walk back over the last 4 characters (whole UTF-8 sequences).
  size_t start = value.size();
  for (int n = 0; n < 4 && start > 0;) {
    --start;
    if (!isContinuation(value[start])) ++n;
  }
  return kEllipsis + std::string(value.substr(start));
}

}  // namespace minimcp::crypto
