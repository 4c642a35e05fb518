// MCPType: the catalog entry saying what to run and how.
#include <set>

#include "api/model/env_policy.h"
#include "api/model/kind_strategy.h"
#include "api/model/kinds.h"
#include "api/model/quantity.h"

namespace minimcp::model {

using nlohmann::json;

namespace {

const std::vector<std::string> kTransports = {"streamable-http", "stdio"};
const std::vector<std::string> kAuthTypes = {"none", "api-key", "oauth2", "bearer-token"};
const std::vector<std::string> kConstraintKinds = {"directory"};

KindInfo typeInfo() {
  KindInfo k;
  k.kind = "MCPType";
  k.plural = "mcptypes";
  k.singular = "mcptype";
  k.shortNames = {"mt"};
  k.categories = {"minimcp"};
  k.namespaced = false;
  k.hasStatus = true;
  k.columns = {
      {"Display", "string", ".spec.displayName", 0, "Human-readable name"},
      {"Transport", "string", ".spec.server.transport", 0, "streamable-http or stdio"},
      {"Auth", "string", ".spec.auth.type", 0, "How the server authenticates upstream"},
      {"Age", "date", ".metadata.creationTimestamp", 0, ""},
      {"Capabilities", "string", ".spec.capabilities", 1, "Tools the server offers"},
      {"Command", "string", ".spec.server.command", 1, "Command and arguments"},
  };
  return k;
}

// True when a path-like argument escapes the mcp-servers directory ("../x", "--f=../x").
bool hasParentSegment(const std::string& s) {
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find_first_of("/=", start);
    if (end == std::string::npos) end = s.size();
    if (s.compare(start, end - start, "..") == 0 && end - start == 2) return true;
    start = end + 1;
  }
  return false;
}

// Quantities may be written as YAML numbers (cpu: 1) as well as strings.
std::optional<std::string> quantityText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) {
    std::string s = json(v).dump();
    return s;
  }
  return std::nullopt;
}

void validateQuantity(FieldErrors& errs, const json& resources, const std::string& key,
                      std::optional<int64_t> (*parse)(const std::string&),
                      const std::string& example) {
  const json* v = member(resources, key);
  if (!v) return;
  const std::string path = "spec.resources." + key;
  auto text = quantityText(*v);
  auto parsed = text ? parse(*text) : std::nullopt;
  if (!parsed) {
    errs.invalid(path, *v, "must be a quantity like " + example);
  } else if (*parsed <= 0) {
    errs.invalid(path, *v, "must be greater than 0");
  }
}

class MCPTypeStrategy : public KindStrategy {
 public:
  MCPTypeStrategy() : KindStrategy(typeInfo()) {}

  json tableCells(const json& obj, TimePoint now) const override {
    const json spec = cellAt(obj, "spec");
    std::string caps;
    for (const auto& c : stringListField(spec, "capabilities"))
      caps += (caps.empty() ? "" : ",") + c;
    json server = cellAt(spec, "server");
    std::string command = stringField(server, "command");
    for (const auto& a : stringListField(server, "args")) command += " " + a;
    return json::array({cellAt(spec, "displayName"), cellAt(spec, "server.transport"),
                        cellAt(spec, "auth.type"),
                        ageCell(cellAt(obj, "metadata.creationTimestamp"), now),
                        caps.empty() ? json(nullptr) : json(caps),
                        command.empty() ? json(nullptr) : json(command)});
  }

 protected:
  void applyDefaults(json& obj) const override {
    if (!obj.contains("spec") || !obj["spec"].is_object()) return;
    json& spec = obj["spec"];
    if (spec.contains("server") && spec["server"].is_object()) {
      setDefault(spec["server"], "transport", "streamable-http");
    }
    setDefault(spec, "auth", json::object());
    setDefault(spec["auth"], "type", "none");
    setDefault(spec, "healthCheck", json::object());
    json& hc = spec["healthCheck"];
    setDefault(hc, "path", "/health");
    setDefault(hc, "periodSeconds", 30);
    setDefault(hc, "timeoutSeconds", 5);
    setDefault(hc, "failureThreshold", 3);
    setDefault(hc, "startupTimeoutSeconds", 30);
    setDefault(spec, "stopGracePeriodSeconds", 10);
    if (spec.contains("configConstraints") && spec["configConstraints"].is_array()) {
      for (json& c : spec["configConstraints"]) setDefault(c, "kind", "directory");
    }
  }

  void validateBody(FieldErrors& errs, const json& obj) const override {
    const json* spec = specToValidate(errs, obj);
    if (!spec) return;
    rejectUnknownFields(errs, *spec, "spec",
                        {"displayName", "description", "server", "auth", "capabilities", "config",
                         "env", "instanceEnv", "configConstraints", "resources", "healthCheck",
                         "stopGracePeriodSeconds", "warmPool", "idleTimeout"});
    validateIdleTimeout(errs, *spec, "spec.idleTimeout");
    if (const std::string* d = optionalString(errs, *spec, "displayName", "spec.displayName");
        d && d->size() > 256) {
      errs.tooLong("spec.displayName", 256);
    }
    if (const std::string* d = optionalString(errs, *spec, "description", "spec.description");
        d && d->size() > 4096) {
      errs.tooLong("spec.description", 4096);
    }
    validateServer(errs, *spec);
    validateAuth(errs, *spec);
    optionalStringList(errs, *spec, "capabilities", "spec.capabilities");
    validateConfigObject(errs, *spec, "config", "spec.config");
    validateEnvList(errs, *spec, "env", "spec.env");
    const json* auth = member(*spec, "auth");
    const std::string authEnv = auth ? stringField(*auth, "env") : "";
    refuseReservedEnv(errs, *spec, authEnv);
    validateInstanceEnv(errs, *spec, authEnv);
    validateConfigConstraints(errs, *spec);
    if (const json* res = member(*spec, "resources");
        res && expectObject(errs, *res, "spec.resources")) {
      rejectUnknownFields(errs, *res, "spec.resources", {"cpu", "memory"});
      validateQuantity(errs, *res, "cpu", parseCpuQuantity, "\"500m\" or \"1\"");
      validateQuantity(errs, *res, "memory", parseMemoryQuantity, "\"512Mi\" or \"1Gi\"");
    }
    if (const json* hc = member(*spec, "healthCheck");
        hc && expectObject(errs, *hc, "spec.healthCheck")) {
      rejectUnknownFields(
          errs, *hc, "spec.healthCheck",
          {"path", "periodSeconds", "timeoutSeconds", "failureThreshold", "startupTimeoutSeconds"});
      if (const std::string* path = optionalString(errs, *hc, "path", "spec.healthCheck.path");
          path && (path->empty() || (*path)[0] != '/')) {
        errs.invalid("spec.healthCheck.path", *path, "must start with '/'");
      }
      for (const char* f :
           {"periodSeconds", "timeoutSeconds", "failureThreshold", "startupTimeoutSeconds"}) {
        optionalIntInRange(errs, *hc, f, std::string("spec.healthCheck.") + f, 1, 86400);
      }
    }
    optionalIntInRange(errs, *spec, "stopGracePeriodSeconds", "spec.stopGracePeriodSeconds", 0,
                       86400);
    if (const json* pool = member(*spec, "warmPool");
        pool && expectObject(errs, *pool, "spec.warmPool")) {
      rejectUnknownFields(errs, *pool, "spec.warmPool", {"size"});
      optionalIntInRange(errs, *pool, "size", "spec.warmPool.size", 0, kMaxWarmPoolSize);
    }
  }

 private:
  static void validateServer(FieldErrors& errs, const json& spec) {
    const json* server = member(spec, "server");
    if (!server) {
      errs.required("spec.server");
      return;
    }
    if (!expectObject(errs, *server, "spec.server")) return;
    rejectUnknownFields(errs, *server, "spec.server", {"command", "args", "transport", "image"});
    if (const std::string* cmd = requiredString(errs, *server, "command", "spec.server.command")) {
      if (hasParentSegment(*cmd)) {
        errs.invalid("spec.server.command", *cmd, "may not contain '..'");
      }
    }
    if (const json* args = member(*server, "args");
        args && expectArray(errs, *args, "spec.server.args")) {
      for (size_t i = 0; i < args->size(); ++i) {
        std::string p = indexPath("spec.server.args", i);
        if (!expectString(errs, (*args)[i], p)) continue;
        const std::string& a = (*args)[i].get_ref<const std::string&>();
        if (!a.empty() && a[0] == '/') {
          errs.invalid(p, a, "must be relative: paths resolve inside the mcp-servers directory");
        } else if (hasParentSegment(a)) {
          errs.invalid(p, a, "may not contain '..': paths stay inside the mcp-servers directory");
        }
      }
    }
    optionalEnum(errs, *server, "transport", "spec.server.transport", kTransports);
    optionalString(errs, *server, "image", "spec.server.image");
  }

  // The admin's own env may set anything but what mcpd sets itself.
  static void refuseReservedEnv(FieldErrors& errs, const json& spec, const std::string& authEnv) {
    const json* env = member(spec, "env");
    if (!env || !env->is_array()) return;
    for (size_t i = 0; i < env->size(); ++i) {
      const std::string name = stringField((*env)[i], "name");
      if (auto why = reservedEnvReason(name, authEnv)) {
        errs.invalid(indexPath("spec.env", i) + ".name", name, *why);
      }
    }
  }

  // The names the type's instances may set: never a loader or reserved one.
  static void validateInstanceEnv(FieldErrors& errs, const json& spec, const std::string& authEnv) {
    const json* names = member(spec, "instanceEnv");
    if (!names || !expectArray(errs, *names, "spec.instanceEnv")) return;
    std::set<std::string> seen;
    for (size_t i = 0; i < names->size(); ++i) {
      const std::string p = indexPath("spec.instanceEnv", i);
      if (!expectString(errs, (*names)[i], p)) continue;
      const std::string& name = (*names)[i].get_ref<const std::string&>();
      if (!isCIdentifier(name)) {
        errs.invalid(p, name,
                     "must be an environment variable name (regex used for validation is "
                     "'[A-Za-z_][A-Za-z0-9_]*')");
      } else if (auto loader = loaderEnvReason(name)) {
        errs.invalid(p, name, *loader);
      } else if (auto reserved = reservedEnvReason(name, authEnv)) {
        errs.invalid(p, name, *reserved);
      } else if (!seen.insert(name).second) {
        errs.invalid(p, name, "duplicate name");
      }
    }
  }

  static void validateConfigConstraints(FieldErrors& errs, const json& spec) {
    const json* list = member(spec, "configConstraints");
    if (!list || !expectArray(errs, *list, "spec.configConstraints")) return;
    std::set<std::string> fields;
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string p = indexPath("spec.configConstraints", i);
      const json& item = (*list)[i];
      if (!expectObject(errs, item, p)) continue;
      rejectUnknownFields(errs, item, p, {"field", "kind", "allowedRoots"});
      if (const std::string* f = requiredString(errs, item, "field", p + ".field");
          f && !fields.insert(*f).second) {
        errs.invalid(p + ".field", *f, "duplicate field");
      }
      optionalEnum(errs, item, "kind", p + ".kind", kConstraintKinds);
      const json* roots = member(item, "allowedRoots");
      if (!roots || !expectArray(errs, *roots, p + ".allowedRoots")) continue;
      for (size_t r = 0; r < roots->size(); ++r) {
        const std::string rp = indexPath(p + ".allowedRoots", r);
        if (!expectString(errs, (*roots)[r], rp)) continue;
        const std::string& root = (*roots)[r].get_ref<const std::string&>();
        if (root.empty() || root[0] != '/') {
          errs.invalid(rp, root, "must be an absolute path");
        } else if (hasParentSegment(root)) {
          errs.invalid(rp, root, "may not contain '..'");
        }
      }
    }
  }

  static void validateAuth(FieldErrors& errs, const json& spec) {
    const json* auth = member(spec, "auth");
    if (!auth || !expectObject(errs, *auth, "spec.auth")) return;
    rejectUnknownFields(errs, *auth, "spec.auth", {"type", "env", "scopes"});
    optionalEnum(errs, *auth, "type", "spec.auth.type", kAuthTypes);
    std::string type = stringField(*auth, "type", "none");
    const std::string* env = optionalString(errs, *auth, "env", "spec.auth.env");
    if (env && !env->empty()) {
      if (!isCIdentifier(*env)) {
        errs.invalid("spec.auth.env", *env,
                     "must be an environment variable name (regex used for validation is "
                     "'[A-Za-z_][A-Za-z0-9_]*')");
      }
    } else if (type != "none" && (env || !member(*auth, "env"))) {
      errs.required("spec.auth.env",
                    "names the variable that receives the key when auth.type is \"" + type + "\"");
    }
    optionalStringList(errs, *auth, "scopes", "spec.auth.scopes");
  }
};

}  // namespace

const Strategy& mcpTypeStrategy() {
  static const MCPTypeStrategy strategy;
  return strategy;
}

MCPTypeSpec MCPTypeSpec::fromJson(const json& spec) {
  MCPTypeSpec s;
  if (!spec.is_object()) return s;
  s.displayName = stringField(spec, "displayName");
  s.description = stringField(spec, "description");
  if (const json* server = member(spec, "server")) {
    s.server.command = stringField(*server, "command");
    s.server.args = stringListField(*server, "args");
    s.server.transport = stringField(*server, "transport", s.server.transport);
    s.server.image = stringField(*server, "image");
  }
  if (const json* auth = member(spec, "auth")) {
    s.auth.type = stringField(*auth, "type", s.auth.type);
    s.auth.env = stringField(*auth, "env");
    s.auth.scopes = stringListField(*auth, "scopes");
  }
  s.capabilities = stringListField(spec, "capabilities");
  if (const json* config = member(spec, "config"); config && config->is_object()) {
    s.config = *config;
  }
  s.env = envFromJson(spec);
  s.instanceEnv = stringListField(spec, "instanceEnv");
  if (const json* list = member(spec, "configConstraints"); list && list->is_array()) {
    for (const json& item : *list) {
      ConfigConstraint c;
      c.field = stringField(item, "field");
      c.kind = stringField(item, "kind", c.kind);
      c.allowedRoots = stringListField(item, "allowedRoots");
      if (!c.field.empty()) s.configConstraints.push_back(std::move(c));
    }
  }
  if (const json* res = member(spec, "resources")) {
    if (const json* cpu = member(*res, "cpu")) {
      if (auto t = quantityText(*cpu)) s.resources.cpuMillis = parseCpuQuantity(*t);
    }
    if (const json* mem = member(*res, "memory")) {
      if (auto t = quantityText(*mem)) s.resources.memoryBytes = parseMemoryQuantity(*t);
    }
  }
  auto intField = [](const json& obj, const char* key, int& out) {
    const json* v = member(obj, key);
    if (v && v->is_number_integer()) out = static_cast<int>(v->get<int64_t>());
  };
  if (const json* hc = member(spec, "healthCheck")) {
    s.healthCheck.path = stringField(*hc, "path", s.healthCheck.path);
    intField(*hc, "periodSeconds", s.healthCheck.periodSeconds);
    intField(*hc, "timeoutSeconds", s.healthCheck.timeoutSeconds);
    intField(*hc, "failureThreshold", s.healthCheck.failureThreshold);
    intField(*hc, "startupTimeoutSeconds", s.healthCheck.startupTimeoutSeconds);
  }
  intField(spec, "stopGracePeriodSeconds", s.stopGracePeriodSeconds);
  if (const json* pool = member(spec, "warmPool")) intField(*pool, "size", s.warmPoolSize);
  s.idleTimeout = idleTimeoutOf(spec);
  return s;
}

}  // namespace minimcp::model
