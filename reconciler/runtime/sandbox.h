// The optional instance sandbox (mcpd --sandbox bwrap): Debian's bubblewrap around the command.
// The instance sees a read-only root, a private /tmp, /dev and /proc (a PID namespace of its
// own), and its working directory, bound at the same path, as the only writable path. The
// network is the host's: the server listens on 127.0.0.1:PORT as without the sandbox.
//
// Processes: bwrap (the one launched and recorded: it stays to report the command's exit
// status, in the instance's process group, cwd and environment) → bwrap as PID 1 of the
// namespace → the command. A SIGKILL of the group ends all three, and when PID 1 ends the kernel
// ends everything left in the namespace. bwrap runs as the instance's user: it sets the sandbox
// up in an unprivileged user namespace (uid mapped to itself) and never holds root.
#pragma once

#include <string>
#include <vector>

namespace minimcp::runtime {

// Processes the sandbox adds to the instance's own (the two bwrap): added to its pids limit.
inline constexpr int kBwrapProcesses = 2;

// bwrap's arguments (without argv[0]) that run `command args` in the sandbox. The group's
// SIGTERM is ignored by bwrap (the runtime sets it so before exec): env(1) puts it back to the
// default for the command, so a stop keeps its grace period.
// `codeDirs` are bound back read-only after the private /tmp (a checkout under /tmp).
std::vector<std::string> bwrapArgs(const std::string& workingDir, const std::string& command,
                                   const std::vector<std::string>& args,
                                   const std::vector<std::string>& codeDirs = {},
                                   const std::string& envPath = "/usr/bin/env");

}  // namespace minimcp::runtime
