// GenericStore: the one create/update/delete pipeline for every kind (after kube-apiserver's
// registry/generic/registry/store.go). What differs per kind comes from its model::Strategy;
// HTTP stays in the REST handler, which only turns a request into one of these calls.
//
// Every write runs the same steps, in this order:
//   decode (decodeObject: type meta, metadata an object) → namespace and name checks →
//   server-owned metadata (set on create, carried over on update) → admission mutate →
//   strategy defaults → generation bump (spec changed) → the result of a server-side apply
//   (managed_fields.h) → validation → admission validate → persist through guaranteedUpdate
//   (which records any other write as an Update by the request's manager in managedFields), or
//   stop there on dryRun.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/model/strategy.h"
#include "api/registry/admission.h"
#include "api/registry/managed_fields.h"
#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp::registry {

// What one write is about.
struct WriteRequest {
  const model::Strategy& strategy;
  std::string group = {};        // the API group errors name ("" on the core path)
  bool core = false;             // the core path: a body may say apiVersion "v1"
  std::string ns = {};           // "" for cluster-scoped kinds
  std::string name = {};         // the URL's name ("" on create: from the body)
  std::string subresource = {};  // "" or "status"
  bool dryRun = false;
  std::string manager = {};  // the field manager (fieldManagerFor)
};

struct WriteResult {
  nlohmann::json object;  // as stored (or as it would be, on dryRun)
  bool created = false;   // 201 rather than 200
};

struct DeleteOptions {
  std::string uid;                  // preconditions.uid ("" = none)
  int64_t resourceVersion = 0;      // preconditions.resourceVersion (0 = none)
  std::string resourceVersionText;  // as the client wrote it, for the message
};

// A store failure as the Status a client gets (NotFound, AlreadyExists, Conflict, 503...).
ApiError toApiError(const store::StoreError& e, const std::string& resource,
                    const std::string& name, const std::string& group);

// The decode step: apiVersion/kind must name the request's kind (absent ones are filled in),
// metadata must be an object. Every object a client hands in passes here first.
void decodeObject(nlohmann::json& obj, const WriteRequest& r);

class GenericStore {
 public:
  GenericStore(store::Store& store, const Clock& clock);

  // Configuration: call before serving.
  void addAdmission(const std::string& plural, std::shared_ptr<const AdmissionPlugin> plugin);

  // A new object (generateName honoured).
  WriteResult create(const WriteRequest& r, nlohmann::json obj) const;

  // The object the caller makes of the stored one, shown as a reader sees it (write-only fields
  // removed; the strategy carries them over). Re-run after a lost race; a resourceVersion the
  // result carries is the client's precondition (409 when stale, never retried).
  using NewObject = std::function<nlohmann::json(const nlohmann::json& visible)>;
  WriteResult update(const WriteRequest& r, const NewObject& newObject) const;

  // Server-side apply of `applied` by r.manager (creates the object when absent, on the main
  // resource). A field another manager owns: 409 (Fail), taken (Force, kube's force=true), or
  // left to its manager (Yield: the catalog's shipped defaults never override a user's change).
  WriteResult apply(const WriteRequest& r, const nlohmann::json& applied,
                    OnConflict onConflict) const;

  // Delete: marks the object (deletionTimestamp) while finalizers remain, else removes it.
  WriteResult remove(const WriteRequest& r, const DeleteOptions& options) const;

 private:
  using MakeObject = std::function<nlohmann::json(const nlohmann::json* visible)>;
  WriteResult write(const WriteRequest& r, const MakeObject& make, bool applying) const;
  nlohmann::json prepareCreate(const WriteRequest& r, nlohmann::json obj, bool applying,
                               std::unique_lock<std::mutex>& admitted) const;
  FieldWriter fieldWriter(const WriteRequest& r) const;
  void admitMutate(const WriteRequest& r, nlohmann::json& obj, const nlohmann::json* old) const;
  void admitValidate(const WriteRequest& r, nlohmann::json& obj, const nlohmann::json* old) const;

  store::Store& store_;
  const Clock& clock_;
  std::map<std::string, std::vector<std::shared_ptr<const AdmissionPlugin>>> admission_;
  mutable std::mutex createMu_;  // serialises admitted creates (see AdmissionPlugin)
};

}  // namespace minimcp::registry
