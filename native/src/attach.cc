// SPDX-License-Identifier: Apache-2.0
// tc clsact attach and detach, optionally inside another network namespace;
// on ingress the XDP short-cut with it (xdp_attach.cc).
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include "datapath.h"
#include "netns_guard.h"

extern "C" {
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cordon.skel.h"
}

namespace cordon {
namespace {

constexpr uint32_t kHandle = 0xc0d;  // ours: detach removes only this filter
constexpr uint32_t kPriority = 1;

int IfIndex(const std::string& ifname, const std::string& netns, const char* what) {
  unsigned idx = if_nametoindex(ifname.c_str());
  if (!idx)
    throw DatapathError(std::string(what) + " " + ifname + ": no such device — is the interface up in " +
                        (netns.empty() ? "this namespace" : netns) + "?");
  return static_cast<int>(idx);
}

}  // namespace

std::string Datapath::Attach(const std::string& ifname, bool ingress, const std::string& netns, bool xdp) {
  NetnsGuard ns(netns);
  const std::string what = std::string("attach to ") + ifname + (ingress ? " ingress" : " egress");
  const int ifindex = IfIndex(ifname, netns, "attach to");
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) throw DatapathError(ErrnoText(what + ": create clsact qdisc", err));
  bpf_program* prog = ingress ? skel_->progs.cordon_ingress : skel_->progs.cordon_egress;
  // REPLACE swaps the program in place: an upgraded or restarted daemon
  // takes over without a moment where the interface is unfiltered.
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(prog), .flags = BPF_TC_F_REPLACE,
              .handle = kHandle, .priority = kPriority);
  err = bpf_tc_attach(&hook, &opts);
  if (err) throw DatapathError(ErrnoText(what, err));
  // tc first: the short-cut only drops what tc has judged
  if (!ingress) return "";
  if (!xdp) {
    DetachXdp(ifindex);
    return "off";
  }
  return AttachXdp(ifindex, ifname);
}

void Datapath::Detach(const std::string& ifname, bool ingress, const std::string& netns) {
  NetnsGuard ns(netns);
  const std::string what = std::string("detach from ") + ifname + (ingress ? " ingress" : " egress");
  const int ifindex = IfIndex(ifname, netns, "detach from");
  // the short-cut goes first: it must never drop without tc behind it
  if (ingress) DetachXdp(ifindex);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kHandle, .priority = kPriority);
  int err = bpf_tc_detach(&hook, &opts);
  if (err && err != -ENOENT && err != -EINVAL) throw DatapathError(ErrnoText(what, err));
}

}  // namespace cordon
