// mcpctl's kubectl verbs against the real mcpd: -o jsonpath / custom-columns, label, annotate,
// patch, edit, events and explain, with kubectl's messages and exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "tests/e2e/cli/mcpd_process.h"

namespace minimcp::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class McpctlVerbsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { mcpd_ = new McpdProcess(); }
  static void TearDownTestSuite() {
    delete mcpd_;
    mcpd_ = nullptr;
  }

  static CommandResult ctl(const std::vector<std::string>& args, const std::string& in = "") {
    return mcpd_->mcpctl(args, in);
  }

  // A suspended instance never starts a process, so these tests need no MCP server code.
  static void applyInstance(const std::string& name, const std::string& ns,
                            const std::string& ttl = "1h") {
    auto r = ctl({"apply", "-f", "-"}, std::string(kType) + "---\n" +
                                           "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\n"
                                           "metadata:\n  name: " +
                                           name + "\n  namespace: " + ns +
                                           "\n  labels:\n    app: e2e\nspec:\n  type: e2e-echo\n"
                                           "  ttl: " +
                                           ttl + "\n  suspend: true\n");
    ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  }

  static json object(const std::string& name, const std::string& ns) {
    auto r = ctl({"get", "mi", name, "-n", ns, "-o", "json"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  static constexpr const char* kType =
      "apiVersion: minimcp.io/v1alpha1\nkind: MCPType\nmetadata:\n  name: e2e-echo\nspec:\n"
      "  displayName: E2E echo\n  server:\n    command: node\n    args: [\"echo/server.js\"]\n"
      "    transport: streamable-http\n";

  static McpdProcess* mcpd_;
};

McpdProcess* McpctlVerbsTest::mcpd_ = nullptr;

TEST_F(McpctlVerbsTest, JsonPathOutput) {
  applyInstance("one", "jp-ns", "1h");
  applyInstance("two", "jp-ns", "2h");

  auto r = ctl({"get", "mi", "-n", "jp-ns", "-o", "jsonpath={.items[*].metadata.name}"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "one two");

  r = ctl({"get", "mi", "-n", "jp-ns", "-o",
           R"(jsonpath={range .items[*]}{.metadata.name}{"\t"}{.spec.ttl}{"\n"}{end})"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "one\t1h\ntwo\t2h\n");

  r = ctl({"get", "mi", "one", "-n", "jp-ns", "-o", "jsonpath={.metadata.labels.app}"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "e2e");

  r = ctl({"get", "mi", "-n", "jp-ns", "-o",
           R"(jsonpath={.items[?(@.spec.ttl=="2h")].metadata.name})"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "two");

  // A missing field prints nothing; a field of a list is not the field of its items.
  r = ctl({"get", "mi", "one", "-n", "jp-ns", "-o", "jsonpath={.status.nope}{.spec.nope}"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "");
  r = ctl({"get", "mi", "-n", "jp-ns", "-o", "jsonpath={.items.metadata.name}"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "");

  r = ctl({"get", "mi", "-n", "jp-ns", "-o", "jsonpath={.items[0].metadata.name"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err,
              HasSubstr("error: error parsing jsonpath {.items[0].metadata.name, unclosed action"));
  r = ctl({"get", "mi", "-n", "jp-ns", "-o", "jsonpath={.items[5].metadata.name}"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("error: error executing jsonpath \"{.items[5].metadata.name}\": "
                               "Error executing template: array index out of bounds: index 5, "
                               "length 2"));
  r = ctl({"get", "mi", "-n", "jp-ns", "-o", "jsonpath"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("template format specified but no template given"));

  TempDir dir;
  std::ofstream(dir.path() + "/t.jsonpath") << "{.items[1].metadata.name}";
  r = ctl({"get", "mi", "-n", "jp-ns", "-o", "jsonpath-file=" + dir.path() + "/t.jsonpath"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "two");
}

TEST_F(McpctlVerbsTest, CustomColumnsOutput) {
  applyInstance("c1", "cc-ns", "1h");
  applyInstance("c2", "cc-ns", "2h");
  auto r = ctl({"get", "mi", "-n", "cc-ns", "-o",
                "custom-columns=NAME:.metadata.name,TTL:.spec.ttl,NOPE:.status.nope"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out,
            "NAME   TTL   NOPE\n"
            "c1     1h    <none>\n"
            "c2     2h    <none>\n");

  r = ctl(
      {"get", "mi", "c1", "-n", "cc-ns", "--no-headers", "-o", "custom-columns=N:metadata.name"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "c1\n");

  TempDir dir;
  std::ofstream(dir.path() + "/cols") << "NAME TTL\n.metadata.name .spec.ttl\n";
  r = ctl({"get", "mi", "c2", "-n", "cc-ns", "-o", "custom-columns-file=" + dir.path() + "/cols"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "NAME   TTL\nc2     2h\n");

  r = ctl({"get", "mi", "-n", "cc-ns", "-o", "custom-columns=NAME"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("error: unexpected custom-columns spec: NAME, expected "
                               "<header>:<json-path-expr>"));
  r = ctl({"get", "mi", "-n", "cc-ns", "-o", "bogus"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("unable to match a printer suitable for the output format"));
}

TEST_F(McpctlVerbsTest, LabelAddsRefusesOverwritesAndRemoves) {
  applyInstance("l1", "label-ns");
  applyInstance("l2", "label-ns");

  auto r = ctl({"label", "mi", "l1", "tier=web", "-n", "label-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/l1 labeled\n");
  EXPECT_EQ(object("l1", "label-ns")["metadata"]["labels"]["tier"], "web");

  r = ctl({"label", "mi/l1", "tier=db", "-n", "label-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err,
              HasSubstr("error: 'tier' already has a value (web), and --overwrite is false"));
  EXPECT_EQ(object("l1", "label-ns")["metadata"]["labels"]["tier"], "web");

  r = ctl({"label", "mi", "l1", "tier=db", "--overwrite", "-n", "label-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/l1 labeled\n");
  EXPECT_EQ(object("l1", "label-ns")["metadata"]["labels"]["tier"], "db");

  r = ctl({"label", "mi", "l1", "tier=db", "-n", "label-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/l1 not labeled\n");

  r = ctl({"label", "mi", "l1", "tier-", "-n", "label-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/l1 unlabeled\n");
  EXPECT_FALSE(object("l1", "label-ns")["metadata"]["labels"].contains("tier"));

  // --dry-run=server: validated and answered, not stored.
  r = ctl({"label", "mi", "l1", "dry=run", "--dry-run=server", "-n", "label-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/l1 labeled (server dry run)\n");
  EXPECT_FALSE(object("l1", "label-ns")["metadata"]["labels"].contains("dry"));

  // A stale --resource-version is a conflict.
  r = ctl({"label", "mi", "l1", "stale=yes", "--resource-version=1", "-n", "label-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("Error from server (Conflict)"));

  r = ctl({"label", "mi", "--all", "batch=b", "-n", "label-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/l1 labeled\n"));
  EXPECT_THAT(r.out, HasSubstr("mcpinstance.minimcp.io/l2 labeled\n"));
  r = ctl({"label", "mi", "-l", "batch=b", "batch-", "-n", "label-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("l2 unlabeled"));

  r = ctl({"label", "mi", "l1", "-n", "label-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("error: at least one label update is required"));
  r = ctl({"label", "mi", "tier=x", "-n", "label-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("resource(s) were provided, but no name was specified"));
  r = ctl({"label", "mi", "l1", "bad=not ok", "-n", "label-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("invalid label value"));
}

TEST_F(McpctlVerbsTest, AnnotateAddsRefusesOverwritesAndRemoves) {
  applyInstance("a1", "annotate-ns");
  auto r = ctl({"annotate", "mi", "a1", "owner=team a", "-n", "annotate-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/a1 annotated\n");
  EXPECT_EQ(object("a1", "annotate-ns")["metadata"]["annotations"]["owner"], "team a");

  r = ctl({"annotate", "mi", "a1", "owner=team b", "-n", "annotate-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("error: --overwrite is false but found the following declared "
                               "annotation(s): 'owner' already has a value (team a)"));

  r = ctl({"annotate", "mi", "a1", "owner=team b", "--overwrite", "-n", "annotate-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(object("a1", "annotate-ns")["metadata"]["annotations"]["owner"], "team b");

  r = ctl({"annotate", "mi", "a1", "owner-", "-n", "annotate-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/a1 annotated\n");
  json meta = object("a1", "annotate-ns")["metadata"];
  EXPECT_FALSE(meta.value("annotations", json::object()).contains("owner")) << meta.dump();
}

TEST_F(McpctlVerbsTest, PatchMergeJsonApplyAndStrategic) {
  applyInstance("p1", "patch-ns", "1h");
  auto r = ctl(
      {"patch", "mi", "p1", "-n", "patch-ns", "--type", "merge", "-p", R"({"spec":{"ttl":"2h"}})"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/p1 patched\n");
  EXPECT_EQ(object("p1", "patch-ns")["spec"]["ttl"], "2h");

  // The same patch again changes nothing; YAML is accepted like kubectl does.
  r = ctl({"patch", "mi/p1", "-n", "patch-ns", "-p", "spec:\n  ttl: 2h\n"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/p1 patched (no change)\n");

  r = ctl({"patch", "mi", "p1", "-n", "patch-ns", "--type=json", "-p",
           R"([{"op":"replace","path":"/spec/ttl","value":"3h"}])"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(object("p1", "patch-ns")["spec"]["ttl"], "3h");

  TempDir dir;
  std::ofstream(dir.path() + "/apply.yaml")
      << "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: p1\n"
         "  namespace: patch-ns\nspec:\n  type: e2e-echo\n  ttl: 4h\n  suspend: true\n";
  r = ctl({"patch", "mi", "p1", "-n", "patch-ns", "--type", "apply", "--field-manager", "e2e",
           "--force-conflicts", "--patch-file", dir.path() + "/apply.yaml"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(object("p1", "patch-ns")["spec"]["ttl"], "4h");

  r = ctl({"patch", "mi", "p1", "-n", "patch-ns", "--dry-run=server", "-p",
           R"({"spec":{"ttl":"9h"}})"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/p1 patched\n");
  EXPECT_EQ(object("p1", "patch-ns")["spec"]["ttl"], "4h");

  r = ctl({"patch", "mi", "p1", "-n", "patch-ns", "-p", R"({"spec":{"ttl":"9h"}})", "-o",
           "jsonpath={.spec.ttl}"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "9h");

  r = ctl({"patch", "mi", "p1", "-n", "patch-ns", "--type", "strategic", "-p",
           R"({"spec":{"ttl":"5h"}})"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("error: application/strategic-merge-patch+json is not supported by "
                               "minimcp.io/v1alpha1, Kind=MCPInstance: strategic merge patch is "
                               "not supported"));

  r = ctl({"patch", "mi", "p1", "-n", "patch-ns", "-p", R"({"spec":{"ttl":"not a ttl"}})"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("The MCPInstance \"p1\" is invalid: spec.ttl: Invalid value"));
  r = ctl({"patch", "mi", "p1", "-n", "patch-ns", "--type=json", "-p",
           R"([{"op":"test","path":"/spec/ttl","value":"zz"}])"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("The request is invalid: the JSON patch could not be applied"));
  r = ctl({"patch", "mi", "nope", "-n", "patch-ns", "-p", "{}"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("Error from server (NotFound)"));
  r = ctl({"patch", "mi", "p1", "-n", "patch-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("must specify --patch or --patch-file"));
  EXPECT_EQ(object("p1", "patch-ns")["spec"]["ttl"], "9h");
}

// --dry-run=client (kubectl's grammar): the result is computed by mcpctl and printed, nothing is
// sent to be stored; --dry-run=server: the server answers, nothing is stored.
TEST_F(McpctlVerbsTest, DryRunsOfLabelAnnotateAndPatchStoreNothing) {
  applyInstance("dr1", "dryrun-ns", "1h");
  const json before = object("dr1", "dryrun-ns");

  auto r = ctl({"label", "mi", "dr1", "tier=web", "--dry-run=client", "-n", "dryrun-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/dr1 labeled (dry run)\n");
  r = ctl({"label", "mi", "dr1", "tier=web", "app-", "--dry-run=client", "-n", "dryrun-ns", "-o",
           "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  json shown = json::parse(r.out, nullptr, false);
  EXPECT_EQ(shown["metadata"]["labels"], json({{"tier", "web"}})) << r.out;
  r = ctl({"label", "mi", "dr1", "app=other", "--dry-run=client", "-n", "dryrun-ns"});
  EXPECT_EQ(r.exitCode, 1) << "a client dry run refuses what the real one would";
  EXPECT_THAT(r.err, HasSubstr("'app' already has a value (e2e), and --overwrite is false"));

  r = ctl({"annotate", "mi", "dr1", "owner=team a", "--dry-run=client", "-n", "dryrun-ns", "-o",
           "jsonpath={.metadata.annotations.owner}"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "team a");
  r = ctl({"annotate", "mi", "dr1", "owner=team b", "--dry-run=server", "-n", "dryrun-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/dr1 annotated (server dry run)\n");

  r = ctl({"patch", "mi", "dr1", "-n", "dryrun-ns", "--dry-run=client", "-p",
           R"({"spec":{"ttl":"7h"}})"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/dr1 patched\n");  // as kubectl prints it
  r = ctl({"patch", "mi", "dr1", "-n", "dryrun-ns", "--dry-run=client", "--type=json", "-p",
           R"([{"op":"replace","path":"/spec/ttl","value":"8h"}])", "-o", "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(json::parse(r.out, nullptr, false)["spec"]["ttl"], "8h") << r.out;
  r = ctl({"patch", "mi", "dr1", "-n", "dryrun-ns", "--dry-run=client", "--type=json", "-p",
           R"([{"op":"test","path":"/spec/ttl","value":"zz"}])"});
  EXPECT_EQ(r.exitCode, 1);
  r = ctl({"patch", "mi", "dr1", "-n", "dryrun-ns", "--dry-run=client", "--type=apply",
           "--field-manager=e2e", "-p", "spec: {ttl: 9h}"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("--dry-run=client works with --type merge or json"));
  r = ctl({"patch", "mi", "dr1", "-n", "dryrun-ns", "--dry-run=bogus", "-p", "{}"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("Invalid dry-run value (bogus)"));

  // Nothing was stored: not a label, an annotation, nor a ttl (the controller may have written
  // status meanwhile, so the resourceVersion is no witness).
  const json after = object("dr1", "dryrun-ns");
  EXPECT_EQ(after["metadata"]["labels"], before["metadata"]["labels"]);
  EXPECT_EQ(after["metadata"].value("annotations", json()),
            before["metadata"].value("annotations", json()));
  EXPECT_EQ(after["spec"], before["spec"]);
  EXPECT_EQ(after["metadata"]["generation"], before["metadata"]["generation"]);
}

TEST_F(McpctlVerbsTest, PatchStatusSubresource) {
  applyInstance("s1", "status-ns");
  auto r = ctl({"patch", "mi", "s1", "-n", "status-ns", "--subresource=status", "-p",
                R"({"status":{"message":"from e2e"}})", "-o", "jsonpath={.status.message}"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "from e2e");
}

class Editor {
 public:
  // A script that runs `body` with the file to edit as $1.
  explicit Editor(const std::string& body) : path_(dir_.path() + "/editor.sh") {
    std::ofstream(path_) << "#!/bin/sh\n" << body << "\n";
    chmod(path_.c_str(), 0755);
  }
  CommandResult run(McpdProcess& mcpd, const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {mcpd.binDir() + "/mcpctl", "--kubeconfig", mcpd.kubeconfig()};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, "", std::chrono::seconds(30),
                      {"KUBE_EDITOR=" + path_, "EDITOR=" + path_, "TMPDIR=" + dir_.path()});
  }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::string path_;
};

TEST_F(McpctlVerbsTest, EditSavesCancelsAndKeepsRefusedChanges) {
  applyInstance("e1", "edit-ns", "1h");
  Editor change(R"(sed -i 's/ttl: 1h/ttl: 3h/' "$1")");
  auto r = change.run(*mcpd_, {"edit", "mi", "e1", "-n", "edit-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "mcpinstance.minimcp.io/e1 edited\n");
  EXPECT_EQ(object("e1", "edit-ns")["spec"]["ttl"], "3h");

  // Like kubectl, the buffer holds no managedFields.
  Editor keep(R"(cp "$1" "$(dirname "$0")/seen.yaml")");
  r = keep.run(*mcpd_, {"edit", "mi", "e1", "-n", "edit-ns"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  std::string seen = readFileOr(keep.dir().path() + "/seen.yaml");
  EXPECT_THAT(seen, HasSubstr("ttl: 3h"));
  EXPECT_THAT(seen, Not(HasSubstr("managedFields")));

  Editor nothing("true");
  r = nothing.run(*mcpd_, {"edit", "mi/e1", "-n", "edit-ns"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("Edit cancelled, no changes made."));

  // The server refuses the change: exit 1, its message, and the edited file is kept.
  Editor invalid(R"(sed -i 's/ttl: 3h/ttl: forever/' "$1")");
  r = invalid.run(*mcpd_, {"edit", "mi", "e1", "-n", "edit-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("The MCPInstance \"e1\" is invalid: spec.ttl"));
  EXPECT_THAT(r.err, HasSubstr("A copy of your changes has been stored to"));
  EXPECT_EQ(object("e1", "edit-ns")["spec"]["ttl"], "3h");

  // Like kubectl edit, only the changed fields are sent: a write by someone else meanwhile (here
  // a label) survives, and so does the edit.
  Editor racing(R"(sed -i 's/ttl: 3h/ttl: 4h/' "$1" && ")" + mcpd_->binDir() +
                "/mcpctl\" --kubeconfig \"" + mcpd_->kubeconfig() +
                R"(" label mi e1 raced=yes -n edit-ns >/dev/null)");
  r = racing.run(*mcpd_, {"edit", "mi", "e1", "-n", "edit-ns"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  json after = object("e1", "edit-ns");
  EXPECT_EQ(after["spec"]["ttl"], "4h");
  EXPECT_EQ(after["metadata"]["labels"]["raced"], "yes");

  // An edited resourceVersion is a precondition, as in kubectl.
  Editor stale(
      R"(sed -i -e 's/ttl: 4h/ttl: 5h/' -e 's/resourceVersion: .*/resourceVersion: "1"/' "$1")");
  r = stale.run(*mcpd_, {"edit", "mi", "e1", "-n", "edit-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("Error from server (Conflict)"));
  EXPECT_EQ(object("e1", "edit-ns")["spec"]["ttl"], "4h");

  Editor rename(R"(sed -i 's/name: e1/name: e2/' "$1")");
  r = rename.run(*mcpd_, {"edit", "mi", "e1", "-n", "edit-ns"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("At least one of apiVersion, kind and name was changed"));
}

TEST_F(McpctlVerbsTest, Events) {
  applyInstance("ev1", "events-ns");
  auto event = [](const std::string& name, const std::string& type, const std::string& reason,
                  const std::string& involved) {
    return "apiVersion: minimcp.io/v1alpha1\nkind: Event\nmetadata:\n  name: " + name +
           "\n  namespace: events-ns\ninvolvedObject:\n  apiVersion: minimcp.io/v1alpha1\n"
           "  kind: MCPInstance\n  name: " +
           involved + "\n  namespace: events-ns\ntype: " + type + "\nreason: " + reason +
           "\nmessage: " + reason + " happened\n";
  };
  auto r = ctl({"apply", "-f", "-"}, event("e-a", "Normal", "Created", "ev1") + "---\n" +
                                         event("e-b", "Warning", "Broken", "ev1") + "---\n" +
                                         event("e-c", "Normal", "Other", "someone-else"));
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;

  r = ctl({"events", "-n", "events-ns"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("^LAST SEEN +TYPE +REASON +OBJECT +MESSAGE\n")))
      << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("\n\\S+ +Warning +Broken +MCPInstance/ev1 +Broken happened\n")))
      << r.out;
  EXPECT_THAT(r.out, HasSubstr("MCPInstance/someone-else"));

  r = ctl({"events", "-n", "events-ns", "--for", "mi/ev1", "--types=Warning"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Broken"));
  EXPECT_THAT(r.out, Not(HasSubstr("Created")));
  EXPECT_THAT(r.out, Not(HasSubstr("someone-else")));

  r = ctl({"events", "-A", "--for", "mi/ev1"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out.rfind("NAMESPACE   LAST SEEN", 0), 0u) << r.out;
  EXPECT_THAT(r.out, HasSubstr("events-ns "));
  EXPECT_THAT(r.out, Not(HasSubstr("someone-else")));

  r = ctl({"events", "-n", "events-ns", "-o", "jsonpath={.items[*].reason}", "--types", "Normal"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Created"));
  EXPECT_THAT(r.out, Not(HasSubstr("Broken")));

  r = ctl({"events", "-n", "quiet-ns"});
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("No events found in quiet-ns namespace."));

  r = ctl({"events", "-n", "events-ns", "--types=Error"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("valid --types are Normal or Warning"));
}

TEST_F(McpctlVerbsTest, EventsWatchPrintsNewEvents) {
  auto event = [](const std::string& name, const std::string& reason) {
    return "apiVersion: minimcp.io/v1alpha1\nkind: Event\nmetadata:\n  name: " + name +
           "\n  namespace: watch-ns\ninvolvedObject:\n  kind: MCPInstance\n  name: w1\n"
           "  namespace: watch-ns\ntype: Normal\nreason: " +
           reason + "\nmessage: " + reason + "\n";
  };
  auto r = ctl({"apply", "-f", "-"}, event("w-a", "First"));
  ASSERT_EQ(r.exitCode, 0) << r.err;

  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  pid_t pid = spawnProcess({mcpd_->binDir() + "/mcpctl", "--kubeconfig", mcpd_->kubeconfig(),
                            "events", "-n", "watch-ns", "-w"},
                           -1, out[1], -1);
  close(out[1]);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  std::string seen;
  auto sawText = [&](const std::string& text) {
    return waitUntil(
        [&] {
          char buf[4096];
          ssize_t n;
          while ((n = read(out[0], buf, sizeof buf)) > 0) seen.append(buf, static_cast<size_t>(n));
          return seen.find(text) != std::string::npos;
        },
        std::chrono::seconds(15));
  };
  EXPECT_TRUE(sawText("First")) << seen;
  // Created after the list: only the watch can print it.
  r = ctl({"apply", "-f", "-"}, event("w-b", "Second"));
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(sawText("Second")) << seen;
  terminatePid(pid, std::chrono::seconds(5));
  close(out[0]);
  EXPECT_EQ(seen.find("LAST SEEN"), seen.rfind("LAST SEEN")) << "one header: " << seen;
}

// explain reads /openapi/v3 the way kubectl does; real kubectl 1.32 must print the same bytes.
TEST_F(McpctlVerbsTest, ExplainMatchesKubectl) {
  auto r = ctl({"explain", "mi.spec.ttl"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out.rfind("GROUP:      minimcp.io\nKIND:       MCPInstance\nVERSION:    v1alpha1\n\n"
                        "FIELD: ttl <string>\n",
                        0),
            0u)
      << r.out;
  EXPECT_THAT(r.out, HasSubstr("DESCRIPTION:\n"));

  for (const std::vector<std::string>& args : {std::vector<std::string>{"explain", "mcpinstance"},
                                               {"explain", "mi.spec"},
                                               {"explain", "mi.spec.ttl"},
                                               {"explain", "mi", "--recursive"},
                                               {"explain", "mcptypes.spec", "--recursive"},
                                               {"explain", "mi.status.conditions"},
                                               {"explain", "mi.spec.nope"}}) {
    auto mine = ctl(args);
    std::vector<std::string> argv = {"/usr/bin/kubectl", "--kubeconfig", mcpd_->kubeconfig()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto theirs = runCommand(argv);
    EXPECT_EQ(mine.exitCode, theirs.exitCode) << args[1] << ": " << theirs.err << mine.err;
    EXPECT_EQ(mine.out, theirs.out) << args[1];
  }

  r = ctl({"explain", "mi.spec.nope"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("error: field \"nope\" does not exist"));
  r = ctl({"explain", "nope"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("the server doesn't have a resource type \"nope\""));
}

}  // namespace
}  // namespace minimcp::testing
