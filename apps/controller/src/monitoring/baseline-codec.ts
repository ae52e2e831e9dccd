// SPDX-License-Identifier: Apache-2.0
/**
 * A device's detector state (device-state.ts) as bytes, for the store (issue 14:
 * a restarted controller, or the other controller after a failover, goes on
 * judging instead of learning again). Little-endian, fixed layout:
 *
 *   header   magic "CB" (u16 0x4243), version u8, scales u8, peer capacity u16,
 *            port capacity u16, interval ms u32, scale buckets 4 x u8,
 *            ring entries u8, recent head u8, peers u8, ports u8,
 *            CRC-32 of everything after it u32                        (24 bytes)
 *   scalars  15 x f64: first/last seen, scan and novelty state, bucket and hour
 *            clocks, the device's period, the sets' eviction counts   (120)
 *   sets     the peers' and ports' slots as they are (key, count|aux) (2 x 4 x capacity)
 *   ring     the live novel targets, oldest first, 4 x u32 each      (<= 40 x 16)
 *   volume   vmeta f64 then vol f32, as laid out for these scales
 *
 * At the defaults (32 peers, 16 ports, 3 scales) that is 1,704 bytes plus 16 a
 * novel target in the ring: 2,344 at most (1,800 on average in the cost test). The denied-burst window (seconds
 * long) and the text samples of evidence are not kept: a loaded state starts
 * them empty. Whatever does not match — magic, version, layout (the options
 * that size the arrays changed: the device learns again), length, checksum,
 * or a value no detector writes (an index out of range, a set whose members
 * are not where its probing finds them, a non-finite number) — is refused with
 * a BaselineStateError saying what, never loaded half-way.
 */
import { crc32 } from 'node:zlib';
import type { DetectorOptions } from './detector-options';
import { BUCKETS, DeviceState, HISTORY, M_FIELDS, M_SEEN, MAX_SCALES, RING } from './device-state';

export const BASELINE_STATE_VERSION = 1;
const MAGIC = 0x4243;
const HEADER = 24;
const SCALARS = 15;

/** What sizes a device's arrays: a state is loaded only into a detector laid out the same. */
export interface StateLayout {
  peerCapacity: number;
  portCapacity: number;
  intervalMs: number;
  scaleBuckets: readonly number[];
  trackSize: number;
}

export class BaselineStateError extends Error {}

function metaLength(scales: number): number {
  return 2 * (2 * scales + M_FIELDS) + 2 * scales * 2;
}

/** The encoded size of a state with `ringSize` novel targets. */
export function encodedSize(l: StateLayout, ringSize: number): number {
  return HEADER + SCALARS * 8 + 8 * (l.peerCapacity + l.portCapacity) + 16 * ringSize + 8 * metaLength(l.scaleBuckets.length) + 8 * l.trackSize;
}

export function encodeDeviceState(s: DeviceState, l: StateLayout): Buffer {
  const S = l.scaleBuckets.length;
  const buf = Buffer.alloc(encodedSize(l, s.ringSize));
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  v.setUint16(0, MAGIC, true);
  v.setUint8(2, BASELINE_STATE_VERSION);
  v.setUint8(3, S);
  v.setUint16(4, l.peerCapacity, true);
  v.setUint16(6, l.portCapacity, true);
  v.setUint32(8, l.intervalMs, true);
  for (let i = 0; i < S; i++) v.setUint8(12 + i, l.scaleBuckets[i]);
  v.setUint8(16, s.ringSize);
  v.setUint8(17, s.recentHead);
  v.setUint8(18, s.peers.size);
  v.setUint8(19, s.ports.size);
  let at = HEADER;
  for (const x of scalarsOf(s)) {
    v.setFloat64(at, x, true);
    at += 8;
  }
  const sets = 2 * (l.peerCapacity + l.portCapacity);
  for (let i = 0; i < sets; i++, at += 4) v.setUint32(at, s.words[i], true);
  for (let k = 0; k < s.ringSize; k++) {
    const j = (s.ringHead + RING - s.ringSize + k) % RING;
    for (let w = 0; w < 4; w++, at += 4) v.setUint32(at, s.ring[j * 4 + w], true);
  }
  for (let i = 0; i < s.vmeta.length; i++, at += 8) v.setFloat64(at, s.vmeta[i], true);
  for (let i = 0; i < s.vol.length; i++, at += 4) v.setFloat32(at, s.vol[i], true);
  v.setUint32(20, crc32(buf.subarray(HEADER)), true);
  return buf;
}

function scalarsOf(s: DeviceState): number[] {
  return [s.firstSeen, s.lastSeen, s.scanUntil, s.scanWindow, s.scanTargets, s.noveltyUntil, s.novelty, s.noveltySuppressed, s.bucketStart, s.bucketIndex, s.hourStart, s.lastSrc, s.gap, s.peers.evictions, s.ports.evictions];
}

/** A state as encodeDeviceState() wrote it, for a detector laid out as `l`; throws BaselineStateError on anything else. */
export function decodeDeviceState(data: Uint8Array, l: StateLayout, o: DetectorOptions): DeviceState {
  const bad = (why: string): never => {
    throw new BaselineStateError(`stored baseline refused: ${why}`);
  };
  // Not instanceof: a driver may hand back bytes from another realm.
  if (!ArrayBuffer.isView(data)) bad('not bytes');
  if (data.byteLength < HEADER) bad(`${data.byteLength} bytes, shorter than the header`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (v.getUint16(0, true) !== MAGIC) bad('not a baseline (bad magic)');
  const version = v.getUint8(2);
  if (version !== BASELINE_STATE_VERSION) bad(`version ${version}, this controller reads version ${BASELINE_STATE_VERSION}`);
  const S = v.getUint8(3);
  const stored = { scales: S, peers: v.getUint16(4, true), ports: v.getUint16(6, true), intervalMs: v.getUint32(8, true), buckets: [0, 1, 2, 3].slice(0, Math.min(S, MAX_SCALES)).map((i) => v.getUint8(12 + i)) };
  if (S !== l.scaleBuckets.length || stored.peers !== l.peerCapacity || stored.ports !== l.portCapacity || stored.intervalMs !== l.intervalMs || stored.buckets.some((k, i) => k !== l.scaleBuckets[i])) {
    bad(`laid out for other detector options (${JSON.stringify(stored)})`);
  }
  const ringSize = v.getUint8(16);
  const recentHead = v.getUint8(17);
  if (ringSize > RING) bad(`${ringSize} novel targets, at most ${RING}`);
  if (recentHead >= BUCKETS) bad(`recent bucket ${recentHead} out of range`);
  const expected = encodedSize(l, ringSize);
  if (data.byteLength !== expected) bad(`${data.byteLength} bytes, expected ${expected}`);
  if (v.getUint32(20, true) !== crc32(data.subarray(HEADER))) bad('checksum mismatch');

  let at = HEADER;
  const x: number[] = [];
  for (let i = 0; i < SCALARS; i++, at += 8) x.push(v.getFloat64(at, true));
  if (!x.every(Number.isFinite)) bad('a non-finite time or counter');
  const [firstSeen, lastSeen, scanUntil, scanWindow, scanTargets, noveltyUntil, novelty, noveltySuppressed, bucketStart, bucketIndex, hourStart, lastSrc, gap, peerEvictions, portEvictions] = x;
  if (firstSeen > lastSeen) bad('first seen after last seen');
  if (bucketIndex !== Math.floor(bucketStart / l.intervalMs)) bad('bucket clock inconsistent');
  if ([scanTargets, novelty, noveltySuppressed, peerEvictions, portEvictions].some((n) => !Number.isSafeInteger(n) || n < 0) || gap < 0) bad('a negative or fractional counter');

  const s = new DeviceState(firstSeen, o, S, l.trackSize);
  Object.assign(s, { lastSeen, scanUntil, scanWindow, scanTargets, noveltyUntil, novelty, noveltySuppressed, bucketStart, bucketIndex, hourStart, lastSrc, gap, recentHead });
  const sets = 2 * (l.peerCapacity + l.portCapacity);
  for (let i = 0; i < sets; i++, at += 4) s.words[i] = v.getUint32(at, true);
  checkSet(s, 'peers', 0, l.peerCapacity, v.getUint8(18), bad);
  checkSet(s, 'ports', 2 * l.peerCapacity, l.portCapacity, v.getUint8(19), bad);
  s.peers.evictions = peerEvictions;
  s.ports.evictions = portEvictions;
  for (let k = 0; k < ringSize; k++) for (let w = 0; w < 4; w++, at += 4) s.ring[k * 4 + w] = v.getUint32(at, true);
  s.ringSize = ringSize;
  s.ringHead = ringSize % RING;
  for (let i = 0; i < s.vmeta.length; i++, at += 8) s.vmeta[i] = v.getFloat64(at, true);
  for (let i = 0; i < s.vol.length; i++, at += 4) s.vol[i] = v.getFloat32(at, true);
  if (!s.vmeta.every(Number.isFinite)) bad('a non-finite volume figure');
  if (!s.vol.every((n) => Number.isFinite(n) && n >= 0)) bad('a negative or non-finite volume figure');
  const histAt = 2 * (2 * S + M_FIELDS);
  for (let h = 0; h < 2 * S; h++) {
    const count = s.vmeta[histAt + 2 * h];
    const next = s.vmeta[histAt + 2 * h + 1];
    if (!Number.isInteger(count) || count < 0 || count > HISTORY || !Number.isInteger(next) || next < 0 || next >= HISTORY) bad('a volume history index out of range');
  }
  for (let tr = 0; tr < 2; tr++) {
    const seen = s.vmeta[tr * (2 * S + M_FIELDS) + 2 * S + M_SEEN];
    if (!Number.isInteger(seen) || seen < 0 || seen >= 1 << 24) bad('an hour-of-day mask out of range');
  }
  s.changed = false;
  return s;
}

/** Each member where probing finds it (no duplicates, none stranded), and as many as the header says. */
function checkSet(s: DeviceState, name: 'peers' | 'ports', from: number, capacity: number, size: number, bad: (why: string) => never): void {
  const set = s[name];
  let n = 0;
  for (let i = 0; i < capacity; i++) {
    const key = s.words[from + 2 * i];
    if (key === 0) {
      if (s.words[from + 2 * i + 1] !== 0) bad(`${name}: an empty slot with a count`);
      continue;
    }
    n++;
    if (set.find(key) !== i) bad(`${name}: a member out of its place`);
  }
  if (n !== size || n > set.limit) bad(`${name}: ${n} members, the header says ${size} (at most ${set.limit})`);
  set.size = n;
}
