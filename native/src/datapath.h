// SPDX-License-Identifier: Apache-2.0
// The datapath as plain C++ over libbpf: no JavaScript here, so every call
// can run on a worker thread. Errors are DatapathError with what failed and why.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

extern "C" {
#include "cordon.h"
}

struct cordon_bpf;
struct ring_buffer;

namespace cordon {

class DatapathError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "what: strerror(err)" for a negative libbpf/kernel error code.
std::string ErrnoText(const std::string& what, int err);

struct LoadOptions {
  std::string name;      // /sys/fs/bpf/cordon/<name>/
  std::string pin_root;  // default /sys/fs/bpf/cordon
  uint64_t ct_timeout_tcp_s = 21600;
  uint64_t ct_timeout_udp_s = 120;
  uint64_t ct_timeout_other_s = 60;
  uint64_t event_rate = 1000;
  uint64_t event_burst = 1000;
  bool classify_payload = true;
  bool denied_shortcut = true;        // tc denies repeats of denied flows from their entry (bpf/lib/denied.h)
  uint64_t flow_budget_rate = 1000;   // new flows per second per source; 0 = no budget
  uint64_t flow_budget_burst = 8192;
};

// Keys and values packed back to back, as native/lib/abi.ts encodes them.
struct MapEntries {
  std::vector<uint8_t> keys, values;
  uint32_t count = 0;
};

struct GenerationInput {
  MapEntries hosts, prefixes, policy, policy_masks;
  uint64_t generation = 0;
  uint32_t flags = 0;  // CORDON_STATE_F_*
};

struct TestRunResult {
  int retval = 0;
  uint32_t duration_ns = 0;  // average per repeat, as the kernel measured it
};

class Datapath {
 public:
  // Opens the object, reuses maps already pinned under pin_root/name (a
  // restarted daemon adopts them), loads it through the verifier and pins
  // maps and programs.
  explicit Datapath(const LoadOptions& opts);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  bool adopted() const { return adopted_; }
  const std::string& pin_dir() const { return pin_dir_; }

  // tc clsact hook of an interface, optionally in another network namespace
  // (a path such as /run/netns/gw). Replaces a program already attached.
  // On ingress with xdp, also the XDP short-cut (bpf/lib/xdp.h); returns how
  // it went: "native", "off" (not asked: detached if it was there), or
  // "skipped: why" (tc alone judges). Egress returns "".
  std::string Attach(const std::string& ifname, bool ingress, const std::string& netns, bool xdp);
  void Detach(const std::string& ifname, bool ingress, const std::string& netns);

  // Writes a whole generation into fresh tries in the idle slot and flips
  // the epoch. Returns the new epoch.
  uint64_t ApplyGeneration(const GenerationInput& in);
  cordon_state ReadState() const;
  void SetFlags(uint32_t flags);

  // Raw map dumps: key bytes followed by value bytes, entry after entry.
  // Per-CPU values are summed.
  std::vector<uint8_t> DumpFlows(bool denied) const;
  std::vector<uint8_t> DumpPairStats() const;
  std::vector<uint8_t> DumpReasonStats() const;
  std::vector<uint8_t> ReadRuleStats(const std::vector<uint32_t>& ids) const;
  uint32_t CountEntries(const std::string& map) const;
  uint64_t SuppressedEvents() const;
  // EAPOL and LLDP frames passed (packets, bytes), summed over CPUs.
  cordon_counter LinkLocalFrames() const;

  // Maps user space writes entry by entry (cordon_fqdn, cordon_dns): user_maps.cc.
  void WriteEntries(const std::string& map, const MapEntries& e);
  uint32_t DeleteKeys(const std::string& map, const std::vector<uint8_t>& keys);  // returns how many were there
  std::vector<uint8_t> DumpUserMap(const std::string& map) const;

  enum class Hook { kEgress = 0, kIngress = 1, kXdp = 2 };
  TestRunResult TestRun(const std::vector<uint8_t>& packet, uint32_t repeat, Hook hook) const;

  // Events: consumes what the ring buffer holds, waiting at most timeout_ms.
  std::vector<uint8_t> PollEvents(int timeout_ms);

  // Detaches nothing; removes every pin of this datapath (maps and programs
  // stay alive only while something else holds them).
  void Unpin();

 private:
  int MapFd(const char* name) const;
  int UserMapFd(const std::string& map) const;
  void PinPrograms();
  std::string AttachXdp(int ifindex, const std::string& ifname);  // xdp_attach.cc
  void DetachXdp(int ifindex);

  cordon_bpf* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  std::vector<uint8_t> rb_out_;
  std::string pin_dir_;
  bool adopted_ = false;
};

}  // namespace cordon
