/**
 * Site-scale fixture and the compile benchmark the bench runner calls:
 * 1,000 segments, 10,000 devices, 10,000 policies (100,000+ policy entries),
 * then one-document changes applied incrementally (a policy, a device, a
 * segment's CIDRs, the quarantine list), each giving a delta and the new hash.
 */
import { Device, Document, Policy, Segment } from '../policy/schema';
import { IncrementalCompiler } from './incremental';

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
  /** Compiling the whole site from documents (IncrementalCompiler's first build, what compile() does). */
  compileMs: number;
  /**
   * One policy changed (a port added), the first change after the build: the
   * incremental update, its delta, the new bundle and its hash included.
   */
  deltaMs: number;
  deltaEntries: number;
  /** Reading that new bundle's whole policy list the first time (it is built on demand). */
  policyListMs: number;
  /** One-document changes on the same state, each the median of 5 runs, in ms (policyChange: as deltaMs, warm). */
  deltas: { policyChange: number; policyAdd: number; policyRemove: number; deviceMove: number; segmentCidrs: number; quarantine: number };
  heapMb: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function benchCompile(size: ScaleSize = SITE_SCALE): BenchResult {
  const docs = makeScaleDocs(size);
  const t0 = performance.now();
  const inc = new IncrementalCompiler(docs, { identities: {}, generation: 1 });
  const compileMs = performance.now() - t0;
  const first = inc.bundle;
  const firstEntries = first.policy.length;

  const t1 = performance.now();
  const { delta, bundle } = inc.update({ upsert: [scalePolicy(42, size, 9443)] }, 2);
  const deltaMs = performance.now() - t1;
  const t2 = performance.now();
  if (bundle.policy.length !== firstEntries + 1) throw new Error('the one-policy change should add one entry');
  const policyListMs = performance.now() - t2;

  let gen = 3;
  const time = (fn: () => void) => {
    const t = performance.now();
    fn();
    return performance.now() - t;
  };
  const runs = (n: number, fn: (i: number) => void) => median(Array.from({ length: n }, (_, i) => time(() => fn(i))));
  const lastSeg = size.segments - 1;
  const deltas = {
    policyChange: runs(5, (i) => inc.update({ upsert: [scalePolicy(43 + i, size, 9443)] }, gen++)),
    policyAdd: runs(5, (i) => inc.update({ upsert: [{ ...scalePolicy(size.policies + i, size), metadata: { name: `pol-extra-${i}` } }] }, gen++)),
    policyRemove: runs(5, (i) => inc.update({ remove: [{ kind: 'Policy', name: `pol-extra-${i}` }] }, gen++)),
    deviceMove: runs(5, (i) => {
      const d = docs.find((x): x is Device => x.kind === 'Device' && x.metadata.name === `dev-${String(i).padStart(5, '0')}`)!;
      inc.update({ upsert: [{ ...d, metadata: { ...d.metadata, labels: { seg: segName(lastSeg) } }, spec: { ...d.spec, addresses: [`10.${lastSeg >> 8}.${lastSeg & 255}.${200 + i}`] } }] }, gen++);
    }),
    segmentCidrs: runs(5, (i) => {
      const s = docs.find((x): x is Segment => x.kind === 'Segment' && x.metadata.name === segName(i))!;
      inc.update({ upsert: [{ ...s, spec: { ...s.spec, cidrs: [...s.spec.cidrs, `172.16.${i}.0/24`] } }] }, gen++);
    }),
    quarantine: runs(5, (i) => inc.update({ quarantined: [`dev-0000${i}`] }, gen++)),
  };

  return {
    entries: firstEntries,
    ipcacheEntries: first.ipcache.length,
    compileMs: Math.round(compileMs),
    deltaMs: Math.round(deltaMs * 10) / 10,
    deltaEntries: delta.policy.upsert.length + delta.policy.remove.length + delta.ipcache.upsert.length + delta.ipcache.remove.length,
    policyListMs: Math.round(policyListMs * 10) / 10,
    deltas: Object.fromEntries(Object.entries(deltas).map(([k, v]) => [k, Math.round(v * 10) / 10])) as BenchResult['deltas'],
    heapMb: Math.round(process.memoryUsage().heapUsed / 1048576),
  };
}

if (require.main === module) {
  console.log(JSON.stringify(benchCompile()));
}
