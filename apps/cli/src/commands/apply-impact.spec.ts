import type { FlowImpactEntry } from '../../../controller/src/apply/flow-impact';
import { formatChange, formatImpact } from './apply';

const flow: FlowImpactEntry = { src: '10.0.1.2', dst: '10.0.9.2', protocol: 'tcp', port: 1883, srcSegment: 'sensors', dstSegment: 'broker', enforcer: 'gw-1', before: 'allow', after: 'deny', policyBefore: 'sensors-to-broker', policyAfter: null, packets: 12, lastSeen: '2026-12-01T00:00:00.000Z' };

test('cordon apply --dry-run prints each observed flow the change would newly deny or allow, with the deciding policy before and after', () => {
  const out = formatChange({
    dryRun: true, changed: true, generation: 4, hash: 'ab'.repeat(32), warnings: [],
    documents: [{ kind: 'Policy', name: 'sensors-to-broker', action: 'updated', changes: [{ path: 'spec.allow[0].ports[1]', from: '1883' }] }],
    flows: { checked: 7, truncated: false, newlyDenied: [flow], newlyAllowed: [{ ...flow, port: 22, before: 'deny', after: 'allow', policyBefore: null, policyAfter: 'ssh' }] },
  });
  expect(out).toContain('observed flows: 7 checked, 1 would be newly denied, 1 would be newly allowed');
  expect(out).toContain('  newly denied: 10.0.1.2 (sensors) -> 10.0.9.2 (broker) tcp/1883, 12 packet(s): allow by policy sensors-to-broker before, deny by the default deny after');
  expect(out).toContain('  newly allowed: 10.0.1.2 (sensors) -> 10.0.9.2 (broker) tcp/22, 12 packet(s): deny by the default deny before, allow by policy ssh after');
  expect(out.trim().split('\n').pop()).toBe('dry run: would be generation 4; nothing was stored');
});

test('a cut list says so, and an apply without observed flows prints no flow section', () => {
  expect(formatImpact({ checked: 500, truncated: true, newlyDenied: [flow], newlyAllowed: [] }, false).join('\n')).toContain('more flows changed than are listed');
  expect(formatChange({ dryRun: false, changed: false, generation: 2, hash: 'cd'.repeat(32), warnings: [], documents: [] })).not.toContain('observed flows');
});
