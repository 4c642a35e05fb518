// The pure parts of `mcpctl oauth2 login`: PKCE, the authorization URL, the redirect's state
// check, the token request and answer.
#include "api/client/oauth2_login.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace minimcp::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Pkce, S256OfTheVerifier) {
  // RFC 7636 Appendix B.
  EXPECT_EQ(pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  const Pkce a = newPkce();
  const Pkce b = newPkce();
  EXPECT_EQ(a.verifier.size(), 43u);  // RFC 7636: 43..128 characters
  EXPECT_NE(a.verifier, b.verifier);
  EXPECT_EQ(a.challenge, pkceChallenge(a.verifier));
  EXPECT_NE(newState(), newState());
}

TEST(AuthorizationUrl, CarriesEveryParameterEncoded) {
  const std::string url = authorizationUrl({"https://accounts.example/o/auth",
                                            "id 1",
                                            "http://127.0.0.1:5555/callback",
                                            {"https://mail/read", "openid"},
                                            "st&te",
                                            "chal"});
  EXPECT_EQ(url,
            "https://accounts.example/o/auth?response_type=code&client_id=id%201"
            "&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcallback"
            "&scope=https%3A%2F%2Fmail%2Fread%20openid&state=st%26te&code_challenge=chal"
            "&code_challenge_method=S256&access_type=offline&prompt=consent");
  EXPECT_THAT(authorizationUrl({"https://a.example/auth?tenant=x", "c", "r", {}, "s", "h"}),
              ::testing::StartsWith("https://a.example/auth?tenant=x&response_type=code"));
}

TEST(ParseCallback, ChecksStateAndTakesCodeOrError) {
  auto ok = parseCallback("/callback?code=4%2F0Ab&state=S1", "S1");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->code, "4/0Ab");
  auto refused =
      parseCallback("/callback?error=access_denied&error_description=no+way&state=S1", "S1");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->error, "access_denied: no way");
  EXPECT_FALSE(parseCallback("/favicon.ico", "S1"));
  EXPECT_THROW(parseCallback("/callback?code=c&state=S2", "S1"), std::runtime_error);
  EXPECT_THROW(parseCallback("/callback?code=c", "S1"), std::runtime_error);
  EXPECT_THROW(parseCallback("/callback?state=S1", "S1"), std::runtime_error);
  EXPECT_THROW(parseCallback("/callback?code=c&state=", ""), std::runtime_error);
}

TEST(TokenExchange, BodyAndAnswer) {
  EXPECT_EQ(tokenRequestBody("c/1", "http://127.0.0.1:1/callback", "id", "", "v"),
            "grant_type=authorization_code&code=c%2F1"
            "&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcallback&client_id=id&code_verifier=v");
  EXPECT_THAT(tokenRequestBody("c", "r", "id", "s3cret", "v"), HasSubstr("&client_secret=s3cret"));
  // client_secret_basic: the credentials go in the header, none in the body.
  EXPECT_EQ(tokenRequestBody("c", "r", "id", "s3cret", "v", true),
            "grant_type=authorization_code&code=c&redirect_uri=r&code_verifier=v");
  EXPECT_EQ(basicClientAuthorization("id", "s3cret"), "Basic aWQ6czNjcmV0");  // "id:s3cret"
  // Each part form-urlencoded first (RFC 6749 §2.3.1): "a%3Ab:s%2F%2B%20" in base64.
  EXPECT_EQ(basicClientAuthorization("a:b", "s/+ "), "Basic YSUzQWI6cyUyRiUyQiUyMA==");

  EXPECT_EQ(refreshTokenFrom(200, R"({"access_token":"a","refresh_token":"1//r","expires_in":3})"),
            "1//r");
  try {
    refreshTokenFrom(200, R"({"access_token":"secret-access"})");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), Not(HasSubstr("secret-access")));
  }
  try {
    refreshTokenFrom(400, R"({"error":"invalid_grant","error_description":"bad verifier"})");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("invalid_grant: bad verifier"));
  }
  EXPECT_THROW(refreshTokenFrom(500, "oops"), std::runtime_error);
}

TEST(SplitUrl, ServerAndTarget) {
  EXPECT_EQ(splitUrl("https://oauth2.googleapis.com/token"),
            std::make_pair(std::string("https://oauth2.googleapis.com"), std::string("/token")));
  EXPECT_EQ(splitUrl("http://127.0.0.1:9/t?x=1#f"),
            std::make_pair(std::string("http://127.0.0.1:9"), std::string("/t?x=1")));
  EXPECT_EQ(splitUrl("https://h").second, "/");
  EXPECT_THROW(splitUrl("ftp://h/x"), std::invalid_argument);
}

TEST(Oauth2Spec, OmitsWhatIsNotGiven) {
  EXPECT_EQ(oauth2Spec("https://t", "id", "", "r", {}),
            nlohmann::json({{"tokenURL", "https://t"}, {"clientID", "id"}, {"refreshToken", "r"}}));
  auto full = oauth2Spec("https://t", "id", "s", "r", {"a"});
  EXPECT_EQ(full["clientSecret"], "s");
  EXPECT_EQ(full["scopes"], nlohmann::json({"a"}));
  EXPECT_FALSE(full.contains("clientAuth"));
  EXPECT_EQ(oauth2Spec("https://t", "id", "s", "r", {}, "basic")["clientAuth"], "basic");
}

}  // namespace
}  // namespace minimcp::client
