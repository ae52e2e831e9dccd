import { IDENTITY, VERDICT, type PolicyEntry } from '../../../native/lib/abi';
import { validateEnforcerConfig } from './config';
import { FAILSAFE_RULE, identityOf, parseFailsafe, withFailsafe } from './failsafe';

const ctx = { hostAddresses: ['10.10.1.1', 'fd00::1'], controllers: [{ addresses: ['10.10.9.5'], port: 7471 }] };
const bundle = {
  identities: { world: 1, host: 2, quarantine: 3, sensors: 256, ctl: 257 },
  ipcache: [
    { cidr: '10.10.1.0/24', identity: 256 },
    { cidr: '10.10.9.0/24', identity: 257 },
    { cidr: '10.10.1.66/32', identity: IDENTITY.QUARANTINE },
  ],
  policy: [
    { srcIdentity: 256, dstIdentity: 257, protocol: 6, port: 8883, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: 1 },
    // the site says no DNS to the gateway from sensors: the failsafe entry replaces it
    { srcIdentity: 256, dstIdentity: IDENTITY.HOST, protocol: 17, port: 53, portPrefixLen: 16, verdict: VERDICT.DENY, ruleId: 2 },
  ] as PolicyEntry[],
};
const has = (policy: PolicyEntry[], src: number, dst: number, protocol: number, port: number) =>
  policy.some((p) => p.srcIdentity === src && p.dstIdentity === dst && p.protocol === protocol && p.port === port && p.portPrefixLen === 16 && p.verdict === VERDICT.ALLOW);

describe('failsafe set', () => {
  it('parses --failsafe: defaults, none, additions, and names every bad value', () => {
    expect(parseFailsafe([]).spec).toEqual({ services: ['control', 'dhcp', 'dns'], ports: [] });
    expect(parseFailsafe(['tcp:22']).spec).toEqual({ services: ['control', 'dhcp', 'dns'], ports: [{ protocol: 'tcp', lo: 22, hi: 22 }] });
    expect(parseFailsafe(['none']).spec).toEqual({ services: [], ports: [] });
    expect(parseFailsafe(['none', 'dhcp', 'udp:8000-8003']).spec).toEqual({ services: ['dhcp'], ports: [{ protocol: 'udp', lo: 8000, hi: 8003 }] });
    expect(parseFailsafe(['tcp:0', 'icmp', 'tcp:9-3']).problems).toHaveLength(3);
    expect(() => validateEnforcerConfig({ controller: '127.0.0.1:7471', interface: ['eth1'], failsafe: ['ssh'], linkLocal: 'maybe' })).toThrow(/--failsafe "ssh"[\s\S]*--link-local must be pass or drop/);
    expect(validateEnforcerConfig({ controller: '127.0.0.1:7471', interface: ['eth1'] })).toMatchObject({ linkLocal: 'pass', failsafe: { services: ['control', 'dhcp', 'dns'] } });
  });

  it('maps the limited broadcast and the DHCPv6 agents to host, beside this host\'s addresses', () => {
    const g = withFailsafe(bundle, parseFailsafe([]).spec, ctx);
    expect(identityOf(g.ipcache, '255.255.255.255')).toBe(IDENTITY.HOST);
    expect(identityOf(g.ipcache, 'ff02::1:2')).toBe(IDENTITY.HOST);
    expect(identityOf(g.ipcache, '10.10.1.1')).toBe(IDENTITY.HOST);
    expect(identityOf(g.ipcache, '0.0.0.0')).toBe(IDENTITY.WORLD);
    expect(identityOf(g.ipcache, '10.10.1.7')).toBe(256);
    expect(identityOf(g.ipcache, '10.10.1.66')).toBe(IDENTITY.QUARANTINE);
  });

  it('allows DHCP, DNS and the control channel, and nothing wider', () => {
    const { policy } = withFailsafe(bundle, parseFailsafe(['tcp:22']).spec, ctx);
    // DHCP: 0.0.0.0 (world) and members -> host udp 67; host -> anyone udp 68; relays host -> anyone udp 67
    expect(has(policy, IDENTITY.WORLD, IDENTITY.HOST, 17, 67)).toBe(true);
    expect(has(policy, 256, IDENTITY.HOST, 17, 67)).toBe(true);
    expect(has(policy, IDENTITY.HOST, 256, 17, 68)).toBe(true);
    expect(has(policy, IDENTITY.HOST, IDENTITY.HOST, 17, 68)).toBe(true); // broadcast offers
    expect(has(policy, IDENTITY.HOST, IDENTITY.WORLD, 17, 67)).toBe(true);
    // DNS to host, over the site's deny (replaced: one entry per key)
    expect(has(policy, 256, IDENTITY.HOST, 17, 53)).toBe(true);
    expect(has(policy, 256, IDENTITY.HOST, 6, 53)).toBe(true);
    expect(policy.filter((p) => p.srcIdentity === 256 && p.dstIdentity === IDENTITY.HOST && p.protocol === 17 && p.port === 53)).toHaveLength(1);
    // the control channel: host -> the controller's segment, tcp 7471 only
    expect(policy.filter((p) => p.ruleId === FAILSAFE_RULE.control)).toEqual([
      { srcIdentity: IDENTITY.HOST, dstIdentity: 257, protocol: 6, port: 7471, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId: FAILSAFE_RULE.control },
    ]);
    expect(has(policy, 256, IDENTITY.HOST, 6, 22)).toBe(true);
    // nothing between devices, nothing to or from quarantine, nothing forwarded to world on 67/53
    const failsafe = policy.filter((p) => p.ruleId >= FAILSAFE_RULE.ports);
    expect(failsafe.every((p) => p.srcIdentity === IDENTITY.HOST || p.dstIdentity === IDENTITY.HOST)).toBe(true);
    expect(failsafe.some((p) => p.srcIdentity === IDENTITY.QUARANTINE || p.dstIdentity === IDENTITY.QUARANTINE)).toBe(false);
    expect(failsafe.some((p) => p.srcIdentity !== IDENTITY.HOST && p.dstIdentity === IDENTITY.WORLD)).toBe(false);
    expect(failsafe.every((p) => p.protocol !== null && p.verdict === VERDICT.ALLOW)).toBe(true);
    // the site's own entries are untouched
    expect(policy).toContainEqual(bundle.policy[0]);
  });

  it('--failsafe none leaves the bundle as it is (plus this host\'s addresses)', () => {
    const g = withFailsafe(bundle, parseFailsafe(['none']).spec, ctx);
    expect(g.policy).toEqual(bundle.policy);
    expect(identityOf(g.ipcache, '255.255.255.255')).toBe(IDENTITY.WORLD);
  });

  it('a port range becomes aligned blocks to host', () => {
    const { policy } = withFailsafe({ ipcache: [], policy: [] }, parseFailsafe(['none', 'tcp:8000-8003']).spec, ctx);
    expect(policy.filter((p) => p.srcIdentity === IDENTITY.WORLD)).toEqual([
      { srcIdentity: IDENTITY.WORLD, dstIdentity: IDENTITY.HOST, protocol: 6, port: 8000, portPrefixLen: 14, verdict: VERDICT.ALLOW, ruleId: FAILSAFE_RULE.ports },
    ]);
  });
});
