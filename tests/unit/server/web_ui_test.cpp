#include "api/server/web_ui.h"

#include <gtest/gtest.h>

#include <regex>

namespace minimcp::server {
namespace {

Request get(const std::string& path, const std::string& method = "GET") {
  Request r;
  r.method = method;
  r.target = path;
  r.path = path;
  return r;
}

std::string header(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST(WebUi, OtherPathsAreNotItsOwn) {
  for (const char* p : {"/", "/uix", "/u", "/apis", "/api/v1/ui", "/mcp/ui/x"}) {
    EXPECT_FALSE(serveWebUi(get(p))) << p;
  }
}

TEST(WebUi, ServesEachShippedFileWithItsMediaType) {
  struct Case {
    std::string path;
    std::string contentType;
    std::string contains;
  };
  for (const Case& c : std::vector<Case>{
           {"/ui/", "text/html; charset=utf-8", "<script type=\"module\" src=\"app.js\">"},
           {"/ui/index.html", "text/html; charset=utf-8", "<title>MiniMCP</title>"},
           {"/ui/app.js", "text/javascript; charset=utf-8", "import"},
           {"/ui/api.js", "text/javascript; charset=utf-8", "export function listWatch"},
           {"/ui/format.js", "text/javascript; charset=utf-8", "export function countdown"},
           {"/ui/style.css", "text/css; charset=utf-8", "table"},
           {"/ui/icon.svg", "image/svg+xml", "<svg"},
       }) {
    auto r = serveWebUi(get(c.path));
    ASSERT_TRUE(r) << c.path;
    EXPECT_EQ(r->status, 200) << c.path;
    EXPECT_EQ(r->contentType, c.contentType) << c.path;
    EXPECT_NE(r->body.find(c.contains), std::string::npos) << c.path;
  }
}

// Every answer under /ui, refusals included, carries the same strict headers.
TEST(WebUi, EveryAnswerCarriesTheSecurityHeaders) {
  for (const auto& req : {get("/ui/"), get("/ui/app.js"), get("/ui"), get("/ui/nope.js"),
                          get("/ui/a/b.js"), get("/ui/", "POST"), get("/ui/app.js", "DELETE")}) {
    auto r = serveWebUi(req);
    ASSERT_TRUE(r) << req.method << " " << req.path;
    const std::string csp = header(*r, "Content-Security-Policy");
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("script-src 'self';"), std::string::npos) << csp;
    EXPECT_NE(csp.find("connect-src 'self';"), std::string::npos) << csp;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
    // Nothing but 'self' and 'none' as a source: no host, scheme or data: anywhere.
    EXPECT_FALSE(std::regex_search(csp, std::regex(R"([a-z]+:|\*)"))) << csp;
    EXPECT_EQ(header(*r, "X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(header(*r, "X-Frame-Options"), "DENY");
    EXPECT_EQ(header(*r, "Referrer-Policy"), "no-referrer");
  }
}

TEST(WebUi, RedirectsTheBarePrefixAndRefusesTheRest) {
  auto bare = serveWebUi(get("/ui"));
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->status, 301);
  EXPECT_EQ(header(*bare, "Location"), "/ui/");

  for (const char* p : {"/ui/nope.js", "/ui/a/app.js", "/ui/index.html/", "/ui/.."}) {
    auto r = serveWebUi(get(p));
    ASSERT_TRUE(r) << p;
    EXPECT_EQ(r->status, 404) << p;
    EXPECT_EQ(r->body.find('<'), std::string::npos) << p;  // plain text, never markup
  }
  for (const char* m : {"POST", "PUT", "PATCH", "DELETE", "HEAD"}) {
    auto r = serveWebUi(get("/ui/", m));
    ASSERT_TRUE(r) << m;
    EXPECT_EQ(r->status, 405) << m;
    EXPECT_EQ(header(*r, "Allow"), "GET") << m;
  }
}

// The page keeps the token in session storage and sends it nowhere but to mcpd's API: no
// inline script or style in the HTML (the policy would block it), no other origin named.
TEST(WebUi, ShippedFilesNeedNothingThePolicyForbids) {
  for (const auto& [name, content] : embeddedUiFiles()) {
    const std::string text(content);
    EXPECT_EQ(text.find("localStorage"), std::string::npos) << name;
    EXPECT_EQ(text.find("innerHTML"), std::string::npos) << name;
    EXPECT_EQ(text.find("eval("), std::string::npos) << name;
    EXPECT_FALSE(std::regex_search(text, std::regex(R"(https?://(?!www\.w3\.org/2000/svg))")))
        << name;
    if (name == "index.html") {
      EXPECT_FALSE(std::regex_search(text, std::regex(R"(<script(?![^>]*\ssrc=))"))) << name;
      EXPECT_EQ(text.find("<style"), std::string::npos) << name;
      EXPECT_EQ(text.find("style="), std::string::npos) << name;
      EXPECT_FALSE(std::regex_search(text, std::regex(R"(\son[a-z]+=)"))) << name;
    }
  }
  EXPECT_GE(embeddedUiFiles().size(), 5u);
}

}  // namespace
}  // namespace minimcp::server
