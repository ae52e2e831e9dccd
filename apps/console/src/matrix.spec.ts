import { buildMatrix, describeEntry } from './matrix';

test('policy entries read back into ports, ranges, ICMP types and any', () => {
  expect(describeEntry({ srcIdentity: 1, dstIdentity: 2, protocol: 6, port: 8883, portPrefixLen: 16, verdict: 1, ruleId: 1 })).toBe('tcp/8883');
  expect(describeEntry({ srcIdentity: 1, dstIdentity: 2, protocol: 17, port: 5000, portPrefixLen: 13, verdict: 1, ruleId: 1 })).toBe('udp/5000-5007');
  expect(describeEntry({ srcIdentity: 1, dstIdentity: 2, protocol: 1, port: 8 << 8, portPrefixLen: 8, verdict: 1, ruleId: 1 })).toBe('icmp type 8');
  expect(describeEntry({ srcIdentity: 1, dstIdentity: 2, protocol: 6, verdict: 1, ruleId: 1 })).toBe('tcp');
  expect(describeEntry({ srcIdentity: 1, dstIdentity: 2, protocol: null, verdict: 1, ruleId: 1 })).toBe('any');
});

test('the matrix keys cells by segment names, with verdict, encryption and the policy of each entry', () => {
  const m = buildMatrix({
    generation: 3,
    identities: { sensors: 256, broker: 257, world: 1 },
    rules: [{ ruleId: 1, policy: 'sensors-to-broker', action: 'allow', index: 0, mode: 'enforce' }, { ruleId: 2, policy: 'audit-world', action: 'allow', index: 0, mode: 'audit' }],
    policy: [
      { srcIdentity: 256, dstIdentity: 257, protocol: 6, port: 8883, portPrefixLen: 16, verdict: 1, ruleId: 1, encryptionRequired: true },
      { srcIdentity: 256, dstIdentity: 257, protocol: 6, port: 1883, portPrefixLen: 16, verdict: 1, ruleId: 1 },
      { srcIdentity: 256, dstIdentity: 1, protocol: null, verdict: 3, ruleId: 2 },
    ],
  });
  expect(m.segments).toEqual(['broker', 'sensors', 'world']);
  expect(m.cells.get('sensors|broker')).toEqual([
    { what: 'tcp/1883', verdict: 'allow', encryptionRequired: false, policy: 'sensors-to-broker' },
    { what: 'tcp/8883', verdict: 'allow', encryptionRequired: true, policy: 'sensors-to-broker' },
  ]);
  expect(m.cells.get('sensors|world')).toEqual([{ what: 'any', verdict: 'audit', encryptionRequired: false, policy: 'audit-world' }]);
  expect(m.cells.get('broker|sensors')).toBeUndefined();
});
