#include "api/server/rest_handler.h"

#include <algorithm>

#include "api/model/yaml.h"
#include "api/registry/managed_fields.h"
#include "api/server/authorizer.h"
#include "api/server/compression.h"
#include "api/server/field_validation.h"
#include "api/server/patch.h"
#include "api/server/request_body.h"
#include "api/server/table.h"
#include "api/server/watch.h"
#include "api/util/api_error.h"

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

}  // namespace

RestHandler::RestHandler(store::Store& store, const model::Registry& registry, const Clock& clock,
                         RestOptions options)
    : store_(store),
      registry_(registry),
      authorizer_(registry),
      clock_(clock),
      options_(options),
      writes_(store, clock) {
  if (options_.cacheResponses) cache_ = std::make_unique<ResponseCache>(store_);
}

void RestHandler::addSubresource(const std::string& plural, const std::string& subresource,
                                 SubresourceHandler handler, std::vector<std::string> verbs) {
  subresources_[{plural, subresource}] = {std::move(handler), std::move(verbs)};
}

void RestHandler::addAdmission(const std::string& plural,
                               std::shared_ptr<const AdmissionPlugin> plugin) {
  writes_.addAdmission(plural, std::move(plugin));
}

Response RestHandler::subresource(const Ctx& c, const SubresourceHandler& handler) const {
  auto obj = store_.get(c.info.plural, c.ns, c.path.name);
  if (!obj) throw ApiError::NotFound(c.info.plural, c.path.name, c.group);
  return handler(c.req, *obj, c.who);
}

Response RestHandler::handle(const Request& req, const ResourcePath& path, const Identity& who,
                             std::string* verb) const {
  std::string group = path.core ? "" : model::kGroup;
  try {
    const bool collection = path.name.empty();
    const std::string w = req.param("watch");
    std::string apiVerb = server::apiVerb(req.method, collection, w == "true" || w == "1");
    // kube-apiserver's verb for a POST to a named object's subresource (pods/eviction).
    if (req.method == "POST" && !collection && !path.subresource.empty()) apiVerb = "create";
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
    const Subresource* extra = nullptr;
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
    // Subresources take no DELETE (nor POST, unless one says so); the others their own verbs.
    const bool extraServes =
        extra && std::find(extra->verbs.begin(), extra->verbs.end(), apiVerb) != extra->verbs.end();
    bool served =
        !apiVerb.empty() && (path.subresource.empty() || apiVerb != "delete") &&
        (extra ? collection || extraServes : path.subresource.empty() || req.method != "POST");
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
    if (extra && !collection) return subresource(c, extra->handler);
    if (apiVerb == "create" || apiVerb == "update" || apiVerb == "patch") {
      c.fieldValidation = fieldValidationFrom(req);
    }
    Response r = dispatch(c, apiVerb);
    addWarnings(r, c.warnings);
    return r;
  } catch (const ApiError& e) {
    return Response::json(e.code(), e.toStatus());
  } catch (const StoreError& e) {
    auto err = registry::toApiError(e, path.plural, path.name, group);
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
    return create(c, std::move(obj));
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
  // A large list goes out gzipped to a client that accepts it, compressed once per change: the
  // cache keeps the compressed body under a key of its own.
  const bool gzip = acceptsGzip(c.req.header("accept-encoding"));
  std::string key = opts.ns + '\n' + opts.labelSelector + '\n' + opts.fieldSelector + '\n' +
                    std::to_string(opts.limit) + '\n' + opts.continueToken + (gzip ? "\ngzip" : "");
  auto encoded = [](std::string body) {
    Response r;
    // A JSON body never starts with gzip's magic bytes.
    if (body.size() >= 2 && body[0] == '\x1f' && body[1] == '\x8b') {
      r.headers.emplace_back("Content-Encoding", "gzip");
    }
    r.body = std::move(body);
    return r;
  };
  if (cacheable) {
    if (auto body = cache_->getList(c.info.plural, key)) return encoded(std::move(*body));
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
  std::string body = Response::json(200, out).body;
  if (gzip && body.size() > kCompressAbove) body = gzipCompress(body);
  if (cacheable) cache_->putList(ticket, c.info.plural, key, body);
  return encoded(std::move(body));
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
  const std::string bookmarks = c.req.param("allowWatchBookmarks");
  if (bookmarks == "true" || bookmarks == "1") {
    std::string kind = c.info.kind;
    std::string apiVersion = core ? "v1" : c.info.apiVersion();
    spec.bookmark = [kind, apiVersion](int64_t rv, bool initialEventsEnd) {
      json meta = {{"resourceVersion", std::to_string(rv)}};
      if (initialEventsEnd) meta["annotations"] = {{"k8s.io/initial-events-end", "true"}};
      return json{{"type", "BOOKMARK"},
                  {"object", {{"kind", kind}, {"apiVersion", apiVersion}, {"metadata", meta}}}}
                 .dump() +
             "\n";
    };
  }
  // The streaming list (client-go's WatchList): kube-apiserver's rules for its parameters.
  const std::string initial = c.req.param("sendInitialEvents");
  if (initial == "true" || initial == "1") {
    if (!spec.bookmark) {
      throw ApiError::BadRequest("sendInitialEvents requires allowWatchBookmarks=true");
    }
    if (c.req.param("resourceVersionMatch") != "NotOlderThan") {
      throw ApiError::BadRequest("sendInitialEvents requires resourceVersionMatch=NotOlderThan");
    }
    spec.sendInitialEvents = true;
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

registry::WriteRequest RestHandler::writeRequest(const Ctx& c) const {
  registry::WriteRequest r{c.strategy};
  r.group = c.group;
  r.core = c.path.core;
  r.ns = c.ns;
  r.name = c.path.name;
  r.subresource = c.path.subresource;
  r.dryRun = c.dryRun;
  r.manager = c.manager;
  return r;
}

Response RestHandler::written(const Ctx& c, registry::WriteResult result) const {
  return objectResponse(c, result.created ? 201 : 200, std::move(result.object));
}

Response RestHandler::create(const Ctx& c, json obj) const {
  return written(c, writes_.create(writeRequest(c), std::move(obj)));
}

Response RestHandler::update(const Ctx& c) const {
  json body = parseObjectBody(c.req);
  c.warnings = checkFields(c.fieldValidation, c.info, body, model::duplicateFields(c.req.body));
  return written(c, writes_.update(writeRequest(c), [&](const json&) { return body; }));
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
  return written(c, writes_.update(writeRequest(c), [&](const json& visible) {
    json patched = applyPatch(type, visible, body);
    // As kube-apiserver: unknown fields are judged on the patched object.
    c.warnings = checkFields(c.fieldValidation, c.info, patched, duplicates);
    return patched;
  }));
}

Response RestHandler::apply(const Ctx& c) const {
  // As kube-apiserver: an apply without a manager could never be told apart from another one.
  if (c.req.param("fieldManager").empty()) {
    throw ApiError::BadRequest("fieldManager is required for apply requests");
  }
  json applied = model::parseJsonOrYaml(c.req.body);
  if (!applied.is_object()) throw ApiError::BadRequest("the apply configuration must be an object");
  auto r = writeRequest(c);
  json probe = applied;
  registry::decodeObject(probe, r);
  c.warnings = checkFields(c.fieldValidation, c.info, applied, model::duplicateFields(c.req.body));
  const std::string force = c.req.param("force");
  return written(c, writes_.apply(r, applied,
                                  force == "true" || force == "1" ? registry::OnConflict::Force
                                                                  : registry::OnConflict::Fail));
}

Response RestHandler::remove(const Ctx& c) const {
  json opts = json::object();
  if (!c.req.body.empty()) {
    requireJsonOrYaml(c.req);
    opts = model::parseJsonOrYaml(c.req.body);
    if (!opts.is_object()) throw ApiError::BadRequest("DeleteOptions must be an object");
  }
  auto r = writeRequest(c);
  r.dryRun = dryRunFrom(opts.value("dryRun", json())) || c.dryRun;
  json pre = opts.value("preconditions", json::object());
  registry::DeleteOptions options;
  options.uid = pre.is_object() ? pre.value("uid", "") : "";
  options.resourceVersionText = pre.is_object() ? pre.value("resourceVersion", "") : "";
  bool ok = true;
  options.resourceVersion = parseRv(options.resourceVersionText, &ok);
  if (!ok) throw ApiError::BadRequest("invalid preconditions.resourceVersion");
  return written(c, writes_.remove(r, options));
}

}  // namespace minimcp::server
