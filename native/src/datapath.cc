// SPDX-License-Identifier: Apache-2.0
// Open, load, pin and adopt the datapath object.
#include "datapath.h"

#include <errno.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <mutex>

extern "C" {
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cordon.skel.h"
}

namespace cordon {

std::string ErrnoText(const std::string& what, int err) {
  if (err < 0) err = -err;
  return what + ": " + strerror(err);
}

namespace {

// libbpf reports the verifier log through its print callback; keep the last
// of it so a failed load can say why.
std::mutex log_mu;
std::string libbpf_log;

int CapturePrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  std::lock_guard<std::mutex> lock(log_mu);
  libbpf_log.append(buf, n > 0 ? std::min<size_t>(n, sizeof(buf) - 1) : 0);
  if (libbpf_log.size() > 64 * 1024) libbpf_log.erase(0, libbpf_log.size() - 32 * 1024);
  return 0;
}

std::string TakeLog() {
  std::lock_guard<std::mutex> lock(log_mu);
  std::string out;
  out.swap(libbpf_log);
  if (out.size() > 6000) out = "…" + out.substr(out.size() - 6000);
  return out;
}

void MkdirP(const std::string& path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); i++) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      cur = path.substr(0, i);
      if (mkdir(cur.c_str(), 0700) < 0 && errno != EEXIST)
        throw DatapathError(ErrnoText("create " + cur, errno));
    }
  }
}

// bpffs must be mounted for pins to outlive the process.
void EnsureBpffs(const std::string& root) {
  struct statfs st;
  if (statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC) return;
  if (root.rfind("/sys/fs/bpf", 0) != 0) return;
  if (mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) < 0)
    throw DatapathError(ErrnoText("mount bpffs on /sys/fs/bpf", errno) +
                        " — run as root, or mount it: mount -t bpf bpf /sys/fs/bpf");
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

}  // namespace

Datapath::Datapath(const LoadOptions& opts) {
  if (!ValidName(opts.name))
    throw DatapathError("datapath name '" + opts.name + "' must be 1-64 letters, digits, '-' or '_'");
  std::string root = opts.pin_root.empty() ? "/sys/fs/bpf/cordon" : opts.pin_root;
  pin_dir_ = root + "/" + opts.name;
  libbpf_set_print(CapturePrint);
  EnsureBpffs(root);
  MkdirP(pin_dir_);
  adopted_ = access((pin_dir_ + "/cordon_state").c_str(), F_OK) == 0;

  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = pin_dir_.c_str());
  TakeLog();
  skel_ = cordon_bpf__open_opts(&open_opts);
  if (!skel_) throw DatapathError(ErrnoText("open the datapath object", errno) + "\n" + TakeLog());

  auto* ro = skel_->rodata;
  const uint64_t ns = 1000000000ULL;
  ro->ct_timeout_tcp_ns = opts.ct_timeout_tcp_s * ns;
  ro->ct_timeout_udp_ns = opts.ct_timeout_udp_s * ns;
  ro->ct_timeout_other_ns = opts.ct_timeout_other_s * ns;
  ro->event_rate_per_sec = opts.event_rate;
  ro->event_burst = opts.event_burst;
  ro->classify_payload = opts.classify_payload ? 1 : 0;
  ro->denied_shortcut = opts.denied_shortcut ? 1 : 0;
  ro->flow_budget_rate = opts.flow_budget_rate;
  ro->flow_budget_burst = opts.flow_budget_burst;

  int err = cordon_bpf__load(skel_);
  if (err) {
    std::string log = TakeLog();
    cordon_bpf__destroy(skel_);
    skel_ = nullptr;
    throw DatapathError(ErrnoText("load the datapath into the kernel", err) +
                        (adopted_ ? " (maps pinned in " + pin_dir_ +
                                        " may be from an incompatible version: remove them to start afresh)"
                                  : "") +
                        "\nverifier/libbpf log:\n" + log);
  }
  PinPrograms();
}

Datapath::~Datapath() {
  if (rb_) ring_buffer__free(rb_);
  if (skel_) cordon_bpf__destroy(skel_);
}

void Datapath::PinPrograms() {
  struct {
    bpf_program* prog;
    const char* file;
  } progs[] = {{skel_->progs.cordon_ingress, "prog_ingress"},
               {skel_->progs.cordon_egress, "prog_egress"},
               {skel_->progs.cordon_xdp, "prog_xdp"}};
  for (auto& p : progs) {
    std::string path = pin_dir_ + "/" + p.file;
    unlink(path.c_str());  // a previous daemon's program: the new one takes its place
    int err = bpf_program__pin(p.prog, path.c_str());
    if (err) throw DatapathError(ErrnoText("pin program at " + path, err));
  }
}

int Datapath::MapFd(const char* name) const {
  bpf_map* m = bpf_object__find_map_by_name(skel_->obj, name);
  if (!m) throw DatapathError(std::string("no map named ") + name + " in the datapath object");
  return bpf_map__fd(m);
}

cordon_state Datapath::ReadState() const {
  cordon_state st{};
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.cordon_state), &zero, &st) < 0)
    throw DatapathError(ErrnoText("read cordon_state", errno));
  return st;
}

void Datapath::SetFlags(uint32_t flags) {
  cordon_state st = ReadState();
  st.flags = flags;
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.cordon_state), &zero, &st, BPF_ANY) < 0)
    throw DatapathError(ErrnoText("write cordon_state", errno));
}

void Datapath::Unpin() {
  bpf_object__unpin_maps(skel_->obj, nullptr);
  for (const char* prog : {"/prog_ingress", "/prog_egress", "/prog_xdp"}) unlink((pin_dir_ + prog).c_str());
  rmdir(pin_dir_.c_str());
}

}  // namespace cordon
