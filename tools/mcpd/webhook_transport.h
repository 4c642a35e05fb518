// The NotificationSink delivery's POST, on the client library's HttpClient: only to addresses
// the sink URL policy allows (checked on what the host resolves to, then connected to), no
// redirects followed, a small response read, every step bounded by the timeout.
#pragma once

#include "api/model/notification_sink.h"
#include "reconciler/notifier.h"

namespace minimcp::mcpd {

class HttpWebhookTransport : public reconciler::WebhookTransport {
 public:
  explicit HttpWebhookTransport(model::SinkUrlPolicy policy) : policy_(policy) {}
  Result post(const std::string& url, const std::map<std::string, std::string>& headers,
              const std::string& body, std::chrono::milliseconds timeout) override;

 private:
  model::SinkUrlPolicy policy_;
};

}  // namespace minimcp::mcpd
