// SPDX-License-Identifier: Apache-2.0
#include "dhcp_tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "datapath.h"
#include "netns_guard.h"

namespace cordon {
namespace {

// Offsets from the IP header (SOCK_DGRAM). Accepts IPv4 UDP to 67 (first
// fragment or whole) and IPv6 UDP (no extension header) to 547; 2048 bytes.
struct sock_filter kFilter[] = {
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, static_cast<__u32>(SKF_AD_OFF + SKF_AD_PROTOCOL)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 8),
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),  // IPv4 protocol
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 12),
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),  // flags and fragment offset
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 10, 0),
    BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),  // X = IHL * 4
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),  // UDP destination port
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 67, 6, 7),
    BPF_STMT(BPF_RET | BPF_K, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 5),  // [10]: not IPv4
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),  // IPv6 next header
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 3),
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 42),  // UDP destination port
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 547, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 2048),
    BPF_STMT(BPF_RET | BPF_K, 0),
};

}  // namespace

int OpenDhcpTap(const std::string& ifname, const std::string& netns) {
  NetnsGuard ns(netns);  // a socket stays in the namespace it was made in
  unsigned idx = if_nametoindex(ifname.c_str());
  if (!idx) throw DatapathError(ErrnoText("DHCP tap: no interface " + ifname, -errno));
  // Protocol 0: the socket receives nothing until bind names ETH_P_ALL, by which
  // time the filter is attached, so no unfiltered packet is ever queued.
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw DatapathError(ErrnoText("DHCP tap: open a packet socket", -errno));
  struct sock_fprog prog = {static_cast<unsigned short>(sizeof(kFilter) / sizeof(kFilter[0])), kFilter};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
    int e = errno;
    close(fd);
    throw DatapathError(ErrnoText("DHCP tap: attach the filter", -e));
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof(sll));
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(idx);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sll), sizeof(sll)) < 0) {
    int e = errno;
    close(fd);
    throw DatapathError(ErrnoText("DHCP tap: bind to " + ifname, -e));
  }
  return fd;
}

void CloseDhcpTap(int fd) {
  if (fd >= 0) close(fd);
}

std::vector<uint8_t> PollDhcpTaps(const std::vector<int>& fds, int timeout_ms) {
  std::vector<uint8_t> out;
  std::vector<struct pollfd> p(fds.size());
  for (size_t i = 0; i < fds.size(); i++) p[i] = {fds[i], POLLIN, 0};
  int n = poll(p.data(), p.size(), timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return out;
    throw DatapathError(ErrnoText("DHCP tap: poll", -errno));
  }
  uint8_t buf[2048];
  for (size_t i = 0; i < p.size() && i < 256; i++) {
    if (!(p[i].revents & POLLIN)) continue;
    for (int k = 0; k < 64; k++) {  // bounded per call: a flood cannot hold the worker
      struct sockaddr_ll from;
      socklen_t len = sizeof(from);
      ssize_t r = recvfrom(fds[i], buf, sizeof(buf), MSG_DONTWAIT, reinterpret_cast<struct sockaddr*>(&from), &len);
      if (r < 0) break;
      if (from.sll_pkttype == PACKET_OUTGOING) continue;  // what this host sends
      uint16_t total = static_cast<uint16_t>(10 + r);
      uint8_t head[12];
      memcpy(head, &total, 2);
      head[2] = static_cast<uint8_t>(i);
      head[3] = 0;
      memset(head + 4, 0, 6);
      if (from.sll_halen == 6) memcpy(head + 4, from.sll_addr, 6);
      uint16_t proto = ntohs(from.sll_protocol);
      memcpy(head + 10, &proto, 2);
      out.insert(out.end(), head, head + 12);
      out.insert(out.end(), buf, buf + r);
    }
  }
  return out;
}

}  // namespace cordon
