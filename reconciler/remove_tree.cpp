#include "reconciler/remove_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace minimcp::reconciler {

namespace {

// Empties the directory open as `fd` (taken over). Depth is bounded by the tree itself; each
// level holds one descriptor.
bool emptyDir(int fd, const std::string& where, std::string& error) {
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    error = "cannot list " + where + ": " + std::strerror(errno);
    return false;
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  bool ok = true;
  for (const auto& name : names) {
    if (::unlinkat(::dirfd(d), name.c_str(), 0) == 0 || errno == ENOENT) continue;
    if (errno != EISDIR && errno != EPERM) {
      error = "cannot remove " + where + "/" + name + ": " + std::strerror(errno);
      ok = false;
      continue;
    }
    const int sub =
        ::openat(::dirfd(d), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) {
      error = "cannot open " + where + "/" + name + ": " + std::strerror(errno);
      ok = false;
      continue;
    }
    if (!emptyDir(sub, where + "/" + name, error) ||
        (::unlinkat(::dirfd(d), name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)) {
      if (error.empty())
        error = "cannot remove " + where + "/" + name + ": " + std::strerror(errno);
      ok = false;
    }
  }
  ::closedir(d);
  return ok;
}

}  // namespace

bool removeTree(const std::filesystem::path& dir, std::string& error) {
  error.clear();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return true;
    if (errno == ENOTDIR || errno == ELOOP) {  // not a directory: only the entry itself goes
      if (::unlink(dir.c_str()) == 0) return true;
    }
    error = "cannot open " + dir.string() + ": " + std::strerror(errno);
    return false;
  }
  if (!emptyDir(fd, dir.string(), error)) return false;
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    error = "cannot remove " + dir.string() + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace minimcp::reconciler
