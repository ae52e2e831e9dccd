// SPDX-License-Identifier: Apache-2.0
// A read-only tap of the DHCP client messages an interface receives
// (DHCPv4 to udp 67, DHCPv6 to udp 547): an AF_PACKET socket with a classic
// BPF filter, so copies are read and the host's DHCP server still gets every
// packet (binding udp 67 would take unicast renewals from it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cordon {

// Opens the tap on ifname, in the network namespace at path netns (empty: this thread's); returns the fd.
int OpenDhcpTap(const std::string& ifname, const std::string& netns);
void CloseDhcpTap(int fd);
// Waits up to timeout_ms for packets on any of fds and returns them, each as
// [u16 length of what follows][u8 index into fds][u8 0][6 bytes source MAC][u16 ethertype][packet from the IP header].
std::vector<uint8_t> PollDhcpTaps(const std::vector<int>& fds, int timeout_ms);

}  // namespace cordon
