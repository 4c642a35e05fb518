#include "api/crypto/master_key.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "api/crypto/encoding.h"
#include "api/util/random.h"

namespace minimcp::crypto {

namespace fs = std::filesystem;

namespace {

// Larger files cannot be a key; don't read them.
constexpr off_t kMaxKeyFileSize = 4096;

std::string errnoText(int err) { return std::strerror(err); }

// Wipes a std::string holding key material before it is released.
struct WipeOnExit {
  std::string& s;
  ~WipeOnExit() {
    if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  }
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Returns close()'s errno, 0 on success.
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

void fsyncDirectory(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the key itself is already durable
  ::fsync(fd);
  ::close(fd);
}

void writeAll(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw MasterKeyError("cannot write master key file " + path.string() + ": " +
                           errnoText(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

// --- Key256 -------------------------------------------------------------------------------

Key256::Key256(std::string_view bytes) {
  if (bytes.size() != kSize) {
    throw std::invalid_argument("a 256-bit key needs exactly 32 bytes, got " +
                                std::to_string(bytes.size()));
  }
  std::memcpy(bytes_.data(), bytes.data(), kSize);
}

Key256::~Key256() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

bool Key256::operator==(const Key256& other) const {
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), kSize) == 0;
}

// --- MasterKey ----------------------------------------------------------------------------

MasterKey::MasterKey(Key256 key) : key_(std::move(key)) {
  id_ = hexEncode(detail::hkdfSha256(key_.view(), {}, "minimcp key id", 4));
}

MasterKey MasterKey::generate() {
  std::string raw(Key256::kSize, '\0');
  WipeOnExit wipe{raw};
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1) {
    throw MasterKeyError("cannot generate a master key: RAND_bytes failed");
  }
  return MasterKey(Key256(raw));
}

MasterKey MasterKey::fromBytes(std::string_view raw) {
  if (raw.size() != Key256::kSize) {
    throw MasterKeyError("a master key is exactly 32 bytes, got " + std::to_string(raw.size()));
  }
  return MasterKey(Key256(raw));
}

MasterKey MasterKey::parse(std::string_view text, const std::string& source) {
  std::string_view t = trim(text);
  std::optional<std::string> raw;
  if (t.size() == 2 * Key256::kSize) {
    raw = hexDecode(t);
  } else if (t.size() == 44) {
    raw = base64Decode(t);
  } else if (t.size() == 43) {
    raw = base64UrlDecode(t);
  }
  if (!raw || raw->size() != Key256::kSize) {
    if (raw) OPENSSL_cleanse(raw->data(), raw->size());
    throw MasterKeyError(source +
                         " does not hold a master key: expected 32 bytes as 64 hex digits or "
                         "base64 (e.g. `openssl rand -hex 32`)");
  }
  WipeOnExit wipe{*raw};
  return MasterKey(Key256(*raw));
}

MasterKey MasterKey::load(const fs::path& path) {
  const std::string name = "master key file " + path.string();
  // Following a symlink is fine (Kubernetes mounts secrets that way); the checks below apply
  // to the file actually opened, so nothing can be swapped in between check and read.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) throw MasterKeyError("cannot open " + name + ": " + errnoText(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    throw MasterKeyError("cannot stat " + name + ": " + errnoText(errno));
  }
  if (!S_ISREG(st.st_mode)) throw MasterKeyError(name + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw MasterKeyError(name + " is accessible by group or others (mode " + mode +
                         "); run `chmod 600 " + path.string() + "`");
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    throw MasterKeyError(name + " is owned by uid " + std::to_string(st.st_uid) +
                         ", not by this user (uid " + std::to_string(::geteuid()) + ") or root");
  }
  if (st.st_size > kMaxKeyFileSize) {
    throw MasterKeyError(name + " has the wrong size (" + std::to_string(st.st_size) +
                         " bytes): expected one 32-byte key");
  }
  std::string content(static_cast<size_t>(st.st_size), '\0');
  WipeOnExit wipe{content};
  size_t got = 0;
  while (got < content.size()) {
    ssize_t n = ::read(fd.get(), content.data() + got, content.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw MasterKeyError("cannot read " + name + ": " + errnoText(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  content.resize(got);
  // Raw bytes, unless they are all printable: 32 characters of text is a mistake such as
  // `openssl rand -hex 16` (random bytes are all printable with probability ~1e-14).
  bool printable =
      std::all_of(content.begin(), content.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
  if (content.size() == Key256::kSize && !printable) return MasterKey(Key256(content));
  if (content.empty()) throw MasterKeyError(name + " is empty: expected one 32-byte key");
  try {
    return parse(content, name);
  } catch (const MasterKeyError&) {
    throw MasterKeyError(name + " has the wrong size or format (" + std::to_string(got) +
                         " bytes): expected 32 raw bytes, 64 hex digits or base64 of 32 bytes");
  }
}

bool MasterKey::writeNewFile(const fs::path& path) const {
  const std::string name = "master key file " + path.string();
  const fs::path tmp = path.string() + ".tmp-" + randomHex(8);
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
      throw MasterKeyError("cannot create " + name + " (temporary " + tmp.string() +
                           "): " + errnoText(errno));
    }
    try {
      // Not relying on the umask: the file must not be readable by anyone else.
      if (::fchmod(fd.get(), 0600) != 0) {
        throw MasterKeyError("cannot chmod " + tmp.string() + ": " + errnoText(errno));
      }
      std::string text = hexEncode(key_.view()) + "\n";
      WipeOnExit wipe{text};
      writeAll(fd.get(), text, path);
      if (::fsync(fd.get()) != 0) {
        throw MasterKeyError("cannot fsync " + tmp.string() + ": " + errnoText(errno));
      }
      if (int err = fd.close(); err != 0) {
        throw MasterKeyError("cannot close " + tmp.string() + ": " + errnoText(err));
      }
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
  }
  // link() never replaces an existing file, unlike rename(): two nodes starting together on
  // a shared volume must not end up with different keys.
  int rc = ::link(tmp.c_str(), path.c_str());
  int err = rc == 0 ? 0 : errno;
  if (rc != 0 && err != EEXIST) {
    // Some file systems have no hard links; fall back to a no-replace rename.
    rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
    err = rc == 0 ? 0 : errno;
  }
  ::unlink(tmp.c_str());
  if (err == EEXIST) return false;
  if (err != 0) throw MasterKeyError("cannot create " + name + ": " + errnoText(err));
  fsyncDirectory(path.parent_path());
  return true;
}

MasterKey MasterKey::createFile(const fs::path& path) {
  MasterKey key = generate();
  if (!key.writeNewFile(path)) {
    throw MasterKeyError("master key file " + path.string() + " already exists");
  }
  return key;
}

MasterKey MasterKey::loadOrCreate(const fs::path& path, bool* created) {
  if (created) *created = false;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return load(path);
  if (errno != ENOENT) {
    throw MasterKeyError("cannot stat master key file " + path.string() + ": " + errnoText(errno));
  }
  MasterKey key = generate();
  if (!key.writeNewFile(path)) return load(path);  // another process won the race
  if (created) *created = true;
  return key;
}

std::optional<MasterKey> MasterKey::fromEnvironment(const std::string& varName,
                                                    bool unsetAfterRead) {
  const char* value = std::getenv(varName.c_str());
  if (value == nullptr || *value == '\0') return std::nullopt;
  std::string text = value;
  WipeOnExit wipe{text};
  if (unsetAfterRead) {
    // Overwrite before unsetting: the environment block stays in memory otherwise.
    OPENSSL_cleanse(const_cast<char*>(value), std::strlen(value));
    ::unsetenv(varName.c_str());
  }
  return parse(text, "environment variable " + varName);
}

Key256 MasterKey::derive(std::string_view label) const {
  std::string sub = detail::hkdfSha256(key_.view(), {}, label, Key256::kSize);
  WipeOnExit wipe{sub};
  return Key256(sub);
}

// --- KeyRing ------------------------------------------------------------------------------

KeyRing::KeyRing(MasterKey primary, std::vector<MasterKey> older) {
  keys_.push_back(std::move(primary));
  for (auto& k : older) addOlder(std::move(k));
}

const MasterKey* KeyRing::find(std::string_view id) const {
  for (const auto& k : keys_) {
    if (k.id() == id) return &k;
  }
  return nullptr;
}

void KeyRing::addOlder(MasterKey key) {
  if (const MasterKey* existing = find(key.id())) {
    if (existing->sameKeyAs(key)) return;
    throw MasterKeyError("two different master keys share the id " + key.id() +
                         "; generate a new key");
  }
  keys_.push_back(std::move(key));
}

std::vector<std::string> KeyRing::ids() const {
  std::vector<std::string> out;
  for (const auto& k : keys_) out.push_back(k.id());
  return out;
}

// --- HKDF ---------------------------------------------------------------------------------

namespace detail {

std::string hkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                       size_t length) {
  // The fetched algorithm is immutable and safe to share between threads; fetch it once.
  static const std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(
      EVP_KDF_fetch(nullptr, "HKDF", nullptr), &EVP_KDF_free);
  if (!kdf) throw std::runtime_error("OpenSSL has no HKDF");
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()),
                                                                &EVP_KDF_CTX_free);
  if (!ctx) throw std::runtime_error("EVP_KDF_CTX_new failed");

  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  OSSL_PARAM* p = params;
  *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()),
                                           ikm.size());
  if (!salt.empty()) {
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                             salt.size());
  }
  if (!info.empty()) {
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                             info.size());
  }
  *p = OSSL_PARAM_construct_end();

  std::string out(length, '\0');
  if (EVP_KDF_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), out.size(), params) !=
      1) {
    throw std::runtime_error("HKDF-SHA256 derivation failed");
  }
  return out;
}

}  // namespace detail

}  // namespace minimcp::crypto
