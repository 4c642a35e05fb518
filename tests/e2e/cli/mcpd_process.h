// Test harness: runs the real mcpd in a temporary directory and runs commands (mcpctl, kubectl)
// against it. Header-only and self-contained, so any integration/e2e area can include it
// (its target must link minimcp_client, which every non-unit area does).
//
//   minimcp::testing::McpdProcess mcpd;            // starts, waits for /readyz (throws on failure)
//   auto r = minimcp::testing::runCommand({mcpd.binDir() + "/mcpctl", "--kubeconfig",
//                                          mcpd.kubeconfig(), "get", "mi"});
//   EXPECT_EQ(r.exitCode, 0) << r.err;
//   mcpd.stop();                                  // SIGTERM, SIGKILL after the grace period
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/client/http_client.h"
#include "api/client/kubeconfig.h"

#ifndef MINIMCP_BIN_DIR
#error "MINIMCP_BIN_DIR must be defined (the CMake test targets define it)"
#endif

namespace minimcp::testing {

// Polls `done` (every 20 ms, backing off to 200 ms) until it is true or `timeout` passes.
inline bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto delay = std::chrono::milliseconds(20);
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(200));
  }
}

inline std::string readFileOr(const std::string& path, const std::string& fallback = "") {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fallback;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh directory under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "minimcp-test") {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed: " + tmpl);
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// fork + execv with stdin/stdout/stderr redirected to the given fds (-1: /dev/null).
inline pid_t spawnProcess(const std::vector<std::string>& argv, int inFd, int outFd, int errFd,
                          const std::vector<std::string>& extraEnv = {}) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(inFd >= 0 ? inFd : devnull, 0);
    dup2(outFd >= 0 ? outFd : devnull, 1);
    dup2(errFd >= 0 ? errFd : devnull, 2);
    for (const auto& e : extraEnv) putenv(const_cast<char*>(e.c_str()));
    signal(SIGPIPE, SIG_DFL);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// Waits for `pid` up to `timeout`; returns the wait status, or -1 if it is still running.
inline int waitPid(pid_t pid, std::chrono::milliseconds timeout) {
  int status = -1;
  bool done = waitUntil(
      [&] {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) status = st;
        return r == pid || r < 0;
      },
      timeout);
  return done ? status : -1;
}

// SIGTERM to `pid` only, SIGKILL after `grace`; returns the wait status.
inline int terminatePid(pid_t pid, std::chrono::milliseconds grace) {
  kill(pid, SIGTERM);
  int status = waitPid(pid, grace);
  if (status == -1) {
    kill(pid, SIGKILL);
    status = waitPid(pid, std::chrono::seconds(10));
  }
  return status;
}

// SIGKILL to every process (and its group) whose working directory is under `dirPrefix` (an
// mcpd's DATA_DIR/instances/: the instance processes it started, which outlive it by design);
// waits up to 5 s for them to be gone.
inline void killProcessesIn(const std::string& dirPrefix) {
  namespace fs = std::filesystem;
  auto survivors = [&] {
    std::vector<pid_t> pids;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::error_code linkError;
      const std::string cwd = fs::read_symlink(entry.path() / "cwd", linkError).string();
      if (!linkError && cwd.rfind(dirPrefix, 0) == 0) pids.push_back(std::stoi(name));
    }
    return pids;
  };
  for (pid_t p : survivors()) {
    kill(-p, SIGKILL);
    kill(p, SIGKILL);
  }
  waitUntil([&] { return survivors().empty(); }, std::chrono::seconds(5));
}

struct CommandResult {
  int exitCode = -1;  // -1: killed on timeout or by a signal
  std::string out;
  std::string err;
};

// Runs argv (no shell) with optional stdin text; kills it after `timeout`.
inline CommandResult runCommand(const std::vector<std::string>& argv,
                                const std::string& stdinText = "",
                                std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                const std::vector<std::string>& extraEnv = {}) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    throw std::runtime_error("pipe failed");
  }
  pid_t pid = spawnProcess(argv, in[0], out[1], err[1], extraEnv);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  // Small inputs fit the pipe buffer; larger ones are written while reading below.
  size_t written = 0;
  int inFd = in[1];
  fcntl(inFd, F_SETFL, O_NONBLOCK);
  CommandResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool outOpen = true, errOpen = true, killed = false;
  while (outOpen || errOpen) {
    if (inFd >= 0) {
      while (written < stdinText.size()) {
        ssize_t n = write(inFd, stdinText.data() + written, stdinText.size() - written);
        if (n <= 0) break;
        written += static_cast<size_t>(n);
      }
      if (written >= stdinText.size()) {
        close(inFd);
        inFd = -1;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    pollfd fds[2] = {{outOpen ? out[0] : -1, POLLIN, 0}, {errOpen ? err[0] : -1, POLLIN, 0}};
    int waitMs = static_cast<int>(std::min<long>(left.count(), inFd >= 0 ? 20 : 1000));
    if (poll(fds, 2, waitMs) < 0 && errno != EINTR) break;
    char buf[8192];
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      } else {
        (i == 0 ? outOpen : errOpen) = false;
      }
    }
  }
  if (inFd >= 0) close(inFd);
  close(out[0]);
  close(err[0]);
  int status = waitPid(pid, killed ? std::chrono::seconds(10) : timeout);
  if (status != -1 && WIFEXITED(status) && !killed) result.exitCode = WEXITSTATUS(status);
  return result;
}

// curl following a streamed response (watch, log follow, SSE) into DIR/NAME.out, raw: the chunk
// framing is kept, so a test sees the terminating chunk. curl exits 0 only for a complete
// chunked body (18: cut short, 56: reset by the server). The token goes in a header file, not
// in curl's arguments.
class CurlStream {
 public:
  CurlStream(const client::ConnectionConfig& cfg, const std::string& dir, const std::string& name,
             const std::string& target, const std::vector<std::string>& extraHeaders = {})
      : out_(dir + "/" + name + ".out"), err_(dir + "/" + name + ".err") {
    const std::string ca = dir + "/" + name + ".ca", headers = dir + "/" + name + ".headers";
    std::ofstream(ca) << cfg.caPem;
    {
      std::ofstream h(headers);
      h << "Authorization: Bearer " << cfg.token << "\n";
      for (const auto& e : extraHeaders) h << e << "\n";
    }
    int outFd = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int errFd = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_ = spawnProcess({"/usr/bin/curl", "--silent", "--show-error", "--no-buffer", "--raw",
                         "--http1.1", "--cacert", ca, "-H", "@" + headers, cfg.server + target},
                        -1, outFd, errFd);
    ::close(outFd);
    ::close(errFd);
  }
  ~CurlStream() {
    if (pid_ > 0) terminatePid(pid_, std::chrono::seconds(1));
  }
  CurlStream(const CurlStream&) = delete;
  CurlStream& operator=(const CurlStream&) = delete;

  std::string body() const { return readFileOr(out_); }
  std::string errors() const { return readFileOr(err_); }
  // curl's exit code; -1 while it still runs after `timeout`, or when a signal ended it.
  int exitCode(std::chrono::milliseconds timeout) {
    const int st = waitPid(pid_, timeout);
    if (st == -1) return -1;
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

 private:
  std::string out_, err_;
  pid_t pid_ = -1;
};

// The real mcpd on a free loopback port with a fresh data dir.
class McpdProcess {
 public:
  struct Options {
    std::string binDir = MINIMCP_BIN_DIR;
    std::vector<std::string> extraArgs;  // e.g. {"--mcp-servers-dir", "..."}
    std::string dataDir;                 // "" = a fresh temp dir, removed at the end
    std::chrono::milliseconds readyTimeout = std::chrono::seconds(30);
  };

  McpdProcess() : McpdProcess(Options{}) {}
  explicit McpdProcess(Options options) : options_(std::move(options)) {
    dataDir_ = options_.dataDir.empty() ? tmp_.path() + "/data" : options_.dataDir;
    logPath_ = tmp_.path() + "/mcpd.log";
    start();
  }
  // Instance processes outlive mcpd by design (the next mcpd adopts them); a test's mcpd is gone
  // for good here, so whatever it started is killed too: no test leaves processes behind.
  ~McpdProcess() {
    stop();
    killInstanceProcesses();
  }
  McpdProcess(const McpdProcess&) = delete;
  McpdProcess& operator=(const McpdProcess&) = delete;

  // Starts (again, after stop(): same data dir, possibly another port) and waits for /readyz.
  void start() {
    if (pid_ > 0) return;
    std::filesystem::create_directories(dataDir_);
    std::vector<std::string> argv = {options_.binDir + "/mcpd", "--listen", "127.0.0.1:0",
                                     "--data-dir", dataDir_};
    argv.insert(argv.end(), options_.extraArgs.begin(), options_.extraArgs.end());
    logOffset_ = readFileOr(logPath_).size();
    int logFd = open(logPath_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logFd < 0) throw std::runtime_error("cannot open " + logPath_);
    pid_ = spawnProcess(argv, -1, logFd, logFd);
    close(logFd);
    std::string failure;
    bool ready = waitUntil(
        [&] {
          int st = 0;
          if (waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            failure = "mcpd exited during start-up";
            return true;
          }
          // The line mcpd prints once it listens names the real address (port 0 → any).
          std::string log = readFileOr(logPath_).substr(logOffset_);
          auto at = log.find("mcpd listening on ");
          if (at == std::string::npos) return false;
          auto end = log.find_first_of(" \n", at + 18);
          url_ = log.substr(at + 18, end - at - 18);
          return readyz();
        },
        options_.readyTimeout);
    if (!ready) failure = "mcpd did not become ready within the timeout";
    if (!failure.empty()) {
      stop();
      throw std::runtime_error(failure + "; log:\n" + log());
    }
  }

  // SIGTERM, then SIGKILL after `grace`. Returns the wait status (-1 when not running).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10)) {
    if (pid_ <= 0) return -1;
    int status = terminatePid(pid_, grace);
    pid_ = -1;
    return status;
  }

  // Only mcpd dies (SIGKILL); its instance processes live on, as after an OOM kill of mcpd.
  void kill9() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitPid(pid_, std::chrono::seconds(10));
    pid_ = -1;
  }
  // The host dies: mcpd and every instance process it started are SIGKILLed, nothing is
  // cleaned up (the lease in the store simply stops being renewed).
  void crash() {
    kill9();
    killInstanceProcesses();
  }

  pid_t pid() const { return pid_; }
  const std::string& binDir() const { return options_.binDir; }
  const std::string& dataDir() const { return dataDir_; }
  std::string kubeconfig() const { return dataDir_ + "/admin.kubeconfig"; }
  const std::string& url() const { return url_; }
  std::string log() const { return readFileOr(logPath_); }
  // An HTTP client with the admin kubeconfig's credentials.
  client::ConnectionConfig connection() const { return client::loadKubeconfig(kubeconfig()); }
  // The same, aimed at where mcpd listens now (a restart on port 0 may move it).
  client::ConnectionConfig currentConnection() const {
    client::ConnectionConfig cfg = connection();
    cfg.server = url_;
    return cfg;
  }

  // `mcpctl --kubeconfig <admin> args...`
  CommandResult mcpctl(const std::vector<std::string>& args, const std::string& stdinText = "",
                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) const {
    std::vector<std::string> argv = {options_.binDir + "/mcpctl", "--kubeconfig", kubeconfig()};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, stdinText, timeout);
  }

 private:
  // Every process whose working directory is inside DATA_DIR/instances (the controller's
  // layout), with its process group: SIGKILL, then wait until none is left.
  void killInstanceProcesses() { killProcessesIn(dataDir_ + "/instances/"); }

  bool readyz() {
    try {
      std::error_code ec;
      if (!std::filesystem::exists(kubeconfig(), ec)) return false;
      client::HttpClient http(currentConnection());
      return http.request("GET", "/readyz", "", {}, std::chrono::seconds(2)).status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }

  Options options_;
  TempDir tmp_{"mcpd"};
  std::string dataDir_;
  std::string logPath_;
  size_t logOffset_ = 0;
  std::string url_;
  pid_t pid_ = -1;
};

}  // namespace minimcp::testing
