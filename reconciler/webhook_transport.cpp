#include "reconciler/webhook_transport.h"

#include "api/client/http_client.h"
#include "api/util/ascii.h"

namespace minimcp::reconciler {

WebhookTransport::Result HttpWebhookTransport::post(
    const std::string& url, const std::map<std::string, std::string>& headers,
    const std::string& body, std::chrono::milliseconds timeout) {
  // The stored URL passed the same check when it was written; the policy may have changed since.
  if (std::string why = model::sinkUrlProblem(url, policy_); !why.empty()) {
    return {0, "spec.url " + why};
  }
  const size_t schemeEnd = url.find("://") + 3;
  const size_t pathAt = url.find_first_of("/?", schemeEnd);
  const std::string server =
      asciiLower(url.substr(0, schemeEnd)) + url.substr(schemeEnd, pathAt - schemeEnd);
  std::string target = pathAt == std::string::npos ? "/" : url.substr(pathAt);
  if (target.front() == '?') target.insert(0, "/");
  client::ConnectionConfig cfg;
  cfg.server = server;
  cfg.refuseAddress = [policy = policy_](const std::string& address) {
    return model::sinkAddressProblem(address, policy);
  };
  cfg.resolver = resolver_;
  cfg.maxResponseBytes = 64 * 1024;
  cfg.userAgent = "mcpd-notifier/0.1.0";
  try {
    client::HttpClient http(cfg);
    return {http.request("POST", target, body, headers, timeout).status, ""};
  } catch (const std::exception& e) {
    return {0, e.what()};
  }
}

}  // namespace minimcp::reconciler
