// The NotificationSink delivery's POST, on the client library's HttpClient: only to addresses
// the sink URL policy allows (checked on what the host resolves to, then connected to), no
// redirects followed, a small response read, every step bounded by the timeout: the host's DNS
// lookup too (a DNS server that does not answer fails the attempt, which is retried like any).
#pragma once

#include <memory>

#include "api/client/host_resolver.h"
#include "api/model/notification_sink.h"
#include "reconciler/notifier.h"

namespace minimcp::reconciler {

class HttpWebhookTransport : public WebhookTransport {
 public:
  // `resolver`: how sink hosts are looked up; null: the system's (getaddrinfo).
  explicit HttpWebhookTransport(model::SinkUrlPolicy policy,
                                std::shared_ptr<client::HostResolver> resolver = nullptr)
      : policy_(policy), resolver_(std::move(resolver)) {}
  Result post(const std::string& url, const std::map<std::string, std::string>& headers,
              const std::string& body, std::chrono::milliseconds timeout) override;

 private:
  model::SinkUrlPolicy policy_;
  std::shared_ptr<client::HostResolver> resolver_;
};

}  // namespace minimcp::reconciler
