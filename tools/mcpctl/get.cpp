// get [-w]: server-side tables (meta.k8s.io/v1 Table), yaml/json/name output, and watch.
#include <iostream>
#include <map>
#include <sstream>

#include "api/client/table.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

struct GetOptions {
  std::vector<std::string> args;
  bool allNamespaces = false;
  std::string selector;
  std::string fieldSelector;
  std::string output;
  bool watch = false;
  bool showLabels = false;
  bool showManagedFields = false;
  bool noHeaders = false;
  bool ignoreNotFound = false;
  bool allowMissingTemplateKeys = true;
  std::shared_ptr<TemplatePrinter> printer;  // -o jsonpath=… / custom-columns=…
};

// As kubectl: metadata.managedFields are long and rarely wanted, so printed only on request.
json forPrinting(json obj, const ResourceInfo& r, const GetOptions& o) {
  obj = withTypeMeta(std::move(obj), r);
  if (!o.showManagedFields && obj.contains("metadata") && obj["metadata"].is_object()) {
    obj["metadata"].erase("managedFields");
  }
  return obj;
}

std::string listQuery(const GetOptions& o, const std::string& extraField = "") {
  std::string q;
  auto add = [&](const std::string& key, const std::string& value) {
    if (value.empty()) return;
    q += (q.empty() ? "?" : "&") + key + "=" + client::urlEncode(value);
  };
  add("labelSelector", o.selector);
  std::string fields = o.fieldSelector;
  if (!extraField.empty()) fields = fields.empty() ? extraField : fields + "," + extraField;
  add("fieldSelector", fields);
  return q;
}

// A server without Table support still gets readable output: NAME and AGE from the objects.
json asTable(const json& body) {
  if (body.value("kind", "") == "Table") return body;
  json table = {
      {"kind", "Table"},
      {"apiVersion", "meta.k8s.io/v1"},
      {"columnDefinitions", json::array({{{"name", "Name"}, {"type", "string"}, {"priority", 0}},
                                         {{"name", "Age"}, {"type", "date"}, {"priority", 0}}})},
      {"rows", json::array()}};
  if (body.contains("metadata")) table["metadata"] = body["metadata"];
  auto addRow = [&](const json& obj) {
    json meta = obj.value("metadata", json::object());
    table["rows"].push_back(
        {{"cells", {meta.value("name", ""), meta.value("creationTimestamp", "")}},
         {"object", obj}});
  };
  if (body.contains("items") && body["items"].is_array()) {
    for (const auto& item : body["items"]) addRow(item);
  } else {
    addRow(body);
  }
  return table;
}

json parseBody(const client::Response& res) {
  json body = json::parse(res.body, nullptr, false);
  if (body.is_discarded()) throw CommandError("error: the server sent an invalid JSON response");
  return body;
}

std::string noResourcesMessage(Session& s, const ResourceInfo& r, bool all) {
  if (r.namespaced && !all) return "No resources found in " + s.ns() + " namespace.";
  return "No resources found";
}

class Watcher {
 public:
  Watcher(Session& s, const ResourceInfo& r, const GetOptions& o, client::TableOptions topts)
      : s_(s), r_(r), o_(o), topts_(std::move(topts)) {}

  void setTable(const json& table, const client::Rows& printed) {
    columns_ = table.value("columnDefinitions", json::array());
    widths_ = client::columnWidths(printed);
    headerPrinted_ = !printed.empty() && !o_.noHeaders;
    for (const auto& row : table.value("rows", json::array())) remember(row);
  }

  // Follows the watch from `rv` until the stream fails for good or the deadline passes.
  int run(std::string rv, const std::string& nameFilter,
          std::optional<std::chrono::steady_clock::time_point> deadline) {
    bool tableMode = o_.output.empty() || o_.output == "wide";
    std::string ns = o_.allNamespaces ? "" : s_.ns();
    while (true) {
      std::string target = r_.path(ns) + listQuery(o_, nameFilter);
      target += (target.find('?') == std::string::npos ? "?" : "&");
      target += "watch=true&allowWatchBookmarks=true";
      if (!rv.empty()) target += "&resourceVersion=" + client::urlEncode(rv);
      std::string failure;
      auto idle = std::chrono::milliseconds(std::chrono::hours(24));
      if (deadline) {
        idle = std::chrono::duration_cast<std::chrono::milliseconds>(
            *deadline - std::chrono::steady_clock::now());
        if (idle.count() <= 0) return 0;
      }
      int status = s_.http().stream(
          "GET", target,
          [&](const std::string& line) {
            if (deadline && std::chrono::steady_clock::now() >= *deadline) return false;
            json event = json::parse(line, nullptr, false);
            if (event.is_discarded() || !event.is_object()) return true;
            std::string type = event.value("type", "");
            json object = event.value("object", json::object());
            if (type == "ERROR") {
              failure = object.value("message", "watch failed");
              return false;
            }
            if (type == "BOOKMARK") {
              rv = object.value("metadata", json::object()).value("resourceVersion", rv);
              return true;
            }
            if (object.value("kind", "") != "Table") {
              std::string objRv =
                  object.value("metadata", json::object()).value("resourceVersion", "");
              if (!objRv.empty()) rv = objRv;
            } else if (object.contains("metadata")) {
              rv = object["metadata"].value("resourceVersion", rv);
            }
            print(type, object, tableMode);
            return true;
          },
          {{"Accept", tableMode ? kTableAccept : "application/json"}}, idle);
      if (status == 410) {
        throw CommandError("error: watch expired (410 Gone): the resource version is too old");
      }
      if (status < 200 || status >= 300) {
        client::Response res{status, {}, failure};
        throw CommandError(serverError(res));
      }
      if (!failure.empty()) throw CommandError("error: " + failure);
      if (deadline && std::chrono::steady_clock::now() >= *deadline) return 0;
      // The server ended the stream (its watch timeout): resume from the last version seen.
    }
  }

 private:
  static std::string keyOf(const json& obj) { return objectNamespace(obj) + "/" + objectName(obj); }

  void remember(const json& row) {
    std::string key = keyOf(row.value("object", json::object()));
    json table = {{"columnDefinitions", columns_}, {"rows", json::array({row})}};
    auto rows = client::tableDataRows(table, topts_);
    if (!rows.empty()) lastRow_[key] = rows.front();
  }

  void printRow(const std::vector<std::string>& row) {
    if (!headerPrinted_ && !o_.noHeaders) {
      json header = {{"columnDefinitions", columns_}, {"rows", json::array()}};
      auto rows = client::tableRows(header, topts_);
      rows.push_back(row);
      widths_ = client::columnWidths(rows);
      std::cout << client::formatRow(rows.front(), widths_) << "\n";
      headerPrinted_ = true;
    }
    std::cout << client::formatRow(row, widths_) << std::endl;
  }

  void print(const std::string& type, const json& object, bool tableMode) {
    if (!tableMode) {
      json obj = forPrinting(object, r_, o_);
      if (o_.output == "yaml") {
        std::cout << "---\n" << toYamlText(obj) << std::flush;
      } else if (o_.output == "json") {
        std::cout << toJsonText(obj) << std::flush;
      } else if (o_.printer) {
        o_.printer->print(obj, std::cout);
        std::cout << std::flush;
      } else {
        std::cout << r_.kindDotGroup() << "/" << objectName(obj) << std::endl;
      }
      return;
    }
    if (object.value("kind", "") == "Table") {
      json table = object;
      if (table.value("columnDefinitions", json::array()).empty()) {
        table["columnDefinitions"] = columns_;
      } else {
        columns_ = table["columnDefinitions"];
      }
      for (const auto& row : table.value("rows", json::array())) {
        remember(row);
        json single = {{"columnDefinitions", columns_}, {"rows", json::array({row})}};
        for (const auto& line : client::tableDataRows(single, topts_)) printRow(line);
      }
      return;
    }
    // Plain objects: the row comes from the server's table for that object; a deleted object
    // can no longer be fetched, so its last known row is printed.
    std::string key = keyOf(object);
    if (type != "DELETED") {
      auto res = s_.get(r_.path(objectNamespace(object), objectName(object)), kTableAccept);
      if (isSuccess(res)) {
        json table = asTable(parseBody(res));
        if (columns_.empty()) columns_ = table.value("columnDefinitions", json::array());
        for (const auto& row : table.value("rows", json::array())) remember(row);
      }
    }
    auto it = lastRow_.find(key);
    if (it != lastRow_.end()) {
      printRow(it->second);
    } else {
      std::vector<std::string> row;
      if (topts_.withNamespace) row.push_back(objectNamespace(object));
      row.push_back(objectName(object));
      printRow(row);
    }
  }

  Session& s_;
  ResourceInfo r_;
  const GetOptions& o_;
  client::TableOptions topts_;
  json columns_ = json::array();
  std::vector<size_t> widths_;
  bool headerPrinted_ = false;
  std::map<std::string, std::vector<std::string>> lastRow_;
};

int runGet(Session& s, GetOptions& o) {
  if (!o.output.empty() && o.output != "wide" && o.output != "yaml" && o.output != "json" &&
      o.output != "name" && !isTemplateOutput(o.output)) {
    throw CommandError("error: unable to match a printer suitable for the output format \"" +
                       o.output +
                       "\", allowed formats are: "
                       "custom-columns,custom-columns-file,json,jsonpath,jsonpath-file,name,wide,"
                       "yaml");
  }
  if (isTemplateOutput(o.output)) {
    o.printer =
        std::make_shared<TemplatePrinter>(o.output, o.noHeaders, o.allowMissingTemplateKeys);
  }
  auto targets = parseTargets(s, o.args, "get");
  if (o.watch && (targets.size() != 1 || targets[0].names.size() > 1)) {
    throw CommandError("error: you may only specify a single resource type and name with --watch");
  }
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (!s.flags.requestTimeout.empty() && s.flags.requestTimeout != "0") {
    deadline = std::chrono::steady_clock::now() +
               parseTimeoutFlag(s.flags.requestTimeout, "--request-timeout");
  }
  const bool tableMode = o.output.empty() || o.output == "wide";
  int exitCode = 0;
  std::vector<std::string> errors;
  std::vector<json> printed;  // yaml/json/name
  bool firstTable = true;
  for (const auto& t : targets) {
    const ResourceInfo& r = t.resource;
    std::string ns = o.allNamespaces ? "" : s.ns();
    client::TableOptions topts;
    topts.wide = o.output == "wide";
    topts.withNamespace = o.allNamespaces && r.namespaced;
    topts.showLabels = o.showLabels;
    topts.noHeaders = o.noHeaders;
    std::string rv;
    if (tableMode) {
      json table;
      if (t.names.empty()) {
        auto res = s.get(r.path(ns) + listQuery(o), kTableAccept);
        if (!isSuccess(res)) throw CommandError(serverError(res));
        table = asTable(parseBody(res));
      } else {
        for (const auto& name : t.names) {
          auto res = s.get(r.path(ns, name), kTableAccept);
          if (!isSuccess(res)) {
            if (!(res.status == 404 && o.ignoreNotFound)) errors.push_back(serverError(res));
            continue;
          }
          json one = asTable(parseBody(res));
          if (table.is_null()) {
            table = one;
          } else {
            for (auto& row : one["rows"]) table["rows"].push_back(row);
          }
        }
      }
      client::Rows rows;
      if (!table.is_null() && !table.value("rows", json::array()).empty()) {
        rows = client::tableRows(table, topts);
        if (!firstTable) std::cout << "\n";
        firstTable = false;
        std::cout << client::alignColumns(rows) << std::flush;
      } else if (t.names.empty() && !o.watch) {
        std::cerr << noResourcesMessage(s, r, o.allNamespaces) << "\n";
      }
      if (!table.is_null() && table.contains("metadata") && table["metadata"].is_object()) {
        rv = table["metadata"].value("resourceVersion", "");
      }
      if (o.watch) {
        if (!errors.empty()) break;
        Watcher watcher(s, r, o, topts);
        if (!table.is_null()) watcher.setTable(table, rows);
        if (t.names.size() == 1 && !table.is_null() && rv.empty()) {
          const auto& rowsJson = table.value("rows", json::array());
          if (!rowsJson.empty()) {
            rv = rowsJson[0]
                     .value("object", json::object())
                     .value("metadata", json::object())
                     .value("resourceVersion", "");
          }
        }
        std::string nameFilter = t.names.empty() ? "" : "metadata.name=" + t.names[0];
        watcher.run(rv, nameFilter, deadline);
      }
      continue;
    }
    // yaml / json / name
    if (t.names.empty()) {
      json list = s.getJson(r.path(ns) + listQuery(o));
      for (auto& item : list.value("items", json::array()))
        printed.push_back(forPrinting(item, r, o));
      if (list.contains("metadata") && list["metadata"].is_object()) {
        rv = list["metadata"].value("resourceVersion", "");
      }
    } else {
      for (const auto& name : t.names) {
        auto res = s.get(r.path(ns, name));
        if (!isSuccess(res)) {
          if (!(res.status == 404 && o.ignoreNotFound)) errors.push_back(serverError(res));
          continue;
        }
        json obj = forPrinting(parseBody(res), r, o);
        rv = obj.value("metadata", json::object()).value("resourceVersion", "");
        printed.push_back(std::move(obj));
      }
    }
    if (o.watch) {
      for (const auto& obj : printed) {
        if (o.output == "yaml")
          std::cout << "---\n" << toYamlText(obj);
        else if (o.output == "json")
          std::cout << toJsonText(obj);
        else if (o.printer)
          o.printer->print(obj, std::cout);
        else
          std::cout << r.kindDotGroup() << "/" << objectName(obj) << "\n";
      }
      std::cout << std::flush;
      printed.clear();
      if (!errors.empty()) break;
      Watcher watcher(s, r, o, topts);
      std::string nameFilter = t.names.empty() ? "" : "metadata.name=" + t.names[0];
      watcher.run(rv, nameFilter, deadline);
    }
    if (o.output == "name") {
      for (const auto& obj : printed)
        std::cout << r.kindDotGroup() << "/" << objectName(obj) << "\n";
      printed.clear();
    }
  }
  if (!tableMode && o.output != "name" && !o.watch) {
    bool single = targets.size() == 1 && targets[0].names.size() == 1;
    auto text = [&](const json& obj) {
      if (o.printer) {
        std::ostringstream out;
        o.printer->print(obj, out);
        return out.str();
      }
      return o.output == "yaml" ? toYamlText(obj) : toJsonText(obj);
    };
    if (single && printed.size() == 1) {
      std::cout << text(printed[0]);
    } else if (!single || !printed.empty()) {
      std::cout << text(makeList(std::move(printed)));
    }
  }
  std::cout << std::flush;
  for (const auto& e : errors) {
    std::cerr << e << "\n";
    exitCode = 1;
  }
  return exitCode;
}

}  // namespace

void registerGet(CLI::App& app, Session& session, Action& action) {
  auto opts = std::make_shared<GetOptions>();
  auto* cmd = app.add_subcommand("get", "Display one or many resources");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("args", opts->args, "KIND [NAME...] or KIND/NAME...");
  cmd->add_flag("--all-namespaces,-A", opts->allNamespaces, "List across all namespaces");
  cmd->add_option("--selector,-l", opts->selector, "Label selector (e.g. app=x,tier!=y)");
  cmd->add_option("--field-selector", opts->fieldSelector, "Field selector (metadata.name=x)");
  cmd->add_option("--output,-o", opts->output,
                  "Output format: wide|yaml|json|name|jsonpath=TEMPLATE|jsonpath-file=FILE|"
                  "custom-columns=SPEC|custom-columns-file=FILE");
  cmd->add_option("--allow-missing-template-keys", opts->allowMissingTemplateKeys,
                  "Ignore missing fields in jsonpath templates (default true)");
  cmd->add_flag("--watch,-w", opts->watch, "After listing, watch for changes");
  cmd->add_flag("--show-labels", opts->showLabels, "Show labels as the last column");
  cmd->add_flag("--show-managed-fields", opts->showManagedFields,
                "Keep metadata.managedFields in -o json|yaml|jsonpath output");
  cmd->add_flag("--no-headers", opts->noHeaders, "Do not print headers");
  cmd->add_flag("--ignore-not-found", opts->ignoreNotFound, "Treat a missing object as success");
  cmd->callback(
      [&session, &action, opts] { action = [&session, opts] { return runGet(session, *opts); }; });
}

}  // namespace minimcp::mcpctl
