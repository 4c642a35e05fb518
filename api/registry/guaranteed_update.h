// guaranteedUpdate: the one read → modify → compare-and-swap loop (after kube-apiserver's
// storage.Interface.GuaranteedUpdate). Every write of an existing API object goes through it, so
// conflict handling lives in one place: a writer says how the object should change, never how to
// retry.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp::registry {

// What tryUpdate wants done with the object it was shown.
class Change {
 public:
  enum class Kind { Keep, Write, Remove };
  static Change keep() { return Change(Kind::Keep, nullptr); }  // no write (or stay absent)
  static Change write(nlohmann::json obj) { return Change(Kind::Write, std::move(obj)); }
  static Change remove() { return Change(Kind::Remove, nullptr); }  // delete what was read

  Kind kind() const { return kind_; }
  nlohmann::json& object() { return object_; }

 private:
  Change(Kind k, nlohmann::json obj) : kind_(k), object_(std::move(obj)) {}
  Kind kind_;
  nlohmann::json object_;
};

// tryUpdate is shown the stored object (nullptr when absent, only with ignoreNotFound) and
// returns the change. It is re-run on a fresh read after every lost compare-and-swap, so it must
// not keep state between runs. Whatever it throws (ApiError, StoreError) ends the update
// unretried: that is how a caller's precondition (a resourceVersion or uid the client gave, a
// generation the controller acted on) refuses the write.
using TryUpdate = std::function<Change(const nlohmann::json* current)>;

struct UpdateOptions {
  // Absent object: tryUpdate(nullptr), and a Write creates it (a Remove or Keep leaves it
  // absent). Without it, absence throws NotFound.
  bool ignoreNotFound = false;
  // Everything but the write: the result is what would have been stored.
  bool dryRun = false;
  // One retry policy for every writer: re-read and re-run tryUpdate after a lost
  // compare-and-swap, with jittered exponential backoff between attempts, until this much time
  // has passed (then StoreError Conflict). Writers without a precondition thus never see a
  // conflict that a retry would have cured.
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
  // Who writes. Every Write of a kind the API serves records in metadata.managedFields an Update
  // by this manager (what changed under status through subresource "status", the rest on the
  // main resource: recordWrite), so that `kubectl get --show-managed-fields` names every writer,
  // inside mcpd or not. Writers inside mcpd name themselves ("mcpd-controller"); a REST write
  // names the request's manager.
  std::string fieldManager = "mcpd";
  // The endpoint a REST write came through ("" or "status"): the manager owns only what it may
  // change. nullopt (writers inside mcpd): status changes through "status", the rest on the main
  // resource.
  std::optional<std::string> subresource;
  // The time the entries carry; nullptr: the system clock.
  const Clock* clock = nullptr;
  // tryUpdate computed metadata.managedFields itself (a server-side apply): nothing is recorded.
  bool ownershipRecorded = false;
};

struct UpdateResult {
  enum class Outcome { Unchanged, Created, Updated, Removed };
  Outcome outcome = Outcome::Unchanged;
  // Created/Updated: as stored (new resourceVersion); Removed: its last state with the deletion's
  // resourceVersion; Unchanged: as read (nullopt when absent and left absent). With dryRun, the
  // object tryUpdate returned (Created/Updated) or the one read (Removed).
  std::optional<nlohmann::json> object;
  int attempts = 0;  // how many times tryUpdate ran
};

// The precondition of a writer whose change was decided from an earlier read of the whole
// picture (a controller's status, a scheduler's binding): unless `current` is still the object
// at `resourceVersion`, throws StoreError (NotFound when absent, else Conflict), so the write is
// not re-applied to a newer object and the writer looks again instead.
void expectResourceVersion(const nlohmann::json* current, int64_t resourceVersion);

// Updates (or creates, or removes) resource/ns/name. Throws StoreError NotFound when absent
// without ignoreNotFound, StoreError Conflict when `timeout` passed without a successful write,
// StoreError Unavailable as the store does, and whatever tryUpdate throws.
UpdateResult guaranteedUpdate(store::Store& store, const std::string& resource,
                              const std::string& ns, const std::string& name,
                              const TryUpdate& tryUpdate, const UpdateOptions& options = {});

// guaranteedUpdate with expectResourceVersion: `change` lands only on the object as `read` (a
// stored object: its metadata names it) still is. `read` stands for the first read, so a writer
// whose picture is current costs the store one write and no read.
UpdateResult updateIfUnchanged(store::Store& store, const std::string& resource,
                               const nlohmann::json& read, Change change,
                               const UpdateOptions& options = {});

}  // namespace minimcp::registry
