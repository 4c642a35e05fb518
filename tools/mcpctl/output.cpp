// Output formats, manifest input and small shared helpers.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "api/model/yaml.h"
#include "api/util/clock.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace fs = std::filesystem;

std::string toJsonText(const json& value) { return value.dump(4) + "\n"; }

std::string toYamlText(const json& value) {
  std::string text = model::toYaml(value);
  if (!text.empty() && text.back() != '\n') text += "\n";
  return text;
}

json makeList(std::vector<json> items) {
  return json{{"apiVersion", "v1"},
              {"kind", "List"},
              {"items", std::move(items)},
              {"metadata", {{"resourceVersion", ""}}}};
}

json withTypeMeta(json obj, const ResourceInfo& r) {
  if (!obj.contains("apiVersion")) obj["apiVersion"] = r.groupVersion();
  if (!obj.contains("kind")) obj["kind"] = r.kind;
  return obj;
}

std::string objectName(const json& obj) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  return obj["metadata"].value("name", "");
}

std::string objectNamespace(const json& obj) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  return obj["metadata"].value("namespace", "");
}

namespace {

std::string readAll(std::istream& in) {
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool isManifestFile(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

void appendDocs(std::vector<SourceDoc>& out, const std::string& source, const std::string& text) {
  std::vector<json> docs;
  try {
    docs = model::parseYamlDocuments(text);
  } catch (const std::exception& e) {
    throw CommandError("error: error parsing " + source + ": " + e.what());
  }
  for (auto& doc : docs) {
    if (doc.is_null()) continue;
    if (!doc.is_object()) {
      throw CommandError("error: error parsing " + source + ": a document is not an object");
    }
    if (doc.value("kind", "") == "List" && doc.contains("items") && doc["items"].is_array()) {
      for (auto& item : doc["items"]) out.push_back({source, std::move(item)});
    } else {
      out.push_back({source, std::move(doc)});
    }
  }
}

}  // namespace

std::vector<SourceDoc> readManifests(const std::vector<std::string>& paths, bool recursive) {
  std::vector<SourceDoc> out;
  for (const auto& path : paths) {
    if (path == "-") {
      appendDocs(out, "STDIN", readAll(std::cin));
      continue;
    }
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      std::vector<fs::path> files;
      auto collect = [&](auto iterator) {
        for (const auto& entry : iterator) {
          if (entry.is_regular_file() && isManifestFile(entry.path()))
            files.push_back(entry.path());
        }
      };
      if (recursive) {
        collect(fs::recursive_directory_iterator(path));
      } else {
        collect(fs::directory_iterator(path));
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        std::ifstream in(f);
        appendDocs(out, f.string(), readAll(in));
      }
      continue;
    }
    std::ifstream in(path);
    if (!in) throw CommandError("error: the path \"" + path + "\" does not exist");
    appendDocs(out, path, readAll(in));
  }
  return out;
}

std::chrono::milliseconds parseTimeoutFlag(const std::string& text, const std::string& flag) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit)) {
    return std::chrono::seconds(std::stoll(text));
  }
  if (auto d = parseDuration(text)) return *d;
  throw CommandError("error: invalid value \"" + text + "\" for " + flag +
                     ": want a duration such as 30s, 2m or 1h");
}

bool waitUntilGone(Session& session, const std::string& target,
                   std::chrono::steady_clock::time_point deadline) {
  auto delay = std::chrono::milliseconds(50);
  while (true) {
    auto res = session.get(target);
    if (res.status == 404) return true;
    if (!isSuccess(res)) throw CommandError(serverError(res));
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(delay, deadline - now));
    delay = std::min(delay * 2, std::chrono::milliseconds(1000));
  }
}

}  // namespace minimcp::mcpctl

namespace minimcp::mcpctl {

json withoutManagedFields(json obj) {
  if (obj.is_object() && obj.contains("metadata") && obj["metadata"].is_object()) {
    obj["metadata"].erase("managedFields");
  }
  return obj;
}

DryRun parseDryRun(const std::string& value) {
  if (value == "none") return DryRun::None;
  if (value == "server") return DryRun::Server;
  if (value == "client") return DryRun::Client;
  throw CommandError("error: Invalid dry-run value (" + value +
                     "). Must be \"none\", \"server\", or \"client\".");
}

std::string changedLine(const ResourceInfo& r, const std::string& name, const std::string& verb,
                        DryRun dryRun) {
  const char* suffix = dryRun == DryRun::Server   ? " (server dry run)"
                       : dryRun == DryRun::Client ? " (dry run)"
                                                  : "";
  return r.kindDotGroup() + "/" + name + " " + verb + suffix + "\n";
}

void printWritten(const json& updated, const ResourceInfo& r, const std::string& name,
                  const std::string& output, TemplatePrinter* printer, const std::string& line) {
  if (output == "yaml") {
    std::cout << toYamlText(updated);
  } else if (output == "json") {
    std::cout << toJsonText(updated);
  } else if (output == "name") {
    std::cout << r.kindDotGroup() << "/" << name << "\n";
  } else if (printer) {
    printer->print(updated, std::cout);
  } else {
    std::cout << line;
  }
}

}  // namespace minimcp::mcpctl
