// How instance processes are kept apart, as written to status.isolation:
//   {mode: DynamicUser|SharedUser|None, uid, gid, sandbox: none|bwrap, message}
// DynamicUser: mcpd is root and gives every instance a uid/gid of its own (UidAllocator).
// SharedUser: mcpd is root and runs every instance as one user (--run-as USER, an opt-out).
// None: mcpd is not root; every instance runs as mcpd's own user.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace minimcp::reconciler {

namespace isolation {
inline constexpr const char* kDynamicUser = "DynamicUser";
inline constexpr const char* kSharedUser = "SharedUser";
inline constexpr const char* kNone = "None";
}  // namespace isolation

struct Isolation {
  std::string mode = isolation::kNone;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::string sandbox = "none";
  std::string message;

  nlohmann::json toJson() const {
    nlohmann::json j = {{"mode", mode}, {"sandbox", sandbox}, {"message", message}};
    if (uid) j["uid"] = *uid;
    if (gid) j["gid"] = *gid;
    return j;
  }

  // What an instance running as its own uid/gid gets.
  static Isolation dynamicUser(uint32_t id, const std::string& sandbox) {
    return {isolation::kDynamicUser, id, id, sandbox,
            "runs as its own uid and gid " + std::to_string(id) +
                ": no other instance can read its environment, files or logs, nor signal it"};
  }
  // Every instance as `user` (uid/gid): --run-as.
  static Isolation sharedUser(const std::string& user, uint32_t uid, uint32_t gid,
                              const std::string& sandbox) {
    return {isolation::kSharedUser, uid, gid, sandbox,
            "every instance runs as " + user + " (uid " + std::to_string(uid) +
                ", --run-as): instances can read each other's environment (API keys) and "
                "files, and signal each other"};
  }
  // mcpd is not root: every instance shares mcpd's uid.
  static Isolation none(uint32_t uid, uint32_t gid, const std::string& sandbox) {
    return {isolation::kNone, uid, gid, sandbox,
            "mcpd is not root: every instance runs as mcpd's uid " + std::to_string(uid) +
                " and can read the other instances' environment (API keys) and files, and "
                "signal them"};
  }
};

}  // namespace minimcp::reconciler
