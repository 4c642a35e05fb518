// fieldValidation=Strict|Warn|Ignore on create, update and patch, as kube-apiserver: fields a
// kind's schema (api/model/schemas.h) does not declare are refused (Strict: 400 naming each),
// dropped with a `Warning:` header each (Warn, the default), or dropped silently (Ignore).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/model/strategy.h"
#include "api/server/http_types.h"

namespace minimcp::server {

enum class FieldValidation { Ignore, Warn, Strict };

// The request's ?fieldValidation= (Warn when absent); 400 BadRequest for any other value.
FieldValidation fieldValidationFrom(const Request& req);

// Applies `mode` to a decoded object of the kind (a create or update body, a patch's result):
// Strict throws 400 naming every undeclared field; Warn and Ignore remove them, Warn returning
// the warning for each ("unknown field \"spec.foo\"").
std::vector<std::string> checkUnknownFields(FieldValidation mode, const model::KindInfo& kind,
                                            nlohmann::json& obj);

// One `Warning: 299 - "text"` header per warning (kubectl prints each).
void addWarnings(Response& r, const std::vector<std::string>& warnings);

}  // namespace minimcp::server
