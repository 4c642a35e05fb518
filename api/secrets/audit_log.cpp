#include "api/secrets/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

namespace minimcp::secrets {

namespace {

std::string errnoText() { return std::strerror(errno); }

}  // namespace

std::string formatAuditRecord(const AuditRecord& r) {
  nlohmann::ordered_json line = {
      {"time", formatRfc3339(r.time)},
      {"actor", r.actor},
      {"action", r.action},
      {"apikey", r.apiKey},
      {"version", r.version},
      {"instance", r.instance},
  };
  if (!r.sink.empty()) line["sink"] = r.sink;
  line["result"] = r.result;
  // Replace invalid UTF-8 rather than throw: a record is never lost to an odd name.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

FileAuditLog::FileAuditLog(std::filesystem::path path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    throw AuditLogError("cannot open the audit log " + path_.string() + ": " + errnoText());
  }
  if (::fchmod(fd_, 0600) != 0) {
    std::string why = errnoText();
    ::close(fd_);
    throw AuditLogError("cannot restrict the audit log " + path_.string() + " to 0600: " + why);
  }
}

FileAuditLog::~FileAuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

void FileAuditLog::append(const AuditRecord& record) {
  std::string line = formatAuditRecord(record) + "\n";
  std::lock_guard lock(mu_);
  // One write keeps the line whole among other appenders; a short write is an error rather
  // than a retry, which could interleave with them.
  ssize_t n;
  do {
    n = ::write(fd_, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(line.size())) {
    throw AuditLogError("cannot write the audit log " + path_.string() + ": " +
                        (n < 0 ? errnoText() : std::string("short write")));
  }
  if (::fdatasync(fd_) != 0) {
    throw AuditLogError("cannot sync the audit log " + path_.string() + ": " + errnoText());
  }
}

}  // namespace minimcp::secrets
