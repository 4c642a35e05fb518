// mcpctl internals shared by the command files: connection, discovery, errors and output.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/client/custom_columns.h"
#include "api/client/discovery.h"
#include "api/client/http_client.h"
#include "api/client/jsonpath.h"

namespace minimcp::mcpctl {

using client::ResourceInfo;
using nlohmann::json;

inline constexpr const char* kTableAccept =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
inline constexpr const char* kGroupVersionPath = "/apis/minimcp.io/v1alpha1";
inline constexpr const char* kClientVersion = "v0.1.0";

// Connection flags that every subcommand accepts (kubectl's names).
struct GlobalFlags {
  std::string kubeconfig;
  std::string server;
  std::string token;
  std::string certificateAuthority;
  std::string context;
  std::string ns;
  bool insecureSkipTlsVerify = false;
  std::string requestTimeout;
};

// An error whose message is printed as is (it already starts with "error: " or
// "Error from server (…)") and whose exit code the command chose.
class CommandError : public std::runtime_error {
 public:
  explicit CommandError(const std::string& message, int exitCode = 1)
      : std::runtime_error(message), exitCode_(exitCode) {}
  int exitCode() const { return exitCode_; }

 private:
  int exitCode_;
};

// "Error from server (Reason): message" from a non-2xx response (a Status body, or whatever
// the server sent). `context`, when given, goes before the message like kubectl's
// `error when creating "file.yaml": …`.
std::string serverError(const client::Response& response, const std::string& context = "");
bool isSuccess(const client::Response& response);

// One invocation: flags, the lazily opened connection and the discovery cache.
class Session {
 public:
  GlobalFlags flags;

  client::HttpClient& http();
  // The namespace from -n, else the kubeconfig context's, else "default".
  const std::string& ns();
  bool nsExplicit() const { return !flags.ns.empty(); }
  // The kubeconfig file that connection resolution uses (for `config`).
  std::string kubeconfigPath() const;

  const std::vector<ResourceInfo>& resources();
  // Throws `error: the server doesn't have a resource type "x"`.
  ResourceInfo resolve(const std::string& typed);
  ResourceInfo resolveKind(const std::string& apiVersion, const std::string& kind);

  client::Response get(const std::string& target, const std::string& accept = "application/json");
  // GET that must succeed; throws CommandError with the server's message otherwise.
  json getJson(const std::string& target, const std::string& accept = "application/json");
  client::Response send(const std::string& method, const std::string& target,
                        const std::string& body, const std::string& contentType);

 private:
  void connect();
  std::unique_ptr<client::HttpClient> http_;
  std::string ns_;
  std::optional<std::vector<ResourceInfo>> resources_;
};

struct Target {
  ResourceInfo resource;
  std::vector<std::string> names;  // empty: every object (list)
};
// kubectl's two spellings: `VERB KIND [NAME...]` and `VERB KIND/NAME...`; `verb` goes into the
// error message when no kind is given.
std::vector<Target> parseTargets(Session& s, const std::vector<std::string>& args,
                                 const char* verb);

// One object by resource, namespace and name.
struct ObjectRef {
  ResourceInfo resource;
  std::string ns, name;
};
// Waits until each of `objects` has the condition Ready=True, showing progress on stderr (a bar
// on a terminal, plain lines otherwise); 1 when one did not within `timeout`.
int waitUntilReady(Session& s, const std::vector<ObjectRef>& objects,
                   std::chrono::milliseconds timeout);

// Adds the connection flags to `app` (root and every subcommand, so they work on either side of
// the subcommand name despite CLI11 2.1).
void addCommonFlags(CLI::App* app, GlobalFlags& flags);

// Every command file registers its subcommands; the chosen one's action runs after parsing.
using Action = std::function<int()>;
void registerApply(CLI::App& app, Session& session, Action& action);
void registerDiff(CLI::App& app, Session& session, Action& action);
void registerGet(CLI::App& app, Session& session, Action& action);
void registerDescribe(CLI::App& app, Session& session, Action& action);
void registerDelete(CLI::App& app, Session& session, Action& action);
void registerWait(CLI::App& app, Session& session, Action& action);
void registerApiResources(CLI::App& app, Session& session, Action& action);
void registerVersion(CLI::App& app, Session& session, Action& action);
void registerConfig(CLI::App& app, Session& session, Action& action);
void registerCompletion(CLI::App& app, Session& session, Action& action);
void registerLogs(CLI::App& app, Session& session, Action& action);
void registerToken(CLI::App& app, Session& session, Action& action);
void registerCreate(CLI::App& app, Session& session, Action& action);
void registerLimits(CLI::App& app, Session& session, Action& action);
void registerEvents(CLI::App& app, Session& session, Action& action);
void registerEdit(CLI::App& app, Session& session, Action& action);
void registerPatch(CLI::App& app, Session& session, Action& action);
void registerLabel(CLI::App& app, Session& session, Action& action);
void registerAnnotate(CLI::App& app, Session& session, Action& action);
void registerExplain(CLI::App& app, Session& session, Action& action);
void registerOAuth2(CLI::App& app, Session& session, Action& action);
void registerTop(CLI::App& app, Session& session, Action& action);

// --- output ---
// kubectl prints JSON with 4-space indentation.
std::string toJsonText(const json& value);
std::string toYamlText(const json& value);
// {apiVersion: v1, kind: List, items, metadata: {resourceVersion: ""}}
json makeList(std::vector<json> items);
// `obj` with apiVersion/kind filled in from `r` when the server left them out of list items.
json withTypeMeta(json obj, const ResourceInfo& r);
std::string objectName(const json& obj);
std::string objectNamespace(const json& obj);

// -o jsonpath=…, jsonpath-file=…, custom-columns=…, custom-columns-file=…
bool isTemplateOutput(const std::string& output);
class TemplatePrinter {
 public:
  // Throws CommandError with kubectl's message when the template does not parse.
  TemplatePrinter(const std::string& output, bool noHeaders, bool allowMissingKeys = true);
  // One object or a List (custom-columns: a row per item; the header once per printer).
  // Throws CommandError when the template fails on the object.
  void print(const json& object, std::ostream& out);

 private:
  std::optional<client::JsonPath> jsonPath_;
  std::string template_;
  std::vector<client::CustomColumn> columns_;
  bool noHeaders_;
  bool headerPrinted_ = false;
};

// `obj` without metadata.managedFields: kubectl leaves them out of printed and edited objects
// unless --show-managed-fields.
json withoutManagedFields(json obj);

// --dry-run, as kubectl reads it: none, server (the server validates and stores nothing) or
// client (mcpctl computes the result itself and sends no write). Throws kubectl's error for
// anything else.
enum class DryRun { None, Server, Client };
DryRun parseDryRun(const std::string& value);

// "kind.group/name VERB" lines, with kubectl's " (server dry run)" or " (dry run)" suffix.
std::string changedLine(const ResourceInfo& r, const std::string& name, const std::string& verb,
                        DryRun dryRun = DryRun::None);

// The object a write answered, printed as -o asks: yaml, json, name or a template (`printer`);
// without -o, `line` (a changedLine).
void printWritten(const json& updated, const ResourceInfo& r, const std::string& name,
                  const std::string& output, TemplatePrinter* printer, const std::string& line);

// --- input ---
// Reads -f arguments (files, directories with .yaml/.yml/.json, "-" for stdin); returns
// (source name, documents) per file, expanding kind: List. Throws CommandError on unreadable or
// unparsable input.
struct SourceDoc {
  std::string source;
  json object;
};
std::vector<SourceDoc> readManifests(const std::vector<std::string>& paths, bool recursive);
// A secret from a file ("-": standard input) without one trailing newline; `flag` names it in
// errors. Secrets come from files, not argv, which every user of the host can read.
std::string readSecretFile(const std::string& path, const std::string& flag);

// --- time ---
// "30s", "2m", "1h30m", or a bare number of seconds; throws CommandError when malformed.
std::chrono::milliseconds parseTimeoutFlag(const std::string& text, const std::string& flag);

// --- shared helpers across commands ---
// Polls with backoff until GET answers 404 or `deadline` passes; true when gone.
bool waitUntilGone(Session& session, const std::string& target,
                   std::chrono::steady_clock::time_point deadline);

}  // namespace minimcp::mcpctl
