import 'reflect-metadata';
import { IDENTITY } from '../../../native/lib/abi';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { CertificateAuthority } from '../../controller/src/control/ca/certificate-authority';
import { FlowAggregator } from '../../controller/src/control/flows/flow-aggregator';
import { ControlServer } from '../../controller/src/control/grpc/control.server';
import { ControlFeeds, type FlowFeedItem, type ReportedDropEvent } from '../../controller/src/control/feeds';
import { MemoryGenerations, MemoryControlStore } from '../../controller/src/control/testing/fakes';
import type { Datapath } from '../../../native/lib/datapath';
import type { DatapathPort } from './datapath.port';
import { validateEnforcerConfig } from './config';
import { caCertSha256, formatJoin } from '../../../proto/cordon/v1/join';
import { Enforcer } from './enforcer';
import { BoundedQueue } from './flow-collector';
import { RecordingDatapath } from './testing/recording-datapath';
import { Backoff } from './backoff';
import { FAILSAFE_RULE } from './failsafe';
import { until } from '../../../test/support/wait';

// The real facade must fit the port (compile-time check).
const _fits: DatapathPort = null as unknown as Datapath;
void _fits;

const log = pino({ level: 'silent' });
const bundle = (generation: number, n = 1) => ({
  generation,
  identities: { sensors: 256, broker: 257, ...Object.fromEntries(Array.from({ length: n }, (_, i) => [`s${i}`, 300 + i])) },
  ipcache: [
    { cidr: '10.10.1.0/24', identity: 256 },
    { cidr: '10.10.9.1/32', identity: 257, mac: '02:00:00:00:00:07' },
    ...Array.from({ length: n }, (_, i) => ({ cidr: `10.20.${i}.0/24`, identity: 300 + i, ...(i % 2 === 0 ? { audit: true } : {}) })),
  ],
  policy: [
    { srcIdentity: 256, dstIdentity: 257, protocol: 6, port: 8883, portPrefixLen: 16, verdict: 1 as const, ruleId: 1 },
    ...Array.from({ length: n }, (_, i) => ({ srcIdentity: 300 + i, dstIdentity: 1, protocol: null, verdict: 2 as const, ruleId: 2 + i })),
  ],
  rules: [{ ruleId: 1, policy: 'sensors-to-broker', action: 'allow' as const, index: 0, mode: 'enforce' as const }],
  warnings: [],
});


describe('enforcer daemon against the real control server (recording datapath)', () => {
  let dir: string;
  let ca: CertificateAuthority;
  let store: MemoryControlStore;
  let bundles: MemoryGenerations;
  let server: ControlServer;
  let registry: Registry;
  const feeds = new ControlFeeds();
  let controller: string;
  const running: Enforcer[] = [];

  const start = async (dp: RecordingDatapath, flags: { token?: string } = {}) => {
    const cfg = validateEnforcerConfig(
      { controller, token: flags.token, interface: ['eth1', 'eth2'], stateDir: path.join(dir, 'state'), metrics: '127.0.0.1:0', name: 'gw-1', flowInterval: '100ms', netns: '/proc/self/ns/net' },
      { datapath: dp, log },
    );
    const e = await new Enforcer(cfg).start();
    running.push(e);
    return e;
  };
  const scrape = (e: Enforcer) => fetch(`http://127.0.0.1:${e.metricsPort}/metrics`).then((r) => r.text());

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-enf-'));
    ca = await CertificateAuthority.open(path.join(dir, 'ctl'));
    store = new MemoryControlStore();
    bundles = new MemoryGenerations();
    registry = new Registry();
    server = new ControlServer({ ca, store, generations: bundles, log, flows: new FlowAggregator(registry, bundles), feeds });
    controller = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  });
  afterAll(async () => {
    for (const e of running) await e.stop();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('enrolls, enforces default deny plus the failsafe before any bundle (attached at once), then follows deltas', async () => {
    store.addToken('tok');
    const dp = new RecordingDatapath();
    const e = await start(dp, { token: formatJoin('tok', caCertSha256(ca.certificatePem)) }); // the join string: token and CA pin
    expect(fs.statSync(path.join(dir, 'state', 'key.pem')).mode & 0o777).toBe(0o600);
    expect(await scrape(e)).toMatch(/^cordon_policy_generation 0$/m);
    // Generation 0 (failsafe only) applied, then attached, all before the controller said anything.
    expect(dp.ops()).toEqual(['apply:0', 'attach:eth1:ingress', 'attach:eth1:egress', 'attach:eth2:ingress', 'attach:eth2:egress']);
    const first = dp.calls[0] as { policy: { ruleId: number }[] };
    expect(first.policy.length).toBeGreaterThan(0);
    expect(first.policy.every((p) => p.ruleId >= FAILSAFE_RULE.ports)).toBe(true);

    bundles.publish(bundle(1));
    await until('generation 1', () => dp.applied().includes(1));
    expect(dp.ops().slice(5)).toEqual(['apply:1']);
    expect(dp.calls.filter((c) => c.op === 'attach').every((c) => 'netns' in c && c.netns === '/proc/self/ns/net')).toBe(true); // --netns reaches the addon
    await until('metric 1', async () => /^cordon_policy_generation 1$/m.test(await scrape(e)));

    bundles.publish(bundle(2, 3));
    await until('generation 2', () => dp.applied().includes(2));
    const last = dp.calls.at(-1)!;
    expect(last).toMatchObject({ op: 'apply', generation: 2 });
    // The datapath got the whole generation 2, rebuilt from a delta.
    const want = bundle(2, 3);
    const sortBy = <T>(xs: T[]) => xs.map((x) => JSON.stringify(x)).sort();
    // The bundle's entries, plus this host's own addresses as the host identity.
    const got = (last as { ipcache: { identity: number }[] }).ipcache;
    expect(sortBy(got.filter((e) => e.identity !== IDENTITY.HOST))).toEqual(sortBy(want.ipcache));
    expect(got.filter((e) => e.identity === IDENTITY.HOST).length).toBeGreaterThan(0);
    const policy = (last as { policy: { ruleId: number }[] }).policy;
    expect(sortBy(policy.filter((p) => p.ruleId < FAILSAFE_RULE.ports))).toEqual(sortBy(want.policy));
    expect(policy.filter((p) => p.ruleId >= FAILSAFE_RULE.ports).length).toBeGreaterThan(0); // the failsafe in every generation
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'state', 'bundle.json'), 'utf8')).state.generation).toBe(2);
    await until('status reported', () => (store.enforcers.get('gw-1')?.generation ?? 0) === 2);
  });

  it('reports flows as increments into metrics and to the controller', async () => {
    const e = running[0];
    const dp = (e.cfg.datapath as RecordingDatapath);
    dp.pairs = [
      { srcIdentity: 256, dstIdentity: 257, verdict: 'allow', reason: 'none', packets: 10, bytes: 1000 },
      { srcIdentity: 300, dstIdentity: 1, verdict: 'deny', reason: 'policy', packets: 4, bytes: 240 },
    ];
    dp.reasons = { policy: { packets: 4, bytes: 240 } };
    const ns = Number(process.hrtime.bigint());
    dp.flowTable = [
      { src: '10.10.1.5', dst: '10.10.9.1', sport: 40000, dport: 8883, protocol: 6, family: 4, srcIdentity: 256, dstIdentity: 257, verdict: 'allow', reason: 'none', ruleId: 1, packetsFwd: 6, bytesFwd: 600, packetsRev: 4, bytesRev: 400, firstSeenNs: ns - 1e9, lastSeenNs: ns, ifindex: 3 },
    ];
    await until('metrics', async () => (await scrape(e)).includes('cordon_flow_packets_total{src_segment="sensors",dst_segment="broker",verdict="allow"} 10'));
    dp.pairs[0] = { ...dp.pairs[0], packets: 15, bytes: 1500 };
    dp.flowTable[0] = { ...dp.flowTable[0], packetsFwd: 9, bytesFwd: 900 };
    await until('increment', async () => (await scrape(e)).includes('cordon_flow_packets_total{src_segment="sensors",dst_segment="broker",verdict="allow"} 15'));
    const text = await scrape(e);
    expect(text).toContain('cordon_flow_packets_total{src_segment="s0",dst_segment="world",verdict="deny"} 4');
    expect(text).toContain('cordon_drops_total{reason="policy"} 4');
    expect(text).toContain('cordon_drops_total{reason="spoofed"} 0');
    expect(text).toMatch(/cordon_datapath_apply_duration_seconds_count 3/); // the failsafe generation 0, then 1 and 2
    expect(text).toContain('cordon_map_entries{map="flows"} 1');
    await until('controller metrics', async () => (await registry.metrics()).includes('cordon_flow_packets_total{src_segment="sensors",dst_segment="broker",verdict="allow"} 15'));
    const flows = server['d'].flows.list();
    expect(flows[0]).toMatchObject({ enforcer: 'gw-1', src: '10.10.1.5', packets: 13, srcSegment: 'sensors', verdict: 'allow' });
  });

  it('forwards drop events to the controller within about a second: DROP_EVENTS, FLOW_FEED and metrics', async () => {
    const e = running[0];
    const dp = e.cfg.datapath as RecordingDatapath;
    const got: ReportedDropEvent[] = [];
    const fed: FlowFeedItem[] = [];
    const subs = [feeds.events.subscribe((x) => got.push(x)), feeds.flows.subscribe((x) => fed.push(x))];
    dp.suppressed = 4;
    const ev = (i: number) => ({
      tsNs: Number(process.hrtime.bigint()), src: '10.10.1.5', dst: '10.10.9.1', sport: 40000 + i, dport: 22, protocol: 6, family: 4 as const,
      verdict: 'deny' as const, reason: 'policy', srcIdentity: 256, dstIdentity: 257, ruleId: 0, ifindex: 3, srcMac: '02:00:00:00:00:05',
    });
    expect(dp.emit([ev(1), ev(2), { ...ev(3), verdict: 'audit' as const, reason: 'spoofed' }])).toBe(true);
    const t0 = Date.now();
    await until('events at the controller', () => got.length === 3);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(got[0]).toMatchObject({ enforcer: 'gw-1', verdict: 'deny', reason: 'policy', srcSegment: 'sensors', dstSegment: 'broker', dport: 22, policy: null, srcMac: '02:00:00:00:00:05' });
    expect(got[2]).toMatchObject({ verdict: 'audit', reason: 'spoofed' });
    expect(Math.abs(got[0].at.getTime() - Date.now())).toBeLessThan(5000);
    const withEvents = fed.find((f) => f.events.length > 0)!;
    expect(withEvents).toMatchObject({ enforcer: 'gw-1', flows: expect.any(Array) });
    expect(withEvents.at).toBeInstanceOf(Date);
    const text = await registry.metrics();
    expect(text).toContain('cordon_security_events_total{verdict="deny",reason="policy"} 2');
    expect(text).toContain('cordon_security_events_lost_total{enforcer="gw-1"} 4');
    expect(await scrape(e)).toMatch(/cordon_security_events_total\{verdict="audit",reason="spoofed"\} 1/);
    for (const s of subs) s.unsubscribe();
  });

  it('renews its certificate without dropping the policy stream', async () => {
    const e = running[0];
    const dp = e.cfg.datapath as RecordingDatapath;
    const before = fs.readFileSync(path.join(dir, 'state', 'cert.pem'), 'utf8');
    const cut = jest.spyOn(server.sessions, 'remove');
    await e.renew();
    const after = fs.readFileSync(path.join(dir, 'state', 'cert.pem'), 'utf8');
    expect(after).not.toBe(before);
    expect(server.sessions.connected()).toEqual(['gw-1']);
    bundles.publish(bundle(3, 2));
    await until('generation 3 on the new stream', () => dp.applied().includes(3));
    expect(cut).toHaveBeenCalled(); // the old stream went, after the new one was accepted
    expect(dp.ops().filter((o) => o.startsWith('detach'))).toEqual([]);
    cut.mockRestore();
  });

  it('on stop leaves enforcement in place; a restart needs no token, adopts, and resumes from its generation', async () => {
    const e = running.shift()!;
    const dp = e.cfg.datapath as RecordingDatapath;
    await e.stop();
    expect(dp.ops().slice(-1)).toEqual(['close']);
    expect(dp.ops().some((o) => o.startsWith('detach') || o === 'unpin')).toBe(false);

    const dp2 = new RecordingDatapath(true, 3); // adopted pins, enforcing generation 3
    const e2 = await start(dp2); // no token
    // The kept generation is re-applied over the adopted maps (atomically), with this run's failsafe set.
    expect(dp2.ops()).toEqual(['apply:3', 'attach:eth1:ingress', 'attach:eth1:egress', 'attach:eth2:ingress', 'attach:eth2:egress']);
    expect(await scrape(e2)).toMatch(/^cordon_policy_generation 3$/m);
    bundles.publish(bundle(4, 4));
    await until('generation 4', () => dp2.applied().includes(4));
    expect(dp2.applied()).toEqual([3, 4]);

    // After a reboot (fresh maps), bundle.json is enforced again before the controller says anything.
    await e2.stop();
    running.splice(running.indexOf(e2), 1);
    const dp3 = new RecordingDatapath(false, 0);
    await start(dp3);
    expect(dp3.ops().slice(0, 2)).toEqual(['apply:4', 'attach:eth1:ingress']);
  });

  it('/healthz is true health: 200 while enforcing the kept generation, 503 with the reason when an apply fails', async () => {
    const e = running[0];
    const dp = e.cfg.datapath as RecordingDatapath;
    const health = async () => {
      const r = await fetch(`http://127.0.0.1:${e.metricsPort}/healthz`);
      return { status: r.status, body: (await r.json()) as { ok: boolean; detail: string; generation: number; connected: boolean } };
    };
    await until('healthy and connected', async () => (await health()).body.connected);
    expect(await health()).toMatchObject({ status: 200, body: { ok: true, generation: e.enforcedGeneration } });
    const apply = dp.applyGeneration.bind(dp);
    dp.applyGeneration = async () => {
      throw new Error('policy map full');
    };
    const next = e.enforcedGeneration + 1;
    bundles.publish(bundle(next));
    await until('503', async () => (await health()).status === 503);
    expect((await health()).body).toMatchObject({ ok: false, detail: expect.stringMatching(/policy map full/) });
    dp.applyGeneration = apply;
    await until('healthy again at the new generation', async () => {
      const h = await health();
      return h.status === 200 && h.body.generation === next;
    });
  });

  it('keeps enforcing when revoked, and detaches only with --detach', async () => {
    const e = running[0];
    const dp = e.cfg.datapath as RecordingDatapath;
    await server.revoke('gw-1');
    await until('disconnected', async () => /^cordon_controller_connected 0$/m.test(await scrape(e)));
    expect(dp.ops().some((o) => o.startsWith('detach'))).toBe(false);
    await e.stop({ detach: true });
    running.splice(running.indexOf(e), 1);
    expect(dp.ops().slice(-6)).toEqual(['detach:eth1:ingress', 'detach:eth1:egress', 'detach:eth2:ingress', 'detach:eth2:egress', 'unpin', 'close']);
    expect(dp.calls.filter((c) => c.op === 'detach').every((c) => 'netns' in c && c.netns === '/proc/self/ns/net')).toBe(true);
  });
});

describe('enforcer flags that reach the datapath (recording datapath)', () => {
  it('--link-local drop reaches every generation, --failsafe none leaves only the bundle, and the link-local count is a metric', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-enf-ll-'));
    const ca = await CertificateAuthority.open(path.join(dir, 'ctl'));
    const store = new MemoryControlStore();
    const bundles = new MemoryGenerations();
    const server: ControlServer = new ControlServer({ ca, store, generations: bundles, log, flows: new FlowAggregator(new Registry(), bundles), feeds: new ControlFeeds() });
    const controller = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
    store.addToken('tok');
    const dp = Object.assign(new RecordingDatapath(), { linkLocalFrames: () => 7 });
    const cfg = validateEnforcerConfig(
      { controller, token: 'tok', insecureSkipCaCheck: true, interface: ['eth1'], stateDir: path.join(dir, 'state'), metrics: '127.0.0.1:0', name: 'gw-ll', flowInterval: '100ms', failsafe: ['none'], linkLocal: 'drop', readyFile: path.join(dir, 'ready') },
      { datapath: dp, log },
    );
    const e = await new Enforcer(cfg).start();
    try {
      expect(fs.readFileSync(path.join(dir, 'ready'), 'utf8')).toBe('0\n');
      expect(dp.calls[0]).toMatchObject({ op: 'apply', generation: 0, policy: [], linkLocalDrop: true });
      bundles.publish(bundle(1));
      await until('generation 1', () => dp.applied().includes(1));
      const last = dp.calls.filter((c) => c.op === 'apply').at(-1) as { policy: unknown[]; linkLocalDrop: boolean };
      expect(last.linkLocalDrop).toBe(true);
      expect(last.policy).toEqual(bundle(1).policy);
      const text = await fetch(`http://127.0.0.1:${e.metricsPort}/metrics`).then((r) => r.text());
      expect(text).toMatch(/^cordon_link_local_frames_total 7$/m);
    } finally {
      await e.stop();
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('enforcer pieces', () => {
  it('bounded queue takes in order', () => {
    const q = new BoundedQueue<number>(10);
    for (let i = 1; i <= 5; i++) q.push(i);
    expect(q.take(2)).toEqual([1, 2]);
    expect(q.take(10)).toEqual([3, 4, 5]);
    expect(q.length).toBe(0);
  });
  it('bounded queue drops the oldest and counts', () => {
    const q = new BoundedQueue<number>(3);
    for (let i = 1; i <= 5; i++) q.push(i);
    expect([q.shift(), q.shift(), q.shift()]).toEqual([3, 4, 5]);
    expect(q.dropped).toBe(2);
  });
  it('backoff grows, is jittered within [cap/2, cap], and resets', () => {
    const b = new Backoff(100, 1000, () => 0.999);
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([99, 199, 399, 799, 999]);
    const lo = new Backoff(100, 1000, () => 0);
    expect(lo.next()).toBe(50);
    b.reset();
    expect(b.next()).toBe(99);
  });
  it('refuses bad flags with every problem named', () => {
    expect(() => validateEnforcerConfig({ controller: 'nope', interface: [], metrics: 'x', name: 'Bad!' })).toThrow(
      /--controller must be HOST:PORT[\s\S]*--interface IF is required[\s\S]*--metrics must be[\s\S]*--name "Bad!"/,
    );
  });
  it('--netns must name an existing namespace file, and is kept for attach/detach', () => {
    const base = { controller: '127.0.0.1:7471', interface: ['eth1'] };
    expect(() => validateEnforcerConfig({ ...base, netns: '/run/netns/does-not-exist-cordon' })).toThrow(/--netns \/run\/netns\/does-not-exist-cordon: no such file/);
    expect(() => validateEnforcerConfig({ ...base, netns: 'gw' })).toThrow(/--netns must be an absolute path/);
    expect(() => validateEnforcerConfig({ ...base, netns: os.tmpdir() })).toThrow(/is a directory/);
    expect(validateEnforcerConfig({ ...base, netns: '/proc/self/ns/net' }).netns).toBe('/proc/self/ns/net');
    expect(validateEnforcerConfig(base).netns).toBeUndefined();
  });
});
