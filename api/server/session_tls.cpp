// The HTTPS instantiation of the session (the default).
#include "api/server/http_session.h"

namespace minimcp::server::detail {

void startTlsSession(tcp::socket socket, ssl::context& ctx, std::shared_ptr<ServerShared> shared,
                     bool overCapacity) {
  using TlsStream = beast::ssl_stream<beast::tcp_stream>;
  std::make_shared<Session<TlsStream>>(TlsStream(beast::tcp_stream(std::move(socket)), ctx),
                                       std::move(shared), overCapacity)
      ->run();
}

}  // namespace minimcp::server::detail
