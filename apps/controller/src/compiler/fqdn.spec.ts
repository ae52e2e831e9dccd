// SPDX-License-Identifier: Apache-2.0
/** `{ fqdn }` to-entries: refused when malformed, compiled into name-selector identities. */
import { fqdnMatches, fqdnPatternError, fqdnSelectors } from '../../../../model/generation/fqdn';
import { VERDICT } from '../../../../native/lib/abi';
import { parseDocuments } from '../policy/parse';
import { compile } from './compile';
import { IncrementalCompiler } from './incremental';
import { bundleHash } from '../../../../model/generation/digest';
import { applyDelta } from '../../../../model/generation/delta';
import { deltaFromWire, deltaToWire, fromSnapshot, toSnapshot } from '../../../../proto/cordon/v1/bundle';

const SEGS = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: plugs }
spec: { cidrs: [10.10.1.0/24] }
`;
const policy = (name: string, to: string, extra = '') =>
  `---\napiVersion: cordon/v1\nkind: Policy\nmetadata: { name: ${name} }\nspec:\n  from: [plugs]\n  to: ${to}\n  allow: [ { protocol: tcp, ports: ["443"] } ]\n${extra}`;

function refusal(to: string): string {
  try {
    parseDocuments(SEGS + policy('p', to));
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`${to} was accepted`);
}

describe('fqdn patterns', () => {
  it.each([
    ['*foo.com', /"\*" must be the whole first label/],
    ['a..b.com', /empty label/],
    ['.a.com', /empty label/],
    ['a.' + 'x'.repeat(64) + '.com', /64 characters long; a label has at most 63/],
    [Array.from({ length: 60 }, () => 'abcd').join('.'), /characters long; a DNS name has at most 253/],
    ['*.com', /top-level domain or everything/],
    ['*', /top-level domain or everything/],
    ['localhost', /single label/],
    ['a b.com', /may hold only letters/],
    ['-a.com', /may not start or end with "-"/],
    ['', /a DNS name such as/],
  ])('refuses %j with a precise error', (p, re) => {
    expect(fqdnPatternError(p)).toMatch(re);
    expect(refusal(`[ { fqdn: ${JSON.stringify(p)} } ]`)).toMatch(re);
  });

  it('names the field of a bad pattern, and refuses unknown keys beside fqdn', () => {
    expect(refusal('[ plugs, { fqdn: "a..b" } ]')).toMatch(/spec\.to\[1\]\.fqdn/);
    expect(refusal('[ { fqdn: a.com, port: 1 } ]')).toMatch(/spec\.to\[0\]/);
  });

  it('accepts names and patterns, canonical (lower case, no trailing dot)', () => {
    expect(fqdnPatternError('n-euw1-device-api.tplinkcloud.com')).toBeNull();
    expect(fqdnPatternError('*.iot.i.tplinknbu.com')).toBeNull();
    expect(fqdnPatternError('_sip._udp.example.com')).toBeNull();
    const [, p] = parseDocuments(SEGS + policy('p', '[ { fqdn: "API.Example.COM." } ]'));
    expect((p.spec as { to: unknown }).to).toEqual([{ fqdn: 'api.example.com' }]);
  });

  it('matches a name, or every name under a wildcard domain (not the domain itself)', () => {
    expect(fqdnMatches('api.example.com', 'API.example.com.')).toBe(true);
    expect(fqdnMatches('api.example.com', 'x.api.example.com')).toBe(false);
    expect(fqdnMatches('*.example.com', 'a.example.com')).toBe(true);
    expect(fqdnMatches('*.example.com', 'a.b.example.com')).toBe(true);
    expect(fqdnMatches('*.example.com', 'example.com')).toBe(false);
    expect(fqdnMatches('*.example.com', 'badexample.com')).toBe(false);
  });
});

describe('fqdn compilation', () => {
  it('gives each distinct pattern one identity and compiles the pair like a segment', () => {
    const docs = parseDocuments(SEGS + policy('a', '[ { fqdn: api.example.com }, { fqdn: "*.example.com" } ]') + policy('b', '[ { fqdn: "*.Example.com" } ]'));
    const b = compile(docs, { identities: {}, generation: 1 });
    const sel = fqdnSelectors(b.identities);
    expect(sel.map((s) => s.pattern)).toEqual(['*.example.com', 'api.example.com']);
    const plugs = b.identities.plugs;
    for (const s of sel) {
      const e = b.policy.filter((x) => x.srcIdentity === plugs && x.dstIdentity === s.identity);
      expect(e).toEqual([expect.objectContaining({ protocol: 6, port: 443, portPrefixLen: 16, verdict: VERDICT.ALLOW })]);
    }
  });

  it('compiles deny policies to a name too', () => {
    const docs = parseDocuments(SEGS + policy('d', '[ { fqdn: evil.example.com } ]').replace('allow:', 'deny:'));
    const b = compile(docs, { identities: {}, generation: 1 });
    const id = b.identities['fqdn:evil.example.com'];
    expect(b.policy.find((x) => x.dstIdentity === id)?.verdict).toBe(VERDICT.DENY);
  });

  it('keeps a pattern\'s identity across generations, and incremental updates equal a fresh compile', () => {
    const docs1 = parseDocuments(SEGS + policy('a', '[ { fqdn: api.example.com } ]'));
    const c = new IncrementalCompiler(docs1, { identities: {}, generation: 1 });
    const id1 = c.bundle.identities['fqdn:api.example.com'];
    const docs2 = parseDocuments(SEGS + policy('a', '[ { fqdn: api.example.com } ]') + policy('b', '[ { fqdn: "*.example.net" } ]'));
    const step = c.replaceDocuments(docs2, { generation: 2 });
    expect(step.bundle.identities['fqdn:api.example.com']).toBe(id1);
    expect(step.bundle.hash).toBe(compile(docs2, { identities: c.identityHistory, generation: 2 }).hash);
    expect(step.delta.identities.upsert).toEqual({ 'fqdn:*.example.net': expect.any(Number) });
    const step3 = c.replaceDocuments(docs1, { generation: 3 });
    expect(step3.delta.identities.remove).toEqual(['fqdn:*.example.net']);
  });
});

describe('resolvers in the bundle', () => {
  const dnsSeg = (dns: string) => `---\napiVersion: cordon/v1\nkind: Segment\nmetadata: { name: resolvers }\nspec: { cidrs: [10.10.53.0/24], dns: ${dns} }\n`;

  it('adds the controller\'s default resolvers for a segment without spec.dns, in the digest, and keeps them across updates', () => {
    const defaults = ['192.0.2.53', '2001:DB8::53'];
    const withDefaults = compile(parseDocuments(SEGS), { identities: {}, generation: 1, defaultResolvers: defaults });
    expect(withDefaults.dnsResolvers).toEqual(['192.0.2.53', '2001:db8::53']);
    expect(withDefaults.hash).not.toBe(compile(parseDocuments(SEGS), { identities: {}, generation: 1 }).hash);
    expect(bundleHash(withDefaults)).toBe(withDefaults.hash);
    // plugs declares none: the defaults stand for its resolvers, beside those the other segment declares.
    const docs = parseDocuments(SEGS + dnsSeg('[10.10.53.2]'));
    expect(compile(docs, { identities: {}, generation: 1, defaultResolvers: defaults }).dnsResolvers).toEqual(['10.10.53.2', '192.0.2.53', '2001:db8::53']);
    // Every segment declares its own: the defaults are nobody's.
    const declared = parseDocuments(SEGS.replace('spec: { cidrs: [10.10.1.0/24] }', 'spec: { cidrs: [10.10.1.0/24], dns: [10.10.1.53] }') + dnsSeg('[10.10.53.2]'));
    expect(compile(declared, { identities: {}, generation: 1, defaultResolvers: defaults }).dnsResolvers).toEqual(['10.10.1.53', '10.10.53.2']);
    const c = new IncrementalCompiler(docs, { identities: {}, generation: 1, defaultResolvers: defaults });
    const step = c.replaceDocuments(declared, { generation: 2 });
    expect(step.delta.dnsResolvers).toEqual(['10.10.1.53', '10.10.53.2']);
    const back = c.replaceDocuments(parseDocuments(SEGS + dnsSeg('[10.10.53.2]') + policy('a', '[ { fqdn: api.example.com } ]')), { generation: 3 });
    expect(back.bundle.dnsResolvers).toEqual(['10.10.53.2', '192.0.2.53', '2001:db8::53']);
    expect(back.bundle.hash).toBe(compile(parseDocuments(SEGS + dnsSeg('[10.10.53.2]') + policy('a', '[ { fqdn: api.example.com } ]')), { identities: c.identityHistory, generation: 3, rules: step.bundle.rules, defaultResolvers: defaults }).hash);
  });

  it('carries the resolvers Segments declare, canonical and sorted, in the digest, the delta and on the wire', () => {
    const plain = compile(parseDocuments(SEGS), { identities: {}, generation: 1 });
    expect(plain.dnsResolvers).toBeUndefined();
    const docs = parseDocuments(SEGS + dnsSeg('[10.10.53.2, "FD00:0:0::53", 10.10.53.2]'));
    const b = compile(docs, { identities: {}, generation: 1 });
    expect(b.dnsResolvers).toEqual(['10.10.53.2', 'fd00::53']);
    expect(bundleHash(b)).toBe(b.hash);
    expect(bundleHash({ ...b, dnsResolvers: undefined })).not.toBe(b.hash);
    const c = new IncrementalCompiler(parseDocuments(SEGS + dnsSeg('[10.10.53.2]')), { identities: {}, generation: 1 });
    const prev = c.bundle;
    const step = c.replaceDocuments(docs, { generation: 2 });
    expect(step.bundle.hash).toBe(compile(docs, { identities: c.identityHistory, generation: 2 }).hash);
    expect(step.delta.dnsResolvers).toEqual(['10.10.53.2', 'fd00::53']);
    expect(applyDelta(prev, step.delta)).toEqual(step.bundle);
    const wire = fromSnapshot(step.bundle.generation, step.bundle.hash, toSnapshot(step.bundle));
    expect(wire.dnsResolvers).toEqual(step.bundle.dnsResolvers);
    expect(deltaFromWire(deltaToWire(step.delta), 2, step.bundle.hash).dnsResolvers).toEqual(['10.10.53.2', 'fd00::53']);
  });

  it('refuses a resolver that is not an address', () => {
    expect(() => parseDocuments(SEGS + dnsSeg('[dns.example]'))).toThrow(/spec\.dns\[0\].*not an IPv4 or IPv6 address/s);
  });
});
