// fieldValidation=Strict|Warn|Ignore on create, update and patch, as kube-apiserver: fields a
// kind's schema (api/model/schemas.h) does not declare, and keys a JSON body repeats, are
// refused (Strict: 400 naming each), reported with a `Warning:` header each (Warn, the
// default; undeclared fields are dropped), or dropped silently (Ignore).
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

// Applies `mode` to a decoded object of the kind (a create or update body, a patch's result)
// and to the keys its body repeated (model::duplicateFields, which keeps the last): Strict
// throws 400 naming every duplicate and undeclared field; Warn and Ignore remove the
// undeclared ones, Warn returning a warning for each field ("unknown field \"spec.foo\"",
// "duplicate field \"spec.ttl\"").
std::vector<std::string> checkFields(FieldValidation mode, const model::KindInfo& kind,
                                     nlohmann::json& obj,
                                     const std::vector<std::string>& duplicates = {});

// One `Warning: 299 - "text"` header per warning (kubectl prints each).
void addWarnings(Response& r, const std::vector<std::string>& warnings);

}  // namespace minimcp::server
