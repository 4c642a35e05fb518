#include "api/server/request_body.h"

#include <algorithm>
#include <cctype>

#include "api/model/yaml.h"
#include "api/util/api_error.h"
#include "api/util/ascii.h"

namespace minimcp::server {

std::string mediaType(const std::string& contentType) {
  std::string t = contentType.substr(0, contentType.find(';'));
  t.erase(std::remove_if(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c); }),
          t.end());
  return asciiLower(t);
}

void requireJsonOrYaml(const Request& req) {
  std::string declared = req.header("content-type");
  std::string t = mediaType(declared);
  if (t.empty() || t == "application/json" || t == "application/yaml" ||
      t == "application/x-yaml" || t == "text/yaml") {
    return;
  }
  throw ApiError::UnsupportedMediaType("the body of the request was in an unknown format (\"" +
                                       declared +
                                       "\") - accepted media types include: application/json, "
                                       "application/yaml");
}

nlohmann::json parseObjectBody(const Request& req) {
  requireJsonOrYaml(req);
  if (req.body.empty()) throw ApiError::BadRequest("the request body is empty");
  nlohmann::json obj = model::parseJsonOrYaml(req.body);
  if (!obj.is_object()) throw ApiError::BadRequest("the request body must be an object");
  return obj;
}

void refuseDryRun(const Request& req, const std::string& what) {
  if (req.method != "GET" && req.hasParam("dryRun")) {
    throw ApiError::BadRequest("dryRun is not supported for " + what);
  }
}

}  // namespace minimcp::server
