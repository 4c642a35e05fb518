// -o jsonpath=… / jsonpath-file=… / custom-columns=… / custom-columns-file=…: kubectl's template
// printers, shared by get and the verbs that print the object they changed.
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/client/custom_columns.h"
#include "api/client/jsonpath.h"
#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

const char* kTemplateFormats[] = {"jsonpath", "jsonpath-file", "custom-columns",
                                  "custom-columns-file"};

std::string readTemplateFile(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw CommandError("error: error reading template " + path + ", open " + path +
                       ": no such file or directory");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

bool isTemplateOutput(const std::string& output) {
  std::string format = output.substr(0, output.find('='));
  for (const char* f : kTemplateFormats) {
    if (format == f) return true;
  }
  return false;
}

TemplatePrinter::TemplatePrinter(const std::string& output, bool noHeaders, bool allowMissingKeys)
    : noHeaders_(noHeaders) {
  size_t eq = output.find('=');
  std::string format = output.substr(0, eq);
  std::string value = eq == std::string::npos ? "" : output.substr(eq + 1);
  if (format == "jsonpath" || format == "jsonpath-file") {
    if (value.empty()) throw CommandError("error: template format specified but no template given");
    template_ = format == "jsonpath" ? value : readTemplateFile(value);
    try {
      jsonPath_ = client::JsonPath::parse(template_);
    } catch (const client::JsonPathError& e) {
      throw CommandError("error: error parsing jsonpath " + template_ + ", " + e.what());
    }
    jsonPath_->allowMissingKeys(allowMissingKeys);
    return;
  }
  try {
    if (format == "custom-columns") {
      columns_ = client::parseCustomColumns(value);
    } else {
      if (value.empty()) {
        throw CommandError("error: custom-columns-file format specified but no file given");
      }
      columns_ = client::parseCustomColumnsFile(readTemplateFile(value));
    }
    for (const auto& c : columns_) client::JsonPath::parse(c.fieldSpec);
  } catch (const std::invalid_argument& e) {
    throw CommandError(std::string("error: ") + e.what());
  } catch (const client::JsonPathError& e) {
    throw CommandError(std::string("error: ") + e.what());
  }
}

void TemplatePrinter::print(const json& object, std::ostream& out) {
  if (jsonPath_) {
    try {
      out << jsonPath_->execute(object);
    } catch (const client::JsonPathError& e) {
      // kubectl's message, with the object as JSON rather than a Go struct dump.
      throw CommandError("error: error executing jsonpath " + json(template_).dump() +
                         ": Error executing template: " + e.what() +
                         ". Printing more information for debugging the template:\n"
                         "\ttemplate was:\n\t\t" +
                         template_ + "\n\tobject given to jsonpath engine was:\n\t\t" +
                         object.dump() + "\n\n");
    }
    return;
  }
  try {
    auto rows = client::customColumnRows(columns_, object, noHeaders_ || headerPrinted_);
    if (!noHeaders_) headerPrinted_ = true;
    out << client::alignCustomColumns(rows);
  } catch (const client::JsonPathError& e) {
    throw CommandError(std::string("error: ") + e.what());
  }
}

}  // namespace minimcp::mcpctl
