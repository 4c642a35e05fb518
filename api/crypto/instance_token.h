// Per-instance access tokens:
//   token = "mcpi_" + base64url(HMAC-SHA256(K, uid + ":" + tokenGeneration)),
//   K = HKDF-SHA256(master key, "instance-token").
// Computed, never stored: any node with the same master key can check or re-print a token, and
// bumping tokenGeneration revokes the old one. Rotating the master key changes every token.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "api/crypto/master_key.h"

namespace minimcp::crypto {

// Every instance token starts with this, so it is recognisable (and secret scanners find it).
inline constexpr std::string_view kInstanceTokenPrefix = "mcpi_";

// Derives K once; use it where tokens are checked per request (the gateway).
class InstanceTokens {
 public:
  explicit InstanceTokens(const MasterKey& master);

  std::string issue(std::string_view uid, std::int64_t tokenGeneration) const;
  // Constant time in the token's contents.
  bool verify(std::string_view token, std::string_view uid, std::int64_t tokenGeneration) const;

 private:
  Key256 key_;
};

// One-off forms of the above.
std::string instanceToken(const MasterKey& master, std::string_view uid,
                          std::int64_t tokenGeneration);
bool verifyInstanceToken(const MasterKey& master, std::string_view token, std::string_view uid,
                         std::int64_t tokenGeneration);

}  // namespace minimcp::crypto
