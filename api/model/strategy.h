// Per-kind behaviour behind the one generic REST handler, after kube-apiserver's registry/rest
// strategies: what a kind is called, how it is validated and defaulted, what create/update may
// change, and how it prints as a table.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/util/api_error.h"
#include "api/util/clock.h"

namespace minimcp::model {

inline constexpr const char* kGroup = "minimcp.io";
inline constexpr const char* kVersion = "v1alpha1";
inline constexpr const char* kApiVersion = "minimcp.io/v1alpha1";

// A printer column, as in a CRD's additionalPrinterColumns.
struct Column {
  std::string name;      // "Phase"
  std::string type;      // string | integer | date | boolean
  std::string jsonPath;  // ".status.phase" (documentation; cells come from tableCells)
  int priority = 0;      // 0 = always shown, 1 = only with -o wide
  std::string description;
};

struct KindInfo {
  std::string group = kGroup;
  std::string version = kVersion;
  std::string kind;                     // "MCPInstance"
  std::string plural;                   // "mcpinstances"
  std::string singular;                 // "mcpinstance"
  std::vector<std::string> shortNames;  // {"mi"}
  std::vector<std::string> categories;  // {"all", "minimcp"}
  bool namespaced = true;
  bool hasStatus = true;        // serves the /status subresource
  std::vector<Column> columns;  // without NAME (always first) — the table adds it
  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual const KindInfo& info() const = 0;

  // Create: clear what users may not set (status), apply defaults (spec fields, expiresAt from
  // ttl for MCPInstance...). Metadata (uid, creationTimestamp, generation) is set by the REST
  // layer, not here.
  virtual void prepareForCreate(nlohmann::json& obj, const Clock& clock) const = 0;
  // Update of the main resource: keep old status; defaults as on create.
  virtual void prepareForUpdate(nlohmann::json& obj, const nlohmann::json& old,
                                const Clock& clock) const = 0;
  // Update through /status: keep old spec (and metadata except labels/annotations? no: all of it).
  virtual void prepareForStatusUpdate(nlohmann::json& obj, const nlohmann::json& old) const = 0;

  // Every problem with the object, each naming its field ("spec.ttl", "metadata.name").
  // Includes ObjectMeta validation. Empty = valid.
  virtual std::vector<Cause> validate(const nlohmann::json& obj) const = 0;
  // Extra checks on update: immutable fields.
  virtual std::vector<Cause> validateUpdate(const nlohmann::json& obj,
                                            const nlohmann::json& old) const = 0;

  // Cells for the table row, in the order of info().columns (NAME is not included).
  // `now` is for relative columns (Age, Expires).
  virtual nlohmann::json tableCells(const nlohmann::json& obj, TimePoint now) const = 0;

  // Removes write-only fields (APIKey spec.value) before an object leaves the server.
  virtual void sanitizeForRead(nlohmann::json& /*obj*/) const {}
};

// The kinds the server serves.
class Registry {
 public:
  static const Registry& instance();
  // Looks up by plural, singular, kind (case-insensitive) or short name. nullptr when unknown.
  const Strategy* find(const std::string& anyName) const;
  const Strategy* byPlural(const std::string& plural) const;
  const std::vector<const Strategy*>& all() const { return all_; }

  explicit Registry(std::vector<const Strategy*> strategies) : all_(std::move(strategies)) {}

 private:
  std::vector<const Strategy*> all_;
};

// ObjectMeta checks shared by every strategy: name (DNS-1123 subdomain, ≤253), namespace
// (DNS-1123 label, required iff namespaced), labels/annotations key and value syntax.
std::vector<Cause> validateObjectMeta(const nlohmann::json& obj, const KindInfo& info);

// REST-layer metadata on create: uid, creationTimestamp, generation=1, apiVersion/kind filled.
void initObjectMeta(nlohmann::json& obj, const KindInfo& info, const Clock& clock);

// Condition helpers (metav1.Condition): set keeps lastTransitionTime when status is unchanged.
void setCondition(nlohmann::json& obj, const std::string& type, const std::string& status,
                  const std::string& reason, const std::string& message, TimePoint now);
const nlohmann::json* findCondition(const nlohmann::json& obj, const std::string& type);

}  // namespace minimcp::model
