// SPDX-License-Identifier: Apache-2.0
// Reading counters and flows: raw key+value records, per-CPU values summed.
#include <errno.h>
#include <string.h>

#include <array>
#include <map>

#include "datapath.h"

extern "C" {
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cordon.skel.h"
}

namespace cordon {
namespace {

// Walks a hash map with get_next_key; entries evicted meanwhile are skipped.
template <typename Key, typename Fn>
void ForEachKey(int fd, Fn fn) {
  Key cur{}, next{};
  bool first = true;
  while (bpf_map_get_next_key(fd, first ? nullptr : &cur, &next) == 0) {
    fn(next);
    cur = next;
    first = false;
  }
}

void Append(std::vector<uint8_t>& out, const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}

int NumCpus() {
  int n = libbpf_num_possible_cpus();
  if (n <= 0) throw DatapathError(ErrnoText("count possible CPUs", n));
  return n;
}

bool SumPerCpu(int fd, const void* key, cordon_counter* out, int ncpu) {
  std::vector<cordon_counter> vals(ncpu);
  if (bpf_map_lookup_elem(fd, key, vals.data()) < 0) return false;
  *out = {};
  for (auto& v : vals) {
    out->packets += v.packets;
    out->bytes += v.bytes;
  }
  return true;
}

// An IPv4 flow's key (cordon_flows4, cordon_denied4) in the one layout user space reads.
cordon_flow_key Widened(const cordon_flow_key4& k) {
  cordon_flow_key w{};
  w.saddr[10] = w.saddr[11] = w.daddr[10] = w.daddr[11] = 0xff;
  memcpy(w.saddr + 12, &k.saddr, 4);
  memcpy(w.daddr + 12, &k.daddr, 4);
  w.sport = k.sport;
  w.dport = k.dport;
  w.protocol = k.protocol;
  w.family = 4;
  w.kind = k.kind;
  return w;
}

}  // namespace

// Both families' tables (cordon.h "flows"), IPv4 first, each record a struct cordon_flow_key and its value.
std::vector<uint8_t> Datapath::DumpFlows(bool denied) const {
  int fd4 = bpf_map__fd(denied ? skel_->maps.cordon_denied4 : skel_->maps.cordon_flows4);
  int fd6 = bpf_map__fd(denied ? skel_->maps.cordon_denied : skel_->maps.cordon_flows);
  std::vector<uint8_t> out;
  cordon_flow_value v;
  ForEachKey<cordon_flow_key4>(fd4, [&](const cordon_flow_key4& k) {
    if (bpf_map_lookup_elem(fd4, &k, &v) == 0) {
      cordon_flow_key w = Widened(k);
      Append(out, &w, sizeof(w));
      Append(out, &v, sizeof(v));
    }
  });
  ForEachKey<cordon_flow_key>(fd6, [&](const cordon_flow_key& k) {
    if (bpf_map_lookup_elem(fd6, &k, &v) == 0) {
      Append(out, &k, sizeof(k));
      Append(out, &v, sizeof(v));
    }
  });
  return out;
}

// A pair's counters are in this CPU's slot of cordon_pair_slots or in cordon_pair_stats (cordon.h
// "Per identity pair"): summed here into one record a pair.
std::vector<uint8_t> Datapath::DumpPairStats() const {
  int fd = bpf_map__fd(skel_->maps.cordon_pair_stats), ncpu = NumCpus();
  std::map<std::array<uint8_t, sizeof(cordon_pair_key)>, cordon_counter> sums;
  auto add = [&](const cordon_pair_key& k, uint64_t packets, uint64_t bytes) {
    std::array<uint8_t, sizeof(cordon_pair_key)> a;
    memcpy(a.data(), &k, sizeof(k));
    cordon_counter& c = sums[a];
    c.packets += packets;
    c.bytes += bytes;
  };
  ForEachKey<cordon_pair_key>(fd, [&](const cordon_pair_key& k) {
    cordon_counter c;
    if (SumPerCpu(fd, &k, &c, ncpu)) add(k, c.packets, c.bytes);
  });
  int slots = bpf_map__fd(skel_->maps.cordon_pair_slots);
  std::vector<cordon_pair_slot> vals(ncpu);
  for (uint32_t i = 0; i < CORDON_PAIR_SLOTS; i++) {
    if (bpf_map_lookup_elem(slots, &i, vals.data()) < 0) throw DatapathError(ErrnoText("read cordon_pair_slots", errno));
    for (const auto& v : vals)
      if (v.used) add(v.key, v.c.packets, v.c.bytes);
  }
  std::vector<uint8_t> out;
  for (const auto& [k, c] : sums) {
    Append(out, k.data(), k.size());
    Append(out, &c, sizeof(c));
  }
  return out;
}

std::vector<uint8_t> Datapath::DumpReasonStats() const {
  int fd = bpf_map__fd(skel_->maps.cordon_reason_stats), ncpu = NumCpus();
  std::vector<uint8_t> out;
  for (uint32_t r = 0; r < CORDON_REASON_MAX; r++) {
    cordon_counter c{};
    SumPerCpu(fd, &r, &c, ncpu);
    Append(out, &c, sizeof(c));
  }
  return out;
}

std::vector<uint8_t> Datapath::ReadRuleStats(const std::vector<uint32_t>& ids) const {
  int fd = bpf_map__fd(skel_->maps.cordon_rule_stats), ncpu = NumCpus();
  std::vector<uint8_t> out;
  for (uint32_t id : ids) {
    cordon_counter c{};
    if (id < CORDON_MAX_RULES) SumPerCpu(fd, &id, &c, ncpu);
    Append(out, &c, sizeof(c));
  }
  return out;
}

uint32_t Datapath::CountEntries(const std::string& map) const {
  int fd = MapFd(map.c_str());
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) throw DatapathError(ErrnoText("inspect map " + map, errno));
  std::vector<uint8_t> cur(info.key_size), next(info.key_size);
  uint32_t n = 0;
  bool first = true;
  while (bpf_map_get_next_key(fd, first ? nullptr : cur.data(), next.data()) == 0) {
    n++;
    cur.swap(next);
    first = false;
  }
  return n;
}

cordon_counter Datapath::LinkLocalFrames() const {
  int fd = bpf_map__fd(skel_->maps.cordon_link_local), ncpu = NumCpus();
  uint32_t zero = 0;
  cordon_counter c{};
  SumPerCpu(fd, &zero, &c, ncpu);
  return c;
}

uint64_t Datapath::SuppressedEvents() const {
  int fd = bpf_map__fd(skel_->maps.cordon_event_budget), ncpu = NumCpus();
  std::vector<cordon_event_budget> vals(ncpu);
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(fd, &zero, vals.data()) < 0) return 0;
  uint64_t total = 0;
  for (auto& v : vals) total += v.suppressed;
  return total;
}

}  // namespace cordon
