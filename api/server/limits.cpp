#include "api/server/limits.h"

#include "api/model/object_meta.h"
#include "api/model/strategy.h"
#include "api/model/validation.h"
#include "api/model/yaml.h"
#include "api/registry/guaranteed_update.h"
#include "api/server/request_body.h"
#include "api/util/api_error.h"

namespace minimcp::server {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// spec.<field> as a string; "" when absent or not a string.
std::string specString(const json* obj, const char* field) {
  return obj ? model::stringField(model::objectField(*obj, "spec"), field) : "";
}

class InstanceLimitsAdmission : public AdmissionPlugin {
 public:
  InstanceLimitsAdmission(const Limits& limits, store::Store& store, const Clock& clock,
                          std::string plural)
      : limits_(limits), store_(store), clock_(clock), plural_(std::move(plural)) {}

  void mutate(AdmissionRequest& r) const override {
    if (r.old) return;  // never moves the expiry of an existing instance
    json* spec = r.object.contains("spec") ? &r.object["spec"] : nullptr;
    if (!spec || !spec->is_object()) return;  // validation reports it
    if (model::member(*spec, "ttl") || model::member(*spec, "expiresAt")) return;
    auto max = limits_.effective(model::ObjectMeta(r.object).ns()).maxTTL;
    if (max.count() > 0) (*spec)["ttl"] = formatDuration(max);
  }

  void validate(const AdmissionRequest& r) const override {
    const std::string& ns = model::ObjectMeta(r.object).ns();
    const NamespaceLimits l = limits_.effective(ns);
    if (!r.old && l.maxInstances > 0) {
      store::ListOptions opts;
      opts.ns = ns;
      auto count = static_cast<int64_t>(store_.list(plural_, opts).items.size());
      if (count >= l.maxInstances) {
        throw ApiError::Forbidden("exceeded quota: namespace " + quoted(ns) + " allows at most " +
                                  std::to_string(l.maxInstances) + " " + r.info.kind + "s");
      }
    }
    if (l.maxTTL.count() <= 0) return;
    const std::string max = formatDuration(l.maxTTL);
    const std::string ttl = specString(&r.object, "ttl");
    const std::string at = specString(&r.object, "expiresAt");
    bool changed =
        !r.old || ttl != specString(r.old, "ttl") || at != specString(r.old, "expiresAt");
    if (!changed) return;
    if (!ttl.empty()) {
      auto d = parseDuration(ttl);
      if (d && *d > l.maxTTL) {
        throw ApiError::Forbidden("spec.ttl " + ttl + " exceeds the maximum TTL " + max +
                                  " of namespace " + quoted(ns));
      }
    } else if (!at.empty()) {
      auto t = parseRfc3339(at);
      if (t && *t - clock_.now() > l.maxTTL) {
        auto left = std::chrono::duration_cast<std::chrono::seconds>(*t - clock_.now());
        throw ApiError::Forbidden("spec.expiresAt " + at + " is " + formatDuration(left) +
                                  " away, beyond the maximum TTL " + max + " of namespace " +
                                  quoted(ns));
      }
    } else {
      throw ApiError::Forbidden("spec.ttl or spec.expiresAt is required: namespace " + quoted(ns) +
                                " allows a maximum TTL of " + max);
    }
  }

 private:
  const Limits& limits_;
  store::Store& store_;
  const Clock& clock_;
  std::string plural_;
};

// The body of a PUT: every problem as a 422 cause.
json parseLimitsBody(const Request& req, const std::string& ns) {
  json body = parseObjectBody(req);
  model::FieldErrors errs;
  json spec = json::object();
  for (const auto& [key, value] : body.items()) {
    if (key == "apiVersion" || key == "kind" || key == "namespace" || value.is_null()) continue;
    if (key == "maxInstances") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0) {
        errs.invalid("maxInstances", value, "must be a non-negative integer (0: unlimited)");
      } else {
        spec["maxInstances"] = value;
      }
    } else if (key == "maxTTL") {
      std::optional<milliseconds> d;
      if (value.is_string()) d = value == "0" ? milliseconds(0) : parseDuration(value);
      if (!d) {
        errs.invalid("maxTTL", value, "must be a duration like 24h (0: unlimited)");
      } else {
        spec["maxTTL"] = formatDuration(*d);
      }
    } else {
      errs.unknownField(key);
    }
  }
  if (body.contains("namespace") && body["namespace"] != ns) {
    errs.invalid("namespace", body["namespace"], "must be the namespace of the URL");
  }
  if (!errs.empty()) throw ApiError::Invalid("NamespaceLimits", ns, errs.take());
  return spec;
}

}  // namespace

std::string formatDuration(milliseconds d) {
  if (d.count() <= 0) return "0s";
  std::string out;
  auto take = [&](int64_t unitMs, const char* unit) {
    int64_t n = d.count() / unitMs;
    if (n > 0) {
      out += std::to_string(n) + unit;
      d -= milliseconds(n * unitMs);
    }
  };
  take(3600000, "h");
  take(60000, "m");
  take(1000, "s");
  take(1, "ms");
  return out;
}

Limits::Limits(store::Store& store, NamespaceLimits defaults, const Clock& clock)
    : store_(store), defaults_(defaults), clock_(clock) {}

NamespaceLimits Limits::effective(const std::string& ns) const {
  NamespaceLimits l = defaults_;
  auto record = store_.get(kLimitsResource, "", ns);
  if (!record) return l;
  const json spec = record->value("spec", json::object());
  if (spec.contains("maxInstances") && spec["maxInstances"].is_number_integer()) {
    l.maxInstances = spec["maxInstances"].get<int64_t>();
  }
  if (spec.contains("maxTTL") && spec["maxTTL"].is_string()) {
    std::string v = spec["maxTTL"];
    if (auto d = v == "0s" ? milliseconds(0) : parseDuration(v)) l.maxTTL = *d;
  }
  return l;
}

json Limits::present(const std::string& ns) const {
  NamespaceLimits l = effective(ns);
  return {{"apiVersion", model::kApiVersion},
          {"kind", "NamespaceLimits"},
          {"namespace", ns},
          {"maxInstances", l.maxInstances},
          {"maxTTL", formatDuration(l.maxTTL)}};
}

Response Limits::handle(const Request& req, const Identity& who, const Authorizer& authz) const {
  std::string rest = req.path.substr(std::string(kLimitsPath).size());
  if (!rest.empty() && rest[0] == '/') rest.erase(0, 1);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) {
    throw ApiError(404, "NotFound", "the server could not find the requested resource");
  }
  const std::string& ns = rest;
  bool read = req.method == "GET";
  std::string verb = apiVerb(req.method, ns.empty(), false);
  authz.check(who, {verb.empty() ? req.method : verb, kLimitsResource, "", "", ns});
  if (ns.empty()) {
    if (!read) {
      throw ApiError::MethodNotAllowed(
          "the server does not allow this method on the requested resource");
    }
    json items = json::array();
    for (const auto& r : store_.list(kLimitsResource, {}).items) {
      items.push_back(present(r["metadata"].value("name", "")));
    }
    return Response::json(
        200,
        {{"apiVersion", model::kApiVersion},
         {"kind", "NamespaceLimitsList"},
         {"defaults",
          {{"maxInstances", defaults_.maxInstances}, {"maxTTL", formatDuration(defaults_.maxTTL)}}},
         {"items", std::move(items)}});
  }
  if (!model::isDns1123Label(ns)) {
    throw ApiError::BadRequest("invalid namespace " + quoted(ns) + ": must be a DNS-1123 label");
  }
  if (read) return Response::json(200, present(ns));
  refuseDryRun(req, "limits");
  if (req.method == "PUT") {
    json record = {{"apiVersion", model::kApiVersion},
                   {"kind", "NamespaceLimits"},
                   {"metadata", {{"name", ns}}},
                   {"spec", parseLimitsBody(req, ns)}};
    registry::UpdateOptions upsert;
    upsert.ignoreNotFound = true;
    registry::guaranteedUpdate(
        store_, kLimitsResource, "", ns,
        [&](const json*) { return registry::Change::write(record); }, upsert);
    return Response::json(200, present(ns));
  }
  if (req.method == "DELETE") {
    // Back to mcpd's defaults; deleting what is not there is not an error (idempotent).
    registry::UpdateOptions absentIsFine;
    absentIsFine.ignoreNotFound = true;
    registry::guaranteedUpdate(
        store_, kLimitsResource, "", ns, [](const json*) { return registry::Change::remove(); },
        absentIsFine);
    return Response::json(200, present(ns));
  }
  throw ApiError::MethodNotAllowed(
      "the server does not allow this method on the requested resource");
}

std::shared_ptr<const AdmissionPlugin> Limits::instanceAdmission() const {
  return std::make_shared<InstanceLimitsAdmission>(*this, store_, clock_, "mcpinstances");
}

}  // namespace minimcp::server
