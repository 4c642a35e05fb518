// top mcpinstances: CPU and memory of each running instance, like `kubectl top pods`, from what
// mcpd knows: the usage its runtime sampled, which the controller keeps in status.usage. A plain
// list of the namespace (or -A), so whoever may list the instances may see their usage.
#include <algorithm>
#include <cmath>
#include <iostream>

#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {
namespace {

struct TopOptions {
  std::string kind;
  std::string name;
  bool allNamespaces = false;
  std::string selector;
  std::string sortBy;
  bool noHeaders = false;
};

struct Row {
  std::string ns, name;
  long long millicores = 0;
  long long memoryBytes = 0;
};

// kubectl's units: millicores, and mebibytes (rounded down).
std::string cpuText(long long m) { return std::to_string(m) + "m"; }
std::string memoryText(long long bytes) { return std::to_string(bytes / (1024 * 1024)) + "Mi"; }

int runTop(Session& s, const TopOptions& o) {
  const ResourceInfo r = s.resolve(o.kind);
  if (r.name != "mcpinstances") {
    throw CommandError("error: top shows mcpinstances only, not " + r.name);
  }
  if (o.sortBy != "" && o.sortBy != "cpu" && o.sortBy != "memory") {
    throw CommandError("error: --sort-by accepts cpu or memory, not " + o.sortBy);
  }
  const std::string ns = o.allNamespaces ? "" : s.ns();
  std::vector<json> items;
  if (!o.name.empty()) {
    items.push_back(s.getJson(r.path(ns, o.name)));
  } else {
    std::string target = r.path(ns);
    if (!o.selector.empty()) target += "?labelSelector=" + client::urlEncode(o.selector);
    items = s.getJson(target).value("items", json::array()).get<std::vector<json>>();
  }
  std::vector<Row> rows;
  for (const auto& mi : items) {
    const json usage = mi.value("status", json::object()).value("usage", json::object());
    if (!usage.is_object() || !usage.contains("memoryBytes")) continue;  // no process: no usage
    Row row{objectNamespace(mi), objectName(mi)};
    row.millicores = std::llround(usage.value("cpuPercent", 0.0) * 10);
    row.memoryBytes = usage.value("memoryBytes", 0LL);
    rows.push_back(row);
  }
  if (!o.name.empty() && rows.empty()) {
    throw CommandError("error: metrics not available yet for mcpinstance " + ns + "/" + o.name);
  }
  if (rows.empty()) {
    std::cerr << (o.allNamespaces ? std::string("No resources found")
                                  : "No resources found in " + ns + " namespace.")
              << "\n";
    return 0;
  }
  if (o.sortBy == "cpu") {
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row& a, const Row& b) { return a.millicores > b.millicores; });
  } else if (o.sortBy == "memory") {
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row& a, const Row& b) { return a.memoryBytes > b.memoryBytes; });
  }
  std::vector<std::vector<std::string>> table;
  if (!o.noHeaders) {
    table.push_back({"NAME", "CPU(cores)", "MEMORY(bytes)"});
    if (o.allNamespaces) table.back().insert(table.back().begin(), "NAMESPACE");
  }
  for (const auto& row : rows) {
    table.push_back({row.name, cpuText(row.millicores), memoryText(row.memoryBytes)});
    if (o.allNamespaces) table.back().insert(table.back().begin(), row.ns);
  }
  // kubectl's tabwriter: columns padded to the widest cell plus three spaces.
  std::vector<size_t> width(table.front().size(), 0);
  for (const auto& line : table) {
    for (size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  }
  for (const auto& line : table) {
    std::string out;
    for (size_t i = 0; i < line.size(); ++i) {
      out += line[i];
      if (i + 1 < line.size()) out += std::string(width[i] - line[i].size() + 3, ' ');
    }
    std::cout << out << "\n";
  }
  return 0;
}

}  // namespace

void registerTop(CLI::App& app, Session& session, Action& action) {
  auto opts = std::make_shared<TopOptions>();
  auto* top = app.add_subcommand("top", "Display CPU and memory of running MCP instances");
  addCommonFlags(top, session.flags);
  top->require_subcommand(1);
  auto* cmd = top->add_subcommand("mcpinstances", "CPU and memory of running MCP instances");
  cmd->alias("mcpinstance");
  cmd->alias("mi");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("name", opts->name, "One instance");
  cmd->add_flag("--all-namespaces,-A", opts->allNamespaces, "Across all namespaces");
  cmd->add_option("--selector,-l", opts->selector, "Only the instances matching this selector");
  cmd->add_option("--sort-by", opts->sortBy, "cpu or memory (largest first)");
  cmd->add_flag("--no-headers", opts->noHeaders, "Print no header line");
  cmd->callback([&session, &action, opts] {
    opts->kind = "mcpinstances";
    action = [&session, opts] { return runTop(session, *opts); };
  });
}

}  // namespace minimcp::mcpctl
