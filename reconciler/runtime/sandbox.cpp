#include "reconciler/runtime/sandbox.h"

namespace minimcp::runtime {

std::vector<std::string> bwrapArgs(const std::string& workingDir, const std::string& command,
                                   const std::vector<std::string>& args,
                                   const std::vector<std::string>& codeDirs,
                                   const std::string& envPath) {
  // The host read-only; a /dev of null, zero, random and tty only; a /proc of the sandbox's own
  // processes; a private /tmp; its own dir writable at the same path. The network stays the
  // host's. --die-with-parent: nothing outlives the recorded bwrap.
  // clang-format off
  std::vector<std::string> out = {
      "--ro-bind", "/", "/",
      "--dev", "/dev",
      "--proc", "/proc",
      "--tmpfs", "/tmp"};
  // clang-format on
  for (const auto& dir : codeDirs) {
    for (const char* a : {"--ro-bind", dir.c_str(), dir.c_str()}) out.push_back(a);
  }
  // clang-format off
  for (const char* a : {"--bind", workingDir.c_str(), workingDir.c_str(),
                        "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                        "--die-with-parent",
                        "--chdir", workingDir.c_str(),
                        "--", envPath.c_str(), "--default-signal=TERM", command.c_str()}) {
    out.push_back(a);
  }
  // clang-format on
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

}  // namespace minimcp::runtime
