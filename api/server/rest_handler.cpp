#include "api/server/rest_handler.h"

#include "api/model/schemas.h"
#include "api/model/yaml.h"
#include "api/registry/managed_fields.h"
#include "api/server/authorizer.h"
#include "api/server/field_validation.h"
#include "api/server/patch.h"
#include "api/server/request_body.h"
#include "api/server/table.h"
#include "api/server/watch.h"
#include "api/util/api_error.h"
#include "api/util/random.h"

namespace minimcp::server {

using nlohmann::json;
using store::StoreError;

struct RestHandler::Ctx {
  const Request& req;
  const ResourcePath& path;
  const model::Strategy& strategy;
  const model::KindInfo& info;
  const Identity& who;
  std::string group;  // "" on the core path
  std::string ns;     // "" for cluster-scoped kinds and cross-namespace lists
  bool dryRun = false;
  bool table = false;
  FieldValidation fieldValidation = FieldValidation::Warn;
  mutable std::vector<std::string> warnings = {};  // answered as Warning headers
  std::string manager = {};                        // the field manager of a write
};

namespace {

constexpr int kMaxRetries = 16;

const std::string& metaString(const json& obj, const char* field) {
  static const std::string empty;
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return empty;
  auto it = md->find(field);
  return it != md->end() && it->is_string() ? it->get_ref<const std::string&>() : empty;
}

bool hasDeletionTimestamp(const json& obj) { return !metaString(obj, "deletionTimestamp").empty(); }

bool hasFinalizers(const json& obj) {
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return false;
  auto f = md->find("finalizers");
  return f != md->end() && f->is_array() && !f->empty();
}

ApiError fromStoreError(const StoreError& e, const std::string& resource, const std::string& name,
                        const std::string& group) {
  switch (e.code()) {
    case StoreError::Code::NotFound:
      return ApiError::NotFound(resource, name, group);
    case StoreError::Code::AlreadyExists:
      return ApiError::AlreadyExists(resource, name, group);
    case StoreError::Code::Conflict:
      return ApiError::Conflict(resource, name,
                                "the object has been modified; please apply your changes to the "
                                "latest version and try again",
                                group);
    case StoreError::Code::Gone:
      return ApiError::Gone(e.what());
    case StoreError::Code::BadSelector:
      return ApiError::BadRequest(e.what());
    case StoreError::Code::Unavailable:
      return ApiError::ServiceUnavailable(std::string("storage unavailable: ") + e.what());
  }
  return ApiError::Internal(e.what());
}

ApiError staleConflict(const std::string& resource, const std::string& name,
                       const std::string& group) {
  return ApiError::Conflict(resource, name,
                            "the object has been modified; please apply your changes to the "
                            "latest version and try again",
                            group);
}

int64_t parseRv(const std::string& s, bool* ok = nullptr) {
  if (ok) *ok = true;
  if (s.empty()) return 0;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9' || v > (INT64_MAX - 9) / 10) {
      if (ok) *ok = false;
      return 0;
    }
    v = v * 10 + (c - '0');
  }
  return v;
}

// Like kube-apiserver for custom resources: selecting on arbitrary fields would let a reader
// probe values that reads never show (an APIKey's sealed value), so only these are served.
void checkFieldSelector(const std::string& selector, const model::KindInfo& info) {
  size_t pos = 0;
  while (pos < selector.size()) {
    size_t comma = selector.find(',', pos);
    if (comma == std::string::npos) comma = selector.size();
    std::string term = selector.substr(pos, comma - pos);
    pos = comma + 1;
    size_t op = term.find_first_of("!=");
    if (op == std::string::npos) continue;  // malformed: the store's parser says so
    std::string key = term.substr(0, op);
    key.erase(0, key.find_first_not_of(' '));
    key.erase(key.find_last_not_of(' ') + 1);
    bool ok = key == "metadata.name" || key == "metadata.namespace";
    if (info.kind == "Event") {
      ok = ok || key == "type" || key == "reason" || key.rfind("involvedObject.", 0) == 0;
    }
    if (!ok) throw ApiError::BadRequest("field label not supported: " + key);
  }
}

// As kube-apiserver: "All" is the only dry-run value there is, and any other is refused, never
// taken for a real write ("?dryRun=true" must not create the object).
bool dryRunFrom(const std::vector<std::string>& values, const std::string& field) {
  for (const auto& v : values) {
    if (v != "All") {
      throw ApiError::BadRequest("invalid " + field + " value \"" + v +
                                 "\": the only supported value is \"All\"");
    }
  }
  return !values.empty();
}

// DeleteOptions.dryRun: a list of strings (a single string is taken as a list of one).
bool dryRunFrom(const json& v) {
  if (v.is_null()) return false;
  std::vector<std::string> values;
  for (const auto& e : v.is_array() ? v : json::array({v})) {
    if (!e.is_string()) {
      throw ApiError::BadRequest("invalid DeleteOptions.dryRun: must be a list of strings");
    }
    values.push_back(e.get<std::string>());
  }
  return dryRunFrom(values, "DeleteOptions.dryRun");
}

// The schema whose list types (x-kubernetes-list-type) field ownership follows.
const json& ownershipSchema(const model::KindInfo& info) {
  static const json none;
  const model::KindSchema* k = model::findKindSchema(info.plural);
  return k ? k->objectSchema : none;
}

}  // namespace

registry::FieldWriter RestHandler::fieldWriter(const Ctx& c) const {
  return {c.manager, c.info.apiVersion(), c.path.subresource, formatRfc3339(clock_.now()),
          c.info.hasStatus};
}

json RestHandler::recordUpdate(const Ctx& c, const json* old, json obj) const {
  return registry::recordUpdate(old, std::move(obj), ownershipSchema(c.info), fieldWriter(c));
}

RestHandler::RestHandler(store::Store& store, const model::Registry& registry, const Clock& clock,
                         RestOptions options)
    : store_(store), registry_(registry), authorizer_(registry), clock_(clock), options_(options) {
  if (options_.cacheResponses) cache_ = std::make_unique<ResponseCache>(store_);
}

void RestHandler::addSubresource(const std::string& plural, const std::string& subresource,
                                 SubresourceHandler handler) {
  subresources_[{plural, subresource}] = std::move(handler);
}

void RestHandler::addAdmission(const std::string& plural,
                               std::shared_ptr<const AdmissionPlugin> plugin) {
  admission_[plural].push_back(std::move(plugin));
}

Response RestHandler::subresource(const Ctx& c, const SubresourceHandler& handler) const {
  auto obj = store_.get(c.info.plural, c.ns, c.path.name);
  if (!obj) throw ApiError::NotFound(c.info.plural, c.path.name, c.group);
  return handler(c.req, *obj, c.who);
}

void RestHandler::admitMutate(const Ctx& c, json& obj, const json* old) const {
  auto it = admission_.find(c.info.plural);
  if (it == admission_.end()) return;
  AdmissionRequest r{old ? "update" : "create", c.info, obj, old, c.who, c.dryRun};
  for (const auto& p : it->second) p->mutate(r);
}

void RestHandler::admitValidate(const Ctx& c, json& obj, const json* old) const {
  auto it = admission_.find(c.info.plural);
  if (it == admission_.end()) return;
  AdmissionRequest r{old ? "update" : "create", c.info, obj, old, c.who, c.dryRun};
  for (const auto& p : it->second) p->validate(r);
}

Response RestHandler::handle(const Request& req, const ResourcePath& path, const Identity& who,
                             std::string* verb) const {
  std::string group = path.core ? "" : model::kGroup;
  try {
    const bool collection = path.name.empty();
    const std::string w = req.param("watch");
    const std::string apiVerb = server::apiVerb(req.method, collection, w == "true" || w == "1");
    if (verb && !apiVerb.empty()) *verb = apiVerb;
    Attributes attrs{apiVerb, path.plural, path.subresource, path.ns, path.name};
    if (path.core && path.plural == kNamespacesResource && !path.hasNamespace && !collection &&
        path.subresource.empty() && req.method == "GET") {
      // Namespaces are implicit (a tenant exists once named). kubectl asks for one after a
      // 404 to tell "no such object" from "no such namespace".
      authorizer_.check(who, attrs, group);
      return Response::json(200, {{"apiVersion", "v1"},
                                  {"kind", "Namespace"},
                                  {"metadata", {{"name", path.name}}},
                                  {"spec", json::object()},
                                  {"status", {{"phase", "Active"}}}});
    }
    const model::Strategy* s = nullptr;
    if (!path.core || path.plural == "events") s = registry_.byPlural(path.plural);
    if (!s) {
      throw ApiError(404, "NotFound", "the server could not find the requested resource");
    }
    const auto& info = s->info();
    attrs.resource = info.plural;
    const SubresourceHandler* extra = nullptr;
    if (auto it = subresources_.find({info.plural, path.subresource}); it != subresources_.end()) {
      extra = &it->second;
    }
    bool badSub =
        !path.subresource.empty() && !extra && (path.subresource != "status" || !info.hasStatus);
    bool badScope =
        info.namespaced ? (!path.hasNamespace && !path.name.empty()) : path.hasNamespace;
    if (badSub || badScope) {
      throw ApiError(404, "NotFound", "the server could not find the requested resource");
    }
    // Subresources take no DELETE; views (log, token) nothing but GET.
    bool served = !apiVerb.empty() && (path.subresource.empty() || apiVerb != "delete") &&
                  (!extra || collection || apiVerb == "get");
    if (!served) {
      throw ApiError::MethodNotAllowed(
          "the server does not allow this method on the requested resource");
    }
    if (!info.namespaced) attrs.ns.clear();
    authorizer_.check(who, attrs, group);
    Ctx c{req, path, *s, info, who, group, info.namespaced ? path.ns : "", false, false};
    c.dryRun = dryRunFrom(req.params("dryRun"), "dryRun");
    c.table = wantsTable(req.header("accept"));
    c.manager = registry::fieldManagerFor(req.param("fieldManager"), req.header("user-agent"));
    if (extra && !collection) return subresource(c, *extra);
    if (apiVerb == "create" || apiVerb == "update" || apiVerb == "patch") {
      c.fieldValidation = fieldValidationFrom(req);
    }
    Response r = dispatch(c, apiVerb);
    addWarnings(r, c.warnings);
    return r;
  } catch (const ApiError& e) {
    return Response::json(e.code(), e.toStatus());
  } catch (const StoreError& e) {
    auto err = fromStoreError(e, path.plural, path.name, group);
    return Response::json(err.code(), err.toStatus());
  }
}

Response RestHandler::dispatch(const Ctx& c, const std::string& verb) const {
  if (verb == "watch") return watch(c);
  if (verb == "list") return list(c);
  if (verb == "create") {
    if (!c.path.hasNamespace && c.info.namespaced) {
      throw ApiError::MethodNotAllowed("create needs a namespace in the path");
    }
    json obj = parseObjectBody(c.req);
    c.warnings = checkFields(c.fieldValidation, c.info, obj, model::duplicateFields(c.req.body));
    return create(c, std::move(obj), false);
  }
  if (verb == "get") return get(c);
  if (verb == "update") return update(c);
  if (verb == "patch") return patch(c);
  return remove(c);
}

json RestHandler::present(const Ctx& c, json obj) const {
  c.strategy.sanitizeForRead(obj);
  if (c.path.core) obj["apiVersion"] = "v1";
  return obj;
}

Response RestHandler::objectResponse(const Ctx& c, int code, json obj) const {
  obj = present(c, std::move(obj));
  if (c.table) {
    return Response::json(
        code, buildTable(c.strategy, {obj}, clock_.now(),
                         parseIncludeObject(c.req.param("includeObject")), json::object()));
  }
  return Response::json(code, obj);
}

Response RestHandler::get(const Ctx& c) const {
  // Tables carry relative ages and the core path rewrites apiVersion: only plain JSON is cached.
  bool cacheable = cache_ && !c.table && !c.path.core;
  if (cacheable) {
    if (auto body = cache_->getObject(c.info.plural, c.ns, c.path.name)) {
      Response r;
      r.body = std::move(*body);
      return r;
    }
  }
  uint64_t ticket = cacheable ? cache_->ticket(c.info.plural) : 0;
  auto obj = store_.get(c.info.plural, c.ns, c.path.name);
  if (!obj) throw ApiError::NotFound(c.info.plural, c.path.name, c.group);
  if (!cacheable) return objectResponse(c, 200, std::move(*obj));
  Response r = Response::json(200, present(c, std::move(*obj)));
  cache_->putObject(ticket, c.info.plural, c.ns, c.path.name, r.body);
  return r;
}

Response RestHandler::list(const Ctx& c) const {
  store::ListOptions opts;
  opts.ns = c.ns;
  opts.labelSelector = c.req.param("labelSelector");
  opts.fieldSelector = c.req.param("fieldSelector");
  checkFieldSelector(opts.fieldSelector, c.info);
  std::string limit = c.req.param("limit");
  bool ok = true;
  opts.limit = parseRv(limit, &ok);
  if (!ok) throw ApiError::BadRequest("invalid limit \"" + limit + "\"");
  opts.continueToken = c.req.param("continue");
  bool cacheable = cache_ && !c.table && !c.path.core;
  std::string key = opts.ns + '\n' + opts.labelSelector + '\n' + opts.fieldSelector + '\n' +
                    std::to_string(opts.limit) + '\n' + opts.continueToken;
  if (cacheable) {
    if (auto body = cache_->getList(c.info.plural, key)) {
      Response cached;
      cached.body = std::move(*body);
      return cached;
    }
  }
  uint64_t ticket = cacheable ? cache_->ticket(c.info.plural) : 0;
  auto r = store_.list(c.info.plural, opts);
  json meta = {{"resourceVersion", std::to_string(r.resourceVersion)}};
  if (!r.continueToken.empty()) {
    meta["continue"] = r.continueToken;
    meta["remainingItemCount"] = r.remainingItemCount;
  }
  for (auto& item : r.items) item = present(c, std::move(item));
  if (c.table) {
    return Response::json(
        200, buildTable(c.strategy, r.items, clock_.now(),
                        parseIncludeObject(c.req.param("includeObject")), std::move(meta)));
  }
  json out = {{"apiVersion", c.path.core ? std::string("v1") : c.info.apiVersion()},
              {"kind", c.info.kind + "List"},
              {"metadata", std::move(meta)},
              {"items", std::move(r.items)}};
  Response resp = Response::json(200, out);
  if (cacheable) cache_->putList(ticket, c.info.plural, key, resp.body);
  return resp;
}

Response RestHandler::watch(const Ctx& c) const {
  WatchSpec spec;
  spec.resource = c.info.plural;
  spec.ns = c.ns;
  spec.labelSelector = c.req.param("labelSelector");
  spec.fieldSelector = c.req.param("fieldSelector");
  checkFieldSelector(spec.fieldSelector, c.info);
  auto include = parseIncludeObject(c.req.param("includeObject"));
  // The encoder outlives this request's Ctx: capture by value what it needs.
  const model::Strategy* strategy = &c.strategy;
  bool core = c.path.core, table = c.table;
  const Clock* clock = &clock_;
  spec.encode = [strategy, core, table, include, clock](const char* type, const json& object) {
    json obj = object;
    strategy->sanitizeForRead(obj);
    if (core) obj["apiVersion"] = "v1";
    if (table) obj = buildTable(*strategy, {obj}, clock->now(), include, json::object());
    return json{{"type", type}, {"object", std::move(obj)}}.dump(-1, ' ', false,
                                                                 json::error_handler_t::replace) +
           "\n";
  };
  std::string p = c.req.param("allowWatchBookmarks");
  if (p == "true" || p == "1") {
    std::string kind = c.info.kind;
    std::string apiVersion = core ? "v1" : c.info.apiVersion();
    spec.bookmark = [kind, apiVersion](int64_t rv) {
      return json{{"type", "BOOKMARK"},
                  {"object",
                   {{"kind", kind},
                    {"apiVersion", apiVersion},
                    {"metadata", {{"resourceVersion", std::to_string(rv)}}}}}}
                 .dump() +
             "\n";
    };
  }
  spec.bookmarkInterval = options_.bookmarkInterval;
  spec.timeout = options_.defaultWatchTimeout;
  std::string ts = c.req.param("timeoutSeconds");
  if (!ts.empty()) {
    bool ok = true;
    int64_t secs = parseRv(ts, &ok);
    if (!ok) throw ApiError::BadRequest("invalid timeoutSeconds \"" + ts + "\"");
    spec.timeout =
        std::min<std::chrono::milliseconds>(std::chrono::seconds(secs), options_.maxWatchTimeout);
  }
  auto stream = std::make_shared<WatchStream>(store_, std::move(spec));
  try {
    stream->prepare(c.req.param("resourceVersion"));
  } catch (const StoreError& e) {
    stream->stop();
    if (e.code() == StoreError::Code::Gone) {
      throw ApiError::Gone("too old resource version: " + c.req.param("resourceVersion") + " (" +
                           std::to_string(store_.currentResourceVersion()) + ")");
    }
    throw;
  }
  Response r;
  r.stream = stream;
  return r;
}

namespace {

// apiVersion/kind of a body must name the URL's kind; absent ones are filled in.
void checkTypeMeta(json& obj, const model::KindInfo& info, bool core) {
  std::string av = obj.value("apiVersion", "");
  std::string kind = obj.value("kind", "");
  if (!av.empty() && av != info.apiVersion() && !(core && av == "v1")) {
    throw ApiError::BadRequest("the API version in the data (" + av +
                               ") does not match the expected API version (" +
                               (core ? std::string("v1") : info.apiVersion()) + ")");
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

void throwIfInvalid(const std::vector<Cause>& causes, const model::KindInfo& info, const json& obj,
                    const std::string& group) {
  if (causes.empty()) return;
  throw ApiError::Invalid(info.kind, metaString(obj, "name"), causes, group);
}

}  // namespace

Response RestHandler::create(const Ctx& c, json obj, bool applied) const {
  checkTypeMeta(obj, c.info, c.path.core);
  checkNamespace(obj, c.info, c.ns);
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
  model::initObjectMeta(obj, c.info, clock_);
  admitMutate(c, obj, nullptr);
  c.strategy.prepareForCreate(obj, clock_);
  // An apply brings its own managedFields; any other create is an Update by its manager.
  if (!applied) obj = recordUpdate(c, nullptr, std::move(obj));
  throwIfInvalid(c.strategy.validate(obj), c.info, obj, c.group);
  const std::string name = metaString(obj, "name");
  std::unique_lock<std::mutex> admitted;
  if (admission_.count(c.info.plural)) {
    admitted = std::unique_lock(createMu_);
    admitValidate(c, obj, nullptr);
  }
  if (c.dryRun) {
    if (store_.get(c.info.plural, c.ns, name)) {
      throw ApiError::AlreadyExists(c.info.plural, name, c.group);
    }
    return objectResponse(c, 201, std::move(obj));
  }
  try {
    auto stored = store_.create(c.info.plural, std::move(obj));
    if (admitted) admitted.unlock();
    return objectResponse(c, 201, std::move(stored));
  } catch (const StoreError& e) {
    throw fromStoreError(e, c.info.plural, name, c.group);
  }
}

Response RestHandler::update(const Ctx& c) const {
  json body = parseObjectBody(c.req);
  c.warnings = checkFields(c.fieldValidation, c.info, body, model::duplicateFields(c.req.body));
  return writeUpdate(
      c, [&](const json&) { return body; }, nullptr);
}

Response RestHandler::patch(const Ctx& c) const {
  PatchType type = patchTypeFromContentType(c.req.header("content-type"));
  if (type == PatchType::Strategic || type == PatchType::Unsupported) {
    applyPatch(type, json::object(), "");  // throws the 415 Status
  }
  if (c.req.body.empty()) throw ApiError::BadRequest("the patch body is empty");
  if (type == PatchType::Apply) return apply(c);
  const std::string& body = c.req.body;
  const std::vector<std::string> duplicates = model::duplicateFields(body);
  // Patched over what a reader sees, never the stored form: a JSON patch "copy"/"move"/"test"
  // must not reach a field that reads hide (an APIKey's sealed value). The strategy's
  // prepareForUpdate carries such fields over from the stored object.
  return writeUpdate(
      c,
      [&](const json& old) {
        json visible = old;
        c.strategy.sanitizeForRead(visible);
        json patched = applyPatch(type, visible, body);
        // As kube-apiserver: unknown fields are judged on the patched object.
        c.warnings = checkFields(c.fieldValidation, c.info, patched, duplicates);
        return patched;
      },
      nullptr);
}

Response RestHandler::apply(const Ctx& c) const {
  // As kube-apiserver: an apply without a manager could never be told apart from another one.
  if (c.req.param("fieldManager").empty()) {
    throw ApiError::BadRequest("fieldManager is required for apply requests");
  }
  json applied = model::parseJsonOrYaml(c.req.body);
  if (!applied.is_object()) throw ApiError::BadRequest("the apply configuration must be an object");
  json probe = applied;
  checkTypeMeta(probe, c.info, c.path.core);
  c.warnings = checkFields(c.fieldValidation, c.info, applied, model::duplicateFields(c.req.body));
  const std::string force = c.req.param("force");
  const auto onConflict =
      force == "true" || force == "1" ? registry::OnConflict::Force : registry::OnConflict::Fail;
  const json& schema = ownershipSchema(c.info);
  const auto writer = fieldWriter(c);
  json created;
  if (c.path.subresource.empty()) {
    created = registry::applyConfiguration(nullptr, applied, schema, writer, onConflict);
  }
  return writeUpdate(
      c,
      [&](const json& old) {
        json visible = old;
        c.strategy.sanitizeForRead(visible);
        return registry::applyConfiguration(&visible, applied, schema, writer, onConflict);
      },
      created.is_null() ? nullptr : &created, true);
}

Response RestHandler::writeUpdate(const Ctx& c, const std::function<json(const json& old)>& mutate,
                                  const json* createIfAbsent, bool applied) const {
  const auto& plural = c.info.plural;
  const auto& name = c.path.name;
  bool statusOnly = c.path.subresource == "status";
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    auto current = store_.get(plural, c.ns, name);
    if (!current) {
      if (createIfAbsent) {
        json obj = *createIfAbsent;
        checkTypeMeta(obj, c.info, c.path.core);
        checkName(obj, name);
        return create(c, std::move(obj), applied);
      }
      throw ApiError::NotFound(plural, name, c.group);
    }
    const json& old = *current;
    int64_t oldRv = store::parseResourceVersion(old);
    json obj = mutate(old);
    if (!obj.is_object()) throw ApiError::BadRequest("the result must be an object");
    checkTypeMeta(obj, c.info, c.path.core);
    checkNamespace(obj, c.info, c.ns);
    checkName(obj, name);
    auto& md = obj["metadata"];
    bool rvOk = true;
    int64_t clientRv = parseRv(md.value("resourceVersion", ""), &rvOk);
    if (!rvOk) throw ApiError::BadRequest("invalid metadata.resourceVersion");
    if (clientRv != 0 && clientRv != oldRv) throw staleConflict(plural, name, c.group);
    const std::string& uid = metaString(obj, "uid");
    if (!uid.empty() && uid != metaString(old, "uid")) {
      throw ApiError::Conflict(plural, name,
                               "Precondition failed: UID in object meta: " + uid +
                                   ", does not match the stored UID " + metaString(old, "uid"),
                               c.group);
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
      c.strategy.prepareForStatusUpdate(obj, old);
    } else {
      admitMutate(c, obj, &old);
      c.strategy.prepareForUpdate(obj, old, clock_);
      if (obj.value("spec", json()) != old.value("spec", json())) {
        obj["metadata"]["generation"] = oldMd.value("generation", int64_t{0}) + 1;
      }
    }
    // An apply computed its managedFields; any other write is an Update by its manager.
    if (!applied) obj = recordUpdate(c, &old, std::move(obj));
    auto causes = c.strategy.validate(obj);
    auto more = c.strategy.validateUpdate(obj, old);
    causes.insert(causes.end(), more.begin(), more.end());
    throwIfInvalid(causes, c.info, obj, c.group);
    if (!statusOnly) admitValidate(c, obj, &old);
    try {
      if (hasDeletionTimestamp(old) && !hasFinalizers(obj)) {
        // The last finalizer is gone: the deletion that was waiting for it completes now.
        if (c.dryRun) return objectResponse(c, 200, std::move(obj));
        return objectResponse(c, 200, store_.remove(plural, c.ns, name, oldRv));
      }
      if (obj == old) return objectResponse(c, 200, old);  // no-op: no write, same rv
      if (c.dryRun) return objectResponse(c, 200, std::move(obj));
      return objectResponse(c, 200, store_.update(plural, std::move(obj), oldRv));
    } catch (const StoreError& e) {
      // Always re-read and re-apply: a precondition the client gave (a resourceVersion in its
      // body or patch) is checked again against the fresh object above and then answers 409;
      // a patch without one carries the rv of the object it was applied to, so it must not be
      // mistaken for a client precondition (a controller's status write would fail patches).
      bool retry = e.code() == StoreError::Code::Conflict || e.code() == StoreError::Code::NotFound;
      if (!retry) throw fromStoreError(e, plural, name, c.group);
    }
  }
  throw ApiError::Conflict(plural, name, "too many concurrent writers; try again", c.group);
}

Response RestHandler::remove(const Ctx& c) const {
  const auto& plural = c.info.plural;
  const auto& name = c.path.name;
  json opts = json::object();
  if (!c.req.body.empty()) {
    requireJsonOrYaml(c.req);
    opts = model::parseJsonOrYaml(c.req.body);
    if (!opts.is_object()) throw ApiError::BadRequest("DeleteOptions must be an object");
  }
  bool dryRun = dryRunFrom(opts.value("dryRun", json())) || c.dryRun;
  json pre = opts.value("preconditions", json::object());
  std::string preUid = pre.is_object() ? pre.value("uid", "") : "";
  std::string preRvText = pre.is_object() ? pre.value("resourceVersion", "") : "";
  bool ok = true;
  int64_t preRv = parseRv(preRvText, &ok);
  if (!ok) throw ApiError::BadRequest("invalid preconditions.resourceVersion");
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    auto current = store_.get(plural, c.ns, name);
    if (!current) throw ApiError::NotFound(plural, name, c.group);
    json old = std::move(*current);
    int64_t oldRv = store::parseResourceVersion(old);
    if (!preUid.empty() && preUid != metaString(old, "uid")) {
      throw ApiError::Conflict(plural, name,
                               "Precondition failed: UID in precondition: " + preUid +
                                   ", UID in object meta: " + metaString(old, "uid"),
                               c.group);
    }
    if (preRv != 0 && preRv != oldRv) {
      throw ApiError::Conflict(
          plural, name,
          "Precondition failed: ResourceVersion in precondition: " + preRvText +
              ", ResourceVersion in meta: " + std::to_string(oldRv),
          c.group);
    }
    try {
      if (hasFinalizers(old)) {
        // Graceful: mark it; whoever owns the finalizer removes it when done.
        if (hasDeletionTimestamp(old)) return objectResponse(c, 200, std::move(old));
        json obj = old;
        obj["metadata"]["deletionTimestamp"] = formatRfc3339(clock_.now());
        obj["metadata"]["deletionGracePeriodSeconds"] = 0;
        if (dryRun) return objectResponse(c, 200, std::move(obj));
        return objectResponse(c, 200, store_.update(plural, std::move(obj), oldRv));
      }
      if (dryRun) return objectResponse(c, 200, std::move(old));
      return objectResponse(c, 200, store_.remove(plural, c.ns, name, oldRv));
    } catch (const StoreError& e) {
      bool retry = e.code() == StoreError::Code::Conflict && preRv == 0;
      if (!retry) throw fromStoreError(e, plural, name, c.group);
    }
  }
  throw ApiError::Conflict(plural, name, "too many concurrent writers; try again", c.group);
}

}  // namespace minimcp::server
