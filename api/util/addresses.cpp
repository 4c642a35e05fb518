#include "api/util/addresses.h"

#include <algorithm>

namespace minimcp {

namespace {

constexpr uint32_t v4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

uint32_t v4At(const unsigned char* b) { return v4(b[0], b[1], b[2], b[3]); }

}  // namespace

std::string ipv4NonPublicReason(uint32_t address) {
  struct Range {
    uint32_t prefix;
    int bits;
    const char* why;
  };
  static constexpr Range kRanges[] = {
      {v4(0, 0, 0, 0), 8, "an unspecified address"},
      {v4(127, 0, 0, 0), 8, kLoopbackAddress},
      {v4(169, 254, 0, 0), 16, "a link-local address"},
      {v4(10, 0, 0, 0), 8, "a private address"},
      {v4(172, 16, 0, 0), 12, "a private address"},
      {v4(192, 168, 0, 0), 16, "a private address"},
      {v4(100, 64, 0, 0), 10, "a private (shared, carrier-grade NAT) address"},
      {v4(192, 0, 0, 0), 24, "a special-purpose address"},
      {v4(192, 0, 2, 0), 24, "a documentation address"},
      {v4(198, 51, 100, 0), 24, "a documentation address"},
      {v4(203, 0, 113, 0), 24, "a documentation address"},
      {v4(192, 88, 99, 0), 24, "a special-purpose address"},
      {v4(198, 18, 0, 0), 15, "a benchmarking address"},
      {v4(224, 0, 0, 0), 4, "a multicast address"},
      {v4(240, 0, 0, 0), 4, "a reserved address"},
  };
  for (const Range& r : kRanges) {
    if ((address >> (32 - r.bits)) == (r.prefix >> (32 - r.bits))) return r.why;
  }
  return "";
}

std::string ipv6NonPublicReason(const unsigned char (&b)[16]) {
  auto zero = [&](int from, int to) {
    return std::all_of(b + from, b + to, [](unsigned char c) { return c == 0; });
  };
  if (zero(0, 16)) return "an unspecified address";
  if (zero(0, 15) && b[15] == 1) return kLoopbackAddress;
  // ::ffff:a.b.c.d (mapped) and 64:ff9b::a.b.c.d (NAT64) reach the IPv4 address they carry.
  if (zero(0, 10) && b[10] == 0xff && b[11] == 0xff) return ipv4NonPublicReason(v4At(b + 12));
  if (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
    return zero(4, 12) ? ipv4NonPublicReason(v4At(b + 12)) : "a NAT64 address";
  }
  if (zero(0, 12)) {
    std::string why = ipv4NonPublicReason(v4At(b + 12));
    return why.empty() ? "an IPv4-compatible address" : why;
  }
  if (b[0] == 0x20 && b[1] == 0x02) return ipv4NonPublicReason(v4At(b + 2));  // 6to4
  if ((b[0] & 0xfe) == 0xfc) return "a private (unique local) address";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "a link-local address";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "a private (site-local) address";
  if (b[0] == 0xff) return "a multicast address";
  if (b[0] == 0x01 && b[1] == 0x00 && zero(2, 8)) return "a discard address";
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) return "a Teredo address";
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) {
    return "a documentation address";
  }
  return "";
}

}  // namespace minimcp
