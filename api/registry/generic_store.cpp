#include "api/registry/generic_store.h"

#include "api/model/object_meta.h"
#include "api/registry/guaranteed_update.h"
#include "api/registry/managed_fields.h"
#include "api/util/random.h"

namespace minimcp::registry {

using nlohmann::json;
using store::StoreError;

namespace {

using model::ObjectMeta;

const char* kStaleMessage =
    "the object has been modified; please apply your changes to the latest version and try again";

// A decimal resourceVersion; ok=false when it is not one.
int64_t parseRv(const std::string& s, bool& ok) {
  ok = true;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9' || v > (INT64_MAX - 9) / 10) {
      ok = false;
      return 0;
    }
    v = v * 10 + (c - '0');
  }
  return v;
}

// The body's namespace must be the URL's (filled in when absent); cluster-scoped kinds have none.
void checkNamespace(json& obj, const model::KindInfo& info, const std::string& urlNs) {
  auto& md = obj["metadata"];
  if (!info.namespaced) {
    md.erase("namespace");
    return;
  }
  std::string ns = md.value("namespace", "");
  if (ns.empty()) {
    md["namespace"] = urlNs;
  } else if (ns != urlNs) {
    throw ApiError::BadRequest(
        "the namespace of the provided object does not match the namespace sent on the request");
  }
}

void checkName(json& obj, const std::string& urlName) {
  auto& md = obj["metadata"];
  std::string name = md.value("name", "");
  if (name.empty()) {
    md["name"] = urlName;
  } else if (name != urlName) {
    throw ApiError::BadRequest("the name of the object (" + name +
                               ") does not match the name on the URL (" + urlName + ")");
  }
}

std::string randomSuffix() {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";  // as kube: no vowels
  std::string hex = randomHex(5);
  std::string out;
  for (size_t i = 0; i < 5; ++i) {
    out.push_back(kAlphabet[std::stoi(hex.substr(2 * i, 2), nullptr, 16) % (sizeof kAlphabet - 1)]);
  }
  return out;
}

void throwIfInvalid(const std::vector<Cause>& causes, const WriteRequest& r, const json& obj) {
  if (causes.empty()) return;
  throw ApiError::Invalid(r.strategy.info().kind, ObjectMeta(obj).name(), causes, r.group);
}

}  // namespace

ApiError toApiError(const StoreError& e, const std::string& resource, const std::string& name,
                    const std::string& group) {
  switch (e.code()) {
    case StoreError::Code::NotFound:
      return ApiError::NotFound(resource, name, group);
    case StoreError::Code::AlreadyExists:
      return ApiError::AlreadyExists(resource, name, group);
    case StoreError::Code::Conflict:
      return ApiError::Conflict(resource, name, kStaleMessage, group);
    case StoreError::Code::Gone:
      return ApiError::Gone(e.what());
    case StoreError::Code::BadSelector:
      return ApiError::BadRequest(e.what());
    case StoreError::Code::Unavailable:
      return ApiError::ServiceUnavailable(std::string("storage unavailable: ") + e.what());
  }
  return ApiError::Internal(e.what());
}

void decodeObject(json& obj, const WriteRequest& r) {
  if (!obj.is_object()) throw ApiError::BadRequest("the object must be a JSON object");
  const auto& info = r.strategy.info();
  std::string av = obj.value("apiVersion", "");
  std::string kind = obj.value("kind", "");
  if (!av.empty() && av != info.apiVersion() && !(r.core && av == "v1")) {
    throw ApiError::BadRequest("the API version in the data (" + av +
                               ") does not match the expected API version (" +
                               (r.core ? std::string("v1") : info.apiVersion()) + ")");
  }
  if (!kind.empty() && kind != info.kind) {
    throw ApiError::BadRequest("the kind in the data (" + kind +
                               ") does not match the expected kind (" + info.kind + ")");
  }
  obj["apiVersion"] = info.apiVersion();
  obj["kind"] = info.kind;
  if (!obj.contains("metadata") || obj["metadata"].is_null()) obj["metadata"] = json::object();
  if (!obj["metadata"].is_object()) {
    throw ApiError::BadRequest("metadata must be an object");
  }
}

GenericStore::GenericStore(store::Store& store, const Clock& clock)
    : store_(store), clock_(clock) {}

FieldWriter GenericStore::fieldWriter(const WriteRequest& r) const {
  return registry::fieldWriter(r.strategy.info(), r.manager, r.subresource, clock_.now());
}

void GenericStore::addAdmission(const std::string& plural,
                                std::shared_ptr<const AdmissionPlugin> plugin) {
  admission_[plural].push_back(std::move(plugin));
}

void GenericStore::admitMutate(const WriteRequest& r, json& obj, const json* old) const {
  auto it = admission_.find(r.strategy.info().plural);
  if (it == admission_.end()) return;
  AdmissionRequest a{old ? "update" : "create", r.strategy.info(), obj, old, r.dryRun};
  for (const auto& p : it->second) p->mutate(a);
}

void GenericStore::admitValidate(const WriteRequest& r, json& obj, const json* old) const {
  auto it = admission_.find(r.strategy.info().plural);
  if (it == admission_.end()) return;
  AdmissionRequest a{old ? "update" : "create", r.strategy.info(), obj, old, r.dryRun};
  for (const auto& p : it->second) p->validate(a);
}

json GenericStore::prepareCreate(const WriteRequest& r, json obj, bool applying,
                                 std::unique_lock<std::mutex>& admitted) const {
  const auto& info = r.strategy.info();
  decodeObject(obj, r);
  checkNamespace(obj, info, r.ns);
  auto& md = obj["metadata"];
  if (md.value("name", "").empty() && md.contains("generateName") &&
      md["generateName"].is_string() && !md["generateName"].get<std::string>().empty()) {
    md["name"] = md["generateName"].get<std::string>() + randomSuffix();
  }
  // Server-owned metadata is never taken from a client.
  for (const char* f : {"uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "generation"}) {
    md.erase(f);
  }
  // Metadata first: strategies derive fields from it (MCPInstance: expiresAt from
  // creationTimestamp + ttl).
  model::initObjectMeta(obj, info, clock_);
  admitMutate(r, obj, nullptr);
  r.strategy.prepareForCreate(obj, clock_);
  // An apply brings its own managedFields; any other create is an Update by its manager.
  if (!applying) {
    obj = recordWrite(nullptr, std::move(obj), info, r.manager, clock_.now(), r.subresource);
  }
  throwIfInvalid(r.strategy.validate(obj), r, obj);
  if (admission_.count(info.plural)) {
    if (!admitted.owns_lock()) admitted = std::unique_lock(createMu_);
    admitValidate(r, obj, nullptr);
  }
  return obj;
}

WriteResult GenericStore::create(const WriteRequest& r, json obj) const {
  const auto& plural = r.strategy.info().plural;
  std::unique_lock<std::mutex> admitted;
  obj = prepareCreate(r, std::move(obj), false, admitted);
  const std::string name = ObjectMeta(obj).name();
  try {
    if (r.dryRun) {
      if (store_.get(plural, r.ns, name)) throw ApiError::AlreadyExists(plural, name, r.group);
      return {std::move(obj), true};
    }
    return {store_.create(plural, std::move(obj)), true};
  } catch (const StoreError& e) {
    throw toApiError(e, plural, name, r.group);
  }
}

WriteResult GenericStore::update(const WriteRequest& r, const NewObject& newObject) const {
  return write(
      r, [&](const json* visible) { return newObject(*visible); }, false);
}

WriteResult GenericStore::apply(const WriteRequest& r, const json& applied,
                                OnConflict onConflict) const {
  return write(
      r,
      [&](const json* visible) {
        return applyConfiguration(visible, applied, ownershipSchema(r.strategy.info()),
                                  fieldWriter(r), onConflict);
      },
      true);
}

WriteResult GenericStore::write(const WriteRequest& r, const MakeObject& make,
                                bool applying) const {
  const auto& info = r.strategy.info();
  const bool statusOnly = r.subresource == "status";
  std::unique_lock<std::mutex> admitted;  // held from admission to the write of a create
  auto tryUpdate = [&](const json* current) -> Change {
    if (!current) {
      // Only an apply to the main resource creates.
      json obj = make(nullptr);
      decodeObject(obj, r);
      checkName(obj, r.name);
      return Change::write(prepareCreate(r, std::move(obj), true, admitted));
    }
    const json& old = *current;
    const int64_t oldRv = store::parseResourceVersion(old);
    json visible = old;
    r.strategy.sanitizeForRead(visible);
    // Made from what a reader sees, never the stored form: a JSON patch "copy"/"move"/"test"
    // must not reach a field that reads hide (an APIKey's sealed value). The strategy's
    // prepareForUpdate carries such fields over from the stored object.
    json obj = make(&visible);
    decodeObject(obj, r);
    checkNamespace(obj, info, r.ns);
    checkName(obj, r.name);
    auto& md = obj["metadata"];
    // A resourceVersion in the result is the client's precondition. One that the patch did not
    // touch is the rv of the object it was applied to, so it matches until a writer slips in;
    // then the retry re-applies the patch to the fresh object and it matches again.
    bool rvOk = true;
    int64_t clientRv = parseRv(md.value("resourceVersion", ""), rvOk);
    if (!rvOk) throw ApiError::BadRequest("invalid metadata.resourceVersion");
    if (clientRv != 0 && clientRv != oldRv) {
      throw ApiError::Conflict(info.plural, r.name, kStaleMessage, r.group);
    }
    const std::string& uid = ObjectMeta(obj).uid();
    if (!uid.empty() && uid != ObjectMeta(old).uid()) {
      throw ApiError::Conflict(info.plural, r.name,
                               "Precondition failed: UID in object meta: " + uid +
                                   ", does not match the stored UID " + ObjectMeta(old).uid(),
                               r.group);
    }
    // Fields only the server sets are carried over from the stored object.
    const auto& oldMd = old["metadata"];
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation", "resourceVersion"}) {
      if (oldMd.contains(f)) {
        md[f] = oldMd[f];
      } else {
        md.erase(f);
      }
    }
    if (statusOnly) {
      r.strategy.prepareForStatusUpdate(obj, old);
    } else {
      admitMutate(r, obj, &old);
      r.strategy.prepareForUpdate(obj, old, clock_);
      if (obj.value("spec", json()) != old.value("spec", json())) {
        obj["metadata"]["generation"] = oldMd.value("generation", int64_t{0}) + 1;
      }
    }
    auto causes = r.strategy.validate(obj);
    auto more = r.strategy.validateUpdate(obj, old);
    causes.insert(causes.end(), more.begin(), more.end());
    throwIfInvalid(causes, r, obj);
    if (!statusOnly) admitValidate(r, obj, &old);
    if (ObjectMeta(old).deleting() && !ObjectMeta(obj).hasFinalizers()) {
      // The last finalizer is gone: the deletion that was waiting for it completes now (a dry
      // run shows the object without it).
      return r.dryRun ? Change::write(std::move(obj)) : Change::remove();
    }
    if (obj == old) return Change::keep();  // no-op: no write, same resourceVersion
    return Change::write(std::move(obj));
  };
  try {
    UpdateOptions options;
    options.ignoreNotFound = applying && r.subresource.empty();
    options.dryRun = r.dryRun;
    // An apply computed its managedFields; any other write is an Update by its manager, which
    // guaranteedUpdate records.
    options.ownershipRecorded = applying;
    options.fieldManager = r.manager;
    options.subresource = r.subresource;
    options.clock = &clock_;
    auto result = guaranteedUpdate(store_, info.plural, r.ns, r.name, tryUpdate, options);
    return {std::move(*result.object), result.outcome == UpdateResult::Outcome::Created};
  } catch (const StoreError& e) {
    throw toApiError(e, info.plural, r.name, r.group);
  }
}

WriteResult GenericStore::remove(const WriteRequest& r, const DeleteOptions& options) const {
  const auto& plural = r.strategy.info().plural;
  auto tryUpdate = [&](const json* current) -> Change {
    const json& old = *current;
    int64_t oldRv = store::parseResourceVersion(old);
    if (!options.uid.empty() && options.uid != ObjectMeta(old).uid()) {
      throw ApiError::Conflict(plural, r.name,
                               "Precondition failed: UID in precondition: " + options.uid +
                                   ", UID in object meta: " + ObjectMeta(old).uid(),
                               r.group);
    }
    if (options.resourceVersion != 0 && options.resourceVersion != oldRv) {
      throw ApiError::Conflict(
          plural, r.name,
          "Precondition failed: ResourceVersion in precondition: " + options.resourceVersionText +
              ", ResourceVersion in meta: " + std::to_string(oldRv),
          r.group);
    }
    if (!ObjectMeta(old).hasFinalizers()) return Change::remove();
    // Graceful: mark it; whoever owns the finalizer removes it when done.
    if (ObjectMeta(old).deleting()) return Change::keep();
    json obj = old;
    obj["metadata"]["deletionTimestamp"] = formatRfc3339(clock_.now());
    obj["metadata"]["deletionGracePeriodSeconds"] = 0;
    return Change::write(std::move(obj));
  };
  try {
    UpdateOptions updateOptions;
    updateOptions.dryRun = r.dryRun;
    updateOptions.fieldManager = r.manager;
    updateOptions.subresource = r.subresource;
    updateOptions.clock = &clock_;
    auto result = guaranteedUpdate(store_, plural, r.ns, r.name, tryUpdate, updateOptions);
    return {std::move(*result.object), false};
  } catch (const StoreError& e) {
    throw toApiError(e, plural, r.name, r.group);
  }
}

}  // namespace minimcp::registry
