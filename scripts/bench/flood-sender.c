// SPDX-License-Identifier: Apache-2.0
/*
 * The flood of scripts/bench/flood.ts: 64-byte UDP frames from one device
 * namespace to a denied port, cycling over a fixed set of source ports (so
 * every flow's first packet is judged and the rest repeat), written with
 * sendmmsg on an AF_PACKET socket that bypasses the qdisc: the cheapest
 * sender there is without pktgen (not in this kernel). Bounded by a duration
 * and a packet count, whichever ends first. Prints one JSON line.
 *
 *   flood-sender IFNAME SRC_MAC DST_MAC SRC_IP DST_IP DST_PORT FLOWS SECONDS MAX_PACKETS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME 64
#define BATCH 256
#define MAX_FLOWS 4096

static int parse_mac(const char *s, uint8_t *mac)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4],
		      &mac[5]) == 6;
}

static uint16_t ip_checksum(const void *hdr, size_t len)
{
	const uint16_t *w = hdr;
	uint32_t sum = 0;

	for (; len > 1; len -= 2)
		sum += *w++;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "flood-sender: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	static uint8_t frames[MAX_FLOWS][FRAME];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint8_t smac[6], dmac[6];
	struct in_addr src, dst;
	struct sockaddr_ll ll = { 0 };
	unsigned long long sent = 0, max_packets, errors = 0;
	int fd, one = 1, flows, i;
	double seconds, t0, t;
	unsigned next = 0;

	if (argc != 10 || !parse_mac(argv[2], smac) || !parse_mac(argv[3], dmac) ||
	    !inet_aton(argv[4], &src) || !inet_aton(argv[5], &dst)) {
		fprintf(stderr, "usage: flood-sender IFNAME SRC_MAC DST_MAC SRC_IP DST_IP DST_PORT FLOWS SECONDS MAX_PACKETS\n");
		return 2;
	}
	flows = atoi(argv[7]);
	seconds = atof(argv[8]);
	max_packets = strtoull(argv[9], NULL, 10);
	if (flows < 1 || flows > MAX_FLOWS || seconds <= 0 || seconds > 60 || !max_packets) {
		fprintf(stderr, "flood-sender: FLOWS 1..%d, SECONDS (0, 60], MAX_PACKETS > 0\n", MAX_FLOWS);
		return 2;
	}
	for (i = 0; i < flows; i++) {
		uint8_t *f = frames[i];
		struct iphdr *ip = (struct iphdr *)(f + 14);
		struct udphdr *udp = (struct udphdr *)(f + 34);

		memset(f, 0, FRAME);
		memcpy(f, dmac, 6);
		memcpy(f + 6, smac, 6);
		f[12] = 0x08;
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->tot_len = htons(FRAME - 14);
		ip->saddr = src.s_addr;
		ip->daddr = dst.s_addr;
		ip->check = ip_checksum(ip, sizeof(*ip));
		udp->source = htons(10000 + i);
		udp->dest = htons(atoi(argv[6]));
		udp->len = htons(FRAME - 34);
	}
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)))
		die("PACKET_QDISC_BYPASS");
	ll.sll_family = AF_PACKET;
	ll.sll_ifindex = if_nametoindex(argv[1]);
	if (!ll.sll_ifindex)
		die(argv[1]);
	if (bind(fd, (struct sockaddr *)&ll, sizeof(ll)))
		die("bind");
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_len = FRAME;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = now_s();
	do {
		int n;

		for (i = 0; i < BATCH; i++) {
			iov[i].iov_base = frames[next];
			next = (next + 1) % flows;
		}
		n = sendmmsg(fd, msgs, BATCH, 0);
		if (n > 0)
			sent += n;
		else if (errno != ENOBUFS && errno != EAGAIN && ++errors > 1000)
			die("sendmmsg");
		t = now_s();
	} while (t - t0 < seconds && sent < max_packets);
	printf("{\"sent\":%llu,\"seconds\":%.3f}\n", sent, t - t0);
	return 0;
}
