import { applyDelta, diffBundles } from '../../../../model/generation/delta';
import { bundleHash } from '../../../../model/generation/digest';
import { makeScaleDocs } from '../compiler/bench-compile';
import { compile } from '../compiler/compile';
import type { Document } from '../policy/schema';
import { trace } from '../compiler/trace';
import { parseDocuments } from '../policy/parse';
import { anyPlaced, placementOf, viewBundle } from './enforcer-view';
import { EnforcerViews } from './enforcer-views';

const SITE = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: clients }
spec: { cidrs: [10.50.1.0/24] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: servers }
spec: { cidrs: [10.50.2.0/24] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: cams-1 }
spec: { cidrs: [10.50.3.0/24], selector: { type: cam-1 }, enforcers: { site: plant-1 } }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: cams-2 }
spec: { cidrs: [10.50.4.0/24, 10.50.5.0/24], enforcers: { site: plant-2 } }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: cam-a, labels: { type: cam-1 } }
spec: { addresses: [10.50.9.7] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: clients-servers }
spec: { from: [clients], to: [servers], allow: [{ protocol: tcp, ports: [7000] }] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: no-7000-at-plant-2 }
spec: { from: [clients], to: [servers], deny: [{ protocol: tcp, ports: [7000] }], enforcers: { site: plant-2 } }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: cams-1-servers }
spec: { from: [cams-1], to: [servers], allow: [{ protocol: udp }] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: cams-2-servers }
spec: { from: [cams-2], to: [servers], allow: [{ protocol: udp }] }
`;

const docs = parseDocuments(SITE);
const site = compile(docs, { identities: {}, generation: 7 });
const plant1 = viewBundle(site, docs, placementOf(docs, { site: 'plant-1' }));
const plant2 = viewBundle(site, docs, placementOf(docs, { site: 'plant-2', rack: 'r1' }));
const nowhere = viewBundle(site, docs, placementOf(docs, {}));
const verdict = (b: typeof site, from: string, to: string, protocol: 'tcp' | 'udp', port?: number) => {
  const r = trace(b, docs, { from, to, protocol, port });
  return `${r.verdict}:${r.policy ?? '-'}`;
};

describe('placement: one enforcer\'s view of a generation', () => {
  it('is the site bundle itself when no document is placed', () => {
    const plain = parseDocuments(SITE.replace(/, enforcers: \{ site: plant-\d \}/g, ''));
    expect(anyPlaced(plain)).toBe(false);
    const b = compile(plain, { identities: {}, generation: 1 });
    expect(placementOf(plain, { site: 'plant-1' }).key).toBe('');
    expect(viewBundle(b, plain, placementOf(plain, { site: 'plant-1' }))).toBe(b);
  });

  it('keeps the controller\'s default resolvers in a view, for the segments there without spec.dns', () => {
    // cams-2 (plant-2 only) declares its resolver; the others declare none, so the defaults are theirs.
    const dnsDocs = parseDocuments(SITE.replace('spec: { cidrs: [10.50.4.0/24, 10.50.5.0/24], enforcers: { site: plant-2 } }', 'spec: { cidrs: [10.50.4.0/24, 10.50.5.0/24], enforcers: { site: plant-2 }, dns: [10.50.4.53, 192.0.2.53] }'));
    const b = compile(dnsDocs, { identities: {}, generation: 1, defaultResolvers: ['192.0.2.53'] });
    expect(b.dnsResolvers).toEqual(['10.50.4.53', '192.0.2.53']);
    const v1 = viewBundle(b, dnsDocs, placementOf(dnsDocs, { site: 'plant-1' }), ['192.0.2.53']);
    expect(v1.dnsResolvers).toEqual(['192.0.2.53']);
    expect(v1.hash).toBe(bundleHash(v1));
    expect(new EnforcerViews(['192.0.2.53']).get(b, dnsDocs, { site: 'plant-1' }).dnsResolvers).toEqual(['192.0.2.53']);
    expect(viewBundle(b, dnsDocs, placementOf(dnsDocs, { site: 'plant-2' }), ['192.0.2.53']).dnsResolvers).toEqual(['10.50.4.53', '192.0.2.53']);
  });

  it('leaves out a segment placed elsewhere: its identity, its CIDRs, its devices and the pairs from or to it', () => {
    const ids = site.identities;
    expect(plant1.identities).not.toHaveProperty('cams-2');
    expect(plant1.identities['cams-1']).toBe(ids['cams-1']);
    expect(plant1.ipcache.map((e) => e.cidr).sort()).toEqual(['10.50.1.0/24', '10.50.2.0/24', '10.50.3.0/24', '10.50.9.7/32']);
    expect(plant2.ipcache.map((e) => e.cidr).sort()).toEqual(['10.50.1.0/24', '10.50.2.0/24', '10.50.4.0/24', '10.50.5.0/24']);
    // cam-a's address is cams-1's: unknown (world) at plant 2.
    expect(plant2.ipcache.some((e) => e.identity === ids['cams-1'])).toBe(false);
    expect(plant1.policy.some((e) => e.srcIdentity === ids['cams-2'] || e.dstIdentity === ids['cams-2'])).toBe(false);
    expect(plant1.policy.some((e) => e.srcIdentity === ids['cams-1'])).toBe(true);
    expect(verdict(plant1, '10.50.3.9', '10.50.2.1', 'udp')).toBe('allow:cams-1-servers');
    expect(verdict(plant2, '10.50.3.9', '10.50.2.1', 'udp')).toBe('deny:-');
    expect(verdict(plant2, '10.50.4.9', '10.50.2.1', 'udp')).toBe('allow:cams-2-servers');
    // No labels: only what is everywhere.
    expect(nowhere.ipcache.map((e) => e.cidr).sort()).toEqual(['10.50.1.0/24', '10.50.2.0/24']);
  });

  it('compiles the pairs of a policy placed elsewhere from the others: a deny at plant 2 does not shadow the allow at plant 1', () => {
    expect(verdict(site, '10.50.1.5', '10.50.2.1', 'tcp', 7000)).toBe('deny:no-7000-at-plant-2');
    expect(verdict(plant2, '10.50.1.5', '10.50.2.1', 'tcp', 7000)).toBe('deny:no-7000-at-plant-2');
    expect(verdict(plant1, '10.50.1.5', '10.50.2.1', 'tcp', 7000)).toBe('allow:clients-servers');
    expect(plant1.rules.map((r) => r.policy)).not.toContain('no-7000-at-plant-2');
  });

  it('numbers identities and rules as the site does', () => {
    for (const v of [plant1, plant2]) {
      for (const r of v.rules) expect(site.rules.find((s) => s.ruleId === r.ruleId)).toEqual(r);
      for (const [n, id] of Object.entries(v.identities)) expect(site.identities[n]).toBe(id);
      expect(v.generation).toBe(site.generation);
    }
  });

  it('carries its own digest, and the delta between two views of one generation applies (a relabelled enforcer)', () => {
    expect(plant1.hash).toBe(bundleHash(plant1));
    expect(plant1.hash).not.toBe(site.hash);
    expect(plant1.hash).not.toBe(plant2.hash);
    const moved = applyDelta(plant1, diffBundles(plant1, plant2));
    expect(moved.hash).toBe(plant2.hash);
    expect(moved.ipcache).toEqual(plant2.ipcache);
  });

  it('is shared by enforcers whose labels leave out the same documents', () => {
    const a = placementOf(docs, { site: 'plant-2' });
    const b = placementOf(docs, { site: 'plant-2', rack: 'r9' });
    expect(a.key).toBe(b.key);
    expect(a.key).not.toBe(placementOf(docs, { site: 'plant-1' }).key);
    const views = new EnforcerViews();
    expect(views.get(site, docs, { site: 'plant-2' })).toBe(views.get(site, docs, { site: 'plant-2', rack: 'r9' }));
    // What was sent is a base for the next delta; an unknown one is not.
    const d = views.deltaFromKept(plant1, { generation: 7, hash: plant2.hash });
    expect(d && applyDelta(plant2, d).hash).toBe(plant1.hash);
    expect(views.deltaFromKept(plant1, { generation: 7, hash: 'nope' })).toBeNull();
  });

  it('keeps every placement of the newest generations: 20 places do not evict each other, an older generation goes', () => {
    const placed = parseDocuments(
      Array.from({ length: 20 }, (_, i) => ({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: `s${i}` }, spec: { cidrs: [`10.60.${i}.0/24`], enforcers: { site: `plant-${i}` } } })),
    );
    const g1 = compile(placed, { identities: {}, generation: 1 });
    const views = new EnforcerViews();
    const first = Array.from({ length: 20 }, (_, i) => views.get(g1, placed, { site: `plant-${i}` }));
    expect(new Set(first.map((v) => v.hash)).size).toBe(20);
    first.forEach((v, i) => expect(views.get(g1, placed, { site: `plant-${i}` })).toBe(v));
    const g2 = compile(placed, { identities: g1.identities, generation: 2 });
    const g3 = compile(placed, { identities: g1.identities, generation: 3 });
    views.get(g2, placed, { site: 'plant-0' });
    views.get(g3, placed, { site: 'plant-0' });
    expect(views.get(g1, placed, { site: 'plant-0' })).not.toBe(first[0]);
  });

  it('equals a compilation of only what applies there, on a site of 400 policies with every tenth placed', () => {
    const big = makeScaleDocs({ segments: 50, devices: 200, policies: 400 }) as Document[];
    let n = 0;
    for (const d of big) {
      if ((d.kind === 'Policy' || d.kind === 'Segment') && n++ % 10 === 0) (d.spec as { enforcers?: Record<string, string> }).enforcers = { site: n % 20 === 1 ? 'plant-1' : 'plant-2' };
    }
    const whole = compile(big, { identities: {}, generation: 3 });
    for (const labels of [{ site: 'plant-1' }, { site: 'plant-2' }, {}] as Record<string, string>[]) {
      const p = placementOf(big, labels);
      expect(p.policies.length).toBeGreaterThan(0);
      const v = viewBundle(whole, big, p);
      // The reference: compile the documents that apply there, with the site's numbering, then drop what is out.
      const gone = new Set(p.segments.map((s) => whole.identities[s]));
      const ref = compile(big.filter((d) => d.kind !== 'Policy' || !p.policies.includes(d.metadata.name)), { identities: whole.identities, generation: 3, rules: whole.rules });
      expect(v.policy).toEqual(ref.policy.filter((e) => !gone.has(e.srcIdentity) && !gone.has(e.dstIdentity)));
      expect(v.rules).toEqual(ref.rules);
      expect(v.ipcache).toEqual(whole.ipcache.filter((e) => !gone.has(e.identity)));
      expect(v.policy.length).toBeLessThan(whole.policy.length);
    }
  });
});
