// Line diff in unified format (what `diff -u` prints), for `mcpctl diff`.
#pragma once

#include <string>

namespace minimcp::client {

// "" when the texts are equal; otherwise "--- fromName\n+++ toName\n@@ -a,b +c,d @@\n..." with
// `context` lines of context around each change.
std::string unifiedDiff(const std::string& from, const std::string& to, const std::string& fromName,
                        const std::string& toName, int context = 3);

}  // namespace minimcp::client
