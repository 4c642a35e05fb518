// ApiError: the one exception type that carries a Kubernetes `Status` back to a client.
// Thrown anywhere below the REST layer; the REST layer turns it into the response body.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace minimcp {

// One entry of Status.details.causes (422 Invalid): `field` is the JSON path, e.g. "spec.ttl".
struct Cause {
  std::string field;
  std::string reason;  // FieldValueRequired | FieldValueInvalid | FieldValueNotSupported | ...
  std::string message;
  bool operator==(const Cause&) const = default;
};

class ApiError : public std::runtime_error {
 public:
  ApiError(int code, std::string reason, std::string message, nlohmann::json details = nullptr);

  int code() const { return code_; }
  const std::string& reason() const { return reason_; }
  const nlohmann::json& details() const { return details_; }

  // The `Status` object (apiVersion v1, kind Status, status Failure, message, reason, code, details).
  nlohmann::json toStatus() const;

  // Constructors for every reason the API uses. `resource` is the plural ("mcpinstances"),
  // `group` the API group ("minimcp.io").
  static ApiError NotFound(const std::string& resource, const std::string& name,
                           const std::string& group = "minimcp.io");
  static ApiError AlreadyExists(const std::string& resource, const std::string& name,
                                const std::string& group = "minimcp.io");
  static ApiError Conflict(const std::string& resource, const std::string& name,
                           const std::string& message, const std::string& group = "minimcp.io");
  // 422: `kind` is e.g. "MCPInstance"; message lists every cause like kube-apiserver does.
  static ApiError Invalid(const std::string& kind, const std::string& name,
                          const std::vector<Cause>& causes, const std::string& group = "minimcp.io");
  static ApiError BadRequest(const std::string& message);
  static ApiError Unauthorized(const std::string& message = "Unauthorized");
  static ApiError Forbidden(const std::string& message);
  static ApiError Gone(const std::string& message);
  static ApiError MethodNotAllowed(const std::string& message);
  static ApiError UnsupportedMediaType(const std::string& message);
  static ApiError RequestEntityTooLarge(const std::string& message);
  static ApiError NotAcceptable(const std::string& message);
  static ApiError ServiceUnavailable(const std::string& message);
  static ApiError Internal(const std::string& message);

 private:
  int code_;
  std::string reason_;
  nlohmann::json details_;
};

}  // namespace minimcp
