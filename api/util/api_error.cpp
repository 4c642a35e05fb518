#include "api/util/api_error.h"

namespace minimcp {

namespace {

// "mcpinstances.minimcp.io", or just "mcpinstances" for the core group.
std::string qualifiedResource(const std::string& resource, const std::string& group) {
  return group.empty() ? resource : resource + "." + group;
}

nlohmann::json resourceDetails(const std::string& resource, const std::string& name,
                               const std::string& group) {
  nlohmann::json d = nlohmann::json::object();
  if (!name.empty()) d["name"] = name;
  if (!group.empty()) d["group"] = group;
  d["kind"] = resource;
  return d;
}

}  // namespace

ApiError::ApiError(int code, std::string reason, std::string message, nlohmann::json details)
    : std::runtime_error(std::move(message)),
      code_(code),
      reason_(std::move(reason)),
      details_(std::move(details)) {}

nlohmann::json ApiError::toStatus() const {
  nlohmann::json s = {
      {"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
      {"status", "Failure"}, {"message", what()},  {"reason", reason_},
      {"code", code_}};
  if (!details_.is_null()) s["details"] = details_;
  return s;
}

ApiError ApiError::NotFound(const std::string& resource, const std::string& name,
                            const std::string& group) {
  return ApiError(404, "NotFound",
                  qualifiedResource(resource, group) + " \"" + name + "\" not found",
                  resourceDetails(resource, name, group));
}

ApiError ApiError::AlreadyExists(const std::string& resource, const std::string& name,
                                 const std::string& group) {
  return ApiError(409, "AlreadyExists",
                  qualifiedResource(resource, group) + " \"" + name + "\" already exists",
                  resourceDetails(resource, name, group));
}

ApiError ApiError::Conflict(const std::string& resource, const std::string& name,
                            const std::string& message, const std::string& group) {
  return ApiError(409, "Conflict",
                  "Operation cannot be fulfilled on " + qualifiedResource(resource, group) + " \"" +
                      name + "\": " + message,
                  resourceDetails(resource, name, group));
}

ApiError ApiError::Invalid(const std::string& kind, const std::string& name,
                           const std::vector<Cause>& causes, const std::string& group) {
  // Like apimachinery's aggregate: one error bare, several in brackets.
  std::string list;
  nlohmann::json jcauses = nlohmann::json::array();
  for (const Cause& c : causes) {
    if (!list.empty()) list += ", ";
    list += c.field.empty() ? c.message : c.field + ": " + c.message;
    jcauses.push_back({{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
  }
  if (causes.size() > 1) list = "[" + list + "]";
  std::string message = qualifiedResource(kind, group) + " \"" + name + "\" is invalid";
  if (!list.empty()) message += ": " + list;
  nlohmann::json details = resourceDetails(kind, name, group);
  details["causes"] = std::move(jcauses);
  return ApiError(422, "Invalid", message, details);
}

ApiError ApiError::BadRequest(const std::string& message) {
  return ApiError(400, "BadRequest", message);
}
ApiError ApiError::Unauthorized(const std::string& message) {
  return ApiError(401, "Unauthorized", message);
}
ApiError ApiError::Forbidden(const std::string& message) {
  return ApiError(403, "Forbidden", message);
}
// kube-apiserver answers a too-old resourceVersion with 410 and reason "Expired"; client-go's
// reflectors relist on it.
ApiError ApiError::Gone(const std::string& message) { return ApiError(410, "Expired", message); }
ApiError ApiError::MethodNotAllowed(const std::string& message) {
  return ApiError(405, "MethodNotAllowed", message);
}
ApiError ApiError::UnsupportedMediaType(const std::string& message) {
  return ApiError(415, "UnsupportedMediaType", message);
}
ApiError ApiError::RequestEntityTooLarge(const std::string& message) {
  return ApiError(413, "RequestEntityTooLarge", message);
}
ApiError ApiError::NotAcceptable(const std::string& message) {
  return ApiError(406, "NotAcceptable", message);
}
ApiError ApiError::ServiceUnavailable(const std::string& message) {
  return ApiError(503, "ServiceUnavailable", message);
}
ApiError ApiError::Internal(const std::string& message) {
  return ApiError(500, "InternalError", message);
}

}  // namespace minimcp
