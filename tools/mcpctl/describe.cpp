// describe: kubectl's generic describer for custom resources, with Conditions and Events tables.
#include <algorithm>
#include <iostream>
#include <sstream>

#include "api/client/merge_patch.h"
#include "api/client/table.h"
#include "api/util/ascii.h"
#include "api/util/clock.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

// kubectl's smartLabelFor: "keyRef" → "Key Ref", "gatewayURL" → "Gateway URL", "uid" → "UID";
// a key with characters other than letters and '-' ("timeout_ms") is printed as it is.
std::string words(const std::string& key) {
  for (unsigned char c : key) {
    if (!std::isalpha(c) && c != '-') return key;
  }
  // Split into runs of one character class, then give a run's last capital to a following
  // lower-case run ("URLPath" → "URL" "Path"), as fatih/camelcase does.
  auto cls = [](unsigned char c) { return std::islower(c) ? 1 : std::isupper(c) ? 2 : 3; };
  std::vector<std::string> runs;
  for (size_t i = 0; i < key.size(); ++i) {
    auto c = static_cast<unsigned char>(key[i]);
    if (i == 0 || cls(c) != cls(static_cast<unsigned char>(key[i - 1]))) runs.emplace_back();
    runs.back() += key[i];
  }
  for (size_t i = 0; i + 1 < runs.size(); ++i) {
    if (std::isupper(static_cast<unsigned char>(runs[i][0])) &&
        std::islower(static_cast<unsigned char>(runs[i + 1][0]))) {
      runs[i + 1].insert(runs[i + 1].begin(), runs[i].back());
      runs[i].pop_back();
    }
  }
  std::string out;
  for (auto& part : runs) {
    if (part.empty()) continue;
    const std::string upper = asciiUpper(part);
    if (upper == "API" || upper == "URL" || upper == "UID" || upper == "OSB" || upper == "GUID") {
      part = upper;
    } else {
      part[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(part[0])));
    }
    out += (out.empty() ? "" : " ") + part;
  }
  return out;
}

std::string scalar(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "<nil>";
  return v.dump();
}

// Nested maps and lists as indented "Key:  value" lines; scalars of one map aligned.
void describeValue(std::ostream& out, const json& value, int indent) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (value.is_object()) {
    size_t width = 0;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!it->is_structured()) width = std::max(width, words(it.key()).size() + 1);
    }
    for (auto it = value.begin(); it != value.end(); ++it) {
      std::string label = words(it.key()) + ":";
      if (it->is_structured()) {
        if (it->empty()) {
          out << pad << label << "\n";
          continue;
        }
        out << pad << label << "\n";
        describeValue(out, *it, indent + 2);
      } else {
        out << pad << label << std::string(width - label.size() + 2, ' ') << scalar(*it) << "\n";
      }
    }
  } else if (value.is_array()) {
    for (const auto& item : value) {
      if (item.is_structured()) {
        describeValue(out, item, indent);
      } else {
        out << pad << scalar(item) << "\n";
      }
    }
  } else {
    out << pad << scalar(value) << "\n";
  }
}

// "Labels:       a=b\n              c=d" (values continue under the first).
void printMap(std::ostream& out, const std::string& label, const json& map, bool skipLastApplied) {
  std::string head = label + ":";
  head += std::string(head.size() < 14 ? 14 - head.size() : 1, ' ');
  std::vector<std::string> lines;
  if (map.is_object()) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (skipLastApplied && it.key() == client::kLastAppliedAnnotation) continue;
      lines.push_back(it.key() +
                      (it->is_string() ? "=" + it->get<std::string>() : "=" + it->dump()));
    }
  }
  if (lines.empty()) {
    out << head << "<none>\n";
    return;
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    out << (i == 0 ? head : std::string(head.size(), ' ')) << lines[i] << "\n";
  }
}

void printField(std::ostream& out, const std::string& label, const std::string& value) {
  std::string head = label + ":";
  out << head << std::string(head.size() < 14 ? 14 - head.size() : 1, ' ') << value << "\n";
}

std::string age(const std::string& timestamp, std::chrono::system_clock::time_point now) {
  auto t = parseRfc3339(timestamp);
  if (!t) return "<unknown>";
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(now - *t);
  return humanDuration(std::max(d, std::chrono::milliseconds(0)));
}

void printConditions(std::ostream& out, const json& conditions) {
  client::Rows rows = {{"Type", "Status", "Reason", "Message", "Last Transition Time"},
                       {"----", "------", "------", "-------", "--------------------"}};
  for (const auto& c : conditions) {
    if (!c.is_object()) continue;
    rows.push_back({c.value("type", ""), c.value("status", ""), c.value("reason", ""),
                    c.value("message", ""), c.value("lastTransitionTime", "")});
  }
  out << "Conditions:\n";
  std::istringstream lines(client::alignColumns(rows, 2));
  for (std::string line; std::getline(lines, line);) out << "  " << line << "\n";
}

void printEvents(std::ostream& out, json events) {
  if (!events.is_array() || events.empty()) {
    printField(out, "Events", "<none>");
    return;
  }
  std::stable_sort(events.begin(), events.end(), [](const json& a, const json& b) {
    auto key = [](const json& e) {
      std::string t = e.value("lastTimestamp", "");
      return t.empty() ? e.value("eventTime", e.value("firstTimestamp", "")) : t;
    };
    return key(a) < key(b);
  });
  auto now = std::chrono::system_clock::now();
  client::Rows rows = {{"Type", "Reason", "Age", "From", "Message"},
                       {"----", "------", "----", "----", "-------"}};
  for (const auto& e : events) {
    std::string last = e.value("lastTimestamp", "");
    std::string first = e.value("firstTimestamp", "");
    if (last.empty()) last = e.value("eventTime", first);
    std::string when = age(last, now);
    int count = e.value("count", 1);
    if (count > 1 && !first.empty()) {
      when += " (x" + std::to_string(count) + " over " + age(first, now) + ")";
    }
    json source = e.value("source", json::object());
    std::string from = source.value("component", "");
    std::string node = source.value("node", source.value("host", ""));
    if (!node.empty()) from = from.empty() ? node : from + ", " + node;
    rows.push_back(
        {e.value("type", ""), e.value("reason", ""), when, from, e.value("message", "")});
  }
  out << "Events:\n";
  std::istringstream lines(client::alignColumns(rows, 2));
  for (std::string line; std::getline(lines, line);) out << "  " << line << "\n";
}

json fetchEvents(Session& s, const ResourceInfo& r, const json& obj) {
  std::string ns = objectNamespace(obj);
  std::string path;
  if (auto events = client::resolveResource(s.resources(), "events")) {
    path = events->path(r.namespaced ? ns : "");
  } else {
    path = std::string(kGroupVersionPath) + (r.namespaced ? "/namespaces/" + ns : "") + "/events";
  }
  std::string selector = "involvedObject.name=" + objectName(obj) +
                         ",involvedObject.kind=" + obj.value("kind", r.kind);
  auto res = s.get(path + "?fieldSelector=" + client::urlEncode(selector));
  if (!isSuccess(res)) return json::array();  // events are best effort, like kubectl
  json list = json::parse(res.body, nullptr, false);
  if (list.is_discarded()) return json::array();
  return list.value("items", json::array());
}

void describeObject(std::ostream& out, Session& s, const ResourceInfo& r, json obj) {
  obj = withTypeMeta(std::move(obj), r);
  json meta = obj.value("metadata", json::object());
  printField(out, "Name", meta.value("name", ""));
  if (r.namespaced) printField(out, "Namespace", meta.value("namespace", ""));
  printMap(out, "Labels", meta.value("labels", json::object()), false);
  printMap(out, "Annotations", meta.value("annotations", json::object()), true);
  printField(out, "API Version", obj.value("apiVersion", ""));
  printField(out, "Kind", obj.value("kind", ""));
  json shown = json::object();
  for (const char* key :
       {"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers",
        "generation", "ownerReferences", "resourceVersion", "uid"}) {
    if (meta.contains(key)) shown[key] = meta[key];
  }
  out << "Metadata:\n";
  describeValue(out, shown, 2);
  json conditions;
  std::vector<std::pair<std::string, std::string>> sleep;  // an instance's idle and wake lines
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (it.key() == "apiVersion" || it.key() == "kind" || it.key() == "metadata") continue;
    json section = *it;
    if (it.key() == "status" && section.is_object() && section.contains("conditions")) {
      conditions = section["conditions"];
      section.erase("conditions");
    }
    if (it.key() == "status" && section.is_object()) {
      const auto now = std::chrono::system_clock::now();
      if (auto t = section.find("idleSince"); t != section.end() && t->is_string()) {
        sleep.emplace_back("Idle since", t->get<std::string>() + " (" +
                                             age(t->get<std::string>(), now) +
                                             " ago; the next request wakes it)");
        section.erase(t);
      }
      if (auto w = section.find("lastWake"); w != section.end() && w->is_object()) {
        const std::string reason = w->value("reason", "");
        sleep.emplace_back("Last wake", w->value("time", "") + " (" +
                                            age(w->value("time", ""), now) + " ago) by " +
                                            (reason == "Request" ? "a request through the gateway"
                                             : reason.empty()    ? "<unknown>"
                                                                 : reason));
        section.erase(w);
      }
    }
    out << words(it.key()) << ":";
    if (section.is_structured()) {
      out << "\n";
      describeValue(out, section, 2);
    } else {
      out << "  " << scalar(section) << "\n";
    }
  }
  for (const auto& [label, value] : sleep) printField(out, label, value);
  if (conditions.is_array() && !conditions.empty()) printConditions(out, conditions);
  printEvents(out, fetchEvents(s, r, obj));
}

struct DescribeOptions {
  std::vector<std::string> args;
  std::string selector;
  bool allNamespaces = false;
};

int runDescribe(Session& s, DescribeOptions& o) {
  auto targets = parseTargets(s, o.args, "describe");
  int exitCode = 0;
  bool first = true;
  auto emit = [&](const ResourceInfo& r, const json& obj) {
    std::ostringstream out;
    describeObject(out, s, r, obj);
    if (!first) std::cout << "\n\n";
    first = false;
    std::cout << out.str() << std::flush;
  };
  for (const auto& t : targets) {
    const auto& r = t.resource;
    std::string ns = o.allNamespaces ? "" : s.ns();
    if (t.names.empty()) {
      std::string q = o.selector.empty() ? "" : "?labelSelector=" + client::urlEncode(o.selector);
      json list = s.getJson(r.path(ns) + q);
      auto items = list.value("items", json::array());
      if (items.empty()) {
        std::cerr << (r.namespaced && !o.allNamespaces
                          ? "No resources found in " + s.ns() + " namespace."
                          : std::string("No resources found"))
                  << "\n";
      }
      for (const auto& item : items) emit(r, item);
      continue;
    }
    for (const auto& name : t.names) {
      auto res = s.get(r.path(ns, name));
      if (!isSuccess(res)) {
        std::cerr << serverError(res) << "\n";
        exitCode = 1;
        continue;
      }
      json obj = json::parse(res.body, nullptr, false);
      if (obj.is_discarded()) throw CommandError("error: the server sent invalid JSON");
      emit(r, obj);
    }
  }
  return exitCode;
}

}  // namespace

void registerDescribe(CLI::App& app, Session& session, Action& action) {
  auto opts = std::make_shared<DescribeOptions>();
  auto* cmd = app.add_subcommand("describe", "Show details of a resource or group of resources");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("args", opts->args, "KIND [NAME...] or KIND/NAME...");
  cmd->add_option("--selector,-l", opts->selector, "Label selector");
  cmd->add_flag("--all-namespaces,-A", opts->allNamespaces, "Across all namespaces");
  cmd->callback([&session, &action, opts] {
    action = [&session, opts] { return runDescribe(session, *opts); };
  });
}

}  // namespace minimcp::mcpctl
