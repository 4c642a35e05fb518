// Removing a directory an instance wrote into. The instance may have left symlinks (or, when a
// process of its uid survived, may still be moving things around): the walk never follows a
// symlink, it descends only through directories opened with O_NOFOLLOW relative to their
// parent's descriptor, so root removes nothing outside the tree.
#pragma once

#include <filesystem>
#include <string>

namespace minimcp::reconciler {

// Removes `dir` and everything below it. True when it is gone (or never existed); otherwise
// `error` says what stayed.
bool removeTree(const std::filesystem::path& dir, std::string& error);

}  // namespace minimcp::reconciler
