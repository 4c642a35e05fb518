// Chaos: create/replace/delete churn against the real mcpd (root, SQLite, real node echo
// servers) with SIGKILL of mcpd at random instants, half of them just after it forked an
// instance process. After every restart, once the controller has
// converged, each instance has exactly one live process group (the one its status names) and
// no process of a deleted instance lives. The seed is printed; MINIMCP_CHAOS_SEED replays it.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>

#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

constexpr int kRounds = 20;
const std::vector<std::string> kNames = {"chaos-a", "chaos-b", "chaos-c"};

json instanceJson(const std::string& name) {
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "MCPInstance"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"type", "echo"}, {"ttl", "1h"}}}};
}

// Create, replace (a config change restarts the process) or delete one instance at random, as
// fast as mcpd answers, until `stop`; errors (mcpd killed meanwhile) are ignored.
void churn(client::ConnectionConfig cfg, uint32_t seed, const std::atomic<bool>& stop) {
  std::mt19937 rng(seed);
  client::HttpClient api(cfg);
  const std::string base = std::string(kApi) + "/namespaces/default/mcpinstances";
  while (!stop) {
    const std::string& name = kNames[rng() % kNames.size()];
    const unsigned op = rng() % 10;
    try {
      if (op < 4) {
        api.request("POST", base, instanceJson(name).dump(), {{"Content-Type", "application/json"}},
                    5s);
      } else if (op < 8) {
        const json patch = {{"spec", {{"config", {{"testHooks", rng() % 2 == 0}}}}}};
        api.request("PATCH", base + "/" + name, patch.dump(),
                    {{"Content-Type", "application/merge-patch+json"}}, 5s);
      } else {
        api.request("DELETE", base + "/" + name, "", {}, 5s);
      }
    } catch (const std::exception&) {
      // mcpd is gone: the round is over.
    }
    // Pacing (not synchronisation): each replace starts a node server, on 2 shared cores.
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 100));
  }
}

// A live process whose working directory is in an instance dir, or that carries the MCP_ID of
// an instance.
struct InstanceProcess {
  int pid = 0;
  int pgrp = 0;
  std::string key;  // "ns/name" of the dir it runs in ("" when outside every instance dir)
  std::string mcpId;
};

// Other tests on this host run instances too: a process outside this mcpd's instance dirs
// counts only when it carries the MCP_ID of an instance this test has seen (`seenUids`).
std::vector<InstanceProcess> instanceProcesses(const std::string& dataDir,
                                               const std::set<std::string>& seenUids) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string prefix =
      fs::weakly_canonical(fs::path(dataDir) / "instances", ec).string() + "/";
  std::vector<InstanceProcess> out;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int pid = std::stoi(name);
    InstanceProcess p;
    p.pid = pid;
    std::error_code linkError;
    const std::string cwd = fs::read_symlink(entry.path() / "cwd", linkError).string();
    if (!linkError && cwd.rfind(prefix, 0) == 0) {
      const std::string rest = cwd.substr(prefix.size());
      const auto slash = rest.find('/');
      const auto end = slash == std::string::npos ? slash : rest.find('/', slash + 1);
      p.key = rest.substr(0, end);
    }
    auto env = procEnviron(pid);
    if (auto it = env.find("MCP_ID"); it != env.end()) p.mcpId = it->second;
    if (p.key.empty() && !seenUids.count(p.mcpId)) continue;
    const std::string stat = testing::readFileOr("/proc/" + name + "/stat");
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos || !processRunning(pid)) continue;
    std::istringstream fields(stat.substr(paren + 2));
    std::string state;
    int ppid = 0;
    fields >> state >> ppid >> p.pgrp;
    out.push_back(p);
  }
  return out;
}

// The children `pid` has now (every thread's), from /proc: mcpd's children are the instance
// processes it launched in this run.
std::set<int> childrenOf(int pid) {
  std::set<int> out;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::istringstream in(testing::readFileOr(task.path().string() + "/children"));
    for (int child = 0; in >> child;) out.insert(child);
  }
  return out;
}

// Every instance exists as asked, Ready with its current generation, no delete pending.
bool controllerConverged(Cluster& c, std::set<std::string>& seenUids, std::string& why) {
  json items;
  try {
    items = c.instances();
  } catch (const std::exception& e) {
    why = e.what();
    return false;
  }
  for (const auto& mi : items) seenUids.insert(uidOf(mi));
  for (const auto& mi : items) {
    const std::string name = mi["metadata"].value("name", "");
    const json status = mi.value("status", json::object());
    if (mi["metadata"].contains("deletionTimestamp")) {
      why = name + " is being deleted";
      return false;
    }
    if (!isReady(mi) || pidOf(mi) == 0 ||
        status.value("observedGeneration", 0) != mi["metadata"].value("generation", 0)) {
      why = name + " not converged: " + status.dump();
      return false;
    }
  }
  return true;
}

// One process group per instance, the one its status names, and nothing else.
bool oneProcessGroupEach(Cluster& c, std::set<std::string>& seenUids, std::string& why) {
  std::map<std::string, json> byKey;
  std::map<std::string, std::string> keyOfUid;
  try {
    for (const auto& mi : c.instances()) {
      const std::string key = "default/" + mi["metadata"].value("name", "");
      byKey[key] = mi;
      keyOfUid[uidOf(mi)] = key;
      seenUids.insert(uidOf(mi));
    }
  } catch (const std::exception& e) {
    why = e.what();
    return false;
  }
  std::map<std::string, std::set<int>> groups;  // key → process groups
  std::ostringstream problems;
  for (const InstanceProcess& p : instanceProcesses(c.mcpd().dataDir(), seenUids)) {
    auto owner = keyOfUid.find(p.mcpId);
    if (!p.key.empty() && !byKey.count(p.key)) {
      problems << "pid " << p.pid << " runs in the dir of deleted instance " << p.key << "; ";
      continue;
    }
    if (!p.mcpId.empty() && owner == keyOfUid.end()) {
      problems << "pid " << p.pid << " carries MCP_ID " << p.mcpId << " of a deleted instance"
               << (p.key.empty() ? "" : " (in the dir of " + p.key + ")") << "; ";
      continue;
    }
    if (!p.key.empty() && owner != keyOfUid.end() && owner->second != p.key) {
      problems << "pid " << p.pid << " in the dir of " << p.key << " carries the MCP_ID of "
               << owner->second << "; ";
      continue;
    }
    groups[p.key.empty() ? owner->second : p.key].insert(p.pgrp);
  }
  for (const auto& [key, mi] : byKey) {
    const std::set<int>& g = groups[key];
    if (g != std::set<int>{pidOf(mi)}) {
      problems << key << " (status pid " << pidOf(mi) << ") has process groups {";
      for (int pg : g) problems << " " << pg;
      problems << " }; ";
    }
  }
  why = problems.str();
  return why.empty();
}

TEST(ReconcilerChaos, OneProcessGroupPerInstanceAfterEverySigkillOfMcpd) {
  uint32_t seed = std::random_device{}();
  if (const char* fixed = std::getenv("MINIMCP_CHAOS_SEED")) {
    seed = static_cast<uint32_t>(std::stoul(fixed));
  }
  std::cout << "chaos seed " << seed << " (MINIMCP_CHAOS_SEED=" << seed << " replays it)"
            << std::endl;
  RecordProperty("seed", std::to_string(seed));
  std::mt19937 rng(seed);
  Cluster c;
  std::set<std::string> seenUids;  // of every instance a listing showed

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("seed " + std::to_string(seed) + ", round " + std::to_string(round));
    std::atomic<bool> stop{false};
    std::thread churner(churn, c.mcpd().currentConnection(), static_cast<uint32_t>(rng()),
                        std::cref(stop));
    if (rng() % 2 == 0) {
      // A random instant (not a wait for anything) somewhere in the churn.
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 1500));
    } else {
      // A random instant just after mcpd forks an instance process: inside the window between
      // a spawn and its record in status (a first start, or a replace after the old process
      // was stopped), which a uniformly random instant rarely hits.
      // Polled every 0.5 ms (the window is a few ms wide), for at most 3 s.
      const std::set<int> before = childrenOf(c.mcpd().pid());
      const auto deadline = std::chrono::steady_clock::now() + 3s;
      auto forked = [&] {
        for (int child : childrenOf(c.mcpd().pid())) {
          if (!before.count(child)) return true;
        }
        return false;
      };
      while (!forked() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(500us);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 5000));
    }
    c.mcpd().kill9();
    stop = true;
    churner.join();
    c.mcpd().start();

    std::string why;
    ASSERT_TRUE(pollUntil([&] { return controllerConverged(c, seenUids, why); }, 120s))
        << "the controller did not converge: " << why << "\n"
        << c.mcpd().log().substr(c.mcpd().log().size() > 20000 ? c.mcpd().log().size() - 20000 : 0);
    // Converged in the store; the processes must agree (strays may still be in their grace
    // period right after the restart, hence a wait, bounded).
    ASSERT_TRUE(pollUntil([&] { return oneProcessGroupEach(c, seenUids, why); }, 15s))
        << why << "\n"
        << c.mcpd().log().substr(c.mcpd().log().size() > 20000 ? c.mcpd().log().size() - 20000 : 0);
  }
}

}  // namespace
}  // namespace minimcp::e2e
