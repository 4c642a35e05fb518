#include "api/server/field_validation.h"

#include "api/model/schemas.h"
#include "api/util/api_error.h"

namespace minimcp::server {

namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

FieldValidation fieldValidationFrom(const Request& req) {
  const std::string v = req.param("fieldValidation");
  if (v.empty() || v == "Warn") return FieldValidation::Warn;
  if (v == "Strict") return FieldValidation::Strict;
  if (v == "Ignore") return FieldValidation::Ignore;
  throw ApiError::BadRequest("fieldValidation must be one of Ignore, Warn or Strict, not " +
                             quoted(v));
}

std::vector<std::string> checkFields(FieldValidation mode, const model::KindInfo& kind,
                                     nlohmann::json& obj,
                                     const std::vector<std::string>& duplicates) {
  const model::KindSchema* schema = model::findKindSchema(kind.kind);
  std::vector<std::string> problems;
  for (const std::string& field : duplicates)
    problems.push_back("duplicate field " + quoted(field));
  if (schema) {
    const auto unknown = mode == FieldValidation::Strict
                             ? model::unknownFields(schema->objectSchema, obj)
                             : model::pruneUnknownFields(schema->objectSchema, obj);
    for (const std::string& field : unknown) problems.push_back("unknown field " + quoted(field));
  }
  if (mode == FieldValidation::Ignore || problems.empty()) return {};
  if (mode == FieldValidation::Warn) return problems;
  std::string msg = kind.kind + " in version " + quoted(kind.version) + " cannot be handled as a " +
                    kind.kind + ": strict decoding error: ";
  for (size_t i = 0; i < problems.size(); ++i) msg += (i ? ", " : "") + problems[i];
  throw ApiError::BadRequest(msg);
}

void addWarnings(Response& r, const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) r.headers.emplace_back("Warning", "299 - " + quoted(w));
}

}  // namespace minimcp::server
