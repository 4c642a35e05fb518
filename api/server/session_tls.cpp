// The HTTPS instantiation of the session (the default).
#include "api/server/http_session.h"

namespace minimcp::server::detail {

void startTlsSession(Socket socket, ssl::context& ctx, std::shared_ptr<ServerShared> shared,
                     bool overCapacity) {
  std::make_shared<Session<TlsStream>>(TlsStream(std::move(socket), ctx), std::move(shared),
                                       overCapacity)
      ->run();
}

}  // namespace minimcp::server::detail
