#include "api/model/schemas.h"

#include <string_view>
#include <utility>

#include "api/model/yaml.h"

namespace minimcp::model {

// Defined in the source cmake/embed_files.cmake generates: (file name, text) of each schema file.
const std::vector<std::pair<std::string_view, std::string_view>>& embeddedSchemaYaml();

namespace {

using nlohmann::json;

struct Loaded {
  std::vector<KindSchema> kinds;
  json definitions = json::object();
};

json completeMetadata(const json& schema, const json& objectMeta) {
  json out = schema;
  json meta = objectMeta;
  if (const auto it = schema.find("properties"); it != schema.end()) {
    if (const auto m = it->find("metadata"); m != it->end()) {
      // The CRD may narrow ObjectMeta's fields (a name pattern): its constraints win.
      const json narrowed = m->value("properties", json::object());
      for (const auto& [field, s] : narrowed.items()) {
        for (const auto& [key, value] : s.items()) meta["properties"][field][key] = value;
      }
    }
  }
  out["properties"]["metadata"] = std::move(meta);
  return out;
}

Loaded load() {
  Loaded l;
  for (const auto& [name, text] : embeddedSchemaYaml()) {
    for (json& doc : parseYamlDocuments(std::string(text))) {
      if (doc.value("kind", "") != "CustomResourceDefinition") {
        for (auto it = doc.begin(); it != doc.end(); ++it) l.definitions[it.key()] = it.value();
        continue;
      }
      const json& spec = doc.at("spec");
      const json* version = nullptr;
      for (const json& v : spec.at("versions")) {
        if (!version || v.value("storage", false)) version = &v;
      }
      if (!version) continue;
      KindSchema k;
      k.group = spec.at("group").get<std::string>();
      k.version = version->at("name").get<std::string>();
      k.kind = spec.at("names").at("kind").get<std::string>();
      k.plural = spec.at("names").at("plural").get<std::string>();
      k.source = std::string(name);
      k.schema = version->at("schema").at("openAPIV3Schema");
      l.kinds.push_back(std::move(k));
    }
  }
  const json& objectMeta = l.definitions.at(kObjectMetaDefinition);
  for (KindSchema& k : l.kinds) k.objectSchema = completeMetadata(k.schema, objectMeta);
  return l;
}

const Loaded& loaded() {
  static const Loaded l = load();
  return l;
}

bool preservesUnknown(const json& schema) {
  auto it = schema.find("x-kubernetes-preserve-unknown-fields");
  return it != schema.end() && it->is_boolean() && it->get<bool>();
}

std::string join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// Walks `value` against `schema`, collecting (and with prune, erasing) undeclared fields.
void walk(const json& schema, json& value, const std::string& path, bool prune,
          std::vector<std::string>& out) {
  if (!schema.is_object()) return;
  if (value.is_array()) {
    auto items = schema.find("items");
    if (items == schema.end()) return;
    for (size_t i = 0; i < value.size(); ++i) {
      walk(*items, value[i], path + "[" + std::to_string(i) + "]", prune, out);
    }
    return;
  }
  if (!value.is_object()) return;
  const bool preserve = preservesUnknown(schema);
  const auto props = schema.find("properties");
  const auto additional = schema.find("additionalProperties");
  const bool anyAdditional =
      additional != schema.end() &&
      (additional->is_object() || (additional->is_boolean() && additional->get<bool>()));
  for (auto it = value.begin(); it != value.end();) {
    const std::string key = it.key();
    if (props != schema.end() && props->contains(key)) {
      walk((*props)[key], it.value(), join(path, key), prune, out);
    } else if (anyAdditional) {
      if (additional->is_object()) walk(*additional, it.value(), join(path, key), prune, out);
    } else if (!preserve) {
      out.push_back(join(path, key));
      if (prune) {
        it = value.erase(it);
        continue;
      }
    }
    ++it;
  }
}

}  // namespace

const std::vector<KindSchema>& kindSchemas() { return loaded().kinds; }

const KindSchema* findKindSchema(const std::string& kindOrPlural) {
  for (const KindSchema& k : kindSchemas()) {
    if (k.kind == kindOrPlural || k.plural == kindOrPlural) return &k;
  }
  return nullptr;
}

const json& schemaDefinitions() { return loaded().definitions; }

const json* schemaAt(const json& objectSchema, const std::vector<std::string>& path) {
  const json* s = &objectSchema;
  for (const std::string& segment : path) {
    const bool index =
        !segment.empty() && segment.find_first_not_of("0123456789") == std::string::npos;
    const json* next = nullptr;
    if (index) {
      if (auto it = s->find("items"); it != s->end()) next = &*it;
    } else if (auto props = s->find("properties"); props != s->end()) {
      if (auto it = props->find(segment); it != props->end()) next = &*it;
    }
    if (!next) {
      if (auto it = s->find("additionalProperties"); it != s->end() && it->is_object()) {
        next = &*it;
      }
    }
    if (!next) return nullptr;
    s = next;
  }
  return s;
}

std::vector<std::string> unknownFields(const json& schema, const json& obj) {
  json copy = obj;
  std::vector<std::string> out;
  walk(schema, copy, "", false, out);
  return out;
}

std::vector<std::string> pruneUnknownFields(const json& schema, json& obj) {
  std::vector<std::string> out;
  walk(schema, obj, "", true, out);
  return out;
}

}  // namespace minimcp::model
