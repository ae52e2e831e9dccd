/**
 * Hole 11: an enforcer speaks only for what it serves. A real controller, a real
 * enrolled enforcer certificate, a real ReportFlows stream carrying what a
 * compromised gateway would send: flows of a device it does not serve, a MAC
 * claimed for another gateway's address, a far-future timestamp.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startController, type RunningController } from '../../apps/controller/src/main';
import type { FlowAck, FlowBatch, WireFlowRecord } from '../../proto/cordon/v1/control';
import type { RawControlClient } from '../../proto/cordon/v1/client';
import { SITE } from '../api/fixtures';
import { enrollEnforcer } from './enroll';

jest.setTimeout(60_000);

const flow = (src: string, dst: string, over: Partial<WireFlowRecord> = {}): WireFlowRecord => ({
  src, dst, sport: 40000, dport: 8883, protocol: 6, family: 4, srcIdentity: 0, dstIdentity: 0, verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE',
  ruleId: 0, packetsFwd: 3, bytesFwd: 300, packetsRev: 2, bytesRev: 200, firstSeen: Date.now() - 900, lastSeen: Date.now(), ifindex: 2, ...over,
});
function report(c: RawControlClient, b: Omit<FlowBatch, 'seq' | 'generation' | 'windowStart' | 'windowEnd' | 'droppedBatches' | 'pairs'>): Promise<FlowAck> {
  return new Promise((resolve, reject) => {
    const s = c.ReportFlows(new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res!)));
    s.write({ seq: 1, generation: 1, windowStart: Date.now() - 1000, windowEnd: Date.now(), droppedBatches: 0, pairs: [], ...b });
    s.end();
  });
}

describe('hole 11: what an enforcer may report', () => {
  let dir: string;
  let ctl: RunningController;
  let admin: string;
  const api = async (method: string, p: string, body?: unknown) => {
    const r = await fetch(`${ctl.url}${p}`, { method, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: /^[[{]/.test(text) ? JSON.parse(text) : text };
  };
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-scope-'));
    const quiet = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      ctl = await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: dir, logLevel: 'silent' });
    } finally {
      process.stderr.write = quiet;
    }
    admin = fs.readFileSync(ctl.adminTokenPath, 'utf8').trim();
    expect((await api('POST', '/v1/apply', { documents: SITE })).status).toBe(200);
  });
  afterAll(async () => {
    await ctl?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('11_report_scope: out-of-scope flows and events, foreign MACs and far-future times are refused and counted; /v1/flows keeps working', async () => {
    const gw = await enrollEnforcer(ctl, admin, 'gw-sensors');
    const c = gw.client();
    try {
      // gw-sensors serves the sensors and the broker, not the cameras.
      expect((await api('PUT', '/v1/enforcers/gw-sensors/scope', { prefixes: ['10.10.1.0/24', '10.10.9.0/24'] })).status).toBe(200);
      expect((await api('PUT', '/v1/enforcers/gw-sensors/scope', { prefixes: ['10.10.1.0/33'] })).status).toBe(400);
      expect((await api('GET', '/v1/enforcers/gw-sensors/scope')).body).toMatchObject({ prefixes: ['10.10.1.0/24', '10.10.9.0/24'] });

      const ack = await report(c, {
        enforcer: 'gw-sensors',
        flows: [
          flow('10.10.1.5', '10.10.9.1'), // served: kept
          flow('10.10.2.7', '203.0.113.9', { dport: 443 }), // cam-07 to the world: not this gateway's to tell
          flow('10.10.2.50', '10.10.9.1', { srcMac: '02:00:00:00:02:50' }), // into the broker, but the MAC is of a source it does not serve
          flow('10.10.1.77', '10.10.9.1', { srcMac: '02:00:00:00:01:77' }), // an unknown sensor: its MAC is its own to report
          flow('10.10.1.6', '10.10.9.1', { firstSeen: 8_000_000_000_000_000, lastSeen: 8_000_000_000_000_000 }), // far future
        ],
        events: [
          { at: Date.now(), src: '10.10.2.7', dst: '10.10.2.8', sport: 1, dport: 22, protocol: 6, family: 4, verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', srcIdentity: 0, dstIdentity: 0, ruleId: 0, ifindex: 2, srcMac: '02:00:00:00:00:99' },
        ],
      });
      expect(ack).toMatchObject({ batches: 1 });

      const flows = await api('GET', '/v1/flows');
      expect(flows.status).toBe(200);
      const pairs = (flows.body.items as { src: string; dst: string }[]).map((f) => `${f.src}>${f.dst}`).sort();
      expect(pairs).toEqual(['10.10.1.5>10.10.9.1', '10.10.1.77>10.10.9.1', '10.10.2.50>10.10.9.1']);

      await api('POST', '/v1/monitoring/tick');
      const unknown = (await api('GET', '/v1/unknown-devices')).body.items as { address: string; mac: string | null }[];
      expect(unknown.find((u) => u.address === '10.10.1.77')?.mac).toBe('02:00:00:00:01:77');
      expect(unknown.find((u) => u.address === '10.10.2.50')?.mac ?? null).toBeNull();

      const m = await fetch(`${ctl.url}/metrics`).then((r) => r.text());
      expect(m).toMatch(/cordon_control_records_refused_total\{enforcer="gw-sensors",reason="out_of_scope"\} 2/);
      expect(m).toMatch(/cordon_control_records_refused_total\{enforcer="gw-sensors",reason="clock"\} 1/);

      // Without a declared scope the site's own addresses are its scope: a world-to-world record is refused.
      expect((await api('PUT', '/v1/enforcers/gw-sensors/scope', { prefixes: null })).status).toBe(200);
      await report(c, { enforcer: 'gw-sensors', flows: [flow('198.51.100.1', '203.0.113.9'), flow('10.10.2.7', '203.0.113.9', { dport: 80 })], events: [] });
      const after = (await api('GET', '/v1/flows')).body.items as { src: string; dport: number }[];
      expect(after.some((f) => f.src === '198.51.100.1')).toBe(false);
      expect(after.some((f) => f.src === '10.10.2.7' && f.dport === 80)).toBe(true);
      const audit = JSON.stringify((await api('GET', '/v1/audit?limit=500')).body);
      expect(audit).toContain('enforcer.scope');
    } finally {
      c.close();
    }
  });
});
