// ObjectMeta, conditions and the kind registry: the parts of strategy.h every kind shares.
#include <algorithm>

#include "api/model/kind_strategy.h"
#include "api/model/kinds.h"
#include "api/model/strategy.h"
#include "api/model/validation.h"
#include "api/util/ascii.h"
#include "api/util/random.h"

namespace minimcp::model {

using nlohmann::json;

namespace {

constexpr size_t kMaxAnnotationsBytes = 256 * 1024;

void validateStringMap(FieldErrors& errs, const json& meta, const std::string& key,
                       bool labelValues) {
  const std::string path = "metadata." + key;
  const json* m = member(meta, key);
  if (!m || !expectObject(errs, *m, path)) return;
  size_t total = 0;
  for (auto it = m->begin(); it != m->end(); ++it) {
    const std::string p = path + "[" + it.key() + "]";
    validateQualifiedName(errs, it.key(), path);
    total += it.key().size();
    if (!expectString(errs, it.value(), p)) continue;
    const std::string& v = it.value().get_ref<const std::string&>();
    total += v.size();
    if (labelValues && v.size() > 63) {
      errs.tooLong(p, 63);
    } else if (labelValues && !isLabelValue(v)) {
      errs.invalid(p, v,
                   "a valid label must be an empty string or consist of alphanumeric characters, "
                   "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                   "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                   "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
    }
  }
  if (!labelValues && total > kMaxAnnotationsBytes) errs.tooLong(path, kMaxAnnotationsBytes);
}

void validateTimestamp(FieldErrors& errs, const json& obj, const std::string& key,
                       const std::string& path) {
  if (const std::string* s = optionalString(errs, obj, key, path)) {
    if (!parseRfc3339(*s)) errs.invalid(path, *s, "must be an RFC 3339 timestamp");
  }
}

}  // namespace

std::vector<Cause> validateObjectMeta(const json& obj, const KindInfo& info) {
  FieldErrors errs;
  if (const std::string* apiVersion = optionalString(errs, obj, "apiVersion", "apiVersion")) {
    if (*apiVersion != info.apiVersion())
      errs.notSupported("apiVersion", *apiVersion, {info.apiVersion()});
  }
  if (const std::string* kind = optionalString(errs, obj, "kind", "kind")) {
    if (*kind != info.kind) errs.notSupported("kind", *kind, {info.kind});
  }
  const json* meta = member(obj, "metadata");
  if (!meta) {
    errs.required("metadata.name");
    if (info.namespaced) errs.required("metadata.namespace");
    return errs.take();
  }
  if (!expectObject(errs, *meta, "metadata")) return errs.take();
  rejectUnknownFields(
      errs, *meta, "metadata",
      {"name", "generateName", "namespace", "uid", "resourceVersion", "generation",
       "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
       "annotations", "finalizers", "ownerReferences", "managedFields", "selfLink"});

  if (const std::string* name = requiredString(errs, *meta, "name", "metadata.name")) {
    validateDns1123Subdomain(errs, *name, "metadata.name");
  }
  const json* ns = member(*meta, "namespace");
  bool nsEmpty = !ns || (ns->is_string() && ns->get_ref<const std::string&>().empty());
  if (info.namespaced) {
    if (nsEmpty) {
      errs.required("metadata.namespace");
    } else if (expectString(errs, *ns, "metadata.namespace")) {
      validateDns1123Label(errs, ns->get<std::string>(), "metadata.namespace");
    }
  } else if (!nsEmpty) {
    errs.invalid("metadata.namespace", *ns, "not allowed on cluster-scoped resources");
  }
  optionalString(errs, *meta, "generateName", "metadata.generateName");
  optionalString(errs, *meta, "uid", "metadata.uid");
  optionalString(errs, *meta, "resourceVersion", "metadata.resourceVersion");
  optionalIntInRange(errs, *meta, "generation", "metadata.generation", 0, INT64_MAX);
  validateTimestamp(errs, *meta, "creationTimestamp", "metadata.creationTimestamp");
  validateTimestamp(errs, *meta, "deletionTimestamp", "metadata.deletionTimestamp");
  validateStringMap(errs, *meta, "labels", true);
  validateStringMap(errs, *meta, "annotations", false);
  if (const json* fin = member(*meta, "finalizers");
      fin && expectArray(errs, *fin, "metadata.finalizers")) {
    for (size_t i = 0; i < fin->size(); ++i) {
      std::string p = indexPath("metadata.finalizers", i);
      if (expectString(errs, (*fin)[i], p))
        validateQualifiedName(errs, (*fin)[i].get<std::string>(), p);
    }
  }
  if (const json* owners = member(*meta, "ownerReferences")) {
    expectArray(errs, *owners, "metadata.ownerReferences");
  }
  return errs.take();
}

void initObjectMeta(json& obj, const KindInfo& info, const Clock& clock) {
  if (!obj.is_object()) return;
  obj["apiVersion"] = info.apiVersion();
  obj["kind"] = info.kind;
  json& meta = obj["metadata"];
  if (!meta.is_object()) meta = json::object();
  meta["uid"] = newUuid();
  meta["creationTimestamp"] = formatRfc3339(clock.now());
  meta["generation"] = 1;
  meta.erase("resourceVersion");
  meta.erase("deletionTimestamp");
  meta.erase("deletionGracePeriodSeconds");
  meta.erase("selfLink");
  if (!info.namespaced) meta.erase("namespace");
}

void setCondition(json& obj, const std::string& type, const std::string& status,
                  const std::string& reason, const std::string& message, TimePoint now) {
  if (!obj.is_object()) return;
  json& st = obj["status"];
  if (!st.is_object()) st = json::object();
  json& conditions = st["conditions"];
  if (!conditions.is_array()) conditions = json::array();
  json cond = {{"type", type},
               {"status", status},
               {"reason", reason},
               {"message", message},
               {"lastTransitionTime", formatRfc3339(now)}};
  if (json gen = cellAt(obj, "metadata.generation"); !gen.is_null()) {
    cond["observedGeneration"] = gen;
  }
  for (json& c : conditions) {
    if (c.is_object() && stringField(c, "type") == type) {
      // The transition time records when the status last changed, not when it was last written.
      if (stringField(c, "status") == status && c.contains("lastTransitionTime")) {
        cond["lastTransitionTime"] = c["lastTransitionTime"];
      }
      c = std::move(cond);
      return;
    }
  }
  conditions.push_back(std::move(cond));
}

const json* findCondition(const json& obj, const std::string& type) {
  const json* st = member(obj, "status");
  const json* conditions = st ? member(*st, "conditions") : nullptr;
  if (!conditions || !conditions->is_array()) return nullptr;
  for (const json& c : *conditions) {
    if (c.is_object() && stringField(c, "type") == type) return &c;
  }
  return nullptr;
}

const Registry& Registry::instance() {
  // Adding a kind: its own .cpp with a strategy accessor (kinds.h), and one entry here.
  static const Registry registry({&mcpTypeStrategy(), &mcpInstanceStrategy(), &apiKeyStrategy(),
                                  &eventStrategy(), &nodeStrategy(), &notificationSinkStrategy()});
  return registry;
}

const Strategy* Registry::find(const std::string& anyName) const {
  const std::string lower = asciiLower(anyName);
  for (const Strategy* s : all_) {
    const KindInfo& k = s->info();
    if (lower == k.plural || lower == k.singular || equalsIgnoringAsciiCase(lower, k.kind))
      return s;
    for (const auto& sn : k.shortNames) {
      if (lower == sn) return s;
    }
  }
  return nullptr;
}

const Strategy* Registry::byPlural(const std::string& plural) const {
  for (const Strategy* s : all_) {
    if (s->info().plural == plural) return s;
  }
  return nullptr;
}

}  // namespace minimcp::model
