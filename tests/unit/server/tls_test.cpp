#include "api/server/tls.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "tests/unit/server/fake_kinds.h"

namespace minimcp::server {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t modeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(Tls, GeneratesOnceAndReusesThen) {
  testing::TempDir dir;
  auto first = ensureTlsFiles(dir.path(), {"127.0.0.1"});
  EXPECT_NE(first.caPem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(modeOf(dir.path() + "/tls/ca.key"), 0600u);
  EXPECT_EQ(modeOf(dir.path() + "/tls/server.key"), 0600u);
  std::string cert = slurp(first.certFile), key = slurp(first.keyFile);
  auto second = ensureTlsFiles(dir.path(), {"127.0.0.1"});
  EXPECT_EQ(slurp(second.certFile), cert);
  EXPECT_EQ(slurp(second.keyFile), key);
  EXPECT_EQ(second.caPem, first.caPem);
  // The chain ends with the (self-signed) CA, which is what clients should trust.
  EXPECT_EQ(trustAnchorFromChain(first.certFile), first.caPem);
}

TEST(Tls, ANewListenAddressReissuesTheServerCertificateUnderTheSameCa) {
  testing::TempDir dir;
  auto first = ensureTlsFiles(dir.path(), {"127.0.0.1"});
  std::string cert = slurp(first.certFile);
  auto moved = ensureTlsFiles(dir.path(), {"10.11.12.13"});
  EXPECT_NE(slurp(moved.certFile), cert);
  EXPECT_EQ(moved.caPem, first.caPem);
  auto again = ensureTlsFiles(dir.path(), {"10.11.12.13"});
  EXPECT_EQ(slurp(again.certFile), slurp(moved.certFile));
}

}  // namespace
}  // namespace minimcp::server
