// apply and diff: kubectl's client-side apply (last-applied annotation + three-way merge patch).
#include <iostream>
#include <map>
#include <set>

#include "api/client/commands.h"
#include "api/client/merge_patch.h"
#include "api/client/text_diff.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

// One manifest document, resolved against discovery and the namespace flags.
struct Prepared {
  ResourceInfo resource;
  std::vector<std::string> writeOnly;
  std::string ns;
  std::string name;
  json modified;  // the document with the last-applied annotation
};

// Fields the server accepts but never returns; the annotation must not carry them at all.
std::vector<std::string> writeOnlyFields(const ResourceInfo& r) {
  if (r.group == "minimcp.io" && r.kind == "APIKey") return {"/spec/value", "/spec/oauth2"};
  return {};
}

Prepared prepare(Session& s, const SourceDoc& doc) {
  const json& obj = doc.object;
  std::string apiVersion = obj.value("apiVersion", "");
  std::string kind = obj.value("kind", "");
  if (apiVersion.empty() || kind.empty()) {
    throw CommandError("error: error validating \"" + doc.source +
                       "\": " + (apiVersion.empty() ? "apiVersion" : "kind") + " not set");
  }
  Prepared p;
  p.name = objectName(obj);
  try {
    p.resource = s.resolveKind(apiVersion, kind);
  } catch (const CommandError& e) {
    throw CommandError("error: resource mapping not found for name: \"" + p.name +
                       "\" namespace: \"" + objectNamespace(obj) + "\" from \"" + doc.source +
                       "\": " + e.what());
  }
  if (p.name.empty()) {
    throw CommandError("error: error when retrieving current configuration from \"" + doc.source +
                       "\": resource name may not be empty");
  }
  json desired = obj;
  if (p.resource.namespaced) {
    std::string docNs = objectNamespace(obj);
    if (!docNs.empty() && s.nsExplicit() && docNs != s.ns()) {
      throw CommandError("error: the namespace from the provided object \"" + docNs +
                         "\" does not match the namespace \"" + s.ns() +
                         "\". You must pass '--namespace=" + docNs +
                         "' to perform this operation.");
    }
    p.ns = docNs.empty() ? s.ns() : docNs;
    desired["metadata"]["namespace"] = p.ns;
  }
  p.writeOnly = writeOnlyFields(p.resource);
  p.modified = client::withLastApplied(desired, p.writeOnly);
  return p;
}

// The patch without fields a merge patch can never change.
json applyPatch(const json& live, const Prepared& p) {
  json patch = client::threeWayMergePatch(client::lastAppliedOf(live), live, p.modified);
  patch.erase("apiVersion");
  patch.erase("kind");
  if (patch.contains("metadata") && patch["metadata"].is_object()) {
    patch["metadata"].erase("name");
    patch["metadata"].erase("namespace");
    if (patch["metadata"].empty()) patch.erase("metadata");
  }
  return patch;
}

struct ApplyOptions {
  std::vector<std::string> files;
  bool recursive = false;
  std::string dryRun = "none";
  std::string output;
  bool prune = false;
  std::string selector;
  bool all = false;
  bool wait = false;
  std::string timeout = "5m";
};

std::string resourceVersionOf(const json& obj) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  return obj["metadata"].value("resourceVersion", "");
}

// What one apply touched, per resource: the namespaces and the names in each (for --prune).
struct AppliedSet {
  struct PerResource {
    ResourceInfo resource;
    std::map<std::string, std::set<std::string>> namesByNs;
  };
  std::map<std::string, PerResource> byResource;

  void add(const Prepared& p) {
    auto& entry = byResource[p.resource.resourceDotGroup()];
    entry.resource = p.resource;
    entry.namesByNs[p.ns].insert(p.name);
  }
};

// kubectl's --prune: objects of the applied kinds, in the applied namespaces, that match the
// selector and were created by apply (last-applied annotation) but are no longer in the set.
bool prune(Session& s, const AppliedSet& applied, const ApplyOptions& o, const std::string& query,
           const std::string& suffix) {
  bool failed = false;
  for (const auto& [key, entry] : applied.byResource) {
    const ResourceInfo& r = entry.resource;
    for (const auto& [ns, names] : entry.namesByNs) {
      std::string target = r.path(ns);
      if (!o.selector.empty()) target += "?labelSelector=" + client::urlEncode(o.selector);
      try {
        json list = s.getJson(target);
        for (const auto& name : client::prunableNames(list, names)) {
          if (o.dryRun != "client") {
            auto res = s.send("DELETE", r.path(ns, name) + query, "", "application/json");
            if (res.status == 404) continue;  // deleted meanwhile: nothing left to prune
            if (!isSuccess(res)) throw CommandError(serverError(res));
          }
          std::cout << r.kindDotGroup() << "/" << name << " pruned" << suffix << std::endl;
        }
      } catch (const CommandError& e) {
        std::cout.flush();
        std::cerr << e.what() << "\n";
        failed = true;
      }
    }
  }
  return failed;
}

int runApply(Session& s, ApplyOptions& o) {
  if (o.files.empty()) throw CommandError("error: must specify one of -f and -k");
  parseDryRun(o.dryRun);
  if (o.prune && o.selector.empty() && !o.all) {
    throw CommandError(
        "error: all resources selected for prune without explicitly passing --all. To prune all "
        "resources, pass the --all flag. If you did not mean to prune all resources, specify a "
        "label selector");
  }
  if (!o.prune && o.all) throw CommandError("error: --all is only meaningful with --prune");
  // kubectl would also skip the documents the selector does not match; mcpctl has no local
  // selector matcher, so it refuses rather than apply what the user meant to leave out.
  if (!o.prune && !o.selector.empty()) {
    throw CommandError("error: --selector is only supported together with --prune");
  }
  const bool serverDryRun = o.dryRun == "server";
  const bool clientDryRun = o.dryRun == "client";
  const std::string query = serverDryRun ? "?dryRun=All" : "";
  const std::string suffix = serverDryRun ? " (server dry run)" : clientDryRun ? " (dry run)" : "";
  auto docs = readManifests(o.files, o.recursive);
  if (docs.empty()) throw CommandError("error: no objects passed to apply");
  const auto waitTimeout = parseTimeoutFlag(o.timeout, "--timeout");
  bool failed = false;
  AppliedSet applied;
  std::vector<ObjectRef> toWaitFor;  // the instances that are to become Ready
  for (const auto& doc : docs) {
    try {
      Prepared p = prepare(s, doc);
      // Named in the manifests: never pruned, even when applying it fails below.
      applied.add(p);
      const json spec = p.modified.value("spec", json::object());
      if (o.wait && p.resource.name == "mcpinstances" &&
          !(spec.is_object() && spec.value("suspend", false))) {
        toWaitFor.push_back({p.resource, p.ns, p.name});
      }
      const std::string id = p.resource.kindDotGroup() + "/" + p.name;
      auto current = s.get(p.resource.path(p.ns, p.name));
      if (current.status == 404) {
        if (!clientDryRun) {
          auto res =
              s.send("POST", p.resource.path(p.ns) + query, p.modified.dump(), "application/json");
          if (!isSuccess(res)) {
            throw CommandError(serverError(res, "error when creating \"" + doc.source + "\""));
          }
        }
        std::cout << id << " created" << suffix << std::endl;
        continue;
      }
      if (!isSuccess(current)) {
        throw CommandError(serverError(current, "error when retrieving current configuration of " +
                                                    id + " from server for \"" + doc.source +
                                                    "\""));
      }
      json live = json::parse(current.body, nullptr, false);
      if (live.is_discarded()) throw CommandError("error: the server sent invalid JSON for " + id);
      json patch = applyPatch(live, p);
      if (patch.empty()) {
        // Nothing is sent, so the resourceVersion stays what it was.
        std::cout << id << " unchanged" << suffix << std::endl;
        continue;
      }
      bool changed = true;
      if (!clientDryRun) {
        auto res = s.send("PATCH", p.resource.path(p.ns, p.name) + query, patch.dump(),
                          "application/merge-patch+json");
        if (!isSuccess(res)) {
          throw CommandError(serverError(
              res, "error when applying patch to " + id + " from \"" + doc.source + "\""));
        }
        // A write-only field (APIKey value) is in every patch; the server leaves the object as it
        // was when the value is the same. A dry run keeps the old resourceVersion either way, so
        // there the whole object tells.
        json updated = json::parse(res.body, nullptr, false);
        if (serverDryRun) {
          changed = updated != live;
        } else {
          std::string rv = resourceVersionOf(updated);
          changed = rv.empty() || rv != resourceVersionOf(live);
        }
      }
      std::cout << id << (changed ? " configured" : " unchanged") << suffix << std::endl;
    } catch (const CommandError& e) {
      std::cout.flush();
      std::cerr << e.what() << "\n";
      failed = true;
    }
  }
  // Like kubectl: nothing is pruned after a failed apply, which could have left the set partial.
  if (o.prune && !failed) failed = prune(s, applied, o, query, suffix);
  if (o.wait && !failed && o.dryRun == "none" && !toWaitFor.empty()) {
    return waitUntilReady(s, toWaitFor, waitTimeout);
  }
  return failed ? 1 : 0;
}

// What `diff` compares: drops fields that change on every write or that only the server owns.
json forCompare(json obj) {
  if (!obj.is_object()) return obj;
  obj.erase("status");
  if (obj.contains("metadata") && obj["metadata"].is_object()) {
    auto& meta = obj["metadata"];
    for (const char* key : {"managedFields", "resourceVersion", "generation"}) meta.erase(key);
    if (meta.contains("annotations") && meta["annotations"].is_object()) {
      meta["annotations"].erase(client::kLastAppliedAnnotation);
      if (meta["annotations"].empty()) meta.erase("annotations");
    }
  }
  return obj;
}

struct DiffOptions {
  std::vector<std::string> files;
  bool recursive = false;
};

int runDiff(Session& s, DiffOptions& o) {
  if (o.files.empty()) throw CommandError("error: must specify -f", 2);
  bool differs = false;
  for (const auto& doc : readManifests(o.files, o.recursive)) {
    Prepared p = prepare(s, doc);
    const std::string path = p.resource.path(p.ns, p.name);
    auto current = s.get(path);
    json live, merged;
    if (current.status == 404) {
      auto res = s.send("POST", p.resource.path(p.ns) + "?dryRun=All", p.modified.dump(),
                        "application/json");
      if (!isSuccess(res)) throw CommandError(serverError(res), 2);
      merged = json::parse(res.body, nullptr, false);
    } else if (isSuccess(current)) {
      live = json::parse(current.body, nullptr, false);
      json patch = applyPatch(live, p);
      if (patch.empty()) {
        merged = live;
      } else {
        auto res =
            s.send("PATCH", path + "?dryRun=All", patch.dump(), "application/merge-patch+json");
        if (!isSuccess(res)) throw CommandError(serverError(res), 2);
        merged = json::parse(res.body, nullptr, false);
      }
    } else {
      throw CommandError(serverError(current), 2);
    }
    if (merged.is_discarded() || live.is_discarded()) {
      throw CommandError("error: the server sent invalid JSON", 2);
    }
    std::string file = p.resource.group + "." + p.resource.version + "." + p.resource.kind + "." +
                       (p.ns.empty() ? "" : p.ns + ".") + p.name;
    std::string liveText = live.is_null() ? "" : toYamlText(forCompare(live));
    std::string mergedText = toYamlText(forCompare(merged));
    std::string d = client::unifiedDiff(liveText, mergedText, "LIVE/" + file, "MERGED/" + file);
    if (!d.empty()) {
      differs = true;
      std::cout << "diff -u -N LIVE/" << file << " MERGED/" << file << "\n" << d << std::flush;
    }
  }
  return differs ? 1 : 0;
}

}  // namespace

void registerApply(CLI::App& app, Session& session, Action& action) {
  auto opts = std::make_shared<ApplyOptions>();
  auto* cmd = app.add_subcommand("apply", "Apply a configuration to a resource by file or stdin");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("--filename,-f", opts->files, "File, directory or - (stdin); repeatable");
  cmd->add_flag("--recursive,-R", opts->recursive, "Process directories recursively");
  cmd->add_option("--dry-run", opts->dryRun, "none|server|client (--dry-run=server)");
  cmd->add_flag("--prune", opts->prune,
                "Delete objects of the applied kinds, created by apply, that the files no longer "
                "contain (needs -l or --all)");
  cmd->add_option("--selector,-l", opts->selector, "Label selector of the objects to prune");
  cmd->add_flag("--all", opts->all, "With --prune: consider every object of the applied kinds");
  cmd->add_flag("--wait", opts->wait,
                "Wait until every applied MCPInstance (not suspended) is Ready, showing progress");
  cmd->add_option("--timeout", opts->timeout, "With --wait: how long to wait (default 5m)");
  cmd->callback([&session, &action, opts] {
    action = [&session, opts] { return runApply(session, *opts); };
  });
}

void registerDiff(CLI::App& app, Session& session, Action& action) {
  auto opts = std::make_shared<DiffOptions>();
  auto* cmd = app.add_subcommand("diff", "Diff the live version against what apply would make it");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("--filename,-f", opts->files, "File, directory or - (stdin); repeatable");
  cmd->add_flag("--recursive,-R", opts->recursive, "Process directories recursively");
  cmd->callback([&session, &action, opts] {
    action = [&session, opts] {
      try {
        return runDiff(session, *opts);
      } catch (const CommandError& e) {
        std::cout.flush();
        std::cerr << e.what() << "\n";
        return e.exitCode() > 1 ? e.exitCode() : 2;
      } catch (const std::exception& e) {
        std::cout.flush();
        std::cerr << "error: " << e.what() << "\n";
        return 2;
      }
    };
  });
}

}  // namespace minimcp::mcpctl
