// Sealing secret values (APIKey values) with AES-256-GCM.
//
// A sealed value is text, safe to store in any column:
//   "v1:" + keyId + ":" + base64(nonce[12] || ciphertext || tag[16])
// keyId names the master key (KeyRing) whose derive("apikey-encryption") subkey sealed it;
// the nonce is fresh from the CSPRNG for every seal. `aad` is authenticated but not stored:
// for APIKeys pass "namespace/name/version", so a sealed value copied onto another key (or
// another version) does not open.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "api/crypto/master_key.h"

namespace minimcp::crypto {

// Why a sealed value did not open. The message never contains the value or key material.
class DecryptFailed : public std::runtime_error {
 public:
  enum class Reason {
    Malformed,             // not a sealed value of a known format version
    UnknownKey,            // sealed under a master key that is not in the key ring
    AuthenticationFailed,  // tag mismatch: wrong key, wrong aad, or tampered data
  };
  DecryptFailed(Reason reason, const std::string& message)
      : std::runtime_error(message), reason_(reason) {}
  Reason reason() const { return reason_; }

 private:
  Reason reason_;
};

// The HKDF label of the value-sealing subkey.
inline constexpr std::string_view kValueKeyLabel = "apikey-encryption";

std::string seal(const KeyRing& keys, std::string_view plaintext, std::string_view aad);
// Throws DecryptFailed.
std::string open(const KeyRing& keys, std::string_view sealed, std::string_view aad);

// The id of the master key a sealed value names; DecryptFailed(Malformed) when unparseable.
std::string sealedKeyId(std::string_view sealed);
// True when `sealed` is not under the primary key (or not in the current format), i.e. what
// `rotate-master-key` must re-seal.
bool needsReseal(const KeyRing& keys, std::string_view sealed);
// open() then seal() under the primary key with a fresh nonce.
std::string reseal(const KeyRing& keys, std::string_view sealed, std::string_view aad);

// What status.hint shows of a secret: "…" + its last 4 characters, or "…" alone when the value
// is shorter than 8 characters (too little would remain secret). Counts UTF-8 characters.
std::string hint(std::string_view value);

namespace detail {

struct GcmOutput {
  std::string ciphertext;
  std::string tag;  // 16 bytes
};
// Raw AES-256-GCM, exposed for known-answer tests. `key` is 32 bytes, `iv` non-empty.
GcmOutput gcmEncrypt(std::string_view key, std::string_view iv, std::string_view plaintext,
                     std::string_view aad);
// False (and `plaintext` empty) when the tag does not verify.
bool gcmDecrypt(std::string_view key, std::string_view iv, std::string_view ciphertext,
                std::string_view tag, std::string_view aad, std::string& plaintext);

}  // namespace detail

}  // namespace minimcp::crypto
