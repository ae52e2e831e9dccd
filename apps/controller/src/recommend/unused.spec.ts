// SPDX-License-Identifier: Apache-2.0
/** `cordon report unused` over policies by DNS name: an fqdn allow rule that decided packets is used; one that never did is listed with its patterns. */
import { compile } from '../compiler/compile';
import { parseDocuments } from '../policy/parse';
import { unusedRules } from './unused';

const DOCS = parseDocuments(`
apiVersion: cordon/v1
kind: Segment
metadata: { name: plugs }
spec: { cidrs: [10.10.1.0/24] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: broker }
spec: { cidrs: [10.10.9.0/24] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: plugs-to-cloud }
spec:
  from: [plugs]
  to: [ { fqdn: API.vendor.com }, { fqdn: "*.iot.vendor.com" } ]
  allow: [ { protocol: tcp, ports: ["443"] }, { protocol: udp, ports: ["123"] } ]
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: plugs-to-broker }
spec:
  from: [plugs]
  to: [broker]
  allow: [ { protocol: tcp, ports: ["8883"] } ]
`);
const bundle = compile(DOCS, { identities: {}, generation: 1 });
const now = Date.now();

describe('unused fqdn rules', () => {
  it('counts an fqdn allow rule that decided packets as used, and names the patterns of one that never did', () => {
    const items = unusedRules(bundle.rules, [{ policy: 'plugs-to-cloud', action: 'allow', index: 0, packets: 12, firstUsed: now, lastUsed: now }], DOCS, now - 3_600_000);
    expect(items).toEqual([
      { policy: 'plugs-to-broker', index: 0, rule: { protocol: 'tcp', ports: ['8883'] }, mode: 'enforce', lastUsed: null, packets: 0 },
      { policy: 'plugs-to-cloud', index: 1, rule: { protocol: 'udp', ports: ['123'] }, mode: 'enforce', lastUsed: null, packets: 0, fqdn: ['api.vendor.com', '*.iot.vendor.com'] },
    ]);
  });

  it('a use older than the window leaves the fqdn rule unused, with when it was last used', () => {
    const old = now - 2 * 3_600_000;
    const items = unusedRules(bundle.rules, [{ policy: 'plugs-to-cloud', action: 'allow', index: 0, packets: 3, firstUsed: old, lastUsed: old }], DOCS, now - 3_600_000);
    expect(items.find((i) => i.policy === 'plugs-to-cloud' && i.index === 0)).toEqual({
      policy: 'plugs-to-cloud',
      index: 0,
      rule: { protocol: 'tcp', ports: ['443'] },
      mode: 'enforce',
      lastUsed: new Date(old).toISOString(),
      packets: 3,
      fqdn: ['api.vendor.com', '*.iot.vendor.com'],
    });
  });
});
