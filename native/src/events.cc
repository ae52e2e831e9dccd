// SPDX-License-Identifier: Apache-2.0
// Ring buffer consumer: called from a worker thread, never from JavaScript's.
#include <errno.h>

#include "datapath.h"

extern "C" {
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cordon.skel.h"
}

namespace cordon {
namespace {

int OnEvent(void* ctx, void* data, size_t size) {
  auto* out = static_cast<std::vector<uint8_t>*>(ctx);
  if (size < sizeof(cordon_event)) return 0;
  const uint8_t* b = static_cast<const uint8_t*>(data);
  out->insert(out->end(), b, b + sizeof(cordon_event));
  return out->size() >= 4096 * sizeof(cordon_event) ? 1 : 0;  // stop: hand a batch over
}

}  // namespace

std::vector<uint8_t> Datapath::PollEvents(int timeout_ms) {
  if (!rb_) {
    rb_ = ring_buffer__new(bpf_map__fd(skel_->maps.cordon_events), OnEvent, &rb_out_, nullptr);
    if (!rb_) throw DatapathError(ErrnoText("open the event ring buffer", errno));
  }
  rb_out_.clear();
  int n = ring_buffer__poll(rb_, timeout_ms);
  if (n < 0 && n != -EINTR) throw DatapathError(ErrnoText("poll the event ring buffer", n));
  std::vector<uint8_t> out;
  out.swap(rb_out_);
  return out;
}

}  // namespace cordon
