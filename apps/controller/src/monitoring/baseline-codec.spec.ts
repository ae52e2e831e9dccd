// SPDX-License-Identifier: Apache-2.0
import { crc32 } from 'node:zlib';
import { BaselineStateError, encodedSize } from './baseline-codec';
import { Anomaly, AnomalyDetector } from './detector';
import type { FlowRecord } from './flow-record';

const T0 = Date.UTC(2026, 0, 1);
const H = 3600_000;
const rec = (dst: string, dport: number, o: Partial<FlowRecord> = {}): FlowRecord => ({
  src: '10.0.0.5', dst, sport: 40000, dport, protocol: 6, srcIdentity: 300, dstIdentity: 301, verdict: 'VERDICT_ALLOW', packetsFwd: 10, bytesFwd: 2000, packetsRev: 10, bytesRev: 2000, ...o,
});

/** Steady traffic: every ~5 s, one of 3 peers on 8883. */
function steady(d: AnomalyDetector, from: number, to: number, out: Anomaly[]) {
  let x = 7;
  const rnd = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let t = from; t < to; t += Math.round(5000 * (0.7 + 0.6 * rnd()))) {
    d.observe('dev', rec(`10.0.1.${1 + Math.floor(rnd() * 3)}`, 8883, { bytesFwd: Math.round(2000 * (0.7 + 0.6 * rnd())) }), 'src', t, out);
  }
}

/** A learnt device's stored bytes (and the detector that learnt it). */
function learnt() {
  const d = new AnomalyDetector({ learningWindowMs: H });
  const out: Anomaly[] = [];
  steady(d, T0, T0 + 2 * H, out);
  // A novel target still in the ring when the state is taken: it must survive too.
  d.observe('dev', rec('10.0.1.40', 8883), 'src', T0 + 2 * H, out);
  expect(out.map((a) => a.kind)).toEqual(['new_peer']);
  expect(d.takeChanged()).toEqual(['dev']);
  const taken = d.exportState('dev')!;
  return { d, taken };
}

/** Re-sealed with a fresh checksum, so that only the change under test can be refused. */
function reseal(b: Buffer): Buffer {
  b.writeUInt32LE(crc32(b.subarray(24)), 20);
  return b;
}

describe('a device baseline serialized for the store', () => {
  it('round-trips: the loaded detector judges as the original does, learning not restarted', () => {
    const { d, taken } = learnt();
    expect(taken.state.byteLength).toBe(encodedSize(d.layout, 1));
    expect(encodedSize(d.layout, 0)).toBe(1704);
    expect(encodedSize(d.layout, 40)).toBe(2344);
    expect(d.takeChanged()).toEqual([]); // nothing changed since: nothing to write

    const e = new AnomalyDetector({ learningWindowMs: H });
    e.restore('dev', taken.state);
    const now = T0 + 2 * H + 1000;
    expect(e.baseline('dev', now)).toEqual(d.baseline('dev', now));
    expect(e.baseline('dev', now)).toMatchObject({ learning: false, peers: 3, ports: 1, novelTargets: 1 });

    // The same flows after the round trip raise the same anomalies on both.
    const next = (x: AnomalyDetector) => {
      const out: Anomaly[] = [];
      x.observe('dev', rec('10.0.1.2', 8883), 'src', now, out); // a known peer
      x.observe('dev', rec('10.0.1.40', 8883), 'src', now + 1000, out); // still in the ring: already raised
      x.observe('dev', rec('10.0.1.99', 8883), 'src', now + 2000, out); // a new one
      steady(x, now + 3000, now + 600_000, out);
      return out;
    };
    const after = next(e);
    expect(after.map((a) => [a.kind, a.evidence.peer])).toEqual([['new_peer', '10.0.1.99']]);
    expect(after).toEqual(next(d));
    // Changed by those flows: written again at the next flush, the same bytes as the original's.
    expect(e.takeChanged()).toEqual(['dev']);
    expect(e.exportState('dev')!.state.equals(d.exportState('dev')!.state)).toBe(true);
  });

  it('refuses malformed stored state with a clear error and keeps what it had', () => {
    const { d, taken } = learnt();
    const e = new AnomalyDetector({ learningWindowMs: H });
    const out: Anomaly[] = [];
    e.observe('dev', rec('10.0.1.1', 8883), 'src', T0, out);
    const before = e.baseline('dev', T0);
    const refused = (data: Uint8Array, why: RegExp, into = e) => {
      expect(() => into.restore('dev', data)).toThrow(BaselineStateError);
      expect(() => into.restore('dev', data)).toThrow(why);
    };
    const copy = () => Buffer.from(taken.state);

    refused(Buffer.alloc(0), /shorter than the header/);
    refused(Buffer.from('{"peers":[1,2,3],"ports":[8883,443]}'), /bad magic/);
    refused(copy().subarray(0, taken.state.byteLength - 4), /bytes, expected/);
    refused(Buffer.concat([copy(), Buffer.alloc(16)]), /bytes, expected/);
    const flipped = copy();
    flipped[200] ^= 0x40;
    refused(flipped, /checksum/);
    const v2 = copy();
    v2[2] = 2;
    refused(v2, /version 2/);
    refused(taken.state, /other detector options/, new AnomalyDetector({ learningWindowMs: H, peerCapacity: 64 }));
    refused(taken.state, /other detector options/, new AnomalyDetector({ learningWindowMs: H, volumeWindowsMs: [10_000, 60_000] }));
    const ring = copy();
    ring[16] = 41;
    refused(ring, /novel targets/);
    const nan = copy();
    nan.writeDoubleLE(NaN, 24 + 8); // last seen
    refused(reseal(nan), /non-finite/);
    const time = copy();
    time.writeDoubleLE(T0 + 10 * H, 24); // first seen after last seen
    refused(reseal(time), /first seen after last seen/);
    // A peer moved to a slot where probing would never find it.
    const moved = copy();
    const sets = 24 + 15 * 8;
    let slot = 0;
    while (moved.readUInt32LE(sets + 8 * slot) === 0) slot++;
    const key = moved.readUInt32LE(sets + 8 * slot);
    const free = [...Array(32).keys()].find((i) => moved.readUInt32LE(sets + 8 * i) === 0 && i !== (key & 31))!;
    moved.writeUInt32LE(key, sets + 8 * free);
    moved.writeUInt32LE(moved.readUInt32LE(sets + 8 * slot + 4), sets + 8 * free + 4);
    moved.writeUInt32LE(0, sets + 8 * slot);
    moved.writeUInt32LE(0, sets + 8 * slot + 4);
    refused(reseal(moved), /out of its place/);
    const count = copy();
    count[18] = 2; // the header's peer count
    refused(reseal(count), /peers: 3 members/);
    const hist = copy();
    hist.writeDoubleLE(17, hist.byteLength - 4 * 2 * d.layout.trackSize - 8 * 12); // a history count above 16
    refused(reseal(hist), /history index/);
    const neg = copy();
    neg.writeFloatLE(-1, neg.byteLength - 4);
    refused(reseal(neg), /negative or non-finite volume/);

    // Nothing half-loaded: the device's own state is as it was, and a sound state still loads.
    expect(e.baseline('dev', T0)).toEqual(before);
    e.restore('dev', taken.state);
    expect(e.baseline('dev', T0 + 2 * H)).toMatchObject({ learning: false, peers: 3 });
  });
});
