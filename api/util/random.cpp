#include "api/util/random.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>
#include <vector>

namespace minimcp {

namespace {

std::vector<unsigned char> randomBytes(size_t n) {
  std::vector<unsigned char> buf(n);
  if (n > 0 && RAND_bytes(buf.data(), static_cast<int>(n)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return buf;
}

std::string toHex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

}  // namespace

std::string newUuid() {
  auto b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string hex = toHex(b.data(), b.size());
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string randomHex(size_t bytes) {
  auto b = randomBytes(bytes);
  return toHex(b.data(), b.size());
}

std::string sha256Hex(const std::string& data) {
  // Fetched once: with EVP_sha256() OpenSSL 3 looks the implementation up again for every
  // digest, which costs more than hashing a token does (every API request hashes its token).
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  // A context per thread, kept: EVP_Digest allocates and frees one for every digest.
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           EVP_MD_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), sha256 ? sha256 : EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) {
    throw std::runtime_error("sha256 digest failed");
  }
  return toHex(md, len);
}

bool constantTimeEquals(const std::string& a, const std::string& b) {
  // The length is not secret (tokens have a fixed size); the contents are.
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace minimcp
