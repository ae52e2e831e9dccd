// SPDX-License-Identifier: Apache-2.0
/**
 * Whether the datapath's pins can outlive this process (issue 14). The pins
 * (the programs, the flow table, the generation the kernel enforces) live on
 * the bpffs at /sys/fs/bpf; a restarted enforcer adopts them from there. Where
 * /sys/fs/bpf is not a bpffs (`ip netns exec` mounts a fresh sysfs over /sys in
 * a mount namespace of its own; a container is given no host bpffs), the addon
 * mounts one, and in a private mount namespace it goes, pins and all, with the
 * process: the programs stay attached, but the next enforcer cannot adopt
 * them and starts from empty flow tables. Said at start, with the fix.
 */
import * as fs from 'node:fs';

const BPF_FS_MAGIC = 0xcafe4a11;
const BPFFS = '/sys/fs/bpf';

/** A warning when the pins under `pinRoot` (default /sys/fs/bpf/cordon) are not on a bpffs yet; null when they are, or live elsewhere (a test's pin root). */
export function bpffsWarning(pinRoot?: string, statfs: (p: string) => { type: number } = fs.statfsSync): string | null {
  if (pinRoot && !pinRoot.startsWith(BPFFS)) return null;
  let type: number | null;
  try {
    type = statfs(BPFFS).type;
  } catch {
    type = null;
  }
  if (type === BPF_FS_MAGIC) return null;
  return (
    `${BPFFS} is not a bpffs here (${type === null ? 'missing' : `filesystem type 0x${type.toString(16)}`}): the enforcer mounts one. ` +
    'In a mount namespace of its own (`ip netns exec`, a container without the host\'s /sys/fs/bpf) that bpffs dies with this process, ' +
    'and with it the pins: a restart cannot adopt the running datapath and starts from empty flow tables (every established connection judged afresh). ' +
    'Run the enforcer with --netns /run/netns/NAME instead of `ip netns exec`, or give its container the host\'s bpffs (-v /sys/fs/bpf:/sys/fs/bpf); ' +
    'on a host, mount it at boot (systemd: sys-fs-bpf.mount)'
  );
}
