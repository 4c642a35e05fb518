#include "api/crypto/instance_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

#include "api/crypto/encoding.h"
#include "api/util/random.h"

namespace minimcp::crypto {

InstanceTokens::InstanceTokens(const MasterKey& master) : key_(master.derive("instance-token")) {}

std::string InstanceTokens::issue(std::string_view uid, std::int64_t tokenGeneration) const {
  const std::string message = std::string(uid) + ":" + std::to_string(tokenGeneration);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
           &len) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  std::string token = std::string(kInstanceTokenPrefix) +
                      base64UrlEncode({reinterpret_cast<const char*>(mac), len});
  OPENSSL_cleanse(mac, sizeof mac);
  return token;
}

bool InstanceTokens::verify(std::string_view token, std::string_view uid,
                            std::int64_t tokenGeneration) const {
  std::string expected = issue(uid, tokenGeneration);
  bool ok = constantTimeEquals(expected, std::string(token));
  OPENSSL_cleanse(expected.data(), expected.size());
  return ok;
}

std::string instanceToken(const MasterKey& master, std::string_view uid,
                          std::int64_t tokenGeneration) {
  return InstanceTokens(master).issue(uid, tokenGeneration);
}

bool verifyInstanceToken(const MasterKey& master, std::string_view token, std::string_view uid,
                         std::int64_t tokenGeneration) {
  return InstanceTokens(master).verify(token, uid, tokenGeneration);
}

}  // namespace minimcp::crypto
