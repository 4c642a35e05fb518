// Helpers shared by the runtime integration tests: temp dirs, bounded waits, exit collection,
// and the no-zombie / no-survivor check every test ends with.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "reconciler/runtime/proc_stat.h"
#include "reconciler/runtime/process_runtime.h"

namespace minimcp::runtime::testing {

using namespace std::chrono_literals;

// Polls `pred` until it holds or `timeout` passes. For state only visible through /proc or
// files (there is nothing to be notified by); everything with a callback uses ExitCollector.
template <class Pred>
bool waitFor(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

inline std::string readText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "minimcp-rt-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    if (made) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Collects onExit callbacks; wait() blocks on a condition variable with a timeout.
class ExitCollector {
 public:
  void attach(ProcessRuntime& rt) {
    rt.onExit([this](const std::string& key, const ExitInfo& info) {
      {
        std::lock_guard lock(mu_);
        exits_[key] = info;
        at_[key] = std::chrono::steady_clock::now();
      }
      cv_.notify_all();
    });
  }
  std::optional<ExitInfo> wait(const std::string& key, std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return exits_.count(key) > 0; })) return std::nullopt;
    return exits_[key];
  }
  std::chrono::steady_clock::time_point at(const std::string& key) {
    std::lock_guard lock(mu_);
    return at_[key];
  }
  void clear(const std::string& key) {
    std::lock_guard lock(mu_);
    exits_.erase(key);
    at_.erase(key);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, ExitInfo> exits_;
  std::map<std::string, std::chrono::steady_clock::time_point> at_;
};

// Children of this test process: every one must be reaped (no zombie) and gone (no survivor)
// when a test ends. Survivors are killed so one failure does not cascade.
inline void expectNoChildren() {
  pid_t self = ::getpid();
  bool clean = waitFor(
      [&] {
        for (const auto& st : scanProcesses()) {
          if (st.ppid == self) return false;
        }
        return true;
      },
      3000ms);
  if (clean) return;
  for (const auto& st : scanProcesses()) {
    if (st.ppid != self) continue;
    ADD_FAILURE() << "child " << st.pid << " left behind in state " << st.state;
    ::kill(st.pid, SIGKILL);
  }
}

}  // namespace minimcp::runtime::testing
