// Instance logs: tails across rotated files and following a file that grows and rotates.
#include "api/server/logs.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "api/util/api_error.h"
#include "tests/unit/server/fake_kinds.h"

namespace minimcp::server {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

void append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << text;
}

class TextSink : public StreamSink {
 public:
  bool write(std::string chunk) override {
    std::lock_guard lock(mu_);
    text_ += chunk;
    cv_.notify_all();
    return true;
  }
  void finish() override {}
  // True once everything received so far ends with `suffix`... or contains it.
  bool waitFor(const std::string& needle,
               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return text_.find(needle) != std::string::npos; });
  }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;
};

Request logRequest(const std::string& query) {
  Request r;
  r.method = "GET";
  r.target = "/log?" + query;
  parseTarget(r.target, r.path, r.query);
  return r;
}

class LogsTest : public ::testing::Test {
 protected:
  LogsTest() {
    dir_ = tmp_.path() + "/logs/alice/inbox";
    fs::create_directories(dir_);
    log_ = dir_ + "/output.log";
  }
  std::vector<std::string> files() const { return defaultLogFiles(tmp_.path(), "alice", "inbox"); }

  TempDir tmp_;
  std::string dir_, log_;
};

TEST_F(LogsTest, FilesAreListedOldestFirstInTheRuntimesLayout) {
  EXPECT_TRUE(files().empty());
  append(log_ + ".2", "one\n");
  append(log_ + ".1", "two\n");
  append(log_, "three\n");
  EXPECT_EQ(files(), (std::vector<std::string>{log_ + ".2", log_ + ".1", log_}));
}

TEST_F(LogsTest, TailCountsLinesAcrossRotatedFiles) {
  append(log_ + ".2", "l1\nl2\n");
  append(log_ + ".1", "l3\nl4\n");
  append(log_, "l5\nl6");  // the last line is still being written
  EXPECT_EQ(readLogTail(files(), std::nullopt, std::nullopt), "l1\nl2\nl3\nl4\nl5\nl6");
  EXPECT_EQ(readLogTail(files(), 1, std::nullopt), "l6");
  EXPECT_EQ(readLogTail(files(), 3, std::nullopt), "l4\nl5\nl6");
  EXPECT_EQ(readLogTail(files(), 5, std::nullopt), "l2\nl3\nl4\nl5\nl6");
  EXPECT_EQ(readLogTail(files(), 100, std::nullopt), "l1\nl2\nl3\nl4\nl5\nl6");
  EXPECT_EQ(readLogTail(files(), 0, std::nullopt), "");
  EXPECT_EQ(readLogTail(files(), std::nullopt, 4), "5\nl6");
  EXPECT_EQ(readLogTail({}, 10, std::nullopt), "");
}

TEST_F(LogsTest, PlainRequestAnswersTextAndRejectsBadNumbers) {
  append(log_, "a\nb\nc\n");
  auto r = serveLog(logRequest("tailLines=2"), [this] { return files(); });
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "b\nc\n");
  EXPECT_EQ(r.contentType.rfind("text/plain", 0), 0u);
  EXPECT_FALSE(r.stream);
  EXPECT_THROW(serveLog(logRequest("tailLines=-1"), [this] { return files(); }), ApiError);
  EXPECT_THROW(serveLog(logRequest("tailLines=x"), [this] { return files(); }), ApiError);
}

TEST_F(LogsTest, FollowSendsTheTailThenWhatIsAppended) {
  append(log_, "old1\nold2\n");
  auto r = serveLog(
      logRequest("tailLines=1&follow=true"), [this] { return files(); },
      std::chrono::milliseconds(20));
  ASSERT_TRUE(r.stream);
  auto sink = std::make_shared<TextSink>();
  r.stream->start(sink);
  ASSERT_TRUE(sink->waitFor("old2\n"));
  append(log_, "new1\n");
  ASSERT_TRUE(sink->waitFor("new1\n"));
  r.stream->stop();
  EXPECT_EQ(sink->text(), "old2\nnew1\n");
}

TEST_F(LogsTest, FollowWaitsForTheFileAndSurvivesBothKindsOfRotation) {
  auto r = serveLog(
      logRequest("follow=true"), [this] { return files(); }, std::chrono::milliseconds(20));
  ASSERT_TRUE(r.stream);
  auto sink = std::make_shared<TextSink>();
  r.stream->start(sink);
  append(log_, "first\n");
  ASSERT_TRUE(sink->waitFor("first\n"));
  // Copy-and-truncate (what the local runtime does); text written just before the copy that
  // the follower had not read yet comes from output.log.1.
  append(log_, "before-copy\n");
  fs::copy_file(log_, log_ + ".1", fs::copy_options::overwrite_existing);
  fs::resize_file(log_, 0);
  append(log_, "after-truncate\n");
  ASSERT_TRUE(sink->waitFor("after-truncate\n"));
  // Rename rotation: the old file is drained, then the new one is read from its start.
  fs::rename(log_, log_ + ".2");
  append(log_, "new-file\n");
  ASSERT_TRUE(sink->waitFor("new-file\n"));
  r.stream->stop();
  std::string text = sink->text();
  EXPECT_NE(text.find("first\n"), std::string::npos);
  EXPECT_NE(text.find("before-copy\n"), std::string::npos) << text;
  EXPECT_LT(text.find("first\n"), text.find("after-truncate\n"));
  EXPECT_LT(text.find("after-truncate\n"), text.find("new-file\n"));
}

}  // namespace
}  // namespace minimcp::server
