// How a real mcpd's streamed responses end: watch BOOKMARKs (periodic and the end of initial
// events), and SIGTERM ending every open watch and log follow with the chunked terminator before
// the connection closes (curl is the independent client: testing::CurlStream).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/client/http_client.h"
#include "tests/e2e/cli/mcpd_process.h"

namespace minimcp {
namespace {

using client::HttpClient;
using nlohmann::json;
using testing::McpdProcess;
using namespace std::chrono_literals;

const std::string kInstances = "/apis/minimcp.io/v1alpha1/namespaces/streams/mcpinstances";

McpdProcess::Options apiOnly(std::vector<std::string> more = {}) {
  McpdProcess::Options o;
  o.extraArgs = {"--disable-reconciler"};
  o.extraArgs.insert(o.extraArgs.end(), more.begin(), more.end());
  return o;
}

json createInstance(HttpClient& http, const std::string& name) {
  json obj = {{"apiVersion", "minimcp.io/v1alpha1"},
              {"kind", "MCPInstance"},
              {"metadata", {{"name", name}, {"namespace", "streams"}}},
              {"spec", {{"type", "echo"}, {"ttl", "1h"}}}};
  auto r = http.request("POST", kInstances, obj.dump(), {{"Content-Type", "application/json"}});
  EXPECT_EQ(r.status, 201) << r.body;
  return json::parse(r.body);
}

// The lines of one watch, read on a thread of its own (until the server ends it: give the watch
// a timeoutSeconds).
class Watch {
 public:
  Watch(client::ConnectionConfig cfg, std::string target)
      : thread_([this, cfg = std::move(cfg), target = std::move(target)] {
          HttpClient http(cfg);
          http.stream(
              "GET", target,
              [&](const std::string& line) {
                std::lock_guard lock(mu_);
                lines_.push_back(json::parse(line));
                cv_.notify_all();
                return !stop_;
              },
              {}, 30s);
          std::lock_guard lock(mu_);
          done_ = true;
          cv_.notify_all();
        }) {}
  ~Watch() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  // Waits until `pred` holds for some line; returns it (null on timeout).
  json waitFor(const std::function<bool(const json&)>& pred, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    json found;
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& l : lines_) {
        if (pred(l)) {
          found = l;
          return true;
        }
      }
      return done_;
    });
    return found;
  }
  std::vector<json> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<json> lines_;
  bool done_ = false;
  bool stop_ = false;
  std::thread thread_;
};

bool isBookmark(const json& l) { return l.value("type", "") == "BOOKMARK"; }

TEST(WatchBookmarks, AWatchThatAllowsThemGetsThemWithTheCurrentResourceVersion) {
  McpdProcess mcpd(apiOnly({"--watch-bookmark-interval", "1s"}));
  HttpClient http(mcpd.connection());
  createInstance(http, "a");
  const auto list = json::parse(http.request("GET", kInstances).body);
  const std::string listRv = list["metadata"]["resourceVersion"];

  Watch w(mcpd.connection(),
          kInstances +
              "?watch=true&timeoutSeconds=10&allowWatchBookmarks=true&resourceVersion=" + listRv);
  const json bookmark = w.waitFor(isBookmark, 10s);
  ASSERT_FALSE(bookmark.is_null()) << "no BOOKMARK within 10 s";
  EXPECT_EQ(bookmark["object"]["kind"], "MCPInstance");
  EXPECT_EQ(bookmark["object"]["apiVersion"], "minimcp.io/v1alpha1");
  // Nothing changed since the list: the bookmark names at least its resourceVersion.
  EXPECT_GE(std::stoll(bookmark["object"]["metadata"]["resourceVersion"].get<std::string>()),
            std::stoll(listRv));

  // One that does not ask gets none. Later bookmarks follow the changes.
  Watch plain(mcpd.connection(),
              kInstances + "?watch=true&timeoutSeconds=3&resourceVersion=" + listRv);
  const json b = createInstance(http, "b");
  const int64_t bRv = std::stoll(b["metadata"]["resourceVersion"].get<std::string>());
  ASSERT_FALSE(plain.waitFor([](const json& l) { return l["type"] == "ADDED"; }, 10s).is_null());
  const json later = w.waitFor(
      [&](const json& l) {
        return isBookmark(l) &&
               std::stoll(l["object"]["metadata"]["resourceVersion"].get<std::string>()) >= bRv;
      },
      10s);
  EXPECT_FALSE(later.is_null()) << "no BOOKMARK at or after resourceVersion " << bRv;
  for (const auto& l : plain.lines()) EXPECT_FALSE(isBookmark(l)) << l.dump();
}

TEST(WatchBookmarks, SendInitialEventsEndsTheListWithAnAnnotatedBookmark) {
  McpdProcess mcpd(apiOnly());
  HttpClient http(mcpd.connection());
  createInstance(http, "a");
  createInstance(http, "b");
  Watch w(mcpd.connection(), kInstances +
                                 "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
                                 "&resourceVersionMatch=NotOlderThan&timeoutSeconds=3");
  const json end = w.waitFor(isBookmark, 10s);
  ASSERT_FALSE(end.is_null());
  EXPECT_EQ(end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
  const auto lines = w.lines();
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0]["type"], "ADDED");
  EXPECT_EQ(lines[1]["type"], "ADDED");
  EXPECT_TRUE(isBookmark(lines[2]));
  EXPECT_EQ(end["object"]["metadata"]["resourceVersion"],
            lines[1]["object"]["metadata"]["resourceVersion"]);

  // kube-apiserver's rules: only with bookmarks and resourceVersionMatch=NotOlderThan.
  auto r = http.request("GET", kInstances + "?watch=true&sendInitialEvents=true");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("allowWatchBookmarks"), std::string::npos) << r.body;
  r = http.request("GET", kInstances + "?watch=true&sendInitialEvents=true&allowWatchBookmarks=1");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("resourceVersionMatch"), std::string::npos) << r.body;
}

TEST(ShutdownEndsStreams, SigtermEndsEveryWatchAndLogFollowWithTheLastChunk) {
  testing::TempDir tmp("stream-end");
  McpdProcess mcpd(apiOnly());
  HttpClient http(mcpd.connection());
  createInstance(http, "a");
  // A log to follow (the controller's layout; no controller runs here).
  const auto logDir = std::filesystem::path(mcpd.dataDir()) / "logs" / "streams" / "a";
  std::filesystem::create_directories(logDir);
  std::ofstream(logDir / "output.log") << "hello from a\n";

  testing::CurlStream watch(mcpd.connection(), tmp.path(), "watch",
                            kInstances + "?watch=true&allowWatchBookmarks=true");
  testing::CurlStream follow(mcpd.connection(), tmp.path(), "follow",
                             kInstances + "/a/log?follow=true");
  ASSERT_TRUE(testing::waitUntil(
      [&] {
        return watch.body().find("\"ADDED\"") != std::string::npos &&
               follow.body().find("hello from a") != std::string::npos;
      },
      10s))
      << watch.body() << follow.body() << watch.errors() << follow.errors();

  const auto before = std::chrono::steady_clock::now();
  const int status = mcpd.stop(15s);
  const auto took = std::chrono::steady_clock::now() - before;
  ASSERT_TRUE(WIFEXITED(status)) << "mcpd did not exit on SIGTERM";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(took, 8s);  // the streams' grace (5 s) bounds it

  for (testing::CurlStream* c : {&watch, &follow}) {
    EXPECT_EQ(c->exitCode(5s), 0) << c->errors();  // 18: body cut short, 56: reset
    const std::string body = c->body();
    ASSERT_GE(body.size(), 5u);
    EXPECT_EQ(body.substr(body.size() - 5), "0\r\n\r\n") << body;
  }
}

}  // namespace
}  // namespace minimcp
