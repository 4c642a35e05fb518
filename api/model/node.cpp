// Node: one mcpd host of a cluster sharing a PostgreSQL store. Cluster-scoped; the
// node writes it itself (registration, then a heartbeat lease in status). spec tells peers how
// to reach the node (its API server and gateway) and how much it may run.
#include "api/model/kind_strategy.h"
#include "api/model/kinds.h"

namespace minimcp::model {

using nlohmann::json;

namespace {

KindInfo nodeInfo() {
  KindInfo k;
  k.kind = "Node";
  k.plural = "nodes";
  k.singular = "node";
  k.shortNames = {"no"};
  k.categories = {"minimcp"};
  k.namespaced = false;
  k.hasStatus = true;
  k.columns = {
      {"Status", "string", ".status.phase", 0, "Ready while the node renews its lease"},
      {"Instances", "integer", ".status.instances", 0, "MCPInstances bound to the node"},
      {"Capacity", "integer", ".spec.capacity", 0, "Most MCPInstances the node runs"},
      {"Age", "date", ".metadata.creationTimestamp", 0, ""},
      {"Address", "string", ".spec.address", 1, "Where peers reach its API and gateway"},
      {"Generation", "integer", ".status.leaseGeneration", 1,
       "Bumped each time the node comes back after its lease lapsed"},
      {"Renewed", "date", ".status.renewTime", 1, "Last lease renewal"},
  };
  return k;
}

class NodeStrategy : public KindStrategy {
 public:
  NodeStrategy() : KindStrategy(nodeInfo()) {}

  json tableCells(const json& obj, TimePoint now) const override {
    json phase = cellAt(obj, "status.phase");
    return json::array({phase.is_null() ? json("Unknown") : phase, cellAt(obj, "status.instances"),
                        cellAt(obj, "spec.capacity"),
                        ageCell(cellAt(obj, "metadata.creationTimestamp"), now),
                        cellAt(obj, "spec.address"), cellAt(obj, "status.leaseGeneration"),
                        ageCell(cellAt(obj, "status.renewTime"), now)});
  }

 protected:
  void applyDefaults(json& obj) const override {
    if (obj.is_object() && obj.contains("spec") && obj["spec"].is_object()) {
      setDefault(obj["spec"], "capacity", 50);
      setDefault(obj["spec"], "caBundle", "");
    }
  }

  void validateBody(FieldErrors& errs, const json& obj) const override {
    const json* spec = specToValidate(errs, obj);
    if (!spec) return;
    rejectUnknownFields(errs, *spec, "spec", {"address", "caBundle", "capacity"});
    if (const std::string* address = requiredString(errs, *spec, "address", "spec.address")) {
      if (address->rfind("https://", 0) != 0 && address->rfind("http://", 0) != 0) {
        errs.invalid("spec.address", *address, "must be an http:// or https:// URL");
      }
    }
    optionalString(errs, *spec, "caBundle", "spec.caBundle");
    optionalIntInRange(errs, *spec, "capacity", "spec.capacity", 0, 1'000'000);
  }
};

}  // namespace

const Strategy& nodeStrategy() {
  static const NodeStrategy s;
  return s;
}

}  // namespace minimcp::model
