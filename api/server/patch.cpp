#include "api/server/patch.h"

#include "api/model/yaml.h"
#include "api/server/request_body.h"
#include "api/util/api_error.h"

namespace minimcp::server {

PatchType patchTypeFromContentType(const std::string& contentType) {
  const std::string t = mediaType(contentType);
  if (t == "application/merge-patch+json") return PatchType::Merge;
  if (t == "application/json-patch+json") return PatchType::Json;
  if (t == "application/apply-patch+yaml" || t == "application/apply-patch+json") {
    return PatchType::Apply;
  }
  if (t == "application/strategic-merge-patch+json") return PatchType::Strategic;
  return PatchType::Unsupported;
}

nlohmann::json applyPatch(PatchType type, const nlohmann::json& live, const std::string& body) {
  switch (type) {
    case PatchType::Strategic:
      throw ApiError::UnsupportedMediaType(
          "strategic merge patch is not supported for minimcp.io resources; use "
          "application/merge-patch+json, application/json-patch+json or server-side apply");
    case PatchType::Unsupported:
      throw ApiError::UnsupportedMediaType(
          "the body of the request was in an unknown format - accepted media types include: "
          "application/json-patch+json, application/merge-patch+json, "
          "application/apply-patch+yaml");
    case PatchType::Merge:
    case PatchType::Apply: {
      nlohmann::json patch = model::parseJsonOrYaml(body);
      if (!patch.is_object()) throw ApiError::BadRequest("the patch must be a JSON object");
      nlohmann::json out = live;
      out.merge_patch(patch);
      return out;
    }
    case PatchType::Json: {
      nlohmann::json patch = model::parseJson(body);
      if (!patch.is_array())
        throw ApiError::BadRequest("a JSON patch must be an array of operations");
      try {
        return live.patch(patch);
      } catch (const nlohmann::json::exception& e) {
        // kube-apiserver answers 422 when a JSON patch cannot be applied (clients such as kopf
        // rely on it for failed "test" operations).
        throw ApiError(422, "Invalid",
                       std::string("the JSON patch could not be applied: ") + e.what());
      }
    }
  }
  throw ApiError::Internal("unhandled patch type");
}

}  // namespace minimcp::server
