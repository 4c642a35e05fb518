// RestHandler: the ONE generic handler behind every resource path. What differs per kind
// (scope, defaults, validation, what an update may touch, table columns) comes from the kind's
// Strategy; this file holds the Kubernetes verb semantics (resourceVersion preconditions,
// generation, finalizers, dryRun, the status subresource, watch, Table output).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "api/model/strategy.h"
#include "api/registry/managed_fields.h"
#include "api/server/auth.h"
#include "api/server/authorizer.h"
#include "api/server/http_types.h"
#include "api/server/resource_path.h"
#include "api/server/response_cache.h"
#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp::server {

struct RestOptions {
  std::chrono::milliseconds bookmarkInterval{60000};
  std::chrono::milliseconds defaultWatchTimeout{1800 * 1000};
  std::chrono::milliseconds maxWatchTimeout{3600 * 1000};
  bool cacheResponses = true;  // serve repeated GET/LIST bodies from a ResponseCache
};

// One write offered to admission plugins (after kube-apiserver's admission chain).
struct AdmissionRequest {
  const char* operation;  // "create" | "update" (the status subresource is never admitted)
  const model::KindInfo& info;
  nlohmann::json& object;     // the object about to be written
  const nlohmann::json* old;  // the stored object on update; nullptr on create
  const Identity& who;
  bool dryRun;
};

// Policy beside the strategies (quotas, limits). Both run for dry runs too.
class AdmissionPlugin {
 public:
  virtual ~AdmissionPlugin() = default;
  // Before the strategy's defaults and validation: may change the object (defaults from policy).
  virtual void mutate(AdmissionRequest& /*req*/) const {}
  // After validation, just before the write: throws ApiError to refuse it. Creates of a kind
  // with plugins are serialised in this process, so a count read here stays true until the
  // write (one node; several nodes on one PostgreSQL may overshoot by a few).
  virtual void validate(const AdmissionRequest& /*req*/) const {}
};

// A read-only subresource beside a kind's objects (mcpinstances/{name}/log, .../token): GET
// only, after the same visibility check as a GET of the object, which is passed in as stored
// (404 when absent).
using SubresourceHandler =
    std::function<Response(const Request& req, const nlohmann::json& object, const Identity& who)>;

class RestHandler {
 public:
  RestHandler(store::Store& store, const model::Registry& registry, const Clock& clock,
              RestOptions options = {});

  // Configuration: call before serving (not synchronised with handle()).
  void addSubresource(const std::string& plural, const std::string& subresource,
                      SubresourceHandler handler);
  void addAdmission(const std::string& plural, std::shared_ptr<const AdmissionPlugin> plugin);

  // Serves one request for `path`. `verb` (optional) receives the API verb for metrics:
  // get, list, watch, create, update, patch, delete.
  Response handle(const Request& req, const ResourcePath& path, const Identity& who,
                  std::string* verb = nullptr) const;

 private:
  struct Ctx;
  Response dispatch(const Ctx& c, const std::string& verb) const;
  Response get(const Ctx& c) const;
  Response list(const Ctx& c) const;
  Response watch(const Ctx& c) const;
  // `applied`: obj carries the managedFields of a server-side apply; otherwise the create is
  // recorded as an Update by the request's field manager.
  Response create(const Ctx& c, nlohmann::json obj, bool applied) const;
  Response update(const Ctx& c) const;
  Response patch(const Ctx& c) const;
  Response apply(const Ctx& c) const;  // server-side apply (application/apply-patch+yaml)
  Response remove(const Ctx& c) const;
  Response subresource(const Ctx& c, const SubresourceHandler& handler) const;
  void admitMutate(const Ctx& c, nlohmann::json& obj, const nlohmann::json* old) const;
  void admitValidate(const Ctx& c, nlohmann::json& obj, const nlohmann::json* old) const;
  // read old → mutate → strategy → validate → CAS write, retried while the client gave no
  // resourceVersion. `createIfAbsent` holds the object an apply creates when there is none;
  // `applied`: mutate computes managedFields (an apply), else the write is recorded as an Update.
  Response writeUpdate(const Ctx& c,
                       const std::function<nlohmann::json(const nlohmann::json& old)>& mutate,
                       const nlohmann::json* createIfAbsent, bool applied = false) const;
  registry::FieldWriter fieldWriter(const Ctx& c) const;
  nlohmann::json recordUpdate(const Ctx& c, const nlohmann::json* old, nlohmann::json obj) const;

  nlohmann::json present(const Ctx& c, nlohmann::json obj) const;
  Response objectResponse(const Ctx& c, int code, nlohmann::json obj) const;

  store::Store& store_;
  const model::Registry& registry_;
  const Authorizer authorizer_;
  const Clock& clock_;
  RestOptions options_;
  std::unique_ptr<ResponseCache> cache_;
  std::map<std::pair<std::string, std::string>, SubresourceHandler> subresources_;
  std::map<std::string, std::vector<std::shared_ptr<const AdmissionPlugin>>> admission_;
  mutable std::mutex createMu_;  // serialises admitted creates (see AdmissionPlugin)
};

}  // namespace minimcp::server
