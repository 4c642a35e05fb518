// Which local TCP ports have a listening socket, from one NETLINK_SOCK_DIAG dump (what `ss -ltn`
// asks the kernel). The health probes of servers that are still starting use it: one dump per
// round answers "listening yet?" for every such server at once, where a refused HTTP probe per
// server and round would cost a connection attempt each.
#pragma once

#include <cstdint>
#include <optional>
#include <set>

namespace minimcp::runtime {

// Ports of every TCP socket in LISTEN state in this network namespace (IPv4 and IPv6, any
// address). nullopt when the kernel does not answer (no sock_diag): callers then probe anyway.
std::optional<std::set<uint16_t>> listeningTcpPorts();

}  // namespace minimcp::runtime
