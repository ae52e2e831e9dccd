/**
 * Site-scale fixture and the compile benchmark the bench runner calls:
 * 1,000 segments, 10,000 devices, 10,000 policies (100,000+ policy entries),
 * then a one-policy change compiled and diffed as a delta.
 */
import { Device, Document, Policy, Segment } from '../policy/schema';
import { compile } from './compile';
import { diffBundles } from './delta';

export interface ScaleSize {
  segments: number;
  devices: number;
  policies: number;
}

export const SITE_SCALE: ScaleSize = { segments: 1000, devices: 10000, policies: 10000 };

export const segName = (i: number) => `seg-${String(i).padStart(4, '0')}`;

/** Segment i: 10.(i>>8).(i&255).0/24 and fd00:0:i::/64; device j: in segment j % segments, host 10 + j / segments. */
export function makeScaleDocs(size: ScaleSize = SITE_SCALE): Document[] {
  const docs: Document[] = [];
  for (let i = 0; i < size.segments; i++) {
    const s: Segment = {
      apiVersion: 'cordon/v1',
      kind: 'Segment',
      metadata: { name: segName(i) },
      spec: { cidrs: [`10.${i >> 8}.${i & 255}.0/24`, `fd00:0:${i.toString(16)}::/64`], selector: { seg: segName(i) }, mode: i % 100 === 99 ? 'audit' : 'enforce', onAnomaly: 'alert' },
    };
    docs.push(s);
  }
  for (let j = 0; j < size.devices; j++) {
    const s = j % size.segments;
    const host = 10 + Math.floor(j / size.segments);
    const d: Device = {
      apiVersion: 'cordon/v1',
      kind: 'Device',
      metadata: { name: `dev-${String(j).padStart(5, '0')}`, labels: { seg: segName(s) } },
      spec: { addresses: [`10.${s >> 8}.${s & 255}.${host}`], mac: `02:00:00:${((j >> 16) & 255).toString(16).padStart(2, '0')}:${((j >> 8) & 255).toString(16).padStart(2, '0')}:${(j & 255).toString(16).padStart(2, '0')}` },
    };
    docs.push(d);
  }
  for (let i = 0; i < size.policies; i++) docs.push(scalePolicy(i, size));
  return docs;
}

/** Policy i: seg i%N to a distinct peer; tcp 8883 + 1000-2000, udp 53, icmp echo; every 5th denies tcp 1500-1600 (every 10th in audit mode). */
export function scalePolicy(i: number, size: ScaleSize = SITE_SCALE, extraPort?: number): Policy {
  const n = size.segments;
  const from = i % n;
  const to = (from + 1 + Math.floor(i / n) * 37) % n;
  const deny = i % 5 === 0;
  return {
    apiVersion: 'cordon/v1',
    kind: 'Policy',
    metadata: { name: `pol-${String(i).padStart(5, '0')}` },
    spec: {
      from: [segName(from)],
      to: [segName(to)],
      allow: [
        { protocol: 'tcp', ports: ['8883', '1000-2000', ...(extraPort !== undefined ? [extraPort] : [])] },
        { protocol: 'udp', ports: [53] },
        { protocol: 'icmp', types: ['echo-request'] },
      ],
      ...(deny ? { deny: [{ protocol: 'tcp' as const, ports: ['1500-1600'] }] } : {}),
      mode: deny && i % 10 === 0 ? 'audit' : 'enforce',
    },
  };
}

export interface BenchResult {
  entries: number;
  ipcacheEntries: number;
  compileMs: number;
  /** Recompiling after one policy changed, plus computing the delta. */
  deltaMs: number;
  deltaEntries: number;
  heapMb: number;
}

export function benchCompile(size: ScaleSize = SITE_SCALE): BenchResult {
  const docs = makeScaleDocs(size);
  const t0 = performance.now();
  const first = compile(docs, { identities: {}, generation: 1 });
  const compileMs = performance.now() - t0;

  const changed = docs.map((d) => (d.kind === 'Policy' && d.metadata.name === 'pol-00042' ? scalePolicy(42, size, 9443) : d));
  const t1 = performance.now();
  const second = compile(changed, { identities: first.identities, generation: 2 });
  const delta = diffBundles(first, second);
  const deltaMs = performance.now() - t1;

  return {
    entries: first.policy.length,
    ipcacheEntries: first.ipcache.length,
    compileMs: Math.round(compileMs),
    deltaMs: Math.round(deltaMs),
    deltaEntries: delta.policy.upsert.length + delta.policy.remove.length + delta.ipcache.upsert.length + delta.ipcache.remove.length,
    heapMb: Math.round(process.memoryUsage().heapUsed / 1048576),
  };
}

if (require.main === module) {
  console.log(JSON.stringify(benchCompile()));
}
