#include "api/server/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "api/util/random.h"

namespace minimcp::server {

namespace {

namespace fs = std::filesystem;

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Free>;
using CertPtr = std::unique_ptr<X509, Free>;
using BioPtr = std::unique_ptr<BIO, Free>;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("TLS: " + what); }

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes atomically (temp + rename) with the given mode, so a crash never leaves half a key.
void writeFile(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail("cannot write " + tmp);
  ::fchmod(fd, mode);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      ::close(fd);
      fail("cannot write " + tmp);
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename " + tmp);
}

KeyPtr newKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("EC key generation failed");
  return key;
}

std::string keyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    fail("cannot encode key");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string certPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) fail("cannot encode certificate");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

KeyPtr loadKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) fail("cannot parse private key");
  return key;
}

CertPtr loadCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) fail("cannot parse certificate");
  return cert;
}

void addExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Free> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || !X509_add_ext(cert, ext.get(), -1)) fail("cannot add extension " + value);
}

CertPtr newCert(EVP_PKEY* key, const std::string& cn, X509* issuerCert) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  // 128-bit random serial: unique without bookkeeping.
  std::string serialHex = randomHex(16);
  serialHex[0] = '1';  // positive, no leading zero
  BIGNUM* bn = nullptr;
  BN_hex2bn(&bn, serialHex.c_str());
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("minimcp"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuerCert ? X509_get_subject_name(issuerCert) : name);
  return cert;
}

void sign(X509* cert, EVP_PKEY* key) {
  if (!X509_sign(cert, key, EVP_sha256())) fail("signing failed");
}

bool isIp(const std::string& h) {
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

bool covers(X509* cert, const std::string& host) {
  if (isIp(host)) return X509_check_ip_asc(cert, host.c_str(), 0) == 1;
  return X509_check_host(cert, host.c_str(), host.size(), 0, nullptr) == 1;
}

std::vector<std::string> allHosts(const std::vector<std::string>& extra) {
  std::vector<std::string> hosts = {"127.0.0.1", "::1", "localhost"};
  char hn[256] = {};
  if (gethostname(hn, sizeof hn - 1) == 0 && hn[0]) hosts.emplace_back(hn);
  for (auto h : extra) {
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (h.empty() || h == "0.0.0.0" || h == "::") continue;
    hosts.push_back(h);
  }
  std::vector<std::string> unique;
  for (auto& h : hosts) {
    if (std::find(unique.begin(), unique.end(), h) == unique.end()) unique.push_back(h);
  }
  return unique;
}

}  // namespace

void applyTlsPolicy(SSL_CTX* ctx) {
  static constexpr const char* kTls12Suites =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Suites) != 1) {
    fail("cannot set the TLS 1.2 cipher suites");
  }
}

TlsFiles ensureTlsFiles(const std::string& dataDir, const std::vector<std::string>& extraHosts) {
  std::string dir = dataDir + "/tls";
  std::error_code ec;
  fs::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);
  std::string caCrt = dir + "/ca.crt", caKey = dir + "/ca.key";
  std::string srvCrt = dir + "/server.crt", srvKey = dir + "/server.key";
  auto hosts = allHosts(extraHosts);

  KeyPtr caKeyObj;
  CertPtr caCert;
  bool newCa = !fs::exists(caCrt) || !fs::exists(caKey);
  if (newCa) {
    caKeyObj = newKey();
    caCert = newCert(caKeyObj.get(), "minimcp-ca", nullptr);
    addExt(caCert.get(), caCert.get(), NID_basic_constraints, "critical,CA:TRUE");
    addExt(caCert.get(), caCert.get(), NID_key_usage,
           "critical,keyCertSign,cRLSign,digitalSignature");
    addExt(caCert.get(), caCert.get(), NID_subject_key_identifier, "hash");
    sign(caCert.get(), caKeyObj.get());
    writeFile(caKey, keyPem(caKeyObj.get()), 0600);
    writeFile(caCrt, certPem(caCert.get()), 0644);
  } else {
    caKeyObj = loadKey(readFile(caKey));
    caCert = loadCert(readFile(caCrt));
  }

  bool reissue = newCa || !fs::exists(srvCrt) || !fs::exists(srvKey);
  if (!reissue) {
    auto existing = loadCert(readFile(srvCrt));
    for (auto& h : hosts) {
      if (!covers(existing.get(), h)) reissue = true;
    }
    if (X509_verify(existing.get(), X509_get0_pubkey(caCert.get())) != 1) reissue = true;
  }
  if (reissue) {
    auto key = newKey();
    auto cert = newCert(key.get(), "minimcp-server", caCert.get());
    std::string san;
    for (auto& h : hosts) {
      if (!san.empty()) san += ",";
      san += (isIp(h) ? "IP:" : "DNS:") + h;
    }
    addExt(cert.get(), caCert.get(), NID_basic_constraints, "critical,CA:FALSE");
    addExt(cert.get(), caCert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
    addExt(cert.get(), caCert.get(), NID_ext_key_usage, "serverAuth");
    addExt(cert.get(), caCert.get(), NID_subject_alt_name, san);
    addExt(cert.get(), caCert.get(), NID_authority_key_identifier, "keyid:always");
    sign(cert.get(), caKeyObj.get());
    writeFile(srvKey, keyPem(key.get()), 0600);
    writeFile(srvCrt, certPem(cert.get()) + certPem(caCert.get()), 0644);
  }
  return TlsFiles{srvCrt, srvKey, certPem(caCert.get())};
}

std::string trustAnchorFromChain(const std::string& certFile) {
  std::string pem = readFile(certFile);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CertPtr last;
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) last.reset(c);
  if (!last) fail("no certificate in " + certFile);
  if (X509_check_issued(last.get(), last.get()) != X509_V_OK) return "";
  return certPem(last.get());
}

}  // namespace minimcp::server
