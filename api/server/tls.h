// The self-signed CA and server certificate mcpd creates at first start (DATA_DIR/tls/).
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <vector>

namespace minimcp::server {

struct TlsFiles {
  std::string certFile;  // server certificate chain (PEM)
  std::string keyFile;   // server private key (PEM)
  std::string caPem;     // what clients should trust: the CA certificate
};

// Ensures DATA_DIR/tls/{ca.crt,ca.key,server.crt,server.key}: an EC P-256 CA (CA:TRUE,
// keyCertSign) and a server certificate it signs (serverAuth, 10 years) whose SANs cover
// `hosts` (IP literals or DNS names) plus 127.0.0.1, ::1, localhost and the hostname. Existing
// files are reused; the server certificate is re-issued by the same CA when it does not cover
// every host. Keys are written 0600. Throws std::runtime_error.
TlsFiles ensureTlsFiles(const std::string& dataDir, const std::vector<std::string>& hosts);

// What every TLS endpoint of mcpd (and its client side to peer nodes) speaks: TLS 1.2 or later;
// on TLS 1.2 only ECDHE with an AEAD cipher (AES-GCM, ChaCha20-Poly1305), never CBC or static
// RSA key exchange; TLS 1.3 keeps OpenSSL's suites (all AEAD). Throws std::runtime_error.
void applyTlsPolicy(SSL_CTX* ctx);

// For --tls-cert/--tls-key: the CA PEM to hand to clients is the chain's last certificate when
// it is self-signed, else "" (clients then use their system roots).
std::string trustAnchorFromChain(const std::string& certFile);

}  // namespace minimcp::server
