// label and annotate: kubectl's KEY=VALUE / KEY- grammar, sent as merge patches.
#include <iostream>

#include "api/client/metadata_patch.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

struct MetadataOptions {
  std::vector<std::string> args;
  bool overwrite = false;
  bool all = false;
  bool allNamespaces = false;
  std::string selector;
  std::string dryRun = "none";
  std::string resourceVersion;
  std::string output;
};

json parseObject(const client::Response& res) {
  json obj = json::parse(res.body, nullptr, false);
  if (obj.is_discarded()) throw CommandError("error: the server sent an invalid JSON response");
  return obj;
}

int runMetadata(Session& s, MetadataOptions& o, client::MetadataField field) {
  const char* verb = field == client::MetadataField::Labels ? "label" : "annotate";
  client::ResourcesAndPairs split;
  client::MetadataChanges changes;
  try {
    split = client::splitResourcesAndPairs(o.args, field);
    if (split.resources.empty()) {
      throw std::invalid_argument(
          "one or more resources must be specified as <resource> <name> or <resource>/<name>");
    }
    changes = client::parseMetadataChanges(split.pairs, field);
  } catch (const std::invalid_argument& e) {
    throw CommandError(std::string("error: ") + e.what());
  }
  const DryRun dryRun = parseDryRun(o.dryRun);
  auto targets = parseTargets(s, split.resources, verb);
  // Every object to change, as the server has it now.
  std::vector<std::pair<ResourceInfo, json>> objects;
  for (const auto& t : targets) {
    const ResourceInfo& r = t.resource;
    if (t.names.empty()) {
      if (!o.all && o.selector.empty()) {
        throw CommandError("error: resource(s) were provided, but no name was specified");
      }
      std::string target = r.path(o.allNamespaces ? "" : s.ns());
      if (!o.selector.empty()) target += "?labelSelector=" + client::urlEncode(o.selector);
      json list = s.getJson(target);
      for (auto& item : list.value("items", json::array())) objects.emplace_back(r, item);
      continue;
    }
    if (o.all || !o.selector.empty()) {
      throw CommandError("error: cannot set --all and --selector at the same time as names");
    }
    for (const auto& name : t.names) {
      auto res = s.get(r.path(s.ns(), name));
      if (!isSuccess(res)) throw CommandError(serverError(res));
      objects.emplace_back(r, parseObject(res));
    }
  }
  if (!o.resourceVersion.empty() && objects.size() != 1) {
    throw CommandError("error: --resource-version may only be used with a single resource");
  }
  if (objects.empty()) {
    std::cerr << "No resources found in " << s.ns() << " namespace.\n";
    return 0;
  }
  std::unique_ptr<TemplatePrinter> printer;
  if (isTemplateOutput(o.output)) printer = std::make_unique<TemplatePrinter>(o.output, false);
  std::string query = dryRun == DryRun::Server ? "?dryRun=All" : "";
  for (const auto& [r, obj] : objects) {
    client::MetadataPatch patch;
    try {
      patch = client::metadataPatch(obj, field, changes, o.overwrite, o.resourceVersion);
    } catch (const std::invalid_argument& e) {
      throw CommandError(std::string("error: ") + e.what());
    }
    for (const auto& n : patch.notices) std::cout << n << "\n";
    std::string name = objectName(obj);
    json updated;
    if (dryRun == DryRun::Client) {
      // kubectl's client dry run: the patch applied here, nothing sent.
      updated = obj;
      updated.merge_patch(patch.patch);
    } else {
      auto res = s.send("PATCH", r.path(objectNamespace(obj), name) + query, patch.patch.dump(),
                        "application/merge-patch+json");
      if (!isSuccess(res)) throw CommandError(serverError(res));
      updated = parseObject(res);
    }
    updated = withoutManagedFields(withTypeMeta(std::move(updated), r));
    printWritten(updated, r, name, o.output, printer.get(),
                 changedLine(r, name, patch.outcome, dryRun));
  }
  return 0;
}

void registerMetadataVerb(CLI::App& app, Session& session, Action& action,
                          client::MetadataField field) {
  bool labels = field == client::MetadataField::Labels;
  auto o = std::make_shared<MetadataOptions>();
  auto* cmd = app.add_subcommand(
      labels ? "label" : "annotate",
      labels ? "Update the labels on a resource" : "Update the annotations on a resource");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("args", o->args,
                  labels ? "KIND NAME... KEY=VALUE... KEY-... (or KIND/NAME...)"
                         : "KIND NAME... KEY=VALUE... KEY-... (or KIND/NAME...)");
  cmd->add_flag("--overwrite", o->overwrite,
                labels ? "Allow changing a label that already has a value"
                       : "Allow changing an annotation that is already set");
  cmd->add_flag("--all", o->all, "Every object of the kind in the namespace");
  cmd->add_flag("--all-namespaces,-A", o->allNamespaces, "With --all or -l: across namespaces");
  cmd->add_option("--selector,-l", o->selector, "Label selector of the objects to change");
  cmd->add_option("--dry-run", o->dryRun,
                  "none|server|client: nothing is stored (server: the server validates; client: "
                  "the result is computed locally)");
  cmd->add_option("--resource-version", o->resourceVersion,
                  "Only change the object if it still has this resourceVersion");
  cmd->add_option("--output,-o", o->output, "yaml|json|name|jsonpath=…|custom-columns=…");
  cmd->callback([&session, &action, o, field] {
    action = [&session, o, field] { return runMetadata(session, *o, field); };
  });
}

}  // namespace

void registerLabel(CLI::App& app, Session& session, Action& action) {
  registerMetadataVerb(app, session, action, client::MetadataField::Labels);
}

void registerAnnotate(CLI::App& app, Session& session, Action& action) {
  registerMetadataVerb(app, session, action, client::MetadataField::Annotations);
}

}  // namespace minimcp::mcpctl
