#include "api/server/oauth2_token.h"

#include <spdlog/spdlog.h>

#include "api/model/apikey.h"
#include "api/model/json_fields.h"
#include "api/model/kinds.h"
#include "api/model/strategy.h"
#include "api/model/validation.h"
#include "api/registry/generic_store.h"
#include "api/secrets/refresh_token.h"
#include "api/server/request_body.h"
#include "api/util/api_error.h"
#include "api/util/url.h"

namespace minimcp::server {

using nlohmann::json;

namespace {

bool lowerHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The body's two fields; a refusal names the field and never echoes the token.
secrets::RotatedRefreshToken parseReport(const Request& req, const std::string& instanceName) {
  const std::string type = mediaType(req.header("content-type"));
  if (!type.empty() && type != "application/json") {
    throw ApiError::UnsupportedMediaType("the body must be application/json");
  }
  // Parsed here without the API's error messages: a parser's message may quote the input.
  json body = json::parse(req.body, nullptr, false);
  if (!body.is_object()) {
    throw ApiError::BadRequest(
        "the request body must be a JSON object {\"refreshToken\": ..., \"previous\": ...}");
  }
  model::FieldErrors errs;
  model::rejectUnknownFields(errs, body, "", {"refreshToken", "previous"});
  secrets::RotatedRefreshToken report;
  const json* token = model::member(body, "refreshToken");
  if (!token) {
    errs.required("refreshToken", "the refresh token the provider returned");
  } else if (!token->is_string()) {
    errs.invalidHidden("refreshToken", "must be of type string");
  } else if (token->get_ref<const std::string&>().empty()) {
    errs.required("refreshToken");
  } else if (token->get_ref<const std::string&>().size() > model::kMaxApiKeyValueBytes / 2) {
    errs.tooLong("refreshToken", model::kMaxApiKeyValueBytes / 2);
  } else if (hasControlCharacter(token->get_ref<const std::string&>())) {
    errs.invalidHidden("refreshToken", "must not contain control characters");
  } else {
    report.refreshToken = token->get<std::string>();
  }
  const json* previous = model::member(body, "previous");
  if (!previous) {
    errs.required("previous", "the lowercase hex SHA-256 of the refresh token it replaces");
  } else if (!previous->is_string() || !lowerHex64(previous->get<std::string>())) {
    errs.invalidHidden("previous",
                       "must be the lowercase hex SHA-256 (64 characters) of the refresh token "
                       "it replaces");
  } else {
    report.previousSha256 = previous->get<std::string>();
  }
  if (token && token->is_string()) {
    auto& t = body["refreshToken"].get_ref<std::string&>();
    std::fill(t.begin(), t.end(), '\0');
  }
  if (!errs.empty()) {
    throw ApiError::Invalid("MCPInstance", instanceName, errs.take(), model::kGroup);
  }
  return report;
}

}  // namespace

Response OAuth2TokenEndpoint::handle(const Request& req, const json& instance,
                                     const Identity&) const {
  refuseDryRun(req, "mcpinstances/oauth2token");
  const auto& meta = model::objectField(instance, "metadata");
  const std::string ns = model::stringField(meta, "namespace");
  const std::string name = model::stringField(meta, "name");
  secrets::RotatedRefreshToken report = parseReport(req, name);
  if (!audit || !model::apiKeyKeyRing()) {
    throw ApiError::ServiceUnavailable("APIKeys cannot be opened on this server");
  }
  const auto spec = model::MCPInstanceSpec::fromJson(model::objectField(instance, "spec"));
  if (spec.keyRefName.empty()) {
    throw ApiError(409, "Conflict",
                   "mcpinstance \"" + name + "\" has no spec.keyRef: no APIKey to store it in");
  }
  report.ns = ns;
  report.apiKey = spec.keyRefName;
  report.instance = name;
  report.instanceUid = model::stringField(meta, "uid");
  secrets::StoredRefreshToken stored;
  try {
    stored = secrets::storeRotatedRefreshToken(store, *model::apiKeyKeyRing(), *audit, report,
                                               actor, kOAuth2TokenManager);
  } catch (const store::StoreError& e) {
    std::fill(report.refreshToken.begin(), report.refreshToken.end(), '\0');
    throw registry::toApiError(e, model::kApiKeyPlural, spec.keyRefName, model::kGroup);
  } catch (...) {
    std::fill(report.refreshToken.begin(), report.refreshToken.end(), '\0');
    throw;
  }
  std::fill(report.refreshToken.begin(), report.refreshToken.end(), '\0');
  if (!stored.unchanged) {
    const std::string message = "mcpinstance " + name +
                                " stored the refresh token its OAuth 2.0 provider rotated: "
                                "version " +
                                std::to_string(stored.fromVersion) + " → " +
                                std::to_string(stored.version) +
                                " (its running process already holds it)";
    events.record(stored.apiKey, "Normal", "RefreshTokenRotated", message);
    spdlog::info("{}/{}: stored a rotated OAuth 2.0 refresh token as version {} of APIKey {}", ns,
                 name, stored.version, spec.keyRefName);
  }
  Response r = Response::json(200, {{"apiVersion", model::kApiVersion},
                                    {"kind", "OAuth2TokenReport"},
                                    {"apiKey", spec.keyRefName},
                                    {"version", stored.version},
                                    {"unchanged", stored.unchanged}});
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace minimcp::server
