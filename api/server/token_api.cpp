#include "api/server/token_api.h"

#include "api/model/strategy.h"
#include "api/model/validation.h"
#include "api/model/yaml.h"
#include "api/server/request_body.h"
#include "api/util/api_error.h"
#include "api/util/random.h"

namespace minimcp::server {

using nlohmann::json;

namespace {

json describe(const std::string& name, const Identity& id, const std::string& createdAt) {
  json out = {{"name", name}};
  if (id.isAdmin()) {
    out["admin"] = true;
  } else {
    out["namespace"] = id.ns;
  }
  if (!createdAt.empty()) out["createdAt"] = createdAt;
  return out;
}

Response create(const Request& req, StoreTokenAuthenticator& auth) {
  json body = parseObjectBody(req);
  model::FieldErrors errs;
  for (const auto& [key, value] : body.items()) {
    if (key != "namespace" && key != "admin" && key != "name" && key != "apiVersion" &&
        key != "kind") {
      errs.unknownField(key);
    }
  }
  Identity id;
  const json* admin = model::member(body, "admin");
  const json* ns = model::member(body, "namespace");
  if (admin && !admin->is_boolean()) errs.invalid("admin", *admin, "must be a boolean");
  bool isAdmin = admin && admin->is_boolean() && admin->get<bool>();
  if (isAdmin && ns) {
    errs.invalid("namespace", *ns, "an admin token is bound to no namespace");
  } else if (!isAdmin && !ns) {
    errs.required("namespace", "a token is bound to a namespace, or is {\"admin\": true}");
  } else if (ns) {
    if (model::expectString(errs, *ns, "namespace")) {
      model::validateDns1123Label(errs, ns->get<std::string>(), "namespace");
    }
  }
  std::string name;
  if (const json* n = model::member(body, "name")) {
    if (model::expectString(errs, *n, "name")) {
      name = n->get<std::string>();
      model::validateDns1123Subdomain(errs, name, "name");
    }
  }
  if (!errs.empty()) throw ApiError::Invalid("Token", name, errs.take());
  id.role = isAdmin ? Identity::Role::Admin : Identity::Role::Namespace;
  id.ns = isAdmin ? "" : ns->get<std::string>();
  const std::string prefix = isAdmin ? "admin" : id.ns;
  std::string token;
  for (int attempt = 0;; ++attempt) {
    std::string candidate = name.empty() ? prefix + "-" + randomHex(2) : name;
    id.name = candidate;
    try {
      token = auth.createToken(candidate, id);
      name = candidate;
      break;
    } catch (const store::StoreError& e) {
      if (e.code() != store::StoreError::Code::AlreadyExists) throw;
      if (!name.empty() || attempt >= 20) throw ApiError::AlreadyExists("tokens", candidate);
    }
  }
  json out = describe(name, id, "");
  for (const auto& t : auth.listTokens()) {
    if (t.name == name && !t.createdAt.empty()) out["createdAt"] = t.createdAt;
  }
  out["apiVersion"] = model::kApiVersion;
  out["kind"] = "Token";
  out["token"] = token;
  Response r = Response::json(201, out);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace

Response handleTokens(const Request& req, const Identity& who, const Authorizer& authz,
                      StoreTokenAuthenticator& auth) {
  std::string rest = req.path.substr(std::string(kTokensPath).size());
  if (!rest.empty() && rest[0] == '/') rest.erase(0, 1);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string verb = apiVerb(req.method, rest.empty(), false);
  authz.check(who, {verb.empty() ? req.method : verb, kTokensResource, "", "", rest});
  refuseDryRun(req, "tokens");
  if (rest.find('/') != std::string::npos) {
    throw ApiError(404, "NotFound", "the server could not find the requested resource");
  }
  if (rest.empty()) {
    if (req.method == "POST") return create(req, auth);
    if (req.method == "GET") {
      json items = json::array();
      for (const auto& t : auth.listTokens())
        items.push_back(describe(t.name, t.identity, t.createdAt));
      return Response::json(
          200, {{"apiVersion", model::kApiVersion}, {"kind", "TokenList"}, {"items", items}});
    }
  } else if (req.method == "DELETE") {
    switch (auth.revokeToken(rest)) {
      case StoreTokenAuthenticator::RevokeResult::NotFound:
        throw ApiError::NotFound("tokens", rest);
      case StoreTokenAuthenticator::RevokeResult::LastAdmin:
        throw ApiError::Conflict("tokens", rest,
                                 "it is the last admin token; create another admin token first");
      case StoreTokenAuthenticator::RevokeResult::Revoked:
        break;
    }
    return Response::json(
        200, {{"apiVersion", "v1"},
              {"kind", "Status"},
              {"metadata", json::object()},
              {"status", "Success"},
              {"details", {{"name", rest}, {"group", model::kGroup}, {"kind", "tokens"}}}});
  } else if (req.method == "GET") {
    for (const auto& t : auth.listTokens()) {
      if (t.name == rest) return Response::json(200, describe(t.name, t.identity, t.createdAt));
    }
    throw ApiError::NotFound("tokens", rest);
  }
  throw ApiError::MethodNotAllowed(
      "the server does not allow this method on the requested resource");
}

}  // namespace minimcp::server
