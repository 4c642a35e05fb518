#include "api/client/metadata_patch.h"

#include <regex>
#include <stdexcept>

namespace minimcp::client {

using nlohmann::json;

namespace {

const char* noun(MetadataField field) {
  return field == MetadataField::Labels ? "label" : "annotation";
}

bool isChange(const std::string& s) {
  return (s.find('=') != std::string::npos && s[0] != '=') || (s.size() > 1 && s.back() == '-');
}

std::string labelValueError(const std::string& value) {
  static const std::regex valid(R"((([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?)");
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back("must be no more than 63 characters");
  if (!std::regex_match(value, valid)) {
    errs.push_back(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
        "'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  }
  std::string out;
  for (const auto& e : errs) out += (out.empty() ? "" : ";") + e;
  return out;
}

MetadataChanges parseLabels(const std::vector<std::string>& pairs) {
  MetadataChanges c;
  for (const auto& spec : pairs) {
    if (spec.find('=') != std::string::npos) {
      size_t eq = spec.find('=');
      if (spec.find('=', eq + 1) != std::string::npos) {
        throw std::invalid_argument("invalid label spec: " + spec);
      }
      std::string value = spec.substr(eq + 1);
      if (auto err = labelValueError(value); !err.empty()) {
        throw std::invalid_argument("invalid label value: " + json(spec).dump() + ": " + err);
      }
      c.set[spec.substr(0, eq)] = value;
    } else if (!spec.empty() && spec.back() == '-') {
      c.remove.push_back(spec.substr(0, spec.size() - 1));
    } else {
      throw std::invalid_argument("unknown label spec: " + spec);
    }
  }
  for (const auto& key : c.remove) {
    if (c.set.count(key)) {
      throw std::invalid_argument("can not both modify and remove a label in the same command");
    }
  }
  return c;
}

MetadataChanges parseAnnotations(const std::vector<std::string>& pairs) {
  MetadataChanges c;
  std::string invalid;
  for (const auto& spec : pairs) {
    if (spec.find('=') != std::string::npos && spec[0] != '=') {
      size_t eq = spec.find('=');
      c.set[spec.substr(0, eq)] = spec.substr(eq + 1);
    } else if (spec.size() > 1 && spec.back() == '-') {
      c.remove.push_back(spec.substr(0, spec.size() - 1));
    } else {
      invalid += (invalid.empty() ? "" : ", ") + spec;
    }
  }
  if (!invalid.empty()) throw std::invalid_argument("invalid annotation format: " + invalid);
  std::string both;
  for (const auto& key : c.remove) {
    if (c.set.count(key)) both += (both.empty() ? "" : ", ") + key;
  }
  if (!both.empty()) {
    throw std::invalid_argument(
        "can not both modify and remove the following annotation(s) in the same command: " + both);
  }
  return c;
}

}  // namespace

ResourcesAndPairs splitResourcesAndPairs(const std::vector<std::string>& args,
                                         MetadataField field) {
  ResourcesAndPairs out;
  bool foundPair = false;
  for (const auto& s : args) {
    bool change = isChange(s);
    if (change) {
      foundPair = true;
      out.pairs.push_back(s);
    } else if (!foundPair) {
      out.resources.push_back(s);
    } else {
      throw std::invalid_argument(std::string("all resources must be specified before ") +
                                  noun(field) + " changes: " + s);
    }
  }
  return out;
}

MetadataChanges parseMetadataChanges(const std::vector<std::string>& pairs, MetadataField field) {
  if (pairs.empty()) {
    throw std::invalid_argument(std::string("at least one ") + noun(field) + " update is required");
  }
  return field == MetadataField::Labels ? parseLabels(pairs) : parseAnnotations(pairs);
}

MetadataPatch metadataPatch(const json& object, MetadataField field, const MetadataChanges& changes,
                            bool overwrite, const std::string& resourceVersion) {
  const char* key = field == MetadataField::Labels ? "labels" : "annotations";
  json current = json::object();
  if (object.is_object() && object.contains("metadata") && object["metadata"].is_object()) {
    const json& meta = object["metadata"];
    if (meta.contains(key) && meta[key].is_object()) current = meta[key];
  }
  auto currentValue = [&](const std::string& k) -> const json* {
    auto it = current.find(k);
    return it == current.end() ? nullptr : &*it;
  };
  if (!overwrite) {
    std::vector<std::string> conflicts;
    for (const auto& [k, v] : changes.set) {
      const json* have = currentValue(k);
      if (!have) continue;
      std::string haveText = have->is_string() ? have->get<std::string>() : have->dump();
      // A label set to the value it has is no change; an annotation declared at all is.
      if (field == MetadataField::Labels && haveText == v) continue;
      conflicts.push_back("'" + k + "' already has a value (" + haveText + ")");
    }
    if (field == MetadataField::Annotations && !conflicts.empty()) {
      std::string joined;
      for (const auto& c : conflicts) joined += (joined.empty() ? "" : "; ") + c;
      throw std::invalid_argument(
          "--overwrite is false but found the following declared annotation(s): " + joined);
    }
    if (conflicts.size() == 1) {
      throw std::invalid_argument(conflicts[0] + ", and --overwrite is false");
    }
    if (conflicts.size() > 1) {  // kubectl's aggregate of several errors
      std::string joined;
      for (const auto& c : conflicts) {
        joined += (joined.empty() ? "" : ", ") + c + ", and --overwrite is false";
      }
      throw std::invalid_argument("[" + joined + "]");
    }
  }
  MetadataPatch out;
  json updated = current;
  json delta = json::object();
  for (const auto& [k, v] : changes.set) {
    const json* have = currentValue(k);
    if (!have || *have != json(v)) delta[k] = v;
    updated[k] = v;
  }
  for (const auto& k : changes.remove) {
    if (currentValue(k)) {
      delta[k] = nullptr;
      updated.erase(k);
    } else if (field == MetadataField::Labels) {
      out.notices.push_back("label " + json(k).dump() + " not found.");
    }
  }
  out.patch = json::object();
  if (!delta.empty()) out.patch["metadata"][key] = delta;
  if (!resourceVersion.empty()) out.patch["metadata"]["resourceVersion"] = resourceVersion;
  if (field == MetadataField::Annotations) {
    out.outcome = "annotated";
  } else if (delta.empty()) {
    out.outcome = "not labeled";
  } else {
    // kubectl compares the serialized object before and after: shorter without --overwrite
    // reads as "unlabeled".
    bool shorter = updated.dump().size() < current.dump().size();
    out.outcome = (!overwrite && shorter) ? "unlabeled" : "labeled";
  }
  return out;
}

}  // namespace minimcp::client
