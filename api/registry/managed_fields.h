// Field ownership (metadata.managedFields) and server-side apply, with the semantics of
// Kubernetes' structured-merge-diff: every write records which manager set which fields; an
// apply merges a configuration into the live object, answers 409 when it would change a field
// another manager owns, and removes the fields its manager stopped sending.
//
// Pure: objects in, objects out. The list and map semantics come from the kind's OpenAPI v3
// schema (a CRD's openAPIV3Schema), passed in so that tests can hand-write one.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/model/strategy.h"
#include "api/util/clock.h"

namespace minimcp::registry {

// A path in FieldsV1 form, one element per step: "f:<field>", "k:<key fields as JSON>" (an item
// of a map-keyed list), "v:<value as JSON>" (an item of a set list), "i:<index>".
using FieldPath = std::vector<std::string>;

// A set of paths, stored as FieldsV1 stores it: a tree in which a node may itself be a member
// ("." in FieldsV1) besides having members below it.
class FieldSet {
 public:
  void insert(const FieldPath& path);
  bool contains(const FieldPath& path) const;
  // `path` itself or a path below it is a member.
  bool containsOrHasBelow(const FieldPath& path) const;
  bool empty() const { return root_.children.empty() && !root_.member; }

  FieldSet unionWith(const FieldSet& other) const;
  FieldSet intersection(const FieldSet& other) const;
  FieldSet difference(const FieldSet& other) const;
  std::vector<FieldPath> members() const;  // in FieldsV1 order

  nlohmann::json toFieldsV1() const;
  // Throws std::invalid_argument for what is not a FieldsV1 tree.
  static FieldSet fromFieldsV1(const nlohmann::json& fields);

  bool operator==(const FieldSet& other) const = default;

 private:
  struct Node {
    bool member = false;
    std::map<std::string, Node> children;
    bool operator==(const Node& other) const = default;
  };
  Node root_;
};

// A path as kube prints it in conflicts: .spec.env[name="A"].value, .spec.instanceEnv[="X"].
std::string pathString(const FieldPath& path);

// One metadata.managedFields entry.
struct ManagedFieldsEntry {
  std::string manager;
  std::string operation;  // "Apply" | "Update"
  std::string apiVersion;
  std::string time;         // RFC 3339
  std::string subresource;  // "" or "status"
  FieldSet fields;
};

// The entries of obj.metadata.managedFields; entries that do not decode are dropped (they are
// server-written, so only a foreign store could hold such).
std::vector<ManagedFieldsEntry> decodeManagedFields(const nlohmann::json& obj);
nlohmann::json encodeManagedFields(std::vector<ManagedFieldsEntry> entries);

// Who writes, for one request.
struct FieldWriter {
  std::string manager;
  std::string apiVersion;   // of the kind, e.g. minimcp.io/v1alpha1
  std::string subresource;  // "" or "status"
  std::string time;         // RFC 3339, now
  // The kind has a /status subresource: writes to the object do not own status, writes to
  // /status own nothing else (kube's reset fields).
  bool statusSubresource = true;
};

// `manager` writing an object of `kind` through `subresource` ("" or "status") at `now`.
FieldWriter fieldWriter(const model::KindInfo& kind, std::string manager, std::string subresource,
                        TimePoint now);

// The schema of `kind` whose list and map types field ownership follows (its compiled CRD
// schema, api/model/schemas.h); null, and so every list atomic, for a kind without one.
const nlohmann::json& ownershipSchema(const model::KindInfo& kind);

// The field set of `obj` as `writer` would own it: server-set metadata (name, uid, ...),
// apiVersion and kind are never owned.
FieldSet fieldSetOf(const nlohmann::json& obj, const nlohmann::json& schema,
                    const FieldWriter& writer);

enum class OnConflict {
  Fail,   // 409 naming every conflicting field and its manager
  Force,  // take the fields (kube's force=true)
  Yield,  // leave the fields to their managers: applied as if the configuration omitted them
};

// Server-side apply of `config` over `live` (nullptr: the object does not exist yet). Returns
// the new object with metadata.managedFields. Throws ApiError: 409 Conflict (OnConflict::Fail),
// 400 for a configuration that carries managedFields or a keyed list item without its key.
nlohmann::json applyConfiguration(const nlohmann::json* live, nlohmann::json config,
                                  const nlohmann::json& schema, const FieldWriter& writer,
                                  OnConflict onConflict);

// Records an Update operation (create, update, merge or JSON patch, status write): the fields
// that changed from `live` (nullptr on create) to `updated` become the writer's and stop being
// anyone else's. A client cannot write managedFields, except `[{}]`, which resets them (as kube
// allows); anything else it sends there is replaced. Returns `updated` with managedFields.
nlohmann::json recordUpdate(const nlohmann::json* live, nlohmann::json updated,
                            const nlohmann::json& schema, const FieldWriter& writer);

// Records one write by `manager` at `now`, as recordUpdate. Written through `subresource` (a REST
// request: "" or "status"), the writer owns only what that endpoint may change (status changes
// a strategy derives on a main-resource write are nobody's). Without one (a writer inside mcpd,
// which may change both at once), as kube-apiserver records a request to each endpoint: for a
// kind with a /status subresource, what changed under status is an Update through subresource
// "status", what changed elsewhere an Update of the main resource. guaranteedUpdate calls it for
// every write it makes.
nlohmann::json recordWrite(const nlohmann::json* live, nlohmann::json updated,
                           const model::KindInfo& kind, const std::string& manager, TimePoint now,
                           const std::optional<std::string>& subresource = std::nullopt);

// The manager of a request: the fieldManager parameter, else the User-Agent's product
// ("kubectl/v1.32.0 (linux/amd64) ..." → "kubectl"), as kube-apiserver derives it. Throws
// ApiError 400 for a fieldManager over 128 characters or with unprintable ones.
std::string fieldManagerFor(const std::string& fieldManagerParam, const std::string& userAgent);

}  // namespace minimcp::registry
