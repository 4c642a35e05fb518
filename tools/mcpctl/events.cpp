// events: kubectl events' table (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE), --for, --types, -w.
#include <iostream>
#include <sstream>

#include "api/client/event_rows.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

struct EventsOptions {
  bool allNamespaces = false;
  std::string forObject;
  std::vector<std::string> types;
  bool watch = false;
  bool noHeaders = false;
  std::string output;
};

ResourceInfo eventsResource(Session& s) {
  if (auto r = client::resolveResource(s.resources(), "events")) return *r;
  throw CommandError("error: the server doesn't have a resource type \"events\"");
}

std::vector<std::string> splitTypes(const std::vector<std::string>& flags) {
  std::vector<std::string> out;
  for (const auto& f : flags) {
    std::istringstream in(f);
    std::string t;
    while (std::getline(in, t, ',')) {
      if (!t.empty()) out.push_back(t);
    }
  }
  return out;
}

int runEvents(Session& s, const EventsOptions& o) {
  auto types = splitTypes(o.types);
  try {
    client::checkEventTypes(types);
  } catch (const std::invalid_argument& e) {
    throw CommandError(std::string("error: ") + e.what());
  }
  if (!o.output.empty() && o.output != "yaml" && o.output != "json" &&
      !isTemplateOutput(o.output)) {
    throw CommandError("error: unable to match a printer suitable for the output format \"" +
                       o.output +
                       "\", allowed formats are: "
                       "custom-columns,custom-columns-file,json,jsonpath,jsonpath-file,yaml");
  }
  ResourceInfo events = eventsResource(s);
  std::string fieldSelector;
  if (!o.forObject.empty()) {
    auto kn = client::splitKindName(o.forObject);
    if (!kn || kn->second.empty()) {
      throw CommandError("error: --for must be in resource/name form");
    }
    ResourceInfo r = s.resolve(kn->first);
    fieldSelector = "involvedObject.kind=" + r.kind + ",involvedObject.name=" + kn->second;
  }
  std::string target = events.path(o.allNamespaces ? "" : s.ns());
  if (!fieldSelector.empty()) target += "?fieldSelector=" + client::urlEncode(fieldSelector);
  json list = s.getJson(target);
  if (!o.output.empty()) {
    std::vector<json> items;
    for (auto& e : client::sortedEvents(list, types))
      items.push_back(withoutManagedFields(withTypeMeta(e, events)));
    json out = makeList(std::move(items));
    if (o.output == "yaml") {
      std::cout << toYamlText(out);
    } else if (o.output == "json") {
      std::cout << toJsonText(out);
    } else {
      TemplatePrinter(o.output, o.noHeaders).print(out, std::cout);
    }
    return 0;
  }
  auto now = std::chrono::system_clock::now();
  client::Rows rows = client::eventRows(list, o.allNamespaces, types, now);
  auto header = client::eventHeader(o.allNamespaces);
  if (rows.empty() && !o.watch) {
    if (o.allNamespaces) {
      std::cerr << "No events found.\n";
    } else {
      std::cerr << "No events found in " << s.ns() << " namespace.\n";
    }
    return 0;
  }
  if (!o.noHeaders) rows.insert(rows.begin(), header);
  std::cout << client::alignColumns(rows) << std::flush;
  if (!o.watch) return 0;
  bool headerPrinted = !o.noHeaders && rows.size() > 0;
  std::string rv = list.value("metadata", json::object()).value("resourceVersion", "");
  std::string watchTarget = target + (target.find('?') == std::string::npos ? "?" : "&") +
                            "watch=true&allowWatchBookmarks=true";
  while (true) {
    std::string url = watchTarget + (rv.empty() ? "" : "&resourceVersion=" + client::urlEncode(rv));
    std::string failure;
    int status = s.http().stream(
        "GET", url,
        [&](const std::string& line) {
          json event = json::parse(line, nullptr, false);
          if (!event.is_object()) return true;
          std::string type = event.value("type", "");
          json object = event.value("object", json::object());
          if (type == "ERROR") {
            failure = object.value("message", "watch failed");
            return false;
          }
          rv = object.value("metadata", json::object()).value("resourceVersion", rv);
          if (type != "ADDED" && type != "MODIFIED") return true;
          auto eventRows = client::eventRows({{"items", {object}}}, o.allNamespaces, types,
                                             std::chrono::system_clock::now());
          if (eventRows.empty()) return true;
          // Like kubectl events -w, each event is aligned on its own (one flush per event).
          if (!headerPrinted && !o.noHeaders) eventRows.insert(eventRows.begin(), header);
          headerPrinted = true;
          std::cout << client::alignColumns(eventRows) << std::flush;
          return true;
        },
        {{"Accept", "application/json"}}, std::chrono::hours(24));
    if (status < 200 || status >= 300) {
      throw CommandError(serverError(client::Response{status, {}, failure}));
    }
    if (!failure.empty()) throw CommandError("error: " + failure);
  }
}

}  // namespace

void registerEvents(CLI::App& app, Session& session, Action& action) {
  auto o = std::make_shared<EventsOptions>();
  auto* cmd = app.add_subcommand("events", "List events");
  addCommonFlags(cmd, session.flags);
  cmd->add_flag("--all-namespaces,-A", o->allNamespaces, "Events of every namespace");
  cmd->add_option("--for", o->forObject, "Only events about this object (KIND/NAME)");
  cmd->add_option("--types", o->types, "Only these types: Normal, Warning (comma-separated)")
      ->delimiter(',');
  cmd->add_flag("--watch,-w", o->watch, "After listing, watch for new events");
  cmd->add_flag("--no-headers", o->noHeaders, "Do not print headers");
  cmd->add_option("--output,-o", o->output, "yaml|json|jsonpath=…|custom-columns=…");
  cmd->callback(
      [&session, &action, o] { action = [&session, o] { return runEvents(session, *o); }; });
}

}  // namespace minimcp::mcpctl
