// SPDX-License-Identifier: Apache-2.0
/** A real datapath for a test file: loaded through the verifier, pinned under a test name, removed after. */
import { Datapath, DatapathOptions } from '../../native/lib/datapath';
import { packet, PacketSpec } from './packets';

export async function openTestDatapath(name: string, opts: Partial<DatapathOptions> = {}): Promise<Datapath> {
  if (process.getuid?.() !== 0) throw new Error('datapath tests load eBPF programs: run them as root');
  // A crashed earlier run may have left pins: start afresh.
  Datapath.removePins(name);
  return Datapath.open({ name, ...opts });
}

/** Sends one crafted packet through the real program; true when it passes. */
export async function passes(dp: Datapath, spec: PacketSpec, direction: 'ingress' | 'egress' = 'ingress'): Promise<boolean> {
  return (await dp.testRun(packet(spec), { direction })).passed;
}
