#include "reconciler/runtime/listening_ports.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace minimcp::runtime {
namespace {

constexpr int kTcpListen = 10;  // TCP_LISTEN in the kernel's tcp_states.h

// Sends one dump request for `family` and adds the ports of the answers; false on any error.
bool dump(int fd, uint8_t family, std::set<uint16_t>& ports) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.req.sdiag_family = family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1u << kTcpListen;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    return false;
  }
  alignas(nlmsghdr) char buf[16384];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return true;
      if (h->nlmsg_type == NLMSG_ERROR) return false;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      ports.insert(ntohs(d->id.idiag_sport));
    }
  }
}

}  // namespace

std::optional<std::set<uint16_t>> listeningTcpPorts() {
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return std::nullopt;
  std::set<uint16_t> ports;
  const bool ok = dump(fd, AF_INET, ports) && dump(fd, AF_INET6, ports);
  ::close(fd);
  if (!ok) return std::nullopt;
  return ports;
}

}  // namespace minimcp::runtime
