/**
 * `cordon flows` against a real controller fed by a real enrolled enforcer
 * certificate over the real ReportFlows gRPC stream (issue 17):
 * - a flow reported late (its last packet older than the watcher's previous
 *   poll, as when an enforcer's batch arrives a flow interval late or after a
 *   reconnect) still shows in a running `cordon flows --watch`;
 * - rows carry the encryption class and ICMP's type/code, which the table
 *   prints by name, never as ports; hubble's filters select them.
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { FlowAck, FlowBatch, WireFlowRecord } from '../../proto/cordon/v1/control';
import type { RawControlClient } from '../../proto/cordon/v1/client';
import { enrollEnforcer, type Enrolled } from '../integrity/enroll';
import { cliCommand, runCordon, until } from '../support/site';
import { SITE } from './fixtures';
import { startTestController, type TestController } from './harness';

const ROOT = path.resolve(__dirname, '..', '..');

/** Identities of the site's segments in the current bundle (what an enforcer would report). */
const ids: Record<string, number> = {};
const flow = (src: string, dst: string, over: Partial<WireFlowRecord> = {}): WireFlowRecord => ({
  src, dst, sport: 40000, dport: 8883, protocol: 6, family: 4, srcIdentity: ids[src.startsWith('10.10.2.') ? 'cameras' : 'sensors'], dstIdentity: ids.broker, verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE',
  ruleId: 0, packetsFwd: 3, bytesFwd: 300, packetsRev: 2, bytesRev: 200, firstSeen: Date.now() - 900, lastSeen: Date.now(), ifindex: 2, ...over,
});

let seq = 0;
function report(c: RawControlClient, flows: WireFlowRecord[]): Promise<FlowAck> {
  return new Promise((resolve, reject) => {
    const s = c.ReportFlows(new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res!)));
    const b: FlowBatch = { enforcer: 'gw-watch', seq: ++seq, generation: 1, windowStart: Date.now() - 1000, windowEnd: Date.now(), droppedBatches: 0, pairs: [], flows, events: [] };
    s.write(b);
    s.end();
  });
}

describe('cordon flows: the watch cursor, encryption class, ICMP by name', () => {
  let t: TestController;
  let gw: Enrolled;
  let c: RawControlClient;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    t = await startTestController('pglite');
    env = { HOME: t.dataDir, CORDON_SERVER: t.url, CORDON_TOKEN: t.adminToken };
    expect((await t.call('POST', '/v1/apply', { documents: SITE })).status).toBe(200);
    Object.assign(ids, (await t.call('GET', '/v1/bundles/current')).body.identities);
    gw = await enrollEnforcer({ url: t.url, grpcAddress: t.ctl.grpcAddress }, t.adminToken, 'gw-watch');
    c = gw.client();
  }, 120_000);
  afterAll(async () => {
    c?.close();
    await t?.close();
  });

  test('a flow reported late (last packet before the previous poll) still shows in flows --watch', async () => {
    const watcher = spawn(process.execPath, [...cliCommand(), 'flows', '-w', '-o', 'json', '--interval', '200'], { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    watcher.stdout!.on('data', (d) => (out += d));
    watcher.stderr!.on('data', (d) => (err += d));
    const seen = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { src: string; sport: number; lastSeen: string });
    try {
      // An on-time flow: the watcher prints it, so it has polled since.
      await report(c, [flow('10.10.1.5', '10.10.9.1', { sport: 41001 })]);
      await until('the watcher to print the on-time flow', async () => seen().some((f) => f.sport === 41001), 30_000, 100);
      const printedAt = Date.now();
      // Let it poll a few times more, so that its previous poll is well after the late flow's last packet.
      await new Promise((r) => setTimeout(r, 1000));
      const lastPacket = printedAt - 10_000;
      await report(c, [flow('10.10.1.6', '10.10.9.1', { sport: 41002, firstSeen: lastPacket - 500, lastSeen: lastPacket })]);
      // Polling by last-packet time (since = the previous answer's now) would never return it:
      expect((await t.call('GET', `/v1/flows?since=${printedAt}`)).body.items.some((f: { sport: number }) => f.sport === 41002)).toBe(false);
      const late = await until('the watcher to print the late flow', async () => seen().find((f) => f.sport === 41002), 30_000, 100);
      expect(Date.parse(late.lastSeen)).toBe(lastPacket);
      // Printed once each: the cursor moves on.
      await new Promise((r) => setTimeout(r, 600));
      expect(seen().filter((f) => f.sport === 41002)).toHaveLength(1);
      expect(seen().filter((f) => f.sport === 41001)).toHaveLength(1);
    } finally {
      watcher.kill('SIGTERM');
      await new Promise((r) => watcher.once('exit', r));
    }
    expect(err).toBe('');
  }, 90_000);

  test('rows carry encryption and ICMP type/code; the table names them; filters select them', async () => {
    await report(c, [
      flow('10.10.1.7', '10.10.9.1', { sport: 42001, encryption: 'tls' }),
      flow('10.10.1.8', '10.10.9.1', { sport: 42002, dport: 1883, encryption: 'mqtt', verdict: 'VERDICT_DENY', reason: 'DROP_REASON_PLAINTEXT' }),
      // An echo request: sport is its identifier (0x1234), the message is in policyPort (8 << 8 | 0).
      flow('10.10.1.9', '10.10.9.1', { sport: 0x1234, dport: 0, protocol: 1, policyPort: 8 << 8, verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', encryption: 'pending' }),
    ]);
    const rows = (await t.call('GET', '/v1/flows?from=10.10.1.0/28')).body.items as Array<Record<string, unknown>>;
    expect(rows.find((f) => f.sport === 42001)).toMatchObject({ encryption: 'tls', icmpType: null, icmpCode: null });
    expect(rows.find((f) => f.protocol === 1)).toMatchObject({ icmpType: 8, icmpCode: 0, encryption: 'pending' });

    const table = await runCordon(['flows', '--from', '10.10.1.0/28', '--last', '10'], { env });
    expect(table.code).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^LAST SEEN\s+ENFORCER\s+FROM\s+TO\s+PROTO\s+SEGMENTS\s+VERDICT\s+REASON\s+ENCRYPTION\s+PACKETS\s+BYTES$/);
    expect(lines.find((l) => l.includes(':42001'))).toMatch(/10\.10\.1\.7:42001\s+10\.10\.9\.1:8883\s+tcp\s+\S+->\S+\s+allow\s+-\s+tls\s+5\s+500$/);
    expect(lines.find((l) => l.includes('10.10.1.8'))).toMatch(/\s+tcp\s+\S+->\S+\s+deny\s+plaintext\s+mqtt\s+/);
    // ICMP: no port, the echo id never printed as one; type/code and its name instead.
    const icmp = lines.find((l) => l.includes('10.10.1.9'))!;
    expect(icmp).toMatch(/10\.10\.1\.9\s+10\.10\.9\.1\s+icmp 8\/0 echo-request\s+\S+->\S+\s+deny\s+policy\s+pending\s+/);
    expect(icmp).not.toMatch(/4660|:0\b/);
    // Columns line up (one renderer): every row has VERDICT where the header has it.
    const at = lines[0].indexOf('VERDICT');
    for (const l of lines.slice(1).filter(Boolean)) expect(l.slice(at)).toMatch(/^(allow|deny|audit) /);

    const pick = async (...args: string[]) => {
      const r = await runCordon(['flows', '-o', 'json', ...args], { env });
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
      return JSON.parse(r.stdout) as Array<{ src: string }>;
    };
    expect((await pick('--encryption', 'tls')).map((f) => f.src)).toEqual(['10.10.1.7']);
    expect((await pick('--protocol', 'icmp')).map((f) => f.src)).toEqual(['10.10.1.9']);
    expect((await pick('--reason', 'plaintext')).map((f) => f.src)).toEqual(['10.10.1.8']);
    expect((await pick('--port', '1883')).map((f) => f.src)).toEqual(['10.10.1.8']);
    // (Segment names come from the generation an enforcer watches; this one only reports: addresses here.)
    expect((await pick('--verdict', 'deny', '--from', '10.10.1.0/24', '--to', '10.10.9.1', '--last', '1')).length).toBe(1);
    expect((await pick('--enforcer', 'nobody')).length).toBe(0);
    // A device name stands for its addresses.
    await report(c, [flow('10.10.2.7', '10.10.9.1', { sport: 43001 })]);
    expect((await pick('--from', 'cam-07')).map((f) => f.src)).toEqual(['10.10.2.7']);
    expect((await pick('--since', '1h')).length).toBeGreaterThan(3);
    expect((await runCordon(['flows', '--since', 'yesterday-ish'], { env })).code).toBe(2);
  }, 90_000);
});
