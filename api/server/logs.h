// An instance's output over the API (mcpctl logs): GET .../mcpinstances/{name}/log with
// tailLines=N, limitBytes=N and follow=true, served from the size-rotated files the runtime
// writes (output.log.N ... output.log.1, output.log; oldest first).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/server/http_types.h"

namespace minimcp::server {

// The log files of one instance, oldest first; only those that exist.
using LogFilesFn = std::function<std::vector<std::string>()>;

// DATA_DIR/logs/{ns}/{name}: the runtime's layout (reconciler/launch_env.h), mcpd's own.
std::vector<std::string> defaultLogFiles(const std::string& dataDir, const std::string& ns,
                                         const std::string& name);

// The concatenated files, cut to the last `tailLines` lines (a final line without '\n'
// counts) and then to the last `limitBytes` bytes.
std::string readLogTail(const std::vector<std::string>& files, std::optional<int64_t> tailLines,
                        std::optional<int64_t> limitBytes);

// Answers a log request: text/plain, or with follow=true a chunked stream that sends what is
// appended (polled every `pollInterval`; copy-and-truncate and rename rotation are followed)
// until the client goes away. Throws ApiError 400 for malformed parameters.
Response serveLog(const Request& req, LogFilesFn files,
                  std::chrono::milliseconds pollInterval = std::chrono::milliseconds(200));

}  // namespace minimcp::server
