// apply and diff: kubectl's client-side apply (last-applied annotation + three-way merge patch).
#include <iostream>

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

// Fields the server accepts but never returns; the annotation must not carry them in clear.
std::vector<std::string> writeOnlyFields(const ResourceInfo& r) {
  if (r.group == "minimcp.io" && r.kind == "APIKey") return {"/spec/value"};
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
  json patch =
      client::threeWayMergePatch(client::lastAppliedOf(live), live, p.modified, p.writeOnly);
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
};

int runApply(Session& s, ApplyOptions& o) {
  if (o.files.empty()) throw CommandError("error: must specify one of -f and -k");
  if (o.dryRun != "none" && o.dryRun != "server" && o.dryRun != "client") {
    throw CommandError("error: Invalid dry-run value (" + o.dryRun +
                       "). Must be \"none\", \"server\", or \"client\".");
  }
  const bool serverDryRun = o.dryRun == "server";
  const bool clientDryRun = o.dryRun == "client";
  const std::string query = serverDryRun ? "?dryRun=All" : "";
  const std::string suffix = serverDryRun ? " (server dry run)" : clientDryRun ? " (dry run)" : "";
  auto docs = readManifests(o.files, o.recursive);
  if (docs.empty()) throw CommandError("error: no objects passed to apply");
  bool failed = false;
  for (const auto& doc : docs) {
    try {
      Prepared p = prepare(s, doc);
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
      if (!clientDryRun) {
        auto res = s.send("PATCH", p.resource.path(p.ns, p.name) + query, patch.dump(),
                          "application/merge-patch+json");
        if (!isSuccess(res)) {
          throw CommandError(serverError(
              res, "error when applying patch to " + id + " from \"" + doc.source + "\""));
        }
      }
      std::cout << id << " configured" << suffix << std::endl;
    } catch (const CommandError& e) {
      std::cout.flush();
      std::cerr << e.what() << "\n";
      failed = true;
    }
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
