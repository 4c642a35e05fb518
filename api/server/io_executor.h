// What http_types.h calls IoExecutor: a session's Asio executor. Only for .cpp files that run
// asynchronous work on the server's I/O threads (the gateway); never include it from a header
// others use.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility> (C++20).
// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/any_io_executor.hpp>

#include "api/server/http_types.h"

namespace minimcp::server {

struct IoExecutor {
  boost::asio::any_io_executor executor;
};

}  // namespace minimcp::server
