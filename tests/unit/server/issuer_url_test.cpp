// mcpd --oidc-issuer: which URLs are taken as an authorization server's issuer.
#include "api/server/issuer_url.h"

#include <gtest/gtest.h>

namespace minimcp::server {
namespace {

TEST(IssuerUrl, AcceptsHttpsUrlsWithHostPortAndPath) {
  for (const char* url :
       {"https://idp.example.com", "https://idp.example.com/", "https://idp.example.com:8443",
        "https://login.example.com/realms/acme", "https://127.0.0.1:9000/oidc",
        "https://[::1]:9443", "https://localhost/"}) {
    EXPECT_EQ(issuerUrlProblem(url), "") << url;
  }
}

TEST(IssuerUrl, RefusesWhatClientsCannotMatchOrShouldNotTrust) {
  struct Row {
    const char* url;
    const char* problem;  // a part of the message
  } rows[] = {
      {"", "https://"},
      {"http://idp.example.com", "https://"},
      {"HTTPS://idp.example.com", "https://"},
      {"idp.example.com", "https://"},
      {"https://", "HOST"},
      {"https://:443", "HOST"},
      {"https://user:pw@idp.example.com", "user info"},
      {"https://idp.example.com?x=1", "query"},
      {"https://idp.example.com/#frag", "fragment"},
      {"https://idp.example.com:0", "port"},
      {"https://idp.example.com:65536", "port"},
      {"https://idp.example.com:http", "HOST"},
      {"https://idp.example.com/a b", "printable"},
      {"https://idp.exa\nmple.com", "printable"},
      {"https://-idp.example.com", "HOST"},
  };
  for (const auto& r : rows) {
    EXPECT_NE(issuerUrlProblem(r.url).find(r.problem), std::string::npos)
        << r.url << " → " << issuerUrlProblem(r.url);
  }
}

}  // namespace
}  // namespace minimcp::server
