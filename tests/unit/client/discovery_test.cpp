#include "api/client/discovery.h"

#include <gtest/gtest.h>

namespace minimcp::client {
namespace {

using nlohmann::json;

std::vector<ResourceInfo> sample() {
  json list = {{"kind", "APIResourceList"},
               {"groupVersion", "minimcp.io/v1alpha1"},
               {"resources",
                {{{"name", "mcpinstances"},
                  {"singularName", "mcpinstance"},
                  {"namespaced", true},
                  {"kind", "MCPInstance"},
                  {"shortNames", {"mi"}},
                  {"verbs", {"get", "list"}}},
                 {{"name", "mcpinstances/status"}, {"namespaced", true}, {"kind", "MCPInstance"}},
                 {{"name", "mcptypes"},
                  {"singularName", "mcptype"},
                  {"namespaced", false},
                  {"kind", "MCPType"},
                  {"shortNames", {"mt"}}},
                 {{"name", "apikeys"},
                  {"singularName", ""},
                  {"namespaced", true},
                  {"kind", "APIKey"},
                  {"shortNames", {"ak"}}}}}};
  return parseResourceList(list);
}

TEST(Discovery, SkipsSubresources) {
  auto resources = sample();
  ASSERT_EQ(resources.size(), 3u);
  EXPECT_EQ(resources[0].group, "minimcp.io");
  EXPECT_EQ(resources[0].version, "v1alpha1");
  EXPECT_EQ(resources[0].verbs, (std::vector<std::string>{"get", "list"}));
  EXPECT_EQ(resources[2].singularName, "apikey");  // derived from kind when empty
}

TEST(Discovery, ResolvesEverySpelling) {
  auto resources = sample();
  for (const char* typed :
       {"mcpinstances", "mcpinstance", "mi", "MI", "MCPInstance", "mcpInstances",
        "mcpinstances.minimcp.io", "mcpinstance.minimcp.io", "mcpinstances.v1alpha1.minimcp.io"}) {
    auto r = resolveResource(resources, typed);
    ASSERT_TRUE(r) << typed;
    EXPECT_EQ(r->name, "mcpinstances") << typed;
  }
  EXPECT_EQ(resolveResource(resources, "mt")->kind, "MCPType");
  EXPECT_EQ(resolveResource(resources, "apikey")->kind, "APIKey");
  EXPECT_FALSE(resolveResource(resources, "pods"));
  EXPECT_FALSE(resolveResource(resources, "mi.example.com"));
}

TEST(Discovery, PathsAndNames) {
  auto resources = sample();
  const auto& mi = resources[0];
  const auto& mt = resources[1];
  EXPECT_EQ(mi.path("alice"), "/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances");
  EXPECT_EQ(mi.path("alice", "x"), "/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances/x");
  EXPECT_EQ(mi.path(""), "/apis/minimcp.io/v1alpha1/mcpinstances");
  EXPECT_EQ(mt.path("alice", "gmail"), "/apis/minimcp.io/v1alpha1/mcptypes/gmail");
  EXPECT_EQ(mi.kindDotGroup(), "mcpinstance.minimcp.io");
  EXPECT_EQ(mi.resourceDotGroup(), "mcpinstances.minimcp.io");
}

TEST(Discovery, SplitKindName) {
  auto kn = splitKindName("mi/inbox");
  ASSERT_TRUE(kn);
  EXPECT_EQ(kn->first, "mi");
  EXPECT_EQ(kn->second, "inbox");
  EXPECT_FALSE(splitKindName("mi"));
}

}  // namespace
}  // namespace minimcp::client
