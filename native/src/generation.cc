// SPDX-License-Identifier: Apache-2.0
// A generation: fresh LPM tries filled in batches, put into the idle slot,
// then one epoch bump makes them live (see bpf/lib/state.h).
#include <errno.h>
#include <unistd.h>

#include "datapath.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524  // kernel-internal, returned by bpf() all the same
#endif

extern "C" {
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cordon.skel.h"
}

namespace cordon {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { if (fd_ >= 0) close(fd_); }
  int get() const { return fd_; }
 private:
  int fd_;
};

int CreateTrie(const char* name, uint32_t key_size, uint32_t value_size, uint32_t max) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
  int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, name, key_size, value_size, max, &opts);
  if (fd < 0) throw DatapathError(ErrnoText(std::string("create ") + name + " trie", errno));
  return fd;
}

void FillTrie(int fd, const char* what, const std::vector<uint8_t>& keys,
              const std::vector<uint8_t>& values, uint32_t count, size_t ksz, size_t vsz) {
  if (keys.size() != count * ksz || values.size() != count * vsz)
    throw DatapathError(std::string(what) + ": key/value buffers do not match the entry count");
  const uint32_t kBatch = 8192;
  for (uint32_t done = 0; done < count;) {
    uint32_t n = std::min(kBatch, count - done);
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
    int err = bpf_map_update_batch(fd, keys.data() + done * ksz, values.data() + done * vsz, &n, &opts);
    if (err && (errno == EINVAL || errno == ENOTSUPP || errno == EOPNOTSUPP) && n == 0) {
      // Kernels without batch ops for LPM tries: one element at a time.
      for (uint32_t i = done; i < count; i++)
        if (bpf_map_update_elem(fd, keys.data() + i * ksz, values.data() + i * vsz, BPF_ANY) < 0)
          throw DatapathError(ErrnoText(std::string("write ") + what + " entry " + std::to_string(i), errno));
      return;
    }
    if (err)
      throw DatapathError(ErrnoText(std::string("write ") + what + " entries " + std::to_string(done + n) +
                                        "..: (bad prefix length or too many entries?)",
                                    errno));
    done += n;
  }
}

}  // namespace

uint64_t Datapath::ApplyGeneration(const GenerationInput& in) {
  if (in.ipcache_count > CORDON_MAX_IPCACHE)
    throw DatapathError("generation has " + std::to_string(in.ipcache_count) + " ipcache entries, more than " +
                        std::to_string(CORDON_MAX_IPCACHE));
  if (in.policy_count > CORDON_MAX_POLICY)
    throw DatapathError("generation has " + std::to_string(in.policy_count) + " policy entries, more than " +
                        std::to_string(CORDON_MAX_POLICY));
  cordon_state st = ReadState();
  uint64_t next = st.epoch + 1;
  uint32_t slot = next & 1;

  Fd ipc(CreateTrie("cordon_ipc_gen", sizeof(cordon_ipcache_key), sizeof(cordon_ipcache_value), CORDON_MAX_IPCACHE));
  Fd pol(CreateTrie("cordon_pol_gen", sizeof(cordon_policy_key), sizeof(cordon_policy_value), CORDON_MAX_POLICY));
  FillTrie(ipc.get(), "ipcache", in.ipcache_keys, in.ipcache_values, in.ipcache_count, sizeof(cordon_ipcache_key),
           sizeof(cordon_ipcache_value));
  FillTrie(pol.get(), "policy", in.policy_keys, in.policy_values, in.policy_count, sizeof(cordon_policy_key),
           sizeof(cordon_policy_value));

  // The idle slot: no packet reads it (its epoch is past), see view_load().
  int ipc_fd = ipc.get(), pol_fd = pol.get();
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.cordon_ipcache), &slot, &ipc_fd, BPF_ANY) < 0)
    throw DatapathError(ErrnoText("install ipcache trie in slot " + std::to_string(slot), errno));
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.cordon_policy), &slot, &pol_fd, BPF_ANY) < 0)
    throw DatapathError(ErrnoText("install policy trie in slot " + std::to_string(slot), errno));

  // One write makes the slot live; the 8-byte epoch is stored whole.
  st.epoch = next;
  st.generation = in.generation;
  st.flags = in.flags;
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.cordon_state), &zero, &st, BPF_ANY) < 0)
    throw DatapathError(ErrnoText("flip the epoch", errno));
  return next;
}

}  // namespace cordon
