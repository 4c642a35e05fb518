#include "reconciler/runtime/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include "api/util/random.h"

namespace minimcp::runtime {
namespace {

struct Mount {
  std::string root;  // the hierarchy path mounted (usually "/")
  std::string mountPoint;
  std::string fsType;  // cgroup | cgroup2
  std::string superOptions;
};

std::vector<Mount> cgroupMounts() {
  std::vector<Mount> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash));
    std::istringstream tail(line.substr(dash + 3));
    Mount m;
    std::string id, parent, dev;
    head >> id >> parent >> dev >> m.root >> m.mountPoint;
    std::string source;
    tail >> m.fsType >> source >> m.superOptions;
    if (m.fsType == "cgroup" || m.fsType == "cgroup2") out.push_back(m);
  }
  return out;
}

bool hasOption(const std::string& options, const std::string& option) {
  std::istringstream in(options);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == option) return true;
  }
  return false;
}

// Our own cgroup path in the hierarchy that has `controller` ("" = the v2 line "0::").
std::optional<std::string> ownCgroupPath(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':');
    size_t b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controller.empty() ? (line.substr(0, a) == "0" && controllers.empty())
                           : hasOption(controllers, controller)) {
      return path;
    }
  }
  return std::nullopt;
}

// Directory of our own cgroup in the mounted hierarchy: mountpoint + (path relative to the
// mount's root); nullopt when our cgroup is outside what is mounted.
std::optional<std::string> ownDir(const Mount& m, const std::string& path) {
  std::string rel = path;
  if (m.root != "/") {
    if (rel.compare(0, m.root.size(), m.root) != 0) return std::nullopt;
    rel = rel.substr(m.root.size());
  }
  if (rel == "/") rel.clear();
  return m.mountPoint + rel;
}

bool writeFile(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = ::write(fd, value.data(), value.size());
  ::close(fd);
  return n == static_cast<ssize_t>(value.size());
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool isDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// mkdir that accepts an existing dir.
bool ensureDir(const std::string& path) {
  return ::mkdir(path.c_str(), 0755) == 0 || (errno == EEXIST && isDir(path));
}

// "alice/inbox" → "alice.inbox-1a2b3c4d": namespaces hold no '.', so the name stays readable
// and unique; the random suffix keeps a new process out of a dir still being cleaned up.
std::string leafName(const std::string& key) {
  std::string out;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    out += c == '/' ? '.' : (ok ? c : '_');
  }
  if (out.size() > 200) out.resize(200);
  return out + "-" + randomHex(4);
}

// Value "N" of a "name N" line in a flat-keyed cgroup file.
std::optional<uint64_t> keyedValue(const std::string& content, const std::string& name) {
  std::istringstream in(content);
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v) {
    if (k == name) return v;
  }
  return std::nullopt;
}

void sweepDir(const std::string& parent, int minAgeSeconds) {
  if (parent.empty()) return;
  DIR* dir = ::opendir(parent.c_str());
  if (!dir) return;
  time_t now = ::time(nullptr);
  while (dirent* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..") continue;
    std::string path = parent + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (now - st.st_mtime < minAgeSeconds) continue;
    ::rmdir(path.c_str());  // fails (EBUSY) while processes live in it: exactly what we want
  }
  ::closedir(dir);
}

}  // namespace

CgroupManager CgroupManager::detect(const std::string& parentName) {
  CgroupManager m;
  auto mounts = cgroupMounts();

  // v2: needs the memory controller delegated to our cgroup's children.
  for (const auto& mount : mounts) {
    if (mount.fsType != "cgroup2") continue;
    auto path = ownCgroupPath("");
    if (!path) break;
    auto base = ownDir(mount, *path);
    if (!base) break;
    std::string controllers = readFile(*base + "/cgroup.controllers");
    if (controllers.find("memory") == std::string::npos) break;
    std::string subtree = readFile(*base + "/cgroup.subtree_control");
    if (subtree.find("memory") == std::string::npos &&
        !writeFile(*base + "/cgroup.subtree_control", "+memory")) {
      break;  // our cgroup holds processes (no internal processes rule) or is not ours
    }
    for (const char* c : {"cpu", "pids"}) {  // welcome, not required
      if (controllers.find(c) != std::string::npos && subtree.find(c) == std::string::npos) {
        writeFile(*base + "/cgroup.subtree_control", std::string("+") + c);
      }
    }
    std::string parent = *base + "/" + parentName;
    if (!ensureDir(parent)) break;
    for (const char* c : {"memory", "cpu", "pids"}) {
      std::string have = readFile(parent + "/cgroup.controllers");
      if (have.find(c) != std::string::npos)
        writeFile(parent + "/cgroup.subtree_control", std::string("+") + c);
    }
    if (readFile(parent + "/cgroup.subtree_control").find("memory") == std::string::npos) break;
    m.mode_ = "cgroup-v2";
    m.v2Parent_ = parent;
    return m;
  }

  // v1: one hierarchy per controller; memory is required, cpu and pids are a bonus.
  auto v1Parent = [&](const std::string& controller) -> std::string {
    for (const auto& mount : mounts) {
      if (mount.fsType != "cgroup" || !hasOption(mount.superOptions, controller)) continue;
      auto path = ownCgroupPath(controller);
      if (!path) return "";
      auto base = ownDir(mount, *path);
      if (!base) return "";
      std::string parent = *base + "/" + parentName;
      return ensureDir(parent) ? parent : "";
    }
    return "";
  };
  m.memoryParent_ = v1Parent("memory");
  if (!m.memoryParent_.empty() && exists(m.memoryParent_ + "/memory.limit_in_bytes")) {
    m.mode_ = "cgroup-v1";
    m.cpuParent_ = v1Parent("cpu");
    if (!m.cpuParent_.empty() && !exists(m.cpuParent_ + "/cpu.cfs_quota_us")) m.cpuParent_.clear();
    m.pidsParent_ = v1Parent("pids");
    if (!m.pidsParent_.empty() && !exists(m.pidsParent_ + "/pids.max")) m.pidsParent_.clear();
  } else {
    m.memoryParent_.clear();
  }
  return m;
}

std::optional<Cgroup> CgroupManager::create(const std::string& key,
                                            const ResourceLimits& limits) const {
  if (!available()) return std::nullopt;
  Cgroup cg;
  std::string leaf = leafName(key);
  auto fail = [&]() -> std::optional<Cgroup> {
    removeCgroup(cg);
    return std::nullopt;
  };
  if (mode_ == "cgroup-v2") {
    cg.v2 = true;
    std::string dir = v2Parent_ + "/" + leaf;
    if (::mkdir(dir.c_str(), 0755) != 0) return std::nullopt;
    cg.dirs.push_back(dir);
    cg.memoryDir = dir;
    if (limits.memoryBytes) {
      if (!writeFile(dir + "/memory.max", std::to_string(*limits.memoryBytes))) return fail();
      writeFile(dir + "/memory.swap.max", "0");
      cg.memoryLimited = true;
    }
    if (limits.cpuMillis && exists(dir + "/cpu.max")) {
      cg.cpuLimited =
          writeFile(dir + "/cpu.max", std::to_string(*limits.cpuMillis * 100) + " 100000");
    }
    if (limits.maxProcesses && exists(dir + "/pids.max")) {
      cg.pidsLimited = writeFile(dir + "/pids.max", std::to_string(*limits.maxProcesses));
    }
    return cg;
  }

  std::string mem = memoryParent_ + "/" + leaf;
  if (::mkdir(mem.c_str(), 0755) != 0) return std::nullopt;
  cg.dirs.push_back(mem);
  cg.memoryDir = mem;
  if (limits.memoryBytes) {
    if (!writeFile(mem + "/memory.limit_in_bytes", std::to_string(*limits.memoryBytes))) {
      return fail();
    }
    // With swap accounting on, memory+swap gets the same cap, so the limit cannot be dodged by
    // swapping. Absent without swap accounting: nothing to do.
    if (exists(mem + "/memory.memsw.limit_in_bytes")) {
      writeFile(mem + "/memory.memsw.limit_in_bytes", std::to_string(*limits.memoryBytes));
    }
    cg.memoryLimited = true;
  }
  if (!cpuParent_.empty()) {
    std::string cpu = cpuParent_ + "/" + leaf;
    if (::mkdir(cpu.c_str(), 0755) == 0) {
      cg.dirs.push_back(cpu);
      if (limits.cpuMillis) {
        cg.cpuLimited =
            writeFile(cpu + "/cpu.cfs_period_us", "100000") &&
            writeFile(cpu + "/cpu.cfs_quota_us",
                      std::to_string(std::max<uint64_t>(*limits.cpuMillis * 100, 1000)));
      }
    }
  }
  if (!pidsParent_.empty()) {
    std::string pids = pidsParent_ + "/" + leaf;
    if (::mkdir(pids.c_str(), 0755) == 0) {
      cg.dirs.push_back(pids);
      if (limits.maxProcesses) {
        cg.pidsLimited = writeFile(pids + "/pids.max", std::to_string(*limits.maxProcesses));
      }
    }
  }
  return cg;
}

std::optional<Cgroup> CgroupManager::forPid(pid_t pid) const {
  if (!available()) return std::nullopt;
  // The leaf name is the same in every v1 hierarchy, so find it once in the memory one.
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  std::string leaf;
  while (std::getline(in, line)) {
    size_t a = line.find(':');
    size_t b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    bool wanted = mode_ == "cgroup-v2" ? (line.substr(0, a) == "0" && controllers.empty())
                                       : hasOption(controllers, "memory");
    if (!wanted) continue;
    std::string path = line.substr(b + 1);
    size_t slash = path.rfind('/');
    leaf = slash == std::string::npos ? path : path.substr(slash + 1);
  }
  if (leaf.empty()) return std::nullopt;
  Cgroup cg;
  cg.v2 = mode_ == "cgroup-v2";
  const std::string& mainParent = cg.v2 ? v2Parent_ : memoryParent_;
  std::string dir = mainParent + "/" + leaf;
  // Verify the process really is in our dir (its path could merely end in the same name).
  std::string procs = readFile(dir + "/cgroup.procs");
  std::istringstream members(procs);
  bool found = false;
  pid_t p = 0;
  while (members >> p) found = found || p == pid;
  if (!found) return std::nullopt;
  cg.dirs.push_back(dir);
  cg.memoryDir = dir;
  cg.memoryLimited = true;  // it was created by a runtime; whatever limit it has stays in force
  for (const std::string* parent : {&cpuParent_, &pidsParent_}) {
    if (!parent->empty() && isDir(*parent + "/" + leaf)) cg.dirs.push_back(*parent + "/" + leaf);
  }
  return cg;
}

void CgroupManager::sweepStale(int minAgeSeconds) const {
  for (const std::string* parent : {&v2Parent_, &memoryParent_, &cpuParent_, &pidsParent_}) {
    sweepDir(*parent, minAgeSeconds);
  }
}

std::vector<pid_t> cgroupMembers(const Cgroup& cg) {
  std::vector<pid_t> out;
  if (cg.memoryDir.empty()) return out;
  std::istringstream in(readFile(cg.memoryDir + "/cgroup.procs"));
  pid_t p = 0;
  while (in >> p) out.push_back(p);
  return out;
}

bool cgroupOomKilled(const Cgroup& cg) {
  if (cg.memoryDir.empty()) return false;
  std::string file = cg.memoryDir + (cg.v2 ? "/memory.events" : "/memory.oom_control");
  auto kills = keyedValue(readFile(file), "oom_kill");
  return kills && *kills > 0;
}

bool removeCgroup(const Cgroup& cg) {
  bool all = true;
  for (const auto& dir : cg.dirs) {
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) all = false;
  }
  return all;
}

}  // namespace minimcp::runtime
