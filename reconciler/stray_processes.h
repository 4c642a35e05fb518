// Instance processes an earlier run of this mcpd left behind, found by their working
// directory: the runtime starts every instance in DATA_DIR/instances/<ns>/<name>
// (launch_env.h), so a process whose cwd is there belongs to that instance, whoever started it.
// Used on a node of a cluster, where an instance may have moved while its mcpd was down.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace minimcp::reconciler {

struct StrayProcess {
  int pid = 0;
  std::string key;  // "ns/name"
};

// Every live process (not a zombie) running in an instance directory of `dataDir`.
std::vector<StrayProcess> findInstanceProcesses(const std::filesystem::path& dataDir);

// SIGKILL to the process's group (an instance server leads its own session) and to itself.
void killStray(int pid);

}  // namespace minimcp::reconciler
