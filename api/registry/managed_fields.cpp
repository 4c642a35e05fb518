#include "api/registry/managed_fields.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include "api/model/schemas.h"
#include "api/util/api_error.h"

namespace minimcp::registry {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// FieldSet

void FieldSet::insert(const FieldPath& path) {
  Node* n = &root_;
  for (const auto& e : path) n = &n->children[e];
  n->member = true;
}

bool FieldSet::contains(const FieldPath& path) const {
  const Node* n = &root_;
  for (const auto& e : path) {
    auto it = n->children.find(e);
    if (it == n->children.end()) return false;
    n = &it->second;
  }
  return n->member;
}

bool FieldSet::containsOrHasBelow(const FieldPath& path) const {
  const Node* n = &root_;
  for (const auto& e : path) {
    auto it = n->children.find(e);
    if (it == n->children.end()) return false;
    n = &it->second;
  }
  return n->member || !n->children.empty();
}

namespace {

template <typename Node, typename Fn>
void forEachMember(const Node& n, FieldPath& path, const Fn& fn) {
  if (n.member) fn(path);
  for (const auto& [e, child] : n.children) {
    path.push_back(e);
    forEachMember(child, path, fn);
    path.pop_back();
  }
}

}  // namespace

std::vector<FieldPath> FieldSet::members() const {
  std::vector<FieldPath> out;
  FieldPath path;
  forEachMember(root_, path, [&](const FieldPath& p) { out.push_back(p); });
  return out;
}

FieldSet FieldSet::unionWith(const FieldSet& other) const {
  FieldSet out = *this;
  for (const auto& p : other.members()) out.insert(p);
  return out;
}

FieldSet FieldSet::intersection(const FieldSet& other) const {
  FieldSet out;
  for (const auto& p : members()) {
    if (other.contains(p)) out.insert(p);
  }
  return out;
}

FieldSet FieldSet::difference(const FieldSet& other) const {
  FieldSet out;
  for (const auto& p : members()) {
    if (!other.contains(p)) out.insert(p);
  }
  return out;
}

namespace {

template <typename Node>
json nodeToJson(const Node& n) {
  json out = json::object();
  if (n.member && !n.children.empty()) out["."] = json::object();
  for (const auto& [e, child] : n.children) out[e] = nodeToJson(child);
  return out;
}

bool validElement(const std::string& e) {
  if (e.size() < 2 || e[1] != ':') return false;
  return e[0] == 'f' || e[0] == 'k' || e[0] == 'v' || e[0] == 'i';
}

}  // namespace

json FieldSet::toFieldsV1() const { return nodeToJson(root_); }

FieldSet FieldSet::fromFieldsV1(const json& fields) {
  if (!fields.is_object()) throw std::invalid_argument("fieldsV1 must be an object");
  FieldSet out;
  FieldPath path;
  auto walk = [&](auto&& self, const json& node) -> void {
    if (node.empty() && !path.empty()) out.insert(path);
    for (const auto& [e, child] : node.items()) {
      if (!child.is_object()) throw std::invalid_argument("fieldsV1 nodes must be objects");
      if (e == ".") {
        if (!path.empty()) out.insert(path);
        continue;
      }
      if (!validElement(e)) throw std::invalid_argument("fieldsV1: bad path element " + e);
      path.push_back(e);
      self(self, child);
      path.pop_back();
    }
  };
  walk(walk, fields);
  return out;
}

std::string pathString(const FieldPath& path) {
  std::string out;
  for (const auto& e : path) {
    std::string rest = e.substr(2);
    switch (e[0]) {
      case 'f':
        out += "." + rest;
        break;
      case 'k': {
        out += "[";
        json keys = json::parse(rest, nullptr, false);
        bool first = true;
        if (keys.is_object()) {
          for (const auto& [k, v] : keys.items()) {
            out += (first ? "" : ",") + k + "=" + v.dump();
            first = false;
          }
        }
        out += "]";
        break;
      }
      case 'v':
        out += "[=" + rest + "]";
        break;
      default:
        out += "[" + rest + "]";
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Schema: what kind of list or map sits at a node

namespace {

const json& nullSchema() {
  static const json n;
  return n;
}

// ObjectMeta as kube types it: finalizers a set, ownerReferences keyed by uid; labels and
// annotations are granular maps as any schema-less map is.
const json& objectMetaSchema() {
  static const json s = {{"type", "object"},
                         {"properties",
                          {{"finalizers", {{"type", "array"}, {"x-kubernetes-list-type", "set"}}},
                           {"ownerReferences",
                            {{"type", "array"},
                             {"x-kubernetes-list-type", "map"},
                             {"x-kubernetes-list-map-keys", {"uid"}}}}}}};
  return s;
}

const json& childSchema(const json& s, const std::string& field) {
  if (!s.is_object()) return nullSchema();
  if (auto p = s.find("properties"); p != s.end() && p->is_object()) {
    if (auto it = p->find(field); it != p->end()) return *it;
  }
  if (auto a = s.find("additionalProperties"); a != s.end() && a->is_object()) return *a;
  return nullSchema();
}

const json& itemsSchema(const json& s) {
  if (!s.is_object()) return nullSchema();
  auto it = s.find("items");
  return it != s.end() && it->is_object() ? *it : nullSchema();
}

std::string stringAt(const json& s, const char* key) {
  if (!s.is_object()) return "";
  auto it = s.find(key);
  return it != s.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> mapKeys(const json& s) {
  std::vector<std::string> out;
  if (!s.is_object()) return out;
  auto it = s.find("x-kubernetes-list-map-keys");
  if (it == s.end() || !it->is_array()) return out;
  for (const auto& k : *it) {
    if (k.is_string()) out.push_back(k.get<std::string>());
  }
  return out;
}

bool atomicMap(const json& s) { return stringAt(s, "x-kubernetes-map-type") == "atomic"; }

// Server-set metadata: never owned by anyone (kube's stripped fields).
bool serverSetMeta(const std::string& field) {
  static const char* const kFields[] = {"name",
                                        "namespace",
                                        "uid",
                                        "resourceVersion",
                                        "generation",
                                        "creationTimestamp",
                                        "deletionTimestamp",
                                        "deletionGracePeriodSeconds",
                                        "selfLink",
                                        "managedFields"};
  return std::any_of(std::begin(kFields), std::end(kFields),
                     [&](const char* f) { return field == f; });
}

// A list item's element: "k:{...}" or "v:..."; "" when the list cannot be granular (an item
// without its keys, a duplicate, a set item that is not a scalar): such lists are one field.
struct ListShape {
  enum Kind { Atomic, Map, Set } kind = Atomic;
  std::vector<std::string> elements;  // per item, for Map and Set
};

// Strict: a keyed list whose items lack keys or repeat them is an error naming `where`.
ListShape listShape(const json& list, const json& s, bool strict, const FieldPath& where) {
  ListShape out;
  const std::string type = stringAt(s, "x-kubernetes-list-type");
  auto bad = [&](const std::string& why) {
    if (strict) throw ApiError::BadRequest(pathString(where) + ": " + why);
    return ListShape{};
  };
  if (type == "map") {
    const auto keys = mapKeys(s);
    if (keys.empty()) return out;
    for (const auto& item : list) {
      if (!item.is_object()) return bad("a keyed list item must be an object");
      json k = json::object();
      for (const auto& key : keys) {
        auto it = item.find(key);
        if (it == item.end() || it->is_null()) {
          return bad("an item has no \"" + key + "\", the key of this list");
        }
        k[key] = *it;
      }
      std::string e = "k:" + k.dump();
      if (std::find(out.elements.begin(), out.elements.end(), e) != out.elements.end()) {
        return bad("duplicate entries for key " + k.dump());
      }
      out.elements.push_back(std::move(e));
    }
    out.kind = ListShape::Map;
  } else if (type == "set") {
    for (const auto& item : list) {
      if (item.is_object() || item.is_array()) return bad("a set item must be a scalar");
      std::string e = "v:" + item.dump();
      if (std::find(out.elements.begin(), out.elements.end(), e) != out.elements.end()) {
        return bad("duplicate entries for value " + item.dump());
      }
      out.elements.push_back(std::move(e));
    }
    out.kind = ListShape::Set;
  }
  return out;
}

// Which top-level fields a writer can own.
bool trackedTopLevel(const std::string& field, const FieldWriter& w) {
  if (field == "apiVersion" || field == "kind") return false;
  if (!w.statusSubresource) return true;
  return w.subresource == "status" ? field == "status" : field != "status";
}

// Top-level fields the kind's schema does not declare are the server's own bookkeeping (an
// APIKey's sealed value): owning them would name them in managedFields, which every reader sees.
bool declaredTopLevel(const std::string& field, const json& schema) {
  if (field == "metadata") return true;
  auto p = schema.is_object() ? schema.find("properties") : schema.end();
  return !schema.is_object() || p == schema.end() || !p->is_object() || p->contains(field);
}

// ---------------------------------------------------------------------------------------------
// Walking an object along its schema

struct Member {
  const json* value;
  bool item;  // a list item: a member by existing, its content is compared below it
};
using Members = std::map<FieldPath, Member>;

void collect(const json& v, const json& s, FieldPath& path, Members& out, bool strict,
             const FieldWriter* top) {
  if (v.is_object() && !(atomicMap(s) && !path.empty())) {
    if (v.empty() && !path.empty()) {
      out[path] = {&v, false};
      return;
    }
    const bool root = path.empty();
    const bool meta = path.size() == 1 && path[0] == "f:metadata";
    for (const auto& [k, child] : v.items()) {
      if (root && top && !trackedTopLevel(k, *top)) continue;
      if (root && !declaredTopLevel(k, s)) continue;
      if (meta && serverSetMeta(k)) continue;
      const json& cs = root && k == "metadata" ? objectMetaSchema() : childSchema(s, k);
      path.push_back("f:" + k);
      collect(child, cs, path, out, strict, nullptr);
      path.pop_back();
    }
    return;
  }
  if (v.is_array() && !v.empty()) {
    ListShape shape = listShape(v, s, strict, path);
    if (shape.kind != ListShape::Atomic) {
      for (size_t i = 0; i < v.size(); ++i) {
        path.push_back(shape.elements[i]);
        if (shape.kind == ListShape::Set) {
          out[path] = {&v[i], false};
        } else {
          out[path] = {&v[i], true};
          collect(v[i], itemsSchema(s), path, out, strict, nullptr);
        }
        path.pop_back();
      }
      return;
    }
  }
  out[path] = {&v, false};
}

Members membersOf(const json& obj, const json& schema, const FieldWriter& w, bool strict = false) {
  Members out;
  FieldPath path;
  if (obj.is_object()) collect(obj, schema, path, out, strict, &w);
  return out;
}

FieldSet setOf(const Members& m) {
  FieldSet out;
  for (const auto& [p, _] : m) out.insert(p);
  return out;
}

struct Comparison {
  FieldSet added, removed, modified;
  bool same() const { return added.empty() && removed.empty() && modified.empty(); }
};

Comparison compare(const json& from, const json& to, const json& schema, const FieldWriter& w) {
  Members a = membersOf(from, schema, w), b = membersOf(to, schema, w);
  Comparison out;
  for (const auto& [p, m] : a) {
    auto it = b.find(p);
    if (it == b.end()) {
      out.removed.insert(p);
    } else if (!m.item && *m.value != *it->second.value) {
      out.modified.insert(p);
    }
  }
  for (const auto& [p, _] : b) {
    if (!a.count(p)) out.added.insert(p);
  }
  return out;
}

// The configuration merged into the live object: maps field by field, keyed and set lists item
// by item (live order, new items after), everything else replaced.
json merge(const json& live, const json& config, const json& s, bool root) {
  if (config.is_object() && live.is_object() && (root || !atomicMap(s))) {
    json out = live;
    for (const auto& [k, v] : config.items()) {
      const json& cs = root && k == "metadata" ? objectMetaSchema() : childSchema(s, k);
      auto it = live.find(k);
      if (v.is_null()) {
        out.erase(k);
      } else {
        out[k] = it == live.end() ? v : merge(*it, v, cs, false);
      }
    }
    return out;
  }
  if (config.is_array() && live.is_array()) {
    ListShape a = listShape(live, s, false, {}), b = listShape(config, s, false, {});
    if (a.kind != ListShape::Atomic && a.kind == b.kind) {
      json out = json::array();
      std::vector<bool> used(config.size(), false);
      for (size_t i = 0; i < live.size(); ++i) {
        auto it = std::find(b.elements.begin(), b.elements.end(), a.elements[i]);
        if (it == b.elements.end()) {
          out.push_back(live[i]);
          continue;
        }
        size_t j = it - b.elements.begin();
        used[j] = true;
        out.push_back(a.kind == ListShape::Map ? merge(live[i], config[j], itemsSchema(s), false)
                                               : config[j]);
      }
      for (size_t j = 0; j < config.size(); ++j) {
        if (!used[j]) out.push_back(config[j]);
      }
      return out;
    }
  }
  return config;
}

// Removes the value at `path` from `obj`, if it is there.
void removePath(json& obj, const FieldPath& path) {
  json* parent = &obj;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& e = path[i];
    const std::string rest = e.substr(2);
    const bool last = i + 1 == path.size();
    if (e[0] == 'f') {
      if (!parent->is_object()) return;
      auto it = parent->find(rest);
      if (it == parent->end()) return;
      if (last) {
        parent->erase(it);
        return;
      }
      parent = &*it;
      continue;
    }
    if (!parent->is_array()) return;
    json want = json::parse(rest, nullptr, false);
    auto matches = [&](const json& item) {
      if (e[0] == 'v') return item == want;
      if (e[0] == 'i') return false;
      if (!item.is_object() || !want.is_object()) return false;
      for (const auto& [k, v] : want.items()) {
        auto f = item.find(k);
        if (f == item.end() || *f != v) return false;
      }
      return true;
    };
    auto it = std::find_if(parent->begin(), parent->end(), matches);
    if (it == parent->end()) return;
    if (last) {
      parent->erase(it);
      return;
    }
    parent = &*it;
  }
}

// ---------------------------------------------------------------------------------------------
// Managers

bool sameManager(const ManagedFieldsEntry& e, const std::string& manager,
                 const std::string& operation, const std::string& apiVersion,
                 const std::string& subresource) {
  // Apply entries are one per manager whatever the version; Update entries one per version.
  return e.manager == manager && e.operation == operation && e.subresource == subresource &&
         (operation == "Apply" || e.apiVersion == apiVersion);
}

ManagedFieldsEntry* findEntry(std::vector<ManagedFieldsEntry>& entries, const FieldWriter& w,
                              const std::string& operation) {
  for (auto& e : entries) {
    if (sameManager(e, w.manager, operation, w.apiVersion, w.subresource)) return &e;
  }
  return nullptr;
}

// How kube names a manager in a conflict.
std::string describe(const ManagedFieldsEntry& e) {
  std::string out = json(e.manager).dump();
  if (!e.subresource.empty()) out += " with subresource " + json(e.subresource).dump();
  out += " using " + e.apiVersion;
  if (e.operation == "Update" && !e.time.empty()) out += " at " + e.time;
  return out;
}

struct Conflict {
  std::string manager;  // described
  FieldPath path;
};

[[noreturn]] void throwConflicts(const std::vector<Conflict>& conflicts) {
  json causes = json::array();
  for (const auto& c : conflicts) {
    causes.push_back({{"reason", "FieldManagerConflict"},
                      {"message", "conflict with " + c.manager},
                      {"field", pathString(c.path)}});
  }
  std::string message;
  if (conflicts.size() == 1) {
    message = "Apply failed with 1 conflict: conflict with " + conflicts[0].manager + ": " +
              pathString(conflicts[0].path);
  } else {
    std::map<std::string, std::vector<std::string>> byManager;
    for (const auto& c : conflicts) byManager[c.manager].push_back(pathString(c.path));
    message = "Apply failed with " + std::to_string(conflicts.size()) + " conflicts: ";
    bool first = true;
    for (const auto& [m, paths] : byManager) {
      message += (first ? "" : "\n") + std::string("conflicts with ") + m + ":";
      for (const auto& p : paths) message += "\n- " + p;
      first = false;
    }
  }
  throw ApiError(409, "Conflict", message, json{{"causes", causes}});
}

void dropEmpty(std::vector<ManagedFieldsEntry>& entries) {
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [](const ManagedFieldsEntry& e) { return e.fields.empty(); }),
                entries.end());
}

json& metadataOf(json& obj) {
  json& md = obj["metadata"];
  if (!md.is_object()) md = json::object();
  return md;
}

void setManagedFields(json& obj, std::vector<ManagedFieldsEntry> entries) {
  json& md = metadataOf(obj);
  if (entries.empty()) {
    md.erase("managedFields");
  } else {
    md["managedFields"] = encodeManagedFields(std::move(entries));
  }
}

bool isResetRequest(const json& obj) {
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return false;
  auto mf = md->find("managedFields");
  return mf != md->end() && mf->is_array() && mf->size() == 1 && (*mf)[0].is_object() &&
         (*mf)[0].empty();
}

// Members of `removed` (and the named fields above them, the way kube prunes a struct field
// that no one sets any more) that nobody owns: dropped from the object.
void prune(json& obj, const FieldSet& lastApplied, const FieldSet& nowApplied,
           const std::vector<ManagedFieldsEntry>& others) {
  FieldSet owned = nowApplied;
  for (const auto& e : others) owned = owned.unionWith(e.fields);
  FieldSet candidates = lastApplied.difference(nowApplied);
  for (const auto& p : lastApplied.members()) {
    // Top-level fields (metadata, spec, status) stay even when emptied.
    for (size_t n = 2; n < p.size(); ++n) {
      if (p[n - 1][0] == 'f') candidates.insert(FieldPath(p.begin(), p.begin() + n));
    }
  }
  // Shallow first, so that a removed parent takes its children with it.
  for (const auto& p : candidates.members()) {
    if (owned.containsOrHasBelow(p)) continue;
    removePath(obj, p);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Encoding

std::vector<ManagedFieldsEntry> decodeManagedFields(const json& obj) {
  std::vector<ManagedFieldsEntry> out;
  if (!obj.is_object()) return out;
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return out;
  auto mf = md->find("managedFields");
  if (mf == md->end() || !mf->is_array()) return out;
  for (const auto& e : *mf) {
    if (!e.is_object()) continue;
    ManagedFieldsEntry entry;
    entry.manager = e.value("manager", "");
    entry.operation = e.value("operation", "");
    entry.apiVersion = e.value("apiVersion", "");
    entry.time = e.value("time", "");
    entry.subresource = e.value("subresource", "");
    if (entry.operation != "Apply" && entry.operation != "Update") continue;
    try {
      entry.fields = FieldSet::fromFieldsV1(e.value("fieldsV1", json::object()));
    } catch (const std::invalid_argument&) {
      continue;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

json encodeManagedFields(std::vector<ManagedFieldsEntry> entries) {
  // kube's order: Apply before Update, then oldest first, then by manager.
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return std::tie(a.operation, a.time, a.manager, a.apiVersion, a.subresource) <
           std::tie(b.operation, b.time, b.manager, b.apiVersion, b.subresource);
  });
  json out = json::array();
  for (const auto& e : entries) {
    json j = {{"manager", e.manager},       {"operation", e.operation},
              {"apiVersion", e.apiVersion}, {"time", e.time},
              {"fieldsType", "FieldsV1"},   {"fieldsV1", e.fields.toFieldsV1()}};
    if (!e.subresource.empty()) j["subresource"] = e.subresource;
    out.push_back(std::move(j));
  }
  return out;
}

FieldWriter fieldWriter(const model::KindInfo& kind, std::string manager, std::string subresource,
                        TimePoint now) {
  return {std::move(manager), kind.apiVersion(), std::move(subresource), formatRfc3339(now),
          kind.hasStatus};
}

const json& ownershipSchema(const model::KindInfo& kind) {
  const model::KindSchema* k = model::findKindSchema(kind.plural);
  return k ? k->objectSchema : nullSchema();
}

FieldSet fieldSetOf(const json& obj, const json& schema, const FieldWriter& writer) {
  return setOf(membersOf(obj, schema, writer));
}

// ---------------------------------------------------------------------------------------------
// Apply and Update

json applyConfiguration(const json* live, json config, const json& schema,
                        const FieldWriter& writer, OnConflict onConflict) {
  if (!config.is_object()) throw ApiError::BadRequest("the apply configuration must be an object");
  if (auto md = config.find("metadata"); md != config.end() && md->is_object()) {
    if (auto mf = md->find("managedFields"); mf != md->end() && !mf->is_null()) {
      throw ApiError::BadRequest("metadata.managedFields must be nil");
    }
  }
  const json empty = json::object();
  const json& from = live ? *live : empty;
  std::vector<ManagedFieldsEntry> entries = decodeManagedFields(from);
  if (live && entries.empty()) {
    // An object no one has applied to: what it holds belongs to "before-first-apply", so that
    // the first applier conflicts with values it did not set, as in kube.
    FieldWriter before = writer;
    before.subresource = "";
    FieldSet all = fieldSetOf(*live, schema, before);
    if (writer.statusSubresource) {
      before.subresource = "status";
      all = all.unionWith(fieldSetOf(*live, schema, before));
    }
    if (!all.empty()) {
      entries.push_back({"before-first-apply", "Update", writer.apiVersion, writer.time, "", all});
    }
  }
  FieldSet lastApplied;
  ManagedFieldsEntry* mine = findEntry(entries, writer, "Apply");
  if (mine) lastApplied = mine->fields;

  for (;;) {
    FieldSet applied = setOf(membersOf(config, schema, writer, /*strict=*/true));
    std::vector<ManagedFieldsEntry> others;
    for (const auto& e : entries) {
      if (&e != mine) others.push_back(e);
    }
    json out = merge(from, config, schema, true);
    prune(out, lastApplied, applied, others);
    Comparison cmp = compare(from, out, schema, writer);
    FieldSet changed = cmp.modified.unionWith(cmp.added);
    std::vector<Conflict> conflicts;
    for (const auto& e : others) {
      for (const auto& p : e.fields.intersection(changed).members()) {
        conflicts.push_back({describe(e), p});
      }
    }
    if (!conflicts.empty() && onConflict == OnConflict::Yield) {
      for (const auto& c : conflicts) removePath(config, c.path);
      onConflict = OnConflict::Fail;  // what is left cannot conflict; if it does, say so
      continue;
    }
    if (!conflicts.empty() && onConflict == OnConflict::Fail) throwConflicts(conflicts);
    for (auto& e : others) e.fields = e.fields.difference(changed).difference(cmp.removed);
    ManagedFieldsEntry next{writer.manager,     "Apply", writer.apiVersion, writer.time,
                            writer.subresource, applied};
    if (mine && applied == mine->fields && cmp.same()) next.time = mine->time;
    others.push_back(std::move(next));
    dropEmpty(others);
    setManagedFields(out, std::move(others));
    return out;
  }
}

namespace {

// One Update by `writer` on `entries`: the fields that changed from `from` to `to` become the
// writer's and stop being anyone else's.
void recordChanges(std::vector<ManagedFieldsEntry>& entries, const json& from, const json& to,
                   const json& schema, const FieldWriter& writer) {
  Comparison cmp = compare(from, to, schema, writer);
  FieldSet changed = cmp.modified.unionWith(cmp.added);
  ManagedFieldsEntry* mine = findEntry(entries, writer, "Update");
  for (auto& e : entries) {
    if (&e != mine) e.fields = e.fields.difference(changed).difference(cmp.removed);
  }
  if (!changed.empty() || (mine && !mine->fields.intersection(cmp.removed).empty())) {
    if (!mine) {
      entries.push_back({writer.manager, "Update", writer.apiVersion, "", writer.subresource, {}});
      mine = &entries.back();
    }
    mine->fields = mine->fields.difference(cmp.removed).unionWith(changed);
    mine->time = writer.time;
  }
}

const json& memberOr(const json& obj, const char* key, const json& absent) {
  if (!obj.is_object()) return absent;
  auto it = obj.find(key);
  return it == obj.end() ? absent : *it;
}

// Whether a top-level field other than status (and other than managedFields) differs.
bool changedBesideStatus(const json& from, const json& to) {
  const json absent;
  for (const json* side : {&from, &to}) {
    if (!side->is_object()) continue;
    for (const auto& [k, v] : side->items()) {
      if (k == "status") continue;
      const json& other = memberOr(side == &from ? to : from, k.c_str(), absent);
      if (k != "metadata") {
        if (v != other) return true;
        continue;
      }
      if (!v.is_object() || !other.is_object()) {
        if (v != other) return true;
        continue;
      }
      for (const auto& [mk, mv] : v.items()) {
        if (mk != "managedFields" && mv != memberOr(other, mk.c_str(), absent)) return true;
      }
      for (const auto& [mk, _] : other.items()) {
        if (mk != "managedFields" && !v.contains(mk)) return true;
      }
    }
  }
  return false;
}

}  // namespace

json recordUpdate(const json* live, json updated, const json& schema, const FieldWriter& writer) {
  const json empty = json::object();
  const json& from = live ? *live : empty;
  std::vector<ManagedFieldsEntry> entries;
  if (!isResetRequest(updated)) entries = decodeManagedFields(from);
  metadataOf(updated).erase("managedFields");
  recordChanges(entries, from, updated, schema, writer);
  dropEmpty(entries);
  setManagedFields(updated, std::move(entries));
  return updated;
}

json recordWrite(const json* live, json updated, const model::KindInfo& kind,
                 const std::string& manager, TimePoint now,
                 const std::optional<std::string>& subresource) {
  const json& schema = ownershipSchema(kind);
  FieldWriter writer = fieldWriter(kind, manager, subresource.value_or(""), now);
  if (subresource || !kind.hasStatus) return recordUpdate(live, std::move(updated), schema, writer);
  const json empty = json::object(), absent;
  const json& from = live ? *live : empty;
  const bool reset = isResetRequest(updated);
  const bool statusChanged =
      memberOr(from, "status", absent) != memberOr(updated, "status", absent);
  const bool restChanged = changedBesideStatus(from, updated);
  if (!reset && !statusChanged && !restChanged) {
    // Nothing to own: the stored entries stay as they are (cheap for a writer that changed
    // nothing, and whatever the caller put in managedFields is replaced all the same).
    const json& was = memberOr(memberOr(from, "metadata", absent), "managedFields", absent);
    if (was.is_null()) {
      metadataOf(updated).erase("managedFields");
    } else {
      metadataOf(updated)["managedFields"] = was;
    }
    return updated;
  }
  std::vector<ManagedFieldsEntry> entries;
  if (!reset) entries = decodeManagedFields(from);
  metadataOf(updated).erase("managedFields");
  if (restChanged) recordChanges(entries, from, updated, schema, writer);
  if (statusChanged) {
    writer.subresource = "status";
    recordChanges(entries, from, updated, schema, writer);
  }
  dropEmpty(entries);
  setManagedFields(updated, std::move(entries));
  return updated;
}

std::string fieldManagerFor(const std::string& param, const std::string& userAgent) {
  if (!param.empty()) {
    if (param.size() > 128) {
      throw ApiError::BadRequest("fieldManager: Too long: may not be more than 128 bytes");
    }
    for (unsigned char c : param) {
      if (c < 0x20 || c == 0x7f) {
        throw ApiError::BadRequest("fieldManager: Invalid value: \"" + param +
                                   "\": must only contain printable characters");
      }
    }
    return param;
  }
  std::string out;
  for (unsigned char c : userAgent.substr(0, userAgent.find('/'))) {
    if (c >= 0x20 && c != 0x7f) out.push_back(static_cast<char>(c));
  }
  return out.substr(0, 128);
}

}  // namespace minimcp::registry
