#include "api/server/logs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "api/util/api_error.h"

namespace minimcp::server {

namespace {

constexpr const char* kLogFileName = "output.log";
constexpr size_t kReadChunk = 64 << 10;

// Whole file; "" when it cannot be read (rotated away meanwhile).
std::string readFile(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[kReadChunk];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// Where the last `n` lines of `s` start (a final line without '\n' counts as one).
size_t tailStart(const std::string& s, int64_t n) {
  if (n <= 0) return s.size();
  size_t p = !s.empty() && s.back() == '\n' ? s.size() - 1 : s.size();
  int64_t seen = 0;
  while (p > 0) {
    size_t nl = s.rfind('\n', p - 1);
    if (nl == std::string::npos) return 0;
    if (++seen == n) return nl + 1;
    p = nl;
  }
  return 0;
}

int64_t newlines(const std::string& s) {
  int64_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// `newest` (already read) preceded by as many older files as the tail needs, then cut.
std::string tailWith(std::string newest, const std::vector<std::string>& older,
                     std::optional<int64_t> tailLines, std::optional<int64_t> limitBytes) {
  std::deque<std::string> parts{std::move(newest)};
  int64_t lines = newlines(parts.front());
  size_t bytes = parts.front().size();
  for (auto it = older.rbegin(); it != older.rend(); ++it) {
    bool enoughLines = tailLines && lines > *tailLines;
    bool enoughBytes = limitBytes && static_cast<int64_t>(bytes) >= *limitBytes;
    if (enoughLines || enoughBytes) break;
    parts.push_front(readFile(*it));
    lines += newlines(parts.front());
    bytes += parts.front().size();
  }
  std::string all;
  all.reserve(bytes);
  for (auto& p : parts) all += p;
  if (tailLines) all.erase(0, tailStart(all, *tailLines));
  if (limitBytes && static_cast<int64_t>(all.size()) > *limitBytes) {
    all.erase(0, all.size() - static_cast<size_t>(*limitBytes));
  }
  return all;
}

std::optional<int64_t> intParam(const Request& req, const char* name) {
  if (!req.hasParam(name)) return std::nullopt;
  std::string v = req.param(name);
  int64_t n = 0;
  bool ok = !v.empty() && v.size() <= 18;
  for (char c : v) {
    if (c < '0' || c > '9') ok = false;
    if (ok) n = n * 10 + (c - '0');
  }
  if (!ok) {
    throw ApiError::BadRequest(std::string("invalid ") + name + " \"" + v +
                               "\": must be a non-negative integer");
  }
  return n;
}

// Follows the newest file as it grows. One thread per follower; the file is polled, which
// also works where inotify is unavailable or exhausted.
class LogFollowStream : public Stream {
 public:
  LogFollowStream(LogFilesFn files, std::chrono::milliseconds poll)
      : files_(std::move(files)), poll_(poll) {}
  ~LogFollowStream() override {
    stop();
    closeFd();
  }

  // The initial text (the tail asked for); following starts right after it.
  std::string prepare(std::optional<int64_t> tailLines, std::optional<int64_t> limitBytes) {
    auto files = files_();
    if (files.empty()) return "";
    std::string newest = files.back();
    files.pop_back();
    std::string text;
    if (openCurrent(newest)) text = readFrom(0);
    advance(text);
    if (!tailLines && !limitBytes) {
      std::string all;
      for (const auto& f : files) all += readFile(f);
      return all + text;
    }
    return tailWith(std::move(text), files, tailLines, limitBytes);
  }

  void start(std::shared_ptr<StreamSink> sink) override {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    thread_ = std::thread([this, sink = std::move(sink)] { run(*sink); });
  }

  void stop() override {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
      cv_.notify_all();
    }
    std::lock_guard joinLock(joinMu_);
    if (thread_.joinable()) {
      if (thread_.get_id() == std::this_thread::get_id()) {
        thread_.detach();
      } else {
        thread_.join();
      }
    }
  }

 private:
  bool openCurrent(const std::string& path) {
    closeFd();
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return false;
    struct stat st {};
    ::fstat(fd_, &st);
    path_ = path;
    inode_ = st.st_ino;
    offset_ = 0;
    sig_.clear();
    return true;
  }

  void closeFd() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::string readFrom(off_t offset) const {
    std::string out;
    char buf[kReadChunk];
    for (ssize_t n; (n = ::pread(fd_, buf, sizeof buf, offset)) > 0; offset += n) {
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  // Bytes [offset - kSig, offset) of the file as we read them: when the file at that place no
  // longer holds them, it was truncated (and maybe refilled past our offset) meanwhile.
  static constexpr off_t kSig = 64;
  void advance(const std::string& text) {
    offset_ += static_cast<off_t>(text.size());
    sig_ = (sig_ + text);
    if (static_cast<off_t>(sig_.size()) > kSig) sig_.erase(0, sig_.size() - kSig);
  }
  bool holdsSignature(int fd) const {
    if (sig_.empty()) return true;
    std::string got(sig_.size(), '\0');
    ssize_t n = ::pread(fd, got.data(), got.size(), offset_ - static_cast<off_t>(sig_.size()));
    return n == static_cast<ssize_t>(got.size()) && got == sig_;
  }

  // What was appended since the last poll, across a rotation.
  std::string pollOnce() {
    if (fd_ < 0) {
      auto files = files_();
      if (files.empty() || !openCurrent(files.back())) return "";
      std::string text = readFrom(0);
      advance(text);
      return text;
    }
    std::string out;
    struct stat now {};
    bool replaced = ::stat(path_.c_str(), &now) != 0 || now.st_ino != inode_;
    struct stat mine {};
    ::fstat(fd_, &mine);
    if (mine.st_size < offset_ || !holdsSignature(fd_)) {
      // Copy-and-truncate: what we had not read yet went to the first rotated file.
      int rotated = ::open((path_ + ".1").c_str(), O_RDONLY | O_CLOEXEC);
      if (rotated >= 0) {
        if (holdsSignature(rotated)) {
          char buf[kReadChunk];
          off_t at = offset_;
          for (ssize_t n; (n = ::pread(rotated, buf, sizeof buf, at)) > 0; at += n) {
            out.append(buf, static_cast<size_t>(n));
          }
        }
        ::close(rotated);
      }
      offset_ = 0;
      sig_.clear();
    }
    std::string more = readFrom(offset_);
    advance(more);
    out += more;
    if (replaced) {
      // Renamed away (rename rotation or removal): the old file is drained, then the new one
      // is read from its start at the next poll.
      closeFd();
    }
    return out;
  }

  void run(StreamSink& sink) {
    while (true) {
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, poll_, [&] { return stopped_; });
        if (stopped_) return;
      }
      std::string text = pollOnce();
      for (size_t at = 0; at < text.size(); at += kReadChunk) {
        if (!sink.write(text.substr(at, kReadChunk))) return;
      }
    }
  }

  LogFilesFn files_;
  std::chrono::milliseconds poll_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::mutex joinMu_;
  std::thread thread_;
  // Owned by the thread once started.
  int fd_ = -1;
  std::string path_;
  ino_t inode_ = 0;
  off_t offset_ = 0;
  std::string sig_;
};

}  // namespace

std::vector<std::string> defaultLogFiles(const std::string& dataDir, const std::string& ns,
                                         const std::string& name) {
  std::string base = dataDir + "/logs/" + ns + "/" + name + "/" + kLogFileName;
  std::vector<std::string> rotated;
  for (int i = 1;; ++i) {
    std::string p = base + "." + std::to_string(i);
    if (::access(p.c_str(), F_OK) != 0) break;
    rotated.push_back(p);
  }
  std::vector<std::string> out(rotated.rbegin(), rotated.rend());
  if (::access(base.c_str(), F_OK) == 0) out.push_back(base);
  return out;
}

std::string readLogTail(const std::vector<std::string>& files, std::optional<int64_t> tailLines,
                        std::optional<int64_t> limitBytes) {
  if (files.empty()) return "";
  std::vector<std::string> older(files.begin(), files.end() - 1);
  return tailWith(readFile(files.back()), older, tailLines, limitBytes);
}

Response serveLog(const Request& req, LogFilesFn files, std::chrono::milliseconds pollInterval) {
  auto tailLines = intParam(req, "tailLines");
  auto limitBytes = intParam(req, "limitBytes");
  std::string follow = req.param("follow");
  if (follow != "true" && follow != "1") {
    return Response::text(200, readLogTail(files(), tailLines, limitBytes));
  }
  auto stream = std::make_shared<LogFollowStream>(std::move(files), pollInterval);
  std::string initial = stream->prepare(tailLines, limitBytes);
  // The tail goes out as the stream's first chunk: a wrapper sends it before following.
  class WithPrefix : public Stream {
   public:
    WithPrefix(std::shared_ptr<LogFollowStream> inner, std::string prefix)
        : inner_(std::move(inner)), prefix_(std::move(prefix)) {}
    void start(std::shared_ptr<StreamSink> sink) override {
      if (!prefix_.empty() && !sink->write(std::move(prefix_))) return;
      inner_->start(std::move(sink));
    }
    void stop() override { inner_->stop(); }

   private:
    std::shared_ptr<LogFollowStream> inner_;
    std::string prefix_;
  };
  Response r;
  r.contentType = "text/plain; charset=utf-8";
  r.stream = std::make_shared<WithPrefix>(std::move(stream), std::move(initial));
  return r;
}

}  // namespace minimcp::server
