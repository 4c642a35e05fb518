// The pure part of `label` and `annotate`: kubectl's argument grammar, its validation and the
// merge patch it sends (metadata.labels / metadata.annotations, plus metadata.resourceVersion
// when --resource-version is given).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace minimcp::client {

enum class MetadataField { Labels, Annotations };

// kubectl's split of the arguments: resources first (KIND NAME... or KIND/NAME...), then the
// changes (KEY=VALUE, KEY-). Throws std::invalid_argument "all resources must be specified
// before label changes: X" when a resource follows a change.
struct ResourcesAndPairs {
  std::vector<std::string> resources;
  std::vector<std::string> pairs;
};
ResourcesAndPairs splitResourcesAndPairs(const std::vector<std::string>& args, MetadataField field);

struct MetadataChanges {
  std::map<std::string, std::string> set;
  std::vector<std::string> remove;
};
// KEY=VALUE and KEY- arguments, validated as kubectl does (label values must be valid label
// values; a key may not be both set and removed). Throws std::invalid_argument with kubectl's
// message.
MetadataChanges parseMetadataChanges(const std::vector<std::string>& pairs, MetadataField field);

struct MetadataPatch {
  nlohmann::json patch;  // the merge patch body ({} when nothing changes)
  // What kubectl prints after the object's name: "labeled", "unlabeled", "not labeled",
  // or "annotated".
  std::string outcome;
  std::vector<std::string> notices;  // e.g. `label "x" not found.`
};
// The patch that applies `changes` to `object`. Without `overwrite`, changing an existing label
// (or declaring an existing annotation at all) throws std::invalid_argument with kubectl's message.
MetadataPatch metadataPatch(const nlohmann::json& object, MetadataField field,
                            const MetadataChanges& changes, bool overwrite,
                            const std::string& resourceVersion);

}  // namespace minimcp::client
