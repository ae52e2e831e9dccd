/** Site scale: correctness only; speed is measured by bench-compile.ts, not asserted here. */
import { VERDICT } from '../../../../native/lib/abi';
import { checkReferences } from '../policy/references';
import { makeScaleDocs, SITE_SCALE } from './bench-compile';
import { compile } from './compile';
import { BundleIndex } from './trace';

describe('compile at site scale (1,000 segments, 10,000 devices, 10,000 policies)', () => {
  const docs = makeScaleDocs(SITE_SCALE);
  const bundle = compile(docs, { identities: {}, generation: 1 });
  const index = new BundleIndex(bundle, docs);

  it('produces 100,000+ entries and the expected ipcache', () => {
    expect(bundle.policy.length).toBeGreaterThan(100_000);
    expect(bundle.ipcache).toHaveLength(1000 * 2 + 10_000);
    expect(bundle.warnings).toEqual([]);
    expect(Object.keys(bundle.identities)).toHaveLength(1003);
  });

  it('decides a few packets right', () => {
    // pol-00007: seg-0007 -> seg-0008; allows tcp 8883 and 1000-2000.
    expect(index.trace({ from: 'dev-00007', to: 'seg-0008', protocol: 'tcp', port: 8883 })).toMatchObject({ verdict: 'allow', policy: 'pol-00007' });
    expect(index.trace({ from: 'dev-00007', to: 'seg-0008', protocol: 'tcp', port: 1999 })).toMatchObject({ verdict: 'allow', policy: 'pol-00007' });
    expect(index.trace({ from: 'dev-00007', to: 'seg-0008', protocol: 'tcp', port: 2001 })).toMatchObject({ verdict: 'deny', policy: null });
    // pol-00005 denies tcp 1500-1600 (enforced); pol-00010 the same in audit mode.
    expect(index.trace({ from: 'seg-0005', to: 'seg-0006', protocol: 'tcp', port: 1550 })).toMatchObject({ verdict: 'deny', policy: 'pol-00005' });
    expect(index.trace({ from: 'seg-0005', to: 'seg-0006', protocol: 'tcp', port: 1499 })).toMatchObject({ verdict: 'allow', policy: 'pol-00005' });
    expect(index.trace({ from: 'seg-0010', to: 'seg-0011', protocol: 'tcp', port: 1550 })).toMatchObject({ verdict: 'audit', policy: 'pol-00010' });
    // No policy from seg-0008 to seg-0007.
    expect(index.trace({ from: 'seg-0008', to: 'seg-0007', protocol: 'udp', port: 53 }).verdict).toBe('deny');
    // seg-0099 is in audit mode: its default denies are audits.
    expect(index.trace({ from: 'seg-0099', to: 'seg-0007', protocol: 'udp', port: 53 }).verdict).toBe('audit');
    const e = bundle.policy.find((x) => x.srcIdentity === bundle.identities['seg-0007'] && x.dstIdentity === bundle.identities['seg-0008'] && x.port === 8883);
    expect(e).toMatchObject({ protocol: 6, portPrefixLen: 16, verdict: VERDICT.ALLOW });
  });

  it('passes the reference checks', () => {
    expect(checkReferences(docs)).toEqual({ errors: [], warnings: [] });
  });
});
