#include "api/model/config_constraints.h"

#include <system_error>

#include "api/model/validation.h"

namespace minimcp::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// `p` equal to `root` or below it; both absolute and resolved.
bool within(const fs::path& p, const fs::path& root) {
  const fs::path rel = p.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

std::string placesAllowed(const ConfigConstraint& c) {
  std::string out = "the instance's own directory";
  for (size_t i = 0; i < c.allowedRoots.size(); ++i) {
    out += (i + 1 == c.allowedRoots.size() ? " or " : ", ") + c.allowedRoots[i];
  }
  return out;
}

// Why `value` may not be used, or "" with `out` set to what it resolves to.
std::string checkPath(const ConfigConstraint& c, const std::string& value,
                      const fs::path& instanceDir, const ResolvePath& resolve, fs::path& out) {
  if (value.empty()) return "must name a directory";
  if (value.find('\0') != std::string::npos) return "may not contain a NUL character";
  std::string v = value;
  while (v.size() > 1 && v.back() == '/') v.pop_back();
  const fs::path p = fs::path(v).is_absolute() ? fs::path(v) : instanceDir / v;
  const std::string must = "must resolve, symlinks followed, inside " + placesAllowed(c) +
                           " (the MCPType's spec.configConstraints)";
  auto real = resolve(p);
  if (!real) return must + ", and it does not resolve to a directory";
  std::vector<fs::path> roots;
  if (auto r = resolve(instanceDir)) roots.push_back(*r);
  for (const auto& root : c.allowedRoots) {
    if (auto r = resolve(root)) roots.push_back(*r);
  }
  for (const auto& root : roots) {
    if (within(*real, root)) {
      out = *real;
      return "";
    }
  }
  return must;
}

}  // namespace

std::optional<fs::path> resolveExisting(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(p, ec);
  if (ec || !r.is_absolute()) return std::nullopt;
  return r;
}

std::optional<fs::path> resolveDirectory(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::canonical(p, ec);
  if (ec || !fs::is_directory(r, ec) || ec) return std::nullopt;
  return r;
}

std::vector<ConfigViolation> checkConfigConstraints(const MCPTypeSpec& type, const json& config,
                                                    const fs::path& instanceDir,
                                                    const ResolvePath& resolve, json* resolved) {
  std::vector<ConfigViolation> out;
  if (resolved) *resolved = config;
  if (!config.is_object()) return out;
  for (const ConfigConstraint& c : type.configConstraints) {
    const json* v = member(config, c.field);
    if (!v) continue;
    auto one = [&](const std::string& field, const json& item, json* target) {
      if (!item.is_string()) {
        out.push_back({field, item, "must be a directory path (a string) or a list of them"});
        return;
      }
      fs::path real;
      std::string why = checkPath(c, item.get<std::string>(), instanceDir, resolve, real);
      if (!why.empty()) {
        out.push_back({field, item, why});
      } else if (target) {
        *target = real.string();
      }
    };
    json* target = resolved ? &(*resolved)[c.field] : nullptr;
    if (v->is_array()) {
      for (size_t i = 0; i < v->size(); ++i) {
        one(c.field + "[" + std::to_string(i) + "]", (*v)[i], target ? &(*target)[i] : nullptr);
      }
    } else {
      one(c.field, *v, target);
    }
  }
  return out;
}

}  // namespace minimcp::model
