// SPDX-License-Identifier: Apache-2.0
// BPF_PROG_TEST_RUN: the real program, in the kernel, on a given packet.
#include <errno.h>

#include "datapath.h"

extern "C" {
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cordon.skel.h"
}

namespace cordon {

TestRunResult Datapath::TestRun(const std::vector<uint8_t>& packet, uint32_t repeat, Hook hook) const {
  if (packet.size() < 14) throw DatapathError("test run: a packet needs at least an Ethernet header (14 bytes)");
  if (packet.size() > 9000) throw DatapathError("test run: packet larger than 9000 bytes");
  bpf_program* prog = hook == Hook::kXdp       ? skel_->progs.cordon_xdp
                      : hook == Hook::kIngress ? skel_->progs.cordon_ingress
                                               : skel_->progs.cordon_egress;
  std::vector<uint8_t> out(packet.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(packet.size()),
              .data_size_out = static_cast<uint32_t>(out.size()), .repeat = static_cast<int>(repeat ? repeat : 1));
  int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
  if (err) throw DatapathError(ErrnoText("BPF_PROG_TEST_RUN", errno));
  return TestRunResult{static_cast<int>(opts.retval), opts.duration};
}

}  // namespace cordon
