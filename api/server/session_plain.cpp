// The plain-HTTP instantiation of the session (--insecure-http).
#include "api/server/http_session.h"

namespace minimcp::server::detail {

void startPlainSession(Socket socket, std::shared_ptr<ServerShared> shared, bool overCapacity) {
  std::make_shared<Session<Socket>>(std::move(socket), std::move(shared), overCapacity)->run();
}

}  // namespace minimcp::server::detail
