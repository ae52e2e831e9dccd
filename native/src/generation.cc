// SPDX-License-Identifier: Apache-2.0
// A generation: fresh LPM tries filled in batches, put into the idle slot,
// then one epoch bump makes them live (see bpf/lib/state.h).
#include <errno.h>
#include <unistd.h>

#include <memory>

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

int CreateMap(bpf_map_type type, const char* name, uint32_t key_size, uint32_t value_size, uint32_t max) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
  int fd = bpf_map_create(type, name, key_size, value_size, max, &opts);
  if (fd < 0) throw DatapathError(ErrnoText(std::string("create map ") + name, errno));
  return fd;
}

// A generation's maps are never written once live (state.h), so a hash holds just its entries: sized
// to twice their count, its bucket array (16 bytes a bucket) stays in cache on a small site, where the
// limit's 262,144 buckets (4 MiB, 8 MiB for the policy) made every lookup of a new address a cache miss.
uint32_t LiveSize(bpf_map_type type, uint32_t count, uint32_t max) {
  if (type != BPF_MAP_TYPE_HASH) return max;
  return std::min<uint64_t>(max, std::max<uint64_t>(64, 2ull * count));
}

void Fill(int fd, const char* what, const MapEntries& e, size_t ksz, size_t vsz, uint32_t max) {
  if (e.count > max)
    throw DatapathError(std::string("generation has ") + std::to_string(e.count) + " " + what + " entries, more than " +
                        std::to_string(max));
  if (e.keys.size() != e.count * ksz || e.values.size() != e.count * vsz)
    throw DatapathError(std::string(what) + ": key/value buffers do not match the entry count");
  const uint32_t kBatch = 8192;
  for (uint32_t done = 0; done < e.count;) {
    uint32_t n = std::min(kBatch, e.count - done);
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
    int err = bpf_map_update_batch(fd, e.keys.data() + done * ksz, e.values.data() + done * vsz, &n, &opts);
    if (err && (errno == EINVAL || errno == ENOTSUPP || errno == EOPNOTSUPP) && n == 0) {
      // Maps without batch ops (LPM tries on older kernels): one at a time.
      for (uint32_t i = done; i < e.count; i++)
        if (bpf_map_update_elem(fd, e.keys.data() + i * ksz, e.values.data() + i * vsz, BPF_ANY) < 0)
          throw DatapathError(ErrnoText(std::string("write ") + what + " entry " + std::to_string(i) +
                                            " (bad prefix length?)", errno));
      return;
    }
    if (err)
      throw DatapathError(ErrnoText(std::string("write ") + what + " entries from " + std::to_string(done + n), errno));
    done += n;
  }
}

}  // namespace

uint64_t Datapath::ApplyGeneration(const GenerationInput& in) {
  cordon_state st = ReadState();
  uint64_t next = st.epoch + 1;
  uint32_t slot = next & 1;

  struct Part {
    const MapEntries& entries;
    bpf_map* outer;
    bpf_map_type type;
    const char* name;
    uint32_t ksz, vsz, max;
  } parts[] = {
      {in.hosts, skel_->maps.cordon_hosts, BPF_MAP_TYPE_HASH, "hosts", sizeof(cordon_host_key),
       sizeof(cordon_ipcache_value), CORDON_MAX_IPCACHE},
      {in.prefixes, skel_->maps.cordon_prefixes, BPF_MAP_TYPE_LPM_TRIE, "prefixes", sizeof(cordon_ipcache_key),
       sizeof(cordon_ipcache_value), CORDON_MAX_IPCACHE},
      {in.policy, skel_->maps.cordon_policy, BPF_MAP_TYPE_HASH, "policy", sizeof(cordon_policy_key),
       sizeof(cordon_policy_value), CORDON_MAX_POLICY},
      {in.policy_masks, skel_->maps.cordon_policy_mask, BPF_MAP_TYPE_HASH, "policy_mask",
       sizeof(cordon_policy_mask_key), sizeof(cordon_policy_mask), CORDON_MAX_POLICY_MASKS},
  };
  // Fill all four before touching the slot: a bad entry fails the whole
  // generation and leaves the datapath as it was.
  std::vector<std::unique_ptr<Fd>> fds;
  for (auto& p : parts) {
    if (p.entries.count > p.max)
      throw DatapathError(std::string("generation has ") + std::to_string(p.entries.count) + " " + p.name +
                          " entries, more than " + std::to_string(p.max));
    fds.push_back(std::make_unique<Fd>(CreateMap(p.type, (std::string("cordon_g_") + p.name).substr(0, 15).c_str(),
                                                 p.ksz, p.vsz, LiveSize(p.type, p.entries.count, p.max))));
    Fill(fds.back()->get(), p.name, p.entries, p.ksz, p.vsz, p.max);
  }
  // The idle slot: no packet reads it (its epoch is past; struct view in bpf/cordon.bpf.c).
  for (size_t i = 0; i < fds.size(); i++) {
    int fd = fds[i]->get();
    if (bpf_map_update_elem(bpf_map__fd(parts[i].outer), &slot, &fd, BPF_ANY) < 0)
      throw DatapathError(ErrnoText(std::string("install ") + parts[i].name + " in slot " + std::to_string(slot), errno));
  }
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
