#include "api/server/http_types.h"

#include <gtest/gtest.h>

#include "api/server/auth.h"
#include "api/server/resource_path.h"
#include "api/server/table.h"

namespace minimcp::server {
namespace {

TEST(ParseTarget, DecodesPathAndQuery) {
  std::string path;
  std::map<std::string, std::string> q;
  parseTarget("/apis/x%2Fy?labelSelector=a%3Db%2Cc+in+(x)&watch=1&flag&watch=true", path, q);
  EXPECT_EQ(path, "/apis/x/y");
  EXPECT_EQ(q["labelSelector"], "a=b,c in (x)");
  EXPECT_EQ(q["watch"], "true");  // the last one wins
  EXPECT_EQ(q.count("flag"), 1u);
  EXPECT_EQ(q["flag"], "");
}

TEST(ParseTarget, RepeatedParamsKeepEveryValue) {
  Request r;
  r.target = "/x?dryRun=All&a=1&dryRun=x%20y&dryRun&dryRun=";
  parseTarget(r.target, r.path, r.query);
  EXPECT_EQ(r.params("dryRun"), (std::vector<std::string>{"All", "x y", "", ""}));
  EXPECT_EQ(r.param("dryRun"), "");  // the last one
  EXPECT_EQ(r.params("a"), std::vector<std::string>{"1"});
  EXPECT_TRUE(r.params("b").empty());
  r.target = "/x";
  EXPECT_TRUE(r.params("dryRun").empty());
}

TEST(ParseTarget, KeepsMalformedEscapesAndPlusInThePath) {
  std::string path;
  std::map<std::string, std::string> q;
  parseTarget("/a+b/100%/%zz%4?x=%4g+%25", path, q);
  EXPECT_EQ(path, "/a+b/100%/%zz%4");
  EXPECT_EQ(q["x"], "%4g %");
}

TEST(UnsafePathReason, DotSegmentsAndEncodedSeparatorsInAnySpelling) {
  for (const char* target :
       {"/mcp/a/b/../x", "/mcp/a/b/./x", "/mcp/a/b/..", "/a/.", "/..", "/mcp/a/b/%2e%2e/x",
        "/mcp/a/b/%2E%2E", "/mcp/a/b/%2E./x", "/mcp/a/b/.%2e/x", "/mcp/a/b/%2e/x",
        "/apis/minimcp.io/v1alpha1/namespaces/a/mcpinstances/../../b/mcpinstances/x",
        "/mcp/a/b/x/..?q=1"}) {
    EXPECT_NE(unsafePathReason(target).find("a dot segment"), std::string::npos) << target;
  }
  for (const char* target : {"/mcp/a/b/x%2fy", "/mcp/a/b/x%2Fy", "/mcp/a%2f..%2fb/x"}) {
    EXPECT_EQ(unsafePathReason(target), "an encoded slash (%2F)") << target;
  }
  EXPECT_EQ(unsafePathReason("/mcp/a/b/x%5cy"), "an encoded backslash (%5C)");
  EXPECT_EQ(unsafePathReason("/mcp/a/b/x\\y"), "a backslash");
  for (const char* target : {"/", "", "/mcp/a/b", "/mcp/a/b/", "/mcp/a/b/a..b/.well-known/x.",
                             "/mcp/a//b", "/mcp/a/b?next=../x&p=%2f", "/mcp/a/b/%2e%2e%2e",
                             "/mcp/a/b/.%2e%2e", "/mcp/a/b/%252e%252e", "/x/%2"}) {
    EXPECT_EQ(unsafePathReason(target), "") << target;
  }
}

TEST(BearerToken, ParsesSchemeCaseInsensitively) {
  EXPECT_EQ(bearerToken("Bearer abc"), "abc");
  EXPECT_EQ(bearerToken("bearer  abc "), "abc");
  EXPECT_EQ(bearerToken("Basic abc"), "");
  EXPECT_EQ(bearerToken("Bearer "), "");
  EXPECT_EQ(bearerToken(""), "");
}

TEST(ResourcePath, NamespacedObjectAndStatus) {
  auto p =
      parseResourcePath("/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances/inbox/status");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->core);
  EXPECT_TRUE(p->hasNamespace);
  EXPECT_EQ(p->ns, "alice");
  EXPECT_EQ(p->plural, "mcpinstances");
  EXPECT_EQ(p->name, "inbox");
  EXPECT_EQ(p->subresource, "status");
}

TEST(ResourcePath, ClusterScopedAndCrossNamespaceLists) {
  auto p = parseResourcePath("/apis/minimcp.io/v1alpha1/mcptypes/gmail");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->hasNamespace);
  EXPECT_EQ(p->plural, "mcptypes");
  EXPECT_EQ(p->name, "gmail");
  auto l = parseResourcePath("/apis/minimcp.io/v1alpha1/mcpinstances");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->plural, "mcpinstances");
  EXPECT_EQ(l->name, "");
  auto nsList = parseResourcePath("/apis/minimcp.io/v1alpha1/namespaces/a/apikeys/");
  ASSERT_TRUE(nsList);
  EXPECT_EQ(nsList->ns, "a");
  EXPECT_EQ(nsList->plural, "apikeys");
}

TEST(ResourcePath, CoreEvents) {
  auto p = parseResourcePath("/api/v1/namespaces/default/events");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->core);
  EXPECT_EQ(p->ns, "default");
  EXPECT_EQ(p->plural, "events");
  auto all = parseResourcePath("/api/v1/events");
  ASSERT_TRUE(all);
  EXPECT_FALSE(all->hasNamespace);
}

TEST(ResourcePath, RejectsOtherPaths) {
  EXPECT_FALSE(parseResourcePath("/apis"));
  EXPECT_FALSE(parseResourcePath("/apis/minimcp.io/v1alpha1"));
  EXPECT_FALSE(parseResourcePath("/apis/apps/v1/deployments"));
  EXPECT_FALSE(parseResourcePath("/api/v1"));
  EXPECT_FALSE(parseResourcePath("/healthz"));
  EXPECT_FALSE(parseResourcePath("/apis/minimcp.io/v1alpha1/namespaces/a/x/b/status/extra"));
}

TEST(Table, AcceptHeaderDetection) {
  EXPECT_TRUE(
      wantsTable("application/json;as=Table;v=v1;g=meta.k8s.io,application/"
                 "json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"));
  EXPECT_FALSE(wantsTable("application/json"));
  EXPECT_FALSE(wantsTable("application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io"));
  EXPECT_EQ(parseIncludeObject(""), IncludeObject::Metadata);
  EXPECT_EQ(parseIncludeObject("Object"), IncludeObject::Object);
  EXPECT_EQ(parseIncludeObject("None"), IncludeObject::None);
}

}  // namespace
}  // namespace minimcp::server
