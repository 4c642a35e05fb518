// RestHandler: the ONE generic handler behind every resource path. It translates HTTP into reads
// of the store and writes through registry::GenericStore (the one write pipeline: preconditions,
// generation, finalizers, dryRun, the status subresource, admission); what differs per kind
// comes from the kind's Strategy. Reads, watch and Table output are served here.
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
#include "api/registry/generic_store.h"
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

// Admission plugins are the registry's; these names keep their users in this namespace short.
using registry::AdmissionPlugin;
using registry::AdmissionRequest;

// A subresource beside a kind's objects: views (mcpinstances/{name}/log, .../token) serve GET
// (verb get); .../oauth2token serves POST (verb create, as kube-apiserver names a POST to a
// named object's subresource). The authorizer decides first, on the subresource's attributes;
// the object is passed in as stored (404 when absent).
using SubresourceHandler =
    std::function<Response(const Request& req, const nlohmann::json& object, const Identity& who)>;

class RestHandler {
 public:
  RestHandler(store::Store& store, const model::Registry& registry, const Clock& clock,
              RestOptions options = {});

  // Configuration: call before serving (not synchronised with handle()).
  // `verbs`: the API verbs it serves ("get", "create"); others answer 405.
  void addSubresource(const std::string& plural, const std::string& subresource,
                      SubresourceHandler handler, std::vector<std::string> verbs = {"get"});
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
  Response create(const Ctx& c, nlohmann::json obj) const;
  Response update(const Ctx& c) const;
  Response patch(const Ctx& c) const;
  Response apply(const Ctx& c) const;  // server-side apply (application/apply-patch+yaml)
  Response remove(const Ctx& c) const;
  Response subresource(const Ctx& c, const SubresourceHandler& handler) const;
  registry::WriteRequest writeRequest(const Ctx& c) const;
  Response written(const Ctx& c, registry::WriteResult result) const;

  nlohmann::json present(const Ctx& c, nlohmann::json obj) const;
  Response objectResponse(const Ctx& c, int code, nlohmann::json obj) const;

  store::Store& store_;
  const model::Registry& registry_;
  const Authorizer authorizer_;
  const Clock& clock_;
  RestOptions options_;
  std::unique_ptr<ResponseCache> cache_;
  struct Subresource {
    SubresourceHandler handler;
    std::vector<std::string> verbs;
  };
  std::map<std::pair<std::string, std::string>, Subresource> subresources_;
  registry::GenericStore writes_;
};

}  // namespace minimcp::server
