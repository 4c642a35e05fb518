// Pure pieces of mcpctl's logs/token/create/limits/apply --prune commands: request bodies,
// targets and tables built without I/O, so unit tests reach them without a server.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace minimcp::client {

// A secret read from a file or stdin loses exactly one trailing "\n" (or "\r\n"): the one that
// `echo` and editors add. Anything else, inner newlines included, is kept.
std::string trimOneTrailingNewline(std::string value);

// "<objectPath>/log[?tailLines=N][&follow=true]" for an MCPInstance's object path.
std::string logTarget(const std::string& objectPath, std::optional<int64_t> tailLines, bool follow);

// The APIKey that `create apikey` POSTs; rotationPeriod is left out when empty.
nlohmann::json apiKeyManifest(const std::string& ns, const std::string& name,
                              const std::string& type, const std::string& value,
                              const std::string& rotationPeriod);

// POST /tokens body: {"namespace": ns} or {"admin": true}, plus "name" when given. Throws
// std::invalid_argument unless exactly one of `ns` (non-empty) and `admin` is chosen.
nlohmann::json tokenRequest(const std::string& ns, bool admin, const std::string& name);

// A meta.k8s.io Table (columns Name, Namespace, Created as a date) for a TokenList, so that
// tableRows prints it like every other table; admin tokens show "<admin>" as their namespace.
nlohmann::json tokenTable(const nlohmann::json& tokenList);

// The PUT body of `limits set`: the current limits with the given fields replaced, so setting
// one limit keeps the other. Only maxInstances and maxTTL are carried over.
nlohmann::json mergeLimits(const nlohmann::json& current, std::optional<int64_t> maxInstances,
                           const std::optional<std::string>& maxTTL);

// A Table (Namespace, Max-Instances, Max-TTL) for `limits get`; unset limits show "<none>".
nlohmann::json limitsTable(const std::string& ns, const nlohmann::json& limits);

// apply --prune: names of the list's items that an earlier apply created (they carry the
// last-applied annotation), that this apply did not name (`applied`), and that are not already
// being deleted.
std::vector<std::string> prunableNames(const nlohmann::json& list,
                                       const std::set<std::string>& applied);

}  // namespace minimcp::client
