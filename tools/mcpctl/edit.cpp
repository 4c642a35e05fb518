// edit: GET → $KUBE_EDITOR / $EDITOR (default vi) on YAML → the changes as a merge patch, like
// kubectl edit: only fields the user changed are sent, so the controller's status writes
// meanwhile do not make every edit fail; an edited metadata.resourceVersion is sent and checked.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/client/merge_patch.h"
#include "api/model/yaml.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

struct EditOptions {
  std::vector<std::string> args;
  std::string output = "yaml";
};

const char* kHeader =
    "# Please edit the object below. Lines beginning with a '#' will be ignored,\n"
    "# and an empty file will abort the edit. If an error occurs while saving, the edit is\n"
    "# not retried: mcpctl keeps this file and prints its path.\n"
    "#\n";

// kubectl's choice of editor: one word runs directly, plain words are split on spaces, anything
// with quotes or backslashes is handed to the shell.
std::vector<std::string> editorCommand(const std::string& path) {
  std::string editor;
  for (const char* env : {"KUBE_EDITOR", "EDITOR"}) {
    if (const char* v = std::getenv(env); v && *v) {
      editor = v;
      break;
    }
  }
  if (editor.empty()) editor = "vi";
  if (editor.find(' ') == std::string::npos) return {editor, path};
  if (editor.find_first_of("\"'\\") == std::string::npos) {
    std::vector<std::string> argv;
    std::istringstream in(editor);
    std::string word;
    while (in >> word) argv.push_back(word);
    argv.push_back(path);
    return argv;
  }
  const char* shell = std::getenv("SHELL");
  return {shell && *shell ? shell : "/bin/sh", "-c", editor + " " + path};
}

void runEditor(const std::string& path) {
  auto argv = editorCommand(path);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::cout.flush();
  pid_t pid = fork();
  if (pid < 0) throw CommandError("error: cannot start the editor");
  if (pid == 0) {
    execvp(args[0], args.data());
    std::cerr << "error: unable to launch the editor \"" << argv[0] << "\"\n";
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw CommandError("error: there was a problem with the editor \"" + argv[0] + "\"");
  }
}

std::string withoutComments(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.rfind('#', 0) == 0) continue;
    out += line + "\n";
  }
  return out;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Edits one object; 0 when saved or cancelled, 1 when the server refused it.
int editOne(Session& s, const ResourceInfo& r, const std::string& name, const EditOptions& o) {
  json live = withoutManagedFields(withTypeMeta(s.getJson(r.path(s.ns(), name)), r));
  std::string original = o.output == "json" ? toJsonText(live) : toYamlText(live);
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/mcpctl-edit-XXXXXX." +
                     (o.output == "json" ? "json" : "yaml");
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = mkstemps(buf.data(), 5);
  if (fd < 0) throw CommandError("error: cannot create a temporary file in " + tmpl);
  close(fd);
  std::string path = buf.data();
  std::ofstream(path) << kHeader << original;
  runEditor(path);
  std::string edited = withoutComments(readFile(path));
  if (edited.find_first_not_of(" \t\r\n") == std::string::npos) {
    unlink(path.c_str());
    std::cerr << "Edit cancelled, saved file was empty.\n";
    return 0;
  }
  json obj;
  try {
    obj = model::parseJsonOrYaml(edited);
  } catch (const std::exception& e) {
    std::cerr << "error: the edited file is not valid " << (o.output == "json" ? "JSON" : "YAML")
              << ": " << e.what() << "\nA copy of your changes has been stored to \"" << path
              << "\"\n";
    return 1;
  }
  // Compared with what the editor was given, read back the same way, so YAML's spelling of a
  // value is no change.
  json given = model::parseJsonOrYaml(original);
  if (obj == given) {
    unlink(path.c_str());
    std::cerr << "Edit cancelled, no changes made.\n";
    return 0;
  }
  const char* refusal = nullptr;
  if (!obj.is_object()) {
    refusal = "the edited file must hold one object";
  } else if (obj.value("apiVersion", json()) != given.value("apiVersion", json()) ||
             obj.value("kind", json()) != given.value("kind", json()) ||
             objectName(obj) != objectName(given)) {
    refusal = "At least one of apiVersion, kind and name was changed";
  }
  if (refusal) {
    std::cerr << "error: " << refusal << "\nA copy of your changes has been stored to \"" << path
              << "\"\n";
    return 1;
  }
  // original → edited, as kubectl's two-way merge patch for custom resources.
  json patch = client::threeWayMergePatch(given, given, obj);
  auto res = s.send("PATCH", r.path(s.ns(), name), patch.dump(), "application/merge-patch+json");
  if (!isSuccess(res)) {
    std::cerr << serverError(res) << "\nA copy of your changes has been stored to \"" << path
              << "\"\nerror: Edit cancelled, no valid changes were saved.\n";
    return 1;
  }
  unlink(path.c_str());
  std::cout << changedLine(r, name, "edited");
  return 0;
}

int runEdit(Session& s, const EditOptions& o) {
  if (o.output != "yaml" && o.output != "json") {
    throw CommandError("error: the edit mode must be yaml or json, not \"" + o.output + "\"");
  }
  auto targets = parseTargets(s, o.args, "edit");
  int exitCode = 0;
  for (const auto& t : targets) {
    if (t.names.empty()) {
      throw CommandError("error: resource(s) were provided, but no name was specified");
    }
    for (const auto& name : t.names) exitCode |= editOne(s, t.resource, name, o);
  }
  return exitCode;
}

}  // namespace

void registerEdit(CLI::App& app, Session& session, Action& action) {
  auto o = std::make_shared<EditOptions>();
  auto* cmd = app.add_subcommand(
      "edit", "Edit a resource in $KUBE_EDITOR or $EDITOR (default vi) and save it");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("args", o->args, "KIND NAME... or KIND/NAME...");
  cmd->add_option("--output,-o", o->output, "yaml (default) or json: the format to edit in");
  cmd->callback(
      [&session, &action, o] { action = [&session, o] { return runEdit(session, *o); }; });
}

}  // namespace minimcp::mcpctl
