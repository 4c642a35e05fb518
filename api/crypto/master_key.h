// The master key: 32 random bytes from a 0600 file or an environment variable,
// never from the store. It is never used directly: every purpose derives its own subkey with
// HKDF-SHA256 (derive("apikey-encryption"), derive("instance-token")), so every node holding
// the same master key agrees on the subkeys. Deliberately not printable (no operator<<, no
// accessor for the raw bytes); the bytes are wiped on destruction.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace minimcp::crypto {

// A problem with master key material: missing/unsafe file, bad format. The message names the
// file or variable, never the key.
class MasterKeyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// 256 bits of secret key material, wiped on destruction.
class Key256 {
 public:
  static constexpr size_t kSize = 32;

  // `bytes` must hold exactly kSize bytes (std::invalid_argument otherwise).
  explicit Key256(std::string_view bytes);
  Key256(const Key256&) = default;
  Key256& operator=(const Key256&) = default;
  ~Key256();

  const unsigned char* data() const { return bytes_.data(); }
  static constexpr size_t size() { return kSize; }
  // The bytes as a view, for the crypto primitives. Do not copy it somewhere long-lived.
  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  // Constant time.
  bool operator==(const Key256& other) const;

 private:
  std::array<unsigned char, kSize> bytes_{};
};

class MasterKey {
 public:
  // A fresh key from the OpenSSL CSPRNG.
  static MasterKey generate();
  // Exactly 32 raw bytes.
  static MasterKey fromBytes(std::string_view raw);
  // Text as written to key files and environment variables: 64 hex digits or base64/base64url
  // of 32 bytes; surrounding whitespace is ignored. `source` names the origin in errors.
  static MasterKey parse(std::string_view text, const std::string& source);

  // Reads an existing key file. Refused (MasterKeyError naming the file) when missing, not a
  // regular file, readable or writable by group/other, owned by someone other than us or root,
  // or not exactly one key (32 raw bytes, or 64 hex digits / base64 text).
  static MasterKey load(const std::filesystem::path& path);
  // Creates a new key file (mode 0600, 64 hex digits and a newline) atomically: written to a
  // temporary file and linked into place, so no reader ever sees a partial key. Fails when the
  // file already exists. The parent directory must exist.
  static MasterKey createFile(const std::filesystem::path& path);
  // load() when the file exists, else createFile(). If another process creates the file at
  // the same moment, both end up with its key. `created` (optional) tells which happened.
  static MasterKey loadOrCreate(const std::filesystem::path& path, bool* created = nullptr);
  // The key in environment variable `varName` (parse() format); nullopt when unset or empty.
  // `unsetAfterRead` removes it from the environment so child processes (MCP servers) never
  // inherit it; only call it that way before other threads start.
  static std::optional<MasterKey> fromEnvironment(const std::string& varName = "MINIMCP_MASTER_KEY",
                                                  bool unsetAfterRead = false);

  // Short public identifier (8 hex digits, itself derived by HKDF so it reveals nothing),
  // recorded next to everything sealed under this key so a key ring finds the right key.
  const std::string& id() const { return id_; }
  // HKDF-SHA256(ikm = master key, salt = none, info = label), 32 bytes.
  Key256 derive(std::string_view label) const;
  // Constant time.
  bool sameKeyAs(const MasterKey& other) const { return key_ == other.key_; }

 private:
  explicit MasterKey(Key256 key);
  // Writes the key as text into a new file `path`; false when it already exists.
  bool writeNewFile(const std::filesystem::path& path) const;

  Key256 key_;
  std::string id_;
};

// The primary key (used for everything new) and older keys by id (used only to decrypt what
// was sealed before a rotation, until `mcpd rotate-master-key` has re-sealed it).
class KeyRing {
 public:
  explicit KeyRing(MasterKey primary, std::vector<MasterKey> older = {});

  const MasterKey& primary() const { return keys_.front(); }
  // nullptr when no key has this id.
  const MasterKey* find(std::string_view id) const;
  // Adds an older key; a key already present is ignored. Throws MasterKeyError when a
  // different key has the same id.
  void addOlder(MasterKey key);
  // Every id, primary first.
  std::vector<std::string> ids() const;

 private:
  std::vector<MasterKey> keys_;
};

namespace detail {
// RFC 5869 HKDF with SHA-256 via EVP_KDF "HKDF". Empty salt means "no salt" (HashLen zeros).
std::string hkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                       size_t length);
}  // namespace detail

}  // namespace minimcp::crypto
