// Where an IP address is: on the public internet, or on this host or a network beside it
// (loopback, private, link-local where cloud metadata services answer, shared/CGNAT, unique
// local, multicast, reserved, documentation, and the IPv6 forms that carry an IPv4 address:
// mapped, compatible, NAT64, 6to4). The one classification of mcpd's admission checks; the
// instances' check at connection time (mcp-servers/lib/addresses.js) holds the same ranges.
#pragma once

#include <cstdint>
#include <string>

namespace minimcp {

// The reason given for 127.0.0.0/8, ::1 and the IPv6 forms carrying a 127/8 address.
inline constexpr const char* kLoopbackAddress = "a loopback address";

// Why the IPv4 address (host byte order) is not a public one, e.g. "a private address"; "" when
// it is.
std::string ipv4NonPublicReason(uint32_t address);

// The same for an IPv6 address (16 bytes, network order); a form carrying an IPv4 address
// answers for that address.
std::string ipv6NonPublicReason(const unsigned char (&bytes)[16]);

}  // namespace minimcp
