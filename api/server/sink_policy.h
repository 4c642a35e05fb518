// NotificationSink admission: where a sink's spec.url may point under this server's policy
// (model::sinkUrlProblem with the admin's SinkUrlPolicy). The strategy already refuses what no
// policy allows; this refuses loopback unless mcpd runs with --notification-allow-loopback. A
// refusal is 422 Invalid naming spec.url; an update that keeps the stored URL is not checked
// again (the delivery checks every address it connects to anyway).
#pragma once

#include <memory>

#include "api/model/notification_sink.h"
#include "api/server/rest_handler.h"

namespace minimcp::server {

std::shared_ptr<const AdmissionPlugin> sinkPolicyAdmission(model::SinkUrlPolicy policy);

}  // namespace minimcp::server
