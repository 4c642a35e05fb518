// RestHandler: the ONE generic handler behind every resource path. What differs per kind
// (scope, defaults, validation, what an update may touch, table columns) comes from the kind's
// Strategy; this file holds the Kubernetes verb semantics (resourceVersion preconditions,
// generation, finalizers, dryRun, the status subresource, watch, Table output).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "api/model/strategy.h"
#include "api/server/auth.h"
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

class RestHandler {
 public:
  RestHandler(store::Store& store, const model::Registry& registry, const Clock& clock,
              RestOptions options = {});

  // Serves one request for `path`. `verb` (optional) receives the API verb for metrics:
  // get, list, watch, create, update, patch, delete.
  Response handle(const Request& req, const ResourcePath& path, const Identity& who,
                  std::string* verb = nullptr) const;

 private:
  struct Ctx;
  Response dispatch(const Ctx& c, std::string* verb) const;
  Response get(const Ctx& c) const;
  Response list(const Ctx& c) const;
  Response watch(const Ctx& c) const;
  Response create(const Ctx& c, nlohmann::json obj) const;
  Response update(const Ctx& c) const;
  Response patch(const Ctx& c) const;
  Response remove(const Ctx& c) const;
  // read old → mutate → strategy → validate → CAS write, retried while the client gave no
  // resourceVersion. `createIfAbsent` holds the body for apply-patch on an absent object.
  Response writeUpdate(const Ctx& c,
                       const std::function<nlohmann::json(const nlohmann::json& old)>& mutate,
                       const nlohmann::json* createIfAbsent) const;

  nlohmann::json present(const Ctx& c, nlohmann::json obj) const;
  Response objectResponse(const Ctx& c, int code, nlohmann::json obj) const;

  store::Store& store_;
  const model::Registry& registry_;
  const Clock& clock_;
  RestOptions options_;
  std::unique_ptr<ResponseCache> cache_;
};

}  // namespace minimcp::server
