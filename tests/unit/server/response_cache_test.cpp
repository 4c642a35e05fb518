#include "api/server/response_cache.h"

#include <gtest/gtest.h>

#include "tests/unit/server/fake_kinds.h"

namespace minimcp::server {
namespace {

using nlohmann::json;

class ResponseCacheTest : public ::testing::Test {
 protected:
  ResponseCacheTest()
      : store_(store::openStore("sqlite:" + dir_.path() + "/c.db")), cache_(*store_) {}
  json obj(const std::string& name, int size) {
    return {{"metadata", {{"name", name}, {"namespace", "ns"}}}, {"spec", {{"size", size}}}};
  }
  testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  ResponseCache cache_;
};

TEST_F(ResponseCacheTest, AnyChangeOfTheObjectDropsItsBody) {
  store_->create("widgets", obj("a", 1));
  cache_.putObject(cache_.ticket("widgets"), "widgets", "ns", "a", "body-1");
  EXPECT_EQ(cache_.getObject("widgets", "ns", "a"), "body-1");
  store_->create("other", obj("a", 1));  // another resource: no effect
  EXPECT_EQ(cache_.getObject("widgets", "ns", "a"), "body-1");
  store_->update("widgets", obj("a", 2), 0);
  EXPECT_FALSE(cache_.getObject("widgets", "ns", "a"));
}

TEST_F(ResponseCacheTest, ABodyReadBeforeAChangeIsNotInserted) {
  store_->create("widgets", obj("a", 1));
  uint64_t ticket = cache_.ticket("widgets");  // the reader took its ticket, then read...
  store_->update("widgets", obj("a", 2), 0);   // ...and a write landed before it inserted
  cache_.putObject(ticket, "widgets", "ns", "a", "stale");
  EXPECT_FALSE(cache_.getObject("widgets", "ns", "a"));
  cache_.putList(ticket, "widgets", "q", "stale list");
  EXPECT_FALSE(cache_.getList("widgets", "q"));
}

TEST_F(ResponseCacheTest, ListsAreDroppedByAnyChangeOfTheirResource) {
  cache_.putList(cache_.ticket("widgets"), "widgets", "ns\n\n", "list-0");
  EXPECT_EQ(cache_.getList("widgets", "ns\n\n"), "list-0");
  store_->create("widgets", obj("new", 1));
  EXPECT_FALSE(cache_.getList("widgets", "ns\n\n"));
}

}  // namespace
}  // namespace minimcp::server
