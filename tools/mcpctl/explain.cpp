// explain: the fields of a kind from the server's OpenAPI v3 (the /openapi/v3 index, then the
// group version's document), printed the way kubectl explain does.
#include "api/client/explain.h"

#include <iostream>

#include "tools/mcpctl/mcpctl.h"

namespace minimcp::mcpctl {

namespace {

struct ExplainOptions {
  std::string what;
  bool recursive = false;
  std::string apiVersion;
};

int runExplain(Session& s, const ExplainOptions& o) {
  if (o.what.empty()) {
    throw CommandError(
        "error: You must specify the type of resource to explain. Use \"mcpctl api-resources\" "
        "for a complete list of supported resources.");
  }
  std::vector<std::string> parts;
  size_t from = 0;
  while (true) {
    size_t dot = o.what.find('.', from);
    parts.push_back(o.what.substr(from, dot == std::string::npos ? std::string::npos : dot - from));
    if (dot == std::string::npos) break;
    from = dot + 1;
  }
  ResourceInfo r = s.resolve(parts[0]);
  if (!o.apiVersion.empty() && o.apiVersion != r.groupVersion()) {
    throw CommandError("error: couldn't find resource for \"" + r.group + "/" + o.apiVersion +
                       ", Resource=" + r.name + "\"");
  }
  auto index = s.get("/openapi/v3");
  if (index.status == 404) {
    throw CommandError("error: the server does not serve OpenAPI v3 (GET /openapi/v3: 404)");
  }
  if (!isSuccess(index)) throw CommandError(serverError(index));
  json indexJson = json::parse(index.body, nullptr, false);
  auto url = client::openApiV3Url(indexJson, r.group, r.version);
  if (!url) {
    throw CommandError("error: GVR (" + r.group + "/" + r.version + ", Resource=" + r.name +
                       ") not found in OpenAPI schema");
  }
  json document = s.getJson(*url);
  client::ExplainRequest request{r.group, r.version, r.kind,
                                 std::vector<std::string>(parts.begin() + 1, parts.end()),
                                 o.recursive};
  try {
    std::cout << client::explainText(document, request);
  } catch (const client::ExplainFieldNotFound& e) {
    std::cout << e.head();
    throw CommandError(std::string("error: ") + e.what());
  } catch (const std::invalid_argument& e) {
    throw CommandError(std::string("error: ") + e.what());
  }
  return 0;
}

}  // namespace

void registerExplain(CLI::App& app, Session& session, Action& action) {
  auto o = std::make_shared<ExplainOptions>();
  auto* cmd = app.add_subcommand("explain", "Describe the fields of a kind (TYPE[.field.path])");
  addCommonFlags(cmd, session.flags);
  cmd->add_option("what", o->what, "TYPE or TYPE.field.path, e.g. mcpinstance.spec.ttl");
  cmd->add_flag("--recursive", o->recursive, "Every field below, without descriptions");
  cmd->add_option("--api-version", o->apiVersion, "group/version of the kind");
  cmd->callback(
      [&session, &action, o] { action = [&session, o] { return runExplain(session, *o); }; });
}

}  // namespace minimcp::mcpctl
