// Cryptographically secure randomness (OpenSSL RAND_bytes) for uids and tokens.
#pragma once

#include <string>

namespace minimcp {

// RFC 4122 version-4 UUID, lowercase.
std::string newUuid();
// `bytes` random bytes, hex-encoded.
std::string randomHex(size_t bytes);
// SHA-256 of `data`, hex-encoded.
std::string sha256Hex(const std::string& data);
// Constant-time comparison of two strings.
bool constantTimeEquals(const std::string& a, const std::string& b);

}  // namespace minimcp
