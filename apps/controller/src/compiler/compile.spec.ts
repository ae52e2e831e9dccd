import { VERDICT } from '../../../../native/lib/abi';
import { parseDocuments } from '../policy/parse';
import { Document } from '../policy/schema';
import { Bundle, compile } from './compile';
import { trace } from './trace';

const BASE = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: sensors }
spec: { cidrs: [10.10.1.0/24, "fd00:10:1::/64"], selector: { type: sensor } }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: broker }
spec: { cidrs: [10.10.9.0/24, "fd00:10:9::/64"] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: cameras }
spec: { cidrs: [10.10.2.0/24], selector: { type: camera }, mode: audit }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: cam-07, labels: { type: camera } }
spec: { mac: "02:00:00:00:00:07", addresses: [10.10.2.7] }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: th-01, labels: { type: sensor } }
spec: { addresses: [10.10.9.50] }
`;

function build(extra: string, opts: { quarantined?: string[] } = {}): { docs: Document[]; bundle: Bundle } {
  const docs = parseDocuments(BASE + '---\n' + extra);
  return { docs, bundle: compile(docs, { identities: {}, generation: 1, ...opts }) };
}

const pol = (name: string, body: string) => `apiVersion: cordon/v1\nkind: Policy\nmetadata: { name: ${name} }\nspec:\n${body}\n---\n`;

function verdict(b: { docs: Document[]; bundle: Bundle }, from: string, to: string, protocol: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | number, port?: number) {
  const r = trace(b.bundle, b.docs, { from, to, protocol, port });
  return `${r.verdict}:${r.policy ?? '-'}`;
}

describe('compile: ipcache', () => {
  it('emits one entry per segment CIDR and per device address, with audit and mac', () => {
    const { bundle } = build(pol('p', '  from: [sensors]\n  to: [broker]\n  allow: [{ protocol: tcp }]'));
    const ids = bundle.identities;
    expect(ids).toMatchObject({ world: 1, host: 2, quarantine: 3, broker: 256, cameras: 257, sensors: 258 });
    expect(bundle.ipcache).toEqual(
      expect.arrayContaining([
        { cidr: '10.10.1.0/24', identity: ids.sensors },
        { cidr: '10.10.2.0/24', identity: ids.cameras, audit: true },
        { cidr: '10.10.2.7/32', identity: ids.cameras, audit: true, mac: '02:00:00:00:00:07' },
        // Selected by sensors although its address lies in broker's CIDR.
        { cidr: '10.10.9.50/32', identity: ids.sensors },
        { cidr: 'fd00:10:1::/64', identity: ids.sensors },
      ]),
    );
    expect(bundle.ipcache).toHaveLength(7);
  });

  it('moves quarantined devices to identity 3 without the audit flag', () => {
    const { bundle } = build('', { quarantined: ['cam-07'] });
    expect(bundle.ipcache).toContainEqual({ cidr: '10.10.2.7/32', identity: 3, mac: '02:00:00:00:00:07' });
  });

  it('warns about a device selected by several segments and picks deterministically', () => {
    const docs = parseDocuments(`
apiVersion: cordon/v1
kind: Segment
metadata: { name: a }
spec: { selector: { x: "1" } }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: b }
spec: { selector: { x: "1" }, cidrs: [10.0.0.0/8] }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: d, labels: { x: "1" } }
spec: { addresses: [10.1.1.1, 192.168.1.1] }
`);
    const b = compile(docs, { identities: {}, generation: 1 });
    expect(b.warnings.join('\n')).toContain('device d is selected by segments a, b');
    // 10.1.1.1 is inside b's CIDR; 192.168.1.1 is in neither: the first by name.
    expect(b.ipcache).toContainEqual({ cidr: '10.1.1.1/32', identity: b.identities.b });
    expect(b.ipcache).toContainEqual({ cidr: '192.168.1.1/32', identity: b.identities.a });
  });
});

describe('compile: precedence', () => {
  it('deny wins over a broader allow and over a narrower allow', () => {
    const b = build(
      pol('allow-all', '  from: [sensors]\n  to: [broker]\n  allow: [{ protocol: tcp }, { protocol: tcp, ports: ["22"] }]') +
        pol('deny-ssh-range', '  from: [sensors]\n  to: [broker]\n  deny: [{ protocol: tcp, ports: ["20-23"] }]'),
    );
    expect(verdict(b, 'sensors', 'broker', 'tcp', 22)).toBe('deny:deny-ssh-range');
    expect(verdict(b, 'sensors', 'broker', 'tcp', 20)).toBe('deny:deny-ssh-range');
    expect(verdict(b, 'sensors', 'broker', 'tcp', 24)).toBe('allow:allow-all');
    expect(verdict(b, 'sensors', 'broker', 'udp', 22)).toBe('deny:-');
    // The narrower allow (port 22) is itself turned into a deny entry.
    const e22 = b.bundle.policy.find((e) => e.protocol === 6 && e.port === 22 && e.portPrefixLen === 16);
    expect(e22?.verdict).toBe(VERDICT.DENY);
  });

  it('an any-protocol deny beats a tcp port allow', () => {
    const b = build(
      pol('a', '  from: [sensors]\n  to: [broker]\n  allow: [{ protocol: tcp, ports: ["8883"], encryption: required }]') +
        pol('z', '  from: [sensors]\n  to: [broker]\n  deny: [{ protocol: any }]'),
    );
    expect(verdict(b, 'sensors', 'broker', 'tcp', 8883)).toBe('deny:z');
    expect(b.bundle.policy.every((e) => e.verdict === VERDICT.DENY && !e.encryptionRequired)).toBe(true);
  });

  it('an audit-mode deny turns covered allows into AUDIT, and an enforced deny beats an audit deny', () => {
    const b = build(
      pol('a', '  from: [sensors]\n  to: [broker]\n  allow: [{ protocol: tcp }]') +
        pol('try-deny', '  from: [sensors]\n  to: [broker]\n  mode: audit\n  deny: [{ protocol: tcp, ports: ["1000-2000"] }]') +
        pol('hard-deny', '  from: [sensors]\n  to: [broker]\n  deny: [{ protocol: tcp, ports: ["1024-1279"] }]'),
    );
    expect(verdict(b, 'sensors', 'broker', 'tcp', 1000)).toBe('audit:try-deny');
    expect(verdict(b, 'sensors', 'broker', 'tcp', 1100)).toBe('deny:hard-deny');
    expect(verdict(b, 'sensors', 'broker', 'tcp', 2001)).toBe('allow:a');
    // The reverse nesting: an audit deny inside an enforced deny stays DENY.
    const c = build(
      pol('hard', '  from: [sensors]\n  to: [broker]\n  deny: [{ protocol: tcp }]') +
        pol('soft', '  from: [sensors]\n  to: [broker]\n  mode: audit\n  deny: [{ protocol: tcp, ports: ["80"] }]'),
    );
    expect(verdict(c, 'sensors', 'broker', 'tcp', 80)).toBe('deny:hard');
  });

  it('overlapping allow ranges merge; the same key keeps the lowest rule id', () => {
    const b = build(pol('a', '  from: [sensors]\n  to: [broker]\n  allow: [{ protocol: tcp, ports: ["80-90", "85-100", 443] }, { protocol: tcp, ports: [443] }]'));
    for (const port of [80, 90, 95, 100, 443]) expect(verdict(b, 'sensors', 'broker', 'tcp', port)).toBe('allow:a');
    expect(verdict(b, 'sensors', 'broker', 'tcp', 101)).toBe('deny:-');
    const e443 = b.bundle.policy.filter((e) => e.port === 443 && e.portPrefixLen === 16);
    expect(e443).toHaveLength(1);
    expect(e443[0].ruleId).toBe(1);
  });

  it('allow and deny on the same key: deny wins whatever the rule ids', () => {
    const b = build(pol('a', '  from: [sensors]\n  to: [broker]\n  allow: [{ protocol: udp, ports: [53] }]\n  deny: [{ protocol: udp, ports: [53] }]'));
    expect(b.bundle.policy).toEqual([{ srcIdentity: 258, dstIdentity: 256, protocol: 17, port: 53, portPrefixLen: 16, verdict: VERDICT.DENY, ruleId: 2 }]);
  });

  it('icmp types become type blocks', () => {
    const b = build(pol('ping', '  from: [sensors]\n  to: [broker]\n  allow: [{ protocol: icmp, types: [echo-request] }, { protocol: icmpv6, types: [128, 129] }]'));
    expect(b.bundle.policy).toEqual([
      { srcIdentity: 258, dstIdentity: 256, protocol: 1, port: 8 << 8, portPrefixLen: 8, verdict: VERDICT.ALLOW, ruleId: 1 },
      { srcIdentity: 258, dstIdentity: 256, protocol: 58, port: 128 << 8, portPrefixLen: 7, verdict: VERDICT.ALLOW, ruleId: 2 },
    ]);
    expect(trace(b.bundle, b.docs, { from: 'sensors', to: 'broker', protocol: 'icmp', type: 'echo-request' }).verdict).toBe('allow');
    expect(trace(b.bundle, b.docs, { from: 'sensors', to: 'broker', protocol: 'icmp', type: 'echo-reply' }).verdict).toBe('deny');
    expect(trace(b.bundle, b.docs, { from: 'fd00:10:1::5', to: 'broker', protocol: 'icmpv6', type: 'echo-reply' }).verdict).toBe('allow');
  });

  it('traces ::ffff:a.b.c.d on both ends as IPv4, and beside a real IPv6 address as malformed (hole 5)', () => {
    const b = build(pol('p', '  from: [sensors]\n  to: [broker]\n  allow: [{ protocol: tcp }]'));
    expect(verdict(b, '::ffff:10.10.1.5', '::ffff:10.10.9.1', 'tcp', 80)).toBe('allow:p');
    const mixed = trace(b.bundle, b.docs, { from: '::ffff:10.10.1.5', to: 'fd00:10:9::1', protocol: 'tcp', port: 80 });
    expect(mixed).toMatchObject({ verdict: 'deny', policy: null, reason: 'malformed' });
    expect(verdict(b, 'fd00:10:1::5', 'fd00:10:9::1', 'tcp', 80)).toBe('allow:p');
  });

  it('assigns rule ids by policy name, then allow before deny, then index', () => {
    const b = build(pol('b', '  from: [sensors]\n  to: [broker]\n  deny: [{ protocol: any }]') + pol('a', '  from: [sensors]\n  to: [broker]\n  allow: [{ protocol: tcp }, { protocol: udp }]\n  deny: [{ protocol: icmp }]'));
    expect(b.bundle.rules.map((r) => `${r.ruleId} ${r.policy} ${r.action}[${r.index}]`)).toEqual(['1 a allow[0]', '2 a allow[1]', '3 a deny[0]', '4 b deny[0]']);
  });
});

describe('compile: determinism and identities', () => {
  const policies =
    pol('a', '  from: [sensors, cameras]\n  to: [broker, world]\n  allow: [{ protocol: tcp, ports: ["1-1000"] }]') +
    pol('b', '  from: [sensors]\n  to: [broker]\n  deny: [{ protocol: tcp, ports: ["22"] }]');

  it('same documents give the same bundle and hash; shuffled order too; generation is not hashed', () => {
    const docs = parseDocuments(BASE + '---\n' + policies);
    const one = compile(docs, { identities: {}, generation: 1 });
    const two = compile(docs, { identities: {}, generation: 1 });
    expect(two).toEqual(one);
    const shuffled = [...docs].reverse();
    const three = compile(shuffled, { identities: {}, generation: 7 });
    expect(three.hash).toBe(one.hash);
    expect(three.policy).toEqual(one.policy);
    expect(three.ipcache).toEqual(one.ipcache);
    expect(one.hash).toMatch(/^[0-9a-f]{64}$/);
    const changed = compile(parseDocuments(BASE + '---\n' + policies.replace('"22"', '"23"')), { identities: {}, generation: 1 });
    expect(changed.hash).not.toBe(one.hash);
  });

  it('keeps identities across recompiles when a segment is removed and another added', () => {
    const docs = parseDocuments(BASE + '---\n' + policies);
    const first = compile(docs, { identities: {}, generation: 1 });
    const withoutCameras = docs.filter((d) => !(d.kind === 'Segment' && d.metadata.name === 'cameras'));
    const extra = parseDocuments('apiVersion: cordon/v1\nkind: Segment\nmetadata: { name: aaa }\nspec: { cidrs: [172.16.0.0/12] }\n');
    const second = compile([...withoutCameras, ...extra], { identities: first.identities, generation: 2 });
    expect(second.identities.sensors).toBe(first.identities.sensors);
    expect(second.identities.broker).toBe(first.identities.broker);
    expect(second.identities.cameras).toBeUndefined();
    // The id cameras held is still in the map given, so it is not reused at once.
    expect(second.identities.aaa).toBe(259);
    expect(second.warnings.join('\n')).toContain('unknown segment cameras');
  });
});

describe('trace', () => {
  const b = build(
    pol('s2b', '  from: [sensors]\n  to: [broker]\n  allow: [{ protocol: tcp, ports: ["8883"] }]') +
      pol('s2w', '  from: [sensors]\n  to: [world]\n  allow: [{ protocol: udp, ports: [123] }]') +
      pol('c2w', '  from: [cameras]\n  to: [world]\n  deny: [{ protocol: any }]'),
  );

  it('a device address beats the segment CIDR it sits in', () => {
    // th-01 (10.10.9.50) is a sensor inside broker's CIDR.
    const r = trace(b.bundle, b.docs, { from: '10.10.9.50', to: '10.10.9.1', protocol: 'tcp', port: 8883 });
    expect(r).toMatchObject({ verdict: 'allow', policy: 's2b', from: { segment: 'sensors', device: 'th-01' }, to: { segment: 'broker', device: null } });
    expect(trace(b.bundle, b.docs, { from: 'th-01', to: 'broker', protocol: 'tcp', port: 8883 }).verdict).toBe('allow');
    // The broker segment's first usable address: 10.10.9.1.
    expect(trace(b.bundle, b.docs, { from: 'broker', to: 'sensors', protocol: 'tcp', port: 8883 })).toMatchObject({
      verdict: 'deny',
      policy: null,
      ruleId: 0,
      from: { address: '10.10.9.1', segment: 'broker' },
      to: { address: '10.10.1.1', segment: 'sensors' },
    });
  });

  it('unmatched addresses are world', () => {
    const r = trace(b.bundle, b.docs, { from: 'sensors', to: '203.0.113.9', protocol: 'udp', port: 123 });
    expect(r).toMatchObject({ verdict: 'allow', policy: 's2w', to: { segment: 'world', identity: 1, device: null } });
    expect(verdict(b, 'sensors', '203.0.113.9', 'udp', 124)).toBe('deny:-');
  });

  it('an audit-mode segment turns a deny into audit, explicit or default', () => {
    expect(verdict(b, 'cam-07', '203.0.113.9', 'tcp', 443)).toBe('audit:c2w');
    expect(verdict(b, 'cam-07', 'broker', 'tcp', 443)).toBe('audit:-');
    expect(verdict(b, 'broker', 'cam-07', 'tcp', 443)).toBe('audit:-');
  });

  it('IPv6 addresses and segments', () => {
    expect(verdict(b, 'fd00:10:1::7', 'fd00:10:9::1', 'tcp', 8883)).toBe('allow:s2b');
    expect(verdict(b, 'fd00:10:1::7', 'fd00:10:9::1', 'tcp', 8884)).toBe('deny:-');
    expect(verdict(b, 'fd00:10:1::7', '2001:db8::1', 'udp', 123)).toBe('allow:s2w');
    // A name resolved to the family of the other side.
    expect(trace(b.bundle, b.docs, { from: 'sensors', to: 'fd00:10:9::1', protocol: 'tcp', port: 8883 }).from.address).toBe('fd00:10:1::1');
  });

  it('traces icmp over IPv4 and icmpv6 over IPv6, as the datapath sees them', () => {
    // sensors has IPv4 and IPv6 CIDRs: the name resolves to the family the protocol runs over.
    expect(trace(b.bundle, b.docs, { from: 'sensors', to: 'broker', protocol: 'icmpv6', type: 'echo-request' }).from.address).toBe('fd00:10:1::1');
    expect(trace(b.bundle, b.docs, { from: 'sensors', to: 'broker', protocol: 'icmp', type: 'echo-request' }).from.address).toBe('10.10.1.1');
    expect(() => trace(b.bundle, b.docs, { from: 'fd00:10:1::7', to: 'fd00:10:9::1', protocol: 'icmp', type: 8 })).toThrow(/icmp runs over IPv4 only/);
    expect(() => trace(b.bundle, b.docs, { from: 'cam-07', to: 'broker', protocol: 'icmpv6', type: 128 })).toThrow(/share no IPv6 address/);
  });

  it('rejects unknown names', () => {
    expect(() => trace(b.bundle, b.docs, { from: 'nope', to: 'broker', protocol: 'tcp', port: 1 })).toThrow(/not an address, a device or a segment/);
  });
});
