// Kubernetes resource quantities, the subset MCPType.spec.resources uses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace minimcp::model {

// "512Mi", "1Gi", "500M", "1.5G", "1048576" → bytes (fractions round up). nullopt when malformed,
// negative or too large.
std::optional<int64_t> parseMemoryQuantity(const std::string& s);
// "500m" → 500, "1" → 1000, "0.5" → 500, "2" → 2000 millicores (sub-milli fractions round up).
std::optional<int64_t> parseCpuQuantity(const std::string& s);

}  // namespace minimcp::model
