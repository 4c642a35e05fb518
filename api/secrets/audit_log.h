// The audit log of APIKey decryptions ("every decryption is written to an audit
// log"): who decrypted which key version for which instance, when, and whether it worked.
// Records never hold the value. The file is append-only JSON lines (DATA_DIR/audit.log, 0600):
//   {"time":"2026-01-01T00:00:00Z","actor":"mcpd/host-a","action":"decrypt",
//    "apikey":"alice/gmail-key","version":2,"instance":"alice/inbox","result":"ok"}
// (a NotificationSink's signing key: "sink":"alice/hooks" after "instance", which is "").
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>

#include "api/util/clock.h"

namespace minimcp::secrets {

// The record could not be made durable. Callers must not hand out a value they could not audit.
class AuditLogError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AuditRecord {
  TimePoint time;
  std::string actor;     // "mcpd/<node>", "mcpd rotate-master-key"
  std::string action;    // "decrypt" (for a launch) | "reseal" (master key rotation)
  std::string apiKey;    // "namespace/name"
  int64_t version = 0;   // the APIKey's status.version
  std::string instance;  // "namespace/name" of the MCPInstance; "" when not for one
  std::string sink;      // "namespace/name" of the NotificationSink that signs with the key
  std::string result;    // "ok" | "DecryptFailed: <why>"
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // Durable when it returns. Throws AuditLogError. Safe to call from several threads.
  virtual void append(const AuditRecord& record) = 0;
};

// One JSON line per record, written with a single write() to an O_APPEND descriptor and
// fdatasync'ed, so concurrent writers (several threads, or mcpd and `mcpd rotate-master-key`)
// never interleave and nothing acknowledged is lost in a crash.
class FileAuditLog : public AuditLog {
 public:
  // Opens or creates the file with mode 0600 (an existing file is narrowed to 0600). Throws
  // AuditLogError naming the file.
  explicit FileAuditLog(std::filesystem::path path);
  ~FileAuditLog() override;
  FileAuditLog(const FileAuditLog&) = delete;
  FileAuditLog& operator=(const FileAuditLog&) = delete;

  void append(const AuditRecord& record) override;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::mutex mu_;
};

// The JSON line for a record (without the newline).
std::string formatAuditRecord(const AuditRecord& record);

}  // namespace minimcp::secrets
