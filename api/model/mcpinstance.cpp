// MCPInstance: the unit of desired state.
#include "api/model/env_policy.h"
#include "api/model/kind_strategy.h"
#include "api/model/kinds.h"

namespace minimcp::model {

using nlohmann::json;

namespace {

const std::vector<std::string> kRestartPolicies = {"Always", "OnFailure", "Never"};

KindInfo instanceInfo() {
  KindInfo k;
  k.kind = "MCPInstance";
  k.plural = "mcpinstances";
  k.singular = "mcpinstance";
  k.shortNames = {"mi"};
  k.categories = {"all", "minimcp"};
  k.namespaced = true;
  k.hasStatus = true;
  k.columns = {
      {"Type", "string", ".spec.type", 0, "The MCPType this instance runs"},
      {"Phase", "string", ".status.phase", 0, "Lifecycle phase"},
      {"Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status", 0,
       "Whether the server answers health checks"},
      {"URL", "string", ".status.gatewayURL", 0, "Where MCP clients connect"},
      {"Expires", "string", ".status.expiresAt", 0, "Time left until the TTL runs out"},
      {"Age", "date", ".metadata.creationTimestamp", 0, ""},
      {"Node", "string", ".status.node", 1, "Host running the process"},
      {"PID", "integer", ".status.pid", 1, ""},
      {"Port", "integer", ".status.port", 1, ""},
      {"Restarts", "integer", ".status.restartCount", 1, ""},
  };
  return k;
}

class MCPInstanceStrategy : public KindStrategy {
 public:
  MCPInstanceStrategy() : KindStrategy(instanceInfo()) {}

  void prepareForCreate(json& obj, const Clock& clock) const override {
    KindStrategy::prepareForCreate(obj, clock);
    if (!obj.is_object()) return;
    // observedGeneration 0 (generation is 1): until the controller has looked, health checkers
    // that follow kstatus read the instance as InProgress rather than as done.
    obj["status"] = {{"phase", phase::kPending}, {"observedGeneration", 0}};
    updateExpiresAt(obj);
  }

  void prepareForUpdate(json& obj, const json& old, const Clock& clock) const override {
    KindStrategy::prepareForUpdate(obj, old, clock);
    if (!obj.is_object()) return;
    // Expiry counts from creation, so re-applying the same ttl never moves it.
    const json* oldMeta = member(old, "metadata");
    const json* created = oldMeta ? member(*oldMeta, "creationTimestamp") : nullptr;
    if (created && obj["metadata"].is_object()) obj["metadata"]["creationTimestamp"] = *created;
    updateExpiresAt(obj);
  }

  json tableCells(const json& obj, TimePoint now) const override {
    json ready = nullptr;
    if (const json* c = findCondition(obj, "Ready")) ready = c->value("status", json(nullptr));
    json url = cellAt(obj, "status.gatewayURL");
    if (url.is_null()) url = cellAt(obj, "status.url");
    json expires = nullptr;
    json expiresAt = cellAt(obj, "status.expiresAt");
    if (expiresAt.is_string()) {
      if (auto t = parseRfc3339(expiresAt.get<std::string>())) {
        expires = *t <= now ? json("expired")
                            : json(humanDuration(
                                  std::chrono::duration_cast<std::chrono::milliseconds>(*t - now)));
      }
    }
    return json::array({cellAt(obj, "spec.type"), cellAt(obj, "status.phase"), ready, url, expires,
                        ageCell(cellAt(obj, "metadata.creationTimestamp"), now),
                        cellAt(obj, "status.node"), cellAt(obj, "status.pid"),
                        cellAt(obj, "status.port"), cellAt(obj, "status.restartCount")});
  }

 protected:
  bool nameMustBeLabel() const override { return true; }

  void applyDefaults(json& obj) const override {
    json* spec = obj.contains("spec") ? &obj["spec"] : nullptr;
    if (!spec || !spec->is_object()) return;
    setDefault(*spec, "suspend", false);
    setDefault(*spec, "restartPolicy", "Always");
    setDefault(*spec, "tokenGeneration", 0);
  }

  void validateBody(FieldErrors& errs, const json& obj) const override {
    const json* spec = specToValidate(errs, obj);
    if (!spec) return;
    rejectUnknownFields(errs, *spec, "spec",
                        {"type", "ttl", "expiresAt", "keyRef", "config", "env", "suspend",
                         "restartPolicy", "tokenGeneration", "idleTimeout"});
    validateIdleTimeout(errs, *spec, "spec.idleTimeout");
    if (const std::string* type = requiredString(errs, *spec, "type", "spec.type")) {
      validateDns1123Label(errs, *type, "spec.type");
    }
    const std::string* ttl = optionalString(errs, *spec, "ttl", "spec.ttl");
    if (ttl) {
      auto d = parseDuration(*ttl);
      if (!d) {
        errs.invalid("spec.ttl", *ttl,
                     "must be a duration like 2h or 30m, at most " +
                         std::to_string(kMaxDuration.count() / 3600000) +
                         "h (regex used for validation is "
                         "'^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$')");
      } else if (d->count() <= 0) {
        errs.invalid("spec.ttl", *ttl, "must be greater than 0");
      } else if (auto created = parseRfc3339(
                     stringField(obj.value("metadata", json::object()), "creationTimestamp"));
                 created && !addChecked(*created, *d)) {
        errs.invalid("spec.ttl", *ttl,
                     "is too long: the instance would expire after " + formatRfc3339(latestTime()));
      }
    }
    if (const std::string* at = optionalString(errs, *spec, "expiresAt", "spec.expiresAt")) {
      if (!parseRfc3339(*at)) {
        errs.invalid("spec.expiresAt", *at,
                     "must be an RFC 3339 timestamp like 2026-01-02T15:04:05Z, between " +
                         formatRfc3339(earliestTime()) + " and " + formatRfc3339(latestTime()));
      }
      if (ttl) errs.invalid("spec.expiresAt", *at, "may not be set together with spec.ttl");
    }
    if (const json* keyRef = member(*spec, "keyRef");
        keyRef && expectObject(errs, *keyRef, "spec.keyRef")) {
      rejectUnknownFields(errs, *keyRef, "spec.keyRef", {"name"});
      if (const std::string* name = requiredString(errs, *keyRef, "name", "spec.keyRef.name")) {
        validateDns1123Subdomain(errs, *name, "spec.keyRef.name");
      }
    }
    validateConfigObject(errs, *spec, "config", "spec.config");
    validateEnvList(errs, *spec, "env", "spec.env");
    refuseLoaderAndReservedEnv(errs, *spec);
    if (const json* suspend = member(*spec, "suspend")) expectBool(errs, *suspend, "spec.suspend");
    optionalEnum(errs, *spec, "restartPolicy", "spec.restartPolicy", kRestartPolicies);
    optionalIntInRange(errs, *spec, "tokenGeneration", "spec.tokenGeneration", 0, INT64_MAX);
  }

 private:
  // What needs no type; the type's auth.env and allowlist are checked at admission, where the
  // type is at hand (api/server/instance_policy.h), and again at launch.
  static void refuseLoaderAndReservedEnv(FieldErrors& errs, const json& spec) {
    const json* env = member(spec, "env");
    if (!env || !env->is_array()) return;
    for (size_t i = 0; i < env->size(); ++i) {
      const std::string name = stringField((*env)[i], "name");
      if (name.empty()) continue;
      const std::string p = indexPath("spec.env", i) + ".name";
      if (auto loader = loaderEnvReason(name)) {
        errs.invalid(p, name, *loader);
      } else if (auto reserved = reservedEnvReason(name, "")) {
        errs.invalid(p, name, *reserved);
      }
    }
  }

  static void updateExpiresAt(json& obj) {
    json& status = obj["status"];
    if (!status.is_object()) status = json::object();
    if (auto t = instanceExpiry(obj)) {
      status["expiresAt"] = formatRfc3339(*t);
    } else {
      status.erase("expiresAt");
    }
  }
};

}  // namespace

const Strategy& mcpInstanceStrategy() {
  static const MCPInstanceStrategy strategy;
  return strategy;
}

std::optional<TimePoint> instanceExpiry(const json& obj) {
  const json* spec = member(obj, "spec");
  if (!spec) return std::nullopt;
  if (const json* at = member(*spec, "expiresAt"); at && at->is_string()) {
    return parseRfc3339(at->get<std::string>());
  }
  const json* ttl = member(*spec, "ttl");
  const json* meta = member(obj, "metadata");
  const json* created = meta ? member(*meta, "creationTimestamp") : nullptr;
  if (!ttl || !ttl->is_string() || !created || !created->is_string()) return std::nullopt;
  auto d = parseDuration(ttl->get<std::string>());
  auto c = parseRfc3339(created->get<std::string>());
  if (!d || !c) return std::nullopt;
  return addChecked(*c, *d);
}

std::optional<std::chrono::milliseconds> idleTimeoutOf(const json& spec) {
  const json* v = spec.is_object() ? member(spec, "idleTimeout") : nullptr;
  if (!v || !v->is_string()) return std::nullopt;
  if (v->get<std::string>() == "0") return std::chrono::milliseconds(0);
  return parseDuration(v->get<std::string>());
}

MCPInstanceSpec MCPInstanceSpec::fromJson(const json& spec) {
  MCPInstanceSpec s;
  if (!spec.is_object()) return s;
  s.type = stringField(spec, "type");
  if (const json* ttl = member(spec, "ttl"); ttl && ttl->is_string()) {
    s.ttl = parseDuration(ttl->get<std::string>());
  }
  if (const json* at = member(spec, "expiresAt"); at && at->is_string()) {
    s.expiresAt = parseRfc3339(at->get<std::string>());
  }
  if (const json* keyRef = member(spec, "keyRef"); keyRef && keyRef->is_object()) {
    s.keyRefName = stringField(*keyRef, "name");
  }
  if (const json* config = member(spec, "config"); config && config->is_object()) {
    s.config = *config;
  }
  s.env = envFromJson(spec);
  if (const json* v = member(spec, "suspend"); v && v->is_boolean()) s.suspend = v->get<bool>();
  if (const json* v = member(spec, "restartPolicy"); v && v->is_string()) {
    s.restartPolicy = v->get<std::string>();
  }
  if (const json* v = member(spec, "tokenGeneration"); v && v->is_number_integer()) {
    s.tokenGeneration = v->get<int64_t>();
  }
  s.idleTimeout = idleTimeoutOf(spec);
  return s;
}

}  // namespace minimcp::model
