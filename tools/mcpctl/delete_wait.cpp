// delete [--wait] and wait --for=condition=…|delete: both follow an object until a condition.
#include <iostream>
#include <thread>

#include "api/util/ascii.h"
#include "tools/mcpctl/mcpctl.h"
#include "tools/mcpctl/progress.h"

namespace minimcp::mcpctl {

namespace {

using Clock = std::chrono::steady_clock;

struct Named {
  ResourceInfo resource;
  std::string ns;
  std::string name;
};

// Objects named on the command line, by -f, or (with -l / --all) by listing.
std::vector<Named> collect(Session& s, const std::vector<std::string>& args,
                           const std::vector<std::string>& files, const std::string& selector,
                           bool all, bool recursive, const char* verb) {
  std::vector<Named> out;
  if (!files.empty()) {
    for (const auto& doc : readManifests(files, recursive)) {
      auto r = s.resolveKind(doc.object.value("apiVersion", ""), doc.object.value("kind", ""));
      std::string ns = r.namespaced ? objectNamespace(doc.object) : "";
      if (r.namespaced && ns.empty()) ns = s.ns();
      out.push_back({r, ns, objectName(doc.object)});
    }
    return out;
  }
  for (const auto& t : parseTargets(s, args, verb)) {
    std::string ns = t.resource.namespaced ? s.ns() : "";
    if (!t.names.empty()) {
      for (const auto& n : t.names) out.push_back({t.resource, ns, n});
      continue;
    }
    if (selector.empty() && !all) {
      throw CommandError(
          std::string("error: resource(s) were provided, but no name was specified"));
    }
    std::string q = selector.empty() ? "" : "?labelSelector=" + client::urlEncode(selector);
    json list = s.getJson(t.resource.path(ns) + q);
    for (const auto& item : list.value("items", json::array())) {
      out.push_back({t.resource, objectNamespace(item), objectName(item)});
    }
  }
  return out;
}

std::string timedOut(const Named& n) {
  return "error: timed out waiting for the condition on " + n.resource.name + "/" + n.name;
}

struct DeleteOptions {
  std::vector<std::string> args;
  std::vector<std::string> files;
  bool recursive = false;
  std::string selector;
  bool all = false;
  bool wait = true;
  bool ignoreNotFound = false;
  std::string timeout = "0";
};

int runDelete(Session& s, DeleteOptions& o) {
  if (o.args.empty() && o.files.empty()) {
    throw CommandError("error: You must provide one or more resources by argument or filename.");
  }
  auto timeout = o.timeout == "0" ? std::chrono::milliseconds(std::chrono::minutes(5))
                                  : parseTimeoutFlag(o.timeout, "--timeout");
  auto objects = collect(s, o.args, o.files, o.selector, o.all, o.recursive, "delete");
  if (objects.empty() && (!o.selector.empty() || o.all)) {
    std::cerr << "No resources found\n";
    return 0;
  }
  int exitCode = 0;
  std::vector<Named> deleted;
  for (const auto& n : objects) {
    auto res = s.send("DELETE", n.resource.path(n.ns, n.name), "", "application/json");
    if (res.status == 404 && o.ignoreNotFound) continue;
    if (!isSuccess(res)) {
      std::cout.flush();
      std::cerr << serverError(res) << "\n";
      exitCode = 1;
      continue;
    }
    std::cout << n.resource.kindDotGroup() << " \"" << n.name << "\" deleted" << std::endl;
    deleted.push_back(n);
  }
  if (o.wait) {
    auto deadline = Clock::now() + timeout;
    for (const auto& n : deleted) {
      if (!waitUntilGone(s, n.resource.path(n.ns, n.name), deadline)) {
        std::cerr << timedOut(n) << "\n";
        exitCode = 1;
      }
    }
  }
  return exitCode;
}

// --for=condition=Ready[=True] | --for=delete
struct Condition {
  bool forDelete = false;
  std::string type;
  std::string value = "True";
};

Condition parseFor(const std::string& text) {
  Condition c;
  if (text == "delete") {
    c.forDelete = true;
    return c;
  }
  const std::string prefix = "condition=";
  if (text.rfind(prefix, 0) != 0 || text.size() == prefix.size()) {
    throw CommandError("error: unrecognized condition: \"" + text +
                       "\" (use --for=condition=NAME[=VALUE] or --for=delete)");
  }
  std::string rest = text.substr(prefix.size());
  if (auto eq = rest.find('='); eq != std::string::npos) {
    c.type = rest.substr(0, eq);
    c.value = rest.substr(eq + 1);
  } else {
    c.type = rest;
  }
  return c;
}

bool conditionMet(const json& obj, const Condition& c) {
  json conditions = obj.value("status", json::object()).value("conditions", json::array());
  for (const auto& cond : conditions) {
    if (cond.is_object() && equalsIgnoringAsciiCase(cond.value("type", ""), c.type)) {
      return equalsIgnoringAsciiCase(cond.value("status", ""), c.value);
    }
  }
  return false;
}

std::string phaseOf(const json& obj) {
  const json status = obj.value("status", json::object());
  return status.is_object() ? status.value("phase", "") : "";
}

// Follows one object (GET, then watch from its resourceVersion) until `c` holds or `deadline`;
// `seen` gets each state of the object on the way.
bool waitFor(Session& s, const Named& n, const Condition& c, Clock::time_point deadline,
             const std::function<void(const json&)>& seen = {}) {
  const std::string path = n.resource.path(n.ns, n.name);
  auto backoff = std::chrono::milliseconds(100);
  while (true) {
    auto res = s.get(path);
    if (res.status == 404) {
      if (c.forDelete) return true;
    } else if (!isSuccess(res)) {
      throw CommandError(serverError(res));
    } else {
      json obj = json::parse(res.body, nullptr, false);
      if (seen && obj.is_object()) seen(obj);
      if (!c.forDelete && conditionMet(obj, c)) return true;
      std::string rv = obj.value("metadata", json::object()).value("resourceVersion", "");
      auto remaining =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (remaining.count() <= 0) return false;
      std::string target = n.resource.path(n.ns) + "?watch=true&fieldSelector=" +
                           client::urlEncode("metadata.name=" + n.name) +
                           "&resourceVersion=" + client::urlEncode(rv);
      bool met = false;
      int status = s.http().stream(
          "GET", target,
          [&](const std::string& line) {
            json event = json::parse(line, nullptr, false);
            if (event.is_discarded() || !event.is_object()) return true;
            std::string type = event.value("type", "");
            const json object = event.value("object", json::object());
            if (type == "DELETED" && objectName(object) == n.name) {
              met = c.forDelete;
              return false;  // re-check with a GET (a recreated object, or gone)
            }
            if (seen && (type == "ADDED" || type == "MODIFIED") && objectName(object) == n.name) {
              seen(object);
            }
            if ((type == "ADDED" || type == "MODIFIED") && objectName(object) == n.name &&
                !c.forDelete && conditionMet(object, c)) {
              met = true;
              return false;
            }
            return Clock::now() < deadline;
          },
          {{"Accept", "application/json"}}, remaining);
      if (met) return true;
      // The stream ended (server timeout) or there is no usable watch (e.g. 410 Gone): look
      // again after a short pause, backing off if it keeps happening.
      if (status >= 200 && status < 300) backoff = std::chrono::milliseconds(100);
    }
    auto now = Clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

// Waits for each of `objects` in turn, with progress on stderr; `report` prints kubectl's
// "condition met" line for each on stdout.
int waitAll(Session& s, const std::vector<Named>& objects, const Condition& c,
            Clock::time_point deadline, const std::string& doneWord, bool report) {
  Progress progress(std::cerr, Progress::stderrIsTerminal(), objects.size(), doneWord);
  int exitCode = 0;
  for (const auto& n : objects) {
    const std::string id = n.resource.kindDotGroup() + "/" + n.name;
    if (waitFor(s, n, c, deadline, [&](const json& obj) { progress.seen(id, phaseOf(obj)); })) {
      progress.done(id);
      if (report) {
        progress.clearLine();
        std::cout << id << " condition met" << std::endl;
      }
    } else {
      progress.clearLine();
      std::cout.flush();
      std::cerr << timedOut(n) << "\n";
      exitCode = 1;
    }
  }
  return exitCode;
}

struct WaitOptions {
  std::vector<std::string> args;
  std::vector<std::string> files;
  std::string selector;
  bool all = false;
  std::string forCondition;
  std::string timeout = "30s";
};

int runWait(Session& s, WaitOptions& o) {
  if (o.forCondition.empty()) throw CommandError("error: --for must be specified");
  Condition c = parseFor(o.forCondition);
  auto deadline = Clock::now() + parseTimeoutFlag(o.timeout, "--timeout");
  auto objects = collect(s, o.args, o.files, o.selector, o.all, false, "wait");
  if (objects.empty()) throw CommandError("error: no matching resources found");
  return waitAll(s, objects, c, deadline, "condition met", true);
}

}  // namespace

int waitUntilReady(Session& s, const std::vector<ObjectRef>& objects,
                   std::chrono::milliseconds timeout) {
  std::vector<Named> named;
  for (const auto& o : objects) named.push_back({o.resource, o.ns, o.name});
  Condition ready;
  ready.type = "Ready";
  return waitAll(s, named, ready, Clock::now() + timeout, "ready", false);
}

void registerDelete(CLI::App& app, Session& session, Action& action) {
  auto opts = std::make_shared<DeleteOptions>();
  auto* cmd = app.add_subcommand("delete", "Delete resources by file, names or selector");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("args", opts->args, "KIND NAME... or KIND/NAME...");
  cmd->add_option("--filename,-f", opts->files, "File, directory or - with the objects to delete");
  cmd->add_flag("--recursive,-R", opts->recursive, "Process directories recursively");
  cmd->add_option("--selector,-l", opts->selector, "Delete the objects matching this selector");
  cmd->add_flag("--all", opts->all, "Delete every object of the kind in the namespace");
  cmd->add_flag("--wait,!--no-wait", opts->wait,
                "Wait until the objects are gone (default true; --wait=false to return at once)");
  cmd->add_flag("--ignore-not-found", opts->ignoreNotFound, "Treat a missing object as success");
  cmd->add_option("--timeout", opts->timeout, "How long to wait for deletion (0 = 5m)");
  cmd->callback([&session, &action, opts] {
    action = [&session, opts] { return runDelete(session, *opts); };
  });
}

void registerWait(CLI::App& app, Session& session, Action& action) {
  auto opts = std::make_shared<WaitOptions>();
  auto* cmd = app.add_subcommand("wait", "Wait for a condition on one or many resources");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("args", opts->args, "KIND/NAME... or KIND NAME...");
  cmd->add_option("--filename,-f", opts->files, "File with the objects to wait for");
  cmd->add_option("--selector,-l", opts->selector, "Wait for the objects matching this selector");
  cmd->add_flag("--all", opts->all, "Wait for every object of the kind in the namespace");
  cmd->add_option("--for", opts->forCondition, "condition=NAME[=VALUE] or delete")->required();
  cmd->add_option("--timeout", opts->timeout, "How long to wait (default 30s)");
  cmd->callback(
      [&session, &action, opts] { action = [&session, opts] { return runWait(session, *opts); }; });
}

}  // namespace minimcp::mcpctl
