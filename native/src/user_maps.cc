// SPDX-License-Identifier: Apache-2.0
// Maps that user space writes entry by entry, outside generations: the
// addresses the DNS proxy learned (cordon_fqdn) and the DNS steering
// (cordon_dns). Keys and values are packed back to back, as
// native/lib/encode.ts writes them; sizes are checked against the map's own.
#include <errno.h>
#include <string.h>

#include "datapath.h"

extern "C" {
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cordon.skel.h"
}

namespace cordon {
namespace {

const char* const kUserMaps[] = {"cordon_fqdn", "cordon_dns"};

struct Sizes {
  uint32_t key, value;
};

Sizes SizesOf(int fd, const std::string& map) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) throw DatapathError(ErrnoText("inspect map " + map, errno));
  return {info.key_size, info.value_size};
}

}  // namespace

int Datapath::UserMapFd(const std::string& map) const {
  for (const char* m : kUserMaps)
    if (map == m) return MapFd(m);
  throw DatapathError("map " + map + " is not written by user space");
}

void Datapath::WriteEntries(const std::string& map, const MapEntries& e) {
  int fd = UserMapFd(map);
  Sizes s = SizesOf(fd, map);
  if (e.keys.size() != size_t(e.count) * s.key || e.values.size() != size_t(e.count) * s.value)
    throw DatapathError(map + ": " + std::to_string(e.count) + " entries need " + std::to_string(s.key) + "-byte keys and " +
                        std::to_string(s.value) + "-byte values");
  for (uint32_t i = 0; i < e.count; i++) {
    if (bpf_map_update_elem(fd, e.keys.data() + size_t(i) * s.key, e.values.data() + size_t(i) * s.value, BPF_ANY) < 0)
      throw DatapathError(ErrnoText("write " + map + " entry " + std::to_string(i) + " of " + std::to_string(e.count), errno));
  }
}

uint32_t Datapath::DeleteKeys(const std::string& map, const std::vector<uint8_t>& keys) {
  int fd = UserMapFd(map);
  Sizes s = SizesOf(fd, map);
  if (s.key == 0 || keys.size() % s.key) throw DatapathError(map + ": keys are " + std::to_string(s.key) + " bytes each");
  uint32_t gone = 0;
  for (size_t off = 0; off < keys.size(); off += s.key) {
    if (bpf_map_delete_elem(fd, keys.data() + off) == 0) gone++;
    else if (errno != ENOENT) throw DatapathError(ErrnoText("delete from " + map, errno));
  }
  return gone;
}

std::vector<uint8_t> Datapath::DumpUserMap(const std::string& map) const {
  int fd = UserMapFd(map);
  Sizes s = SizesOf(fd, map);
  std::vector<uint8_t> out, cur(s.key), next(s.key), val(s.value);
  bool first = true;
  while (bpf_map_get_next_key(fd, first ? nullptr : cur.data(), next.data()) == 0) {
    if (bpf_map_lookup_elem(fd, next.data(), val.data()) == 0) {
      out.insert(out.end(), next.begin(), next.end());
      out.insert(out.end(), val.begin(), val.end());
    }
    cur.swap(next);
    first = false;
  }
  return out;
}

}  // namespace cordon
