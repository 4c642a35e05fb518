#include "tools/mcpctl/progress.h"

#include <unistd.h>

namespace minimcp::mcpctl {

namespace {
constexpr size_t kBarWidth = 24;
}

Progress::Progress(std::ostream& out, bool terminal, size_t total, std::string doneWord)
    : out_(out), terminal_(terminal), total_(total), doneWord_(std::move(doneWord)) {}

Progress::~Progress() { clearLine(); }

bool Progress::stderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

void Progress::seen(const std::string& id, const std::string& state) {
  auto [it, added] = lastState_.try_emplace(id, state);
  if (!added && it->second == state) return;
  it->second = state;
  draw(id, state.empty() ? "waiting" : state);
}

void Progress::done(const std::string& id) {
  ++done_;
  lastState_[id] = doneWord_;
  draw(id, doneWord_);
}

void Progress::clearLine() {
  if (!terminal_ || !drawn_) return;
  out_ << "\r\x1b[K" << std::flush;
  drawn_ = false;
}

void Progress::draw(const std::string& id, const std::string& state) {
  const std::string count = std::to_string(done_) + "/" + std::to_string(total_) + " " + doneWord_;
  if (!terminal_) {
    out_ << "[" << count << "] " << id << ": " << state << std::endl;
    return;
  }
  const size_t filled = total_ == 0 ? kBarWidth : done_ * kBarWidth / total_;
  out_ << "\r[" << std::string(filled, '#') << std::string(kBarWidth - filled, '.') << "] " << count
       << "  " << id << ": " << state << "\x1b[K" << std::flush;
  drawn_ = true;
}

}  // namespace minimcp::mcpctl
