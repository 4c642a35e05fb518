// Progress of waiting for many objects (apply --wait, wait), on stderr so stdout stays what
// scripts parse: on a terminal a bar redrawn in place; otherwise one plain line per change, so a
// log keeps every step.
#pragma once

#include <map>
#include <ostream>
#include <string>

namespace minimcp::mcpctl {

class Progress {
 public:
  // `total` objects; `doneWord` says what reaching the goal is ("ready", "condition met").
  Progress(std::ostream& out, bool terminal, size_t total, std::string doneWord);
  ~Progress();  // a bar leaves the line clean
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `id` was seen in `state` (its phase, "" when it has none yet): drawn when that changed.
  void seen(const std::string& id, const std::string& state);
  // `id` reached the goal (once per object).
  void done(const std::string& id);
  // Before the caller writes a line of its own to the same terminal.
  void clearLine();

  // stderr is a terminal.
  static bool stderrIsTerminal();

 private:
  void draw(const std::string& id, const std::string& state);

  std::ostream& out_;
  bool terminal_;
  size_t total_;
  size_t done_ = 0;
  std::string doneWord_;
  std::map<std::string, std::string> lastState_;
  bool drawn_ = false;
};

}  // namespace minimcp::mcpctl
