// The plain-HTTP instantiation of the session (--insecure-http).
#include "api/server/http_session.h"

namespace minimcp::server::detail {

void startPlainSession(tcp::socket socket, std::shared_ptr<ServerShared> shared,
                       bool overCapacity) {
  std::make_shared<Session<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)),
                                               std::move(shared), overCapacity)
      ->run();
}

}  // namespace minimcp::server::detail
