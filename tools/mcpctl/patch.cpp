// patch: kubectl's `patch KIND NAME -p PATCH --type merge|json|strategic|apply`.
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/model/yaml.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

struct PatchOptions {
  std::vector<std::string> args;
  std::string patch;
  std::string patchFile;
  // kubectl defaults to strategic, which neither mcpd nor kube-apiserver (for custom resources)
  // serves: mcpctl defaults to the merge patch that works.
  std::string type = "merge";
  std::string subresource;
  std::string dryRun = "none";
  std::string fieldManager = "kubectl-patch";
  bool forceConflicts = false;
  std::string output;
};

std::string contentType(const std::string& type) {
  if (type == "merge") return "application/merge-patch+json";
  if (type == "json") return "application/json-patch+json";
  if (type == "strategic") return "application/strategic-merge-patch+json";
  if (type == "apply") return "application/apply-patch+yaml";
  throw CommandError("error: --type must be one of [json merge strategic apply], not \"" + type +
                     "\"");
}

json parseObject(const client::Response& res) {
  json obj = json::parse(res.body, nullptr, false);
  if (obj.is_discarded()) throw CommandError("error: the server sent an invalid JSON response");
  return obj;
}

int runPatch(Session& s, PatchOptions& o) {
  std::string type = contentType(o.type);
  if (!o.patch.empty() && !o.patchFile.empty()) {
    throw CommandError("error: --patch and --patch-file are mutually exclusive");
  }
  std::string text = o.patch;
  if (!o.patchFile.empty()) {
    std::ifstream in(o.patchFile);
    if (!in)
      throw CommandError("error: unable to read patch file: open " + o.patchFile +
                         ": no such file or directory");
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  if (text.empty()) {
    throw CommandError(
        "error: must specify --patch or --patch-file containing the contents of the patch");
  }
  // kubectl turns a YAML patch into JSON before sending it (apply patches stay YAML).
  std::string body = text;
  json parsedPatch;
  try {
    parsedPatch = model::parseJsonOrYaml(text);
    if (o.type != "apply") body = parsedPatch.dump();
  } catch (const std::exception& e) {
    throw CommandError("error: unable to parse " + json(text).dump() + ": " + e.what());
  }
  if (!o.subresource.empty() && o.subresource != "status" && o.subresource != "scale") {
    throw CommandError("error: invalid subresource value: \"" + o.subresource +
                       "\". Must be one of [status scale]");
  }
  const DryRun dryRun = parseDryRun(o.dryRun);
  if (dryRun == DryRun::Client && o.type != "merge" && o.type != "json") {
    // As kubectl: a client dry run applies the patch itself, which it can do for these two.
    throw CommandError("error: --dry-run=client works with --type merge or json, not \"" + o.type +
                       "\"");
  }
  std::unique_ptr<TemplatePrinter> printer;
  if (isTemplateOutput(o.output)) printer = std::make_unique<TemplatePrinter>(o.output, false);
  auto targets = parseTargets(s, o.args, "patch");
  int exitCode = 0;
  for (const auto& t : targets) {
    if (t.names.empty()) {
      throw CommandError("error: resource(s) were provided, but no name was specified");
    }
    for (const auto& name : t.names) {
      const ResourceInfo& r = t.resource;
      std::string path = r.path(s.ns(), name);
      if (!o.subresource.empty()) path += "/" + o.subresource;
      auto before = s.get(path);
      if (!isSuccess(before)) {
        std::cerr << serverError(before) << "\n";
        exitCode = 1;
        continue;
      }
      if (dryRun == DryRun::Client) {
        // kubectl's client dry run: the patch applied here to the object read, nothing sent
        // (kubectl prints no dry-run suffix for patch).
        json patched = parseObject(before);
        try {
          if (o.type == "json") {
            patched = patched.patch(parsedPatch);
          } else {
            patched.merge_patch(parsedPatch);
          }
        } catch (const json::exception& e) {
          std::cerr << "error: unable to apply the patch to " << r.kindDotGroup() << "/" << name
                    << ": " << e.what() << "\n";
          exitCode = 1;
          continue;
        }
        printWritten(withoutManagedFields(withTypeMeta(patched, r)), r, name, o.output,
                     printer.get(), changedLine(r, name, "patched"));
        continue;
      }
      std::string query = "?fieldManager=" + client::urlEncode(o.fieldManager);
      if (dryRun == DryRun::Server) query += "&dryRun=All";
      if (o.forceConflicts) query += "&force=true";
      auto res = s.send("PATCH", path + query, body, type);
      if (res.status == 415) {
        // kubectl's wording for a patch type the server does not take.
        json status = json::parse(res.body, nullptr, false);
        std::string message = status.is_object() ? status.value("message", "") : "";
        std::cerr << "error: " << type << " is not supported by " << r.groupVersion()
                  << ", Kind=" << r.kind << ": " << message << "\n";
        exitCode = 1;
        continue;
      }
      if (!isSuccess(res)) {
        std::cerr << serverError(res) << "\n";
        exitCode = 1;
        continue;
      }
      json updated = withoutManagedFields(withTypeMeta(parseObject(res), r));
      bool changed = parseObject(before) != parseObject(res);
      // kubectl patch prints no server dry-run suffix (label and annotate do).
      printWritten(
          updated, r, name, o.output, printer.get(),
          changedLine(r, name,
                      changed || dryRun == DryRun::Server ? "patched" : "patched (no change)"));
    }
  }
  return exitCode;
}

}  // namespace

void registerPatch(CLI::App& app, Session& session, Action& action) {
  auto o = std::make_shared<PatchOptions>();
  auto* cmd = app.add_subcommand("patch", "Update fields of a resource with a patch");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("args", o->args, "KIND NAME... or KIND/NAME...");
  cmd->add_option("--patch,-p", o->patch, "The patch (JSON or YAML)");
  cmd->add_option("--patch-file", o->patchFile, "A file holding the patch");
  cmd->add_option("--type", o->type,
                  "merge (default; kubectl's default, strategic, is not served by mcpd: it "
                  "answers 415), json, strategic or apply (server-side apply)");
  cmd->add_option("--subresource", o->subresource, "Patch a subresource, e.g. status");
  cmd->add_option("--dry-run", o->dryRun,
                  "none|server|client: nothing is stored (server: the server validates; client: "
                  "merge and json patches are applied locally)");
  cmd->add_option("--field-manager", o->fieldManager, "Name of the manager of the changed fields");
  cmd->add_flag("--force-conflicts", o->forceConflicts,
                "--type apply: take fields other managers own");
  cmd->add_option("--output,-o", o->output, "yaml|json|name|jsonpath=…|custom-columns=…");
  cmd->callback(
      [&session, &action, o] { action = [&session, o] { return runPatch(session, *o); }; });
}

}  // namespace minimcp::mcpctl
