#include "reconciler/stray_processes.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace minimcp::reconciler {

namespace fs = std::filesystem;

namespace {

bool isZombie(const fs::path& procDir) {
  std::ifstream in(procDir / "stat");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string stat = ss.str();
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return true;
  const char state = stat[paren + 2];
  return state == 'Z' || state == 'X';
}

}  // namespace

std::vector<StrayProcess> findInstanceProcesses(const fs::path& dataDir) {
  std::vector<StrayProcess> out;
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(dataDir / "instances", ec);
  if (ec) return out;
  const std::string prefix = root.string() + "/";
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code linkError;
    const std::string cwd = fs::read_symlink(entry.path() / "cwd", linkError).string();
    if (linkError || cwd.rfind(prefix, 0) != 0) continue;
    // cwd = <root>/<ns>/<name>[/...]
    const std::string rest = cwd.substr(prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos) continue;
    const auto end = rest.find('/', slash + 1);
    const int pid = std::stoi(name);
    if (pid == ::getpid() || isZombie(entry.path())) continue;
    out.push_back({pid, rest.substr(0, end)});
  }
  return out;
}

void killStray(int pid) {
  if (pid <= 1) return;
  if (::getpgid(pid) == pid) ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
}

}  // namespace minimcp::reconciler
