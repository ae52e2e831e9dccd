// SPDX-License-Identifier: Apache-2.0
// The XDP short-cut of an interface's ingress (bpf/lib/xdp.h): attached in
// native (driver) mode next to the tc program, held by the interface like the
// tc filter, so it outlives the daemon. Generic mode would judge after the
// skb is built, which is what tc already does: when native mode fails the
// short-cut is skipped and tc alone judges, with the reason returned.
#include <errno.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <cstring>

#include "datapath.h"

extern "C" {
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cordon.skel.h"
}

namespace cordon {
namespace {

constexpr const char* kXdpProgName = "cordon_xdp";

// The XDP program attached in a mode (XDP_FLAGS_*_MODE): 0 none, 1 Cordon's, -1 another.
int AttachedXdp(int ifindex, uint32_t mode_flag) {
  LIBBPF_OPTS(bpf_xdp_query_opts, q);
  if (bpf_xdp_query(ifindex, 0, &q)) return 0;
  uint32_t id = mode_flag == XDP_FLAGS_DRV_MODE ? q.drv_prog_id : q.skb_prog_id;
  if (!id) return 0;
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return -1;
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  int err = bpf_obj_get_info_by_fd(fd, &info, &len);
  close(fd);
  return !err && std::strncmp(info.name, kXdpProgName, sizeof(info.name)) == 0 ? 1 : -1;
}

}  // namespace

std::string Datapath::AttachXdp(int ifindex, const std::string& ifname) {
  if (AttachedXdp(ifindex, XDP_FLAGS_DRV_MODE) < 0 || AttachedXdp(ifindex, XDP_FLAGS_SKB_MODE) < 0)
    return "skipped: another XDP program is attached to " + ifname;
  // no UPDATE_IF_NOEXIST: an earlier daemon's cordon_xdp is replaced in place
  int err = bpf_xdp_attach(ifindex, bpf_program__fd(skel_->progs.cordon_xdp), XDP_FLAGS_DRV_MODE, nullptr);
  if (err) return "skipped: " + ErrnoText("native XDP on " + ifname, err);
  return "native";
}

void Datapath::DetachXdp(int ifindex) {
  for (uint32_t mode : {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE})
    if (AttachedXdp(ifindex, mode) == 1) bpf_xdp_detach(ifindex, mode, nullptr);
}

}  // namespace cordon
