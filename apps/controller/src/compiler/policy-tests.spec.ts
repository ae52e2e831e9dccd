import { parseDocuments } from '../policy/parse';
import { compile } from './compile';
import { runPolicyTests, trace } from './trace';

const SITE = `
apiVersion: cordon/v1
kind: Segment
metadata: { name: cameras }
spec: { cidrs: [10.10.2.0/24], selector: { type: camera } }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: sensors }
spec: { cidrs: [10.10.1.0/24, "fd00:10:1::/64"] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: broker }
spec: { cidrs: [10.10.9.0/24, "fd00:10:9::/64"] }
---
apiVersion: cordon/v1
kind: Device
metadata: { name: cam-07, labels: { type: camera } }
spec: { addresses: [10.10.2.7] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: sensors-to-broker }
spec:
  from: [sensors]
  to: [broker]
  allow: [{ protocol: tcp, ports: ["8883"] }, { protocol: icmp, types: [echo-request] }]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: no-camera-to-world }
spec:
  from: [cameras]
  to: [world]
  deny: [{ protocol: any }]
`;

describe('runPolicyTests', () => {
  it('passes when every expectation holds', () => {
    const docs = parseDocuments(
      SITE +
        `---
apiVersion: cordon/v1
kind: PolicyTest
metadata: { name: ok }
spec:
  - { from: cam-07, to: 203.0.113.9, protocol: tcp, port: 443, expect: deny }
  - { from: sensors, to: broker, protocol: tcp, port: 8883, expect: allow }
  - { from: "fd00:10:1::20", to: broker, protocol: tcp, port: 8883, expect: allow }
  - { from: sensors, to: broker, protocol: icmp, type: echo-request, expect: allow }
`,
    );
    const bundle = compile(docs, { identities: {}, generation: 1 });
    expect(runPolicyTests(bundle, docs)).toEqual({ failures: [], passed: 4 });
  });

  it('lists every failed expectation, across tests, with the deciding policy', () => {
    const docs = parseDocuments(
      SITE +
        `---
apiVersion: cordon/v1
kind: PolicyTest
metadata: { name: one }
spec:
  - { from: cam-07, to: 203.0.113.9, protocol: tcp, port: 443, expect: allow }
  - { from: sensors, to: broker, protocol: tcp, port: 8883, expect: allow }
  - { from: sensors, to: broker, protocol: tcp, port: 1883, expect: allow }
---
apiVersion: cordon/v1
kind: PolicyTest
metadata: { name: two }
spec:
  - { from: broker, to: sensors, protocol: udp, port: 53, expect: audit }
  - { from: nobody, to: sensors, protocol: udp, port: 53, expect: deny }
`,
    );
    const bundle = compile(docs, { identities: {}, generation: 1 });
    const { failures, passed } = runPolicyTests(bundle, docs);
    expect(passed).toBe(1);
    expect(failures).toEqual([
      { test: 'one', index: 0, from: 'cam-07', to: '203.0.113.9', packet: '10.10.2.7 -> 203.0.113.9 tcp/443', expected: 'allow', got: 'deny', policy: 'no-camera-to-world' },
      { test: 'one', index: 2, from: 'sensors', to: 'broker', packet: '10.10.1.1 -> 10.10.9.1 tcp/1883', expected: 'allow', got: 'deny', policy: null },
      { test: 'two', index: 0, from: 'broker', to: 'sensors', packet: '10.10.9.1 -> 10.10.1.1 udp/53', expected: 'audit', got: 'deny', policy: null },
      expect.objectContaining({ test: 'two', index: 1, got: 'error', error: 'nobody is not an address, a device or a segment' }),
    ]);
  });

  it('sees quarantine: a quarantined camera loses its segment policies', () => {
    const docs = parseDocuments(
      SITE +
        `---
apiVersion: cordon/v1
kind: PolicyTest
metadata: { name: q }
spec:
  - { from: cam-07, to: 203.0.113.9, protocol: tcp, port: 443, expect: deny }
`,
    );
    const bundle = compile(docs, { identities: {}, generation: 1, quarantined: ['cam-07'] });
    expect(runPolicyTests(bundle, docs).failures).toEqual([]);
    const { from } = trace(bundle, docs, { from: 'cam-07', to: '203.0.113.9', protocol: 'tcp', port: 443 });
    expect(from).toEqual({ address: '10.10.2.7', segment: 'quarantine', device: 'cam-07', identity: 3 });
  });
});
