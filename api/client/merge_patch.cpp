#include "api/client/merge_patch.h"

#include <functional>

namespace minimcp::client {

using nlohmann::json;

json withLastApplied(const json& desired, const std::vector<std::string>& writeOnly) {
  json recorded = desired;
  for (const auto& pointer : writeOnly) {
    json::json_pointer p(pointer);
    if (!recorded.contains(p)) continue;
    json& parent = recorded[p.parent_pointer()];
    if (parent.is_object()) parent.erase(p.back());
  }
  // Byte for byte what kubectl records (metadata.annotations always present, a trailing
  // newline), so kubectl and mcpctl see each other's applies as unchanged.
  json& annotations = recorded["metadata"]["annotations"];
  if (!annotations.is_object()) annotations = json::object();
  annotations.erase(kLastAppliedAnnotation);
  json out = desired;
  out["metadata"]["annotations"][kLastAppliedAnnotation] = recorded.dump() + "\n";
  return out;
}

json lastAppliedOf(const json& live) {
  const json* annotations = nullptr;
  if (live.contains("metadata") && live["metadata"].is_object() &&
      live["metadata"].contains("annotations") && live["metadata"]["annotations"].is_object()) {
    annotations = &live["metadata"]["annotations"];
  }
  if (!annotations || !annotations->contains(kLastAppliedAnnotation)) return nullptr;
  const json& text = (*annotations)[kLastAppliedAnnotation];
  if (!text.is_string()) return nullptr;
  json parsed = json::parse(text.get<std::string>(), nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? json(nullptr) : parsed;
}

namespace {

// Keys of `original` that `modified` no longer has (recursing into objects present in both).
json deletions(const json& original, const json& modified) {
  json out = json::object();
  if (!original.is_object() || !modified.is_object()) return out;
  for (auto it = original.begin(); it != original.end(); ++it) {
    auto m = modified.find(it.key());
    if (m == modified.end()) {
      out[it.key()] = nullptr;
    } else if (it->is_object() && m->is_object()) {
      json nested = deletions(*it, *m);
      if (!nested.empty()) out[it.key()] = std::move(nested);
    }
  }
  return out;
}

// Fields of `modified` whose value differs from `current` (additions and changes only).
json changes(const json& current, const json& modified) {
  json out = json::object();
  for (auto it = modified.begin(); it != modified.end(); ++it) {
    auto c = current.is_object() ? current.find(it.key()) : current.end();
    bool present = current.is_object() && c != current.end();
    if (it->is_null()) {
      // An explicit null in the user's config asks for deletion.
      if (present && !c->is_null()) out[it.key()] = nullptr;
    } else if (!present) {
      out[it.key()] = *it;
    } else if (it->is_object() && c->is_object()) {
      json nested = changes(*c, *it);
      if (!nested.empty()) out[it.key()] = std::move(nested);
    } else if (*it != *c) {
      out[it.key()] = *it;
    }
  }
  return out;
}

// Deletions first, then changes on top: a key both deleted and changed can only be a change.
void mergeInto(json& target, const json& patch) {
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it->is_object() && target.contains(it.key()) && target[it.key()].is_object()) {
      mergeInto(target[it.key()], *it);
    } else {
      target[it.key()] = *it;
    }
  }
}

}  // namespace

json threeWayMergePatch(const json& lastApplied, const json& live, const json& modified) {
  json patch = deletions(lastApplied.is_object() ? lastApplied : json::object(), modified);
  // A deletion of a key the live object does not have is a no-op: leave it out so that an
  // unchanged object yields an empty patch.
  std::function<void(json&, const json&)> prune = [&](json& p, const json& l) {
    for (auto it = p.begin(); it != p.end();) {
      auto lv = l.is_object() ? l.find(it.key()) : l.end();
      bool inLive = l.is_object() && lv != l.end();
      if (it->is_null() && !inLive) {
        it = p.erase(it);
        continue;
      }
      if (it->is_object() && inLive) {
        prune(*it, *lv);
        if (it->empty()) {
          it = p.erase(it);
          continue;
        }
      } else if (it->is_object() && !inLive) {
        it = p.erase(it);
        continue;
      }
      ++it;
    }
  };
  prune(patch, live);
  mergeInto(patch, changes(live, modified));
  return patch;
}

}  // namespace minimcp::client
