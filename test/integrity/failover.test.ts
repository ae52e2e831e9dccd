/**
 * Issue 14: one site, several controllers, on a real PostgreSQL server.
 *
 * - Two controllers started on one database share one enforcer CA (its key
 *   sealed under the KEK, kept in the database): an enforcer enrolled on one
 *   is served by the other; a controller whose data dir holds another CA is
 *   refused.
 * - An enforcer (the real daemon, recording datapath) given both controllers
 *   streams flow batches to the first; that controller dies after taking a
 *   batch and before acknowledging it. The enforcer moves to the second
 *   within 10 s, sends again what was not acknowledged, the second
 *   acknowledges the already-taken batch as a duplicate (the sequence is in
 *   the database), and every batch the enforcer made is counted exactly once
 *   across the two. A generation published after the move reaches it.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startController, type RunningController } from '../../apps/controller/src/main';
import { CertificateAuthority } from '../../apps/controller/src/control/ca/certificate-authority';
import { FlowAggregator } from '../../apps/controller/src/control/flows/flow-aggregator';
import { SqlFlowSequences } from '../../apps/controller/src/control/flows/flow-sequences';
import { ControlServer } from '../../apps/controller/src/control/grpc/control.server';
import { MemoryGenerations, MemoryControlStore } from '../../apps/controller/src/control/testing/fakes';
import { openStore } from '../../apps/controller/src/store/open';
import type { SqlStore } from '../../apps/controller/src/store/store';
import type { FlowBatch } from '../../proto/cordon/v1/control';
import { rpc } from '../../proto/cordon/v1/client';
import { caCertSha256, formatJoin } from '../../proto/cordon/v1/join';
import { validateEnforcerConfig } from '../../apps/enforcer/src/config';
import { Enforcer } from '../../apps/enforcer/src/enforcer';
import { RecordingDatapath } from '../../apps/enforcer/src/testing/recording-datapath';
import { startPostgres, type TestPostgres } from '../support/postgres';
import { sleep, until } from '../support/wait';
import { enrollEnforcer } from './enroll';

jest.setTimeout(180_000);
const log = pino({ level: 'silent' });

function kekFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-kek-'));
  const f = path.join(dir, 'kek');
  fs.writeFileSync(f, randomBytes(32), { mode: 0o600 });
  return f;
}

async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const w = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await fn();
  } finally {
    process.stderr.write = w;
  }
}

describe('issue 14: one enforcer CA for the site, in the database', () => {
  let pg: TestPostgres;
  const dirs: string[] = [];
  const ctls: RunningController[] = [];
  const saved = { kek: process.env.CORDON_KEK_FILE, est: process.env.CORDON_EST, tick: process.env.CORDON_MONITORING_TICK };
  const dataDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-site-'));
    dirs.push(d);
    return d;
  };
  beforeAll(async () => {
    pg = await startPostgres();
    process.env.CORDON_KEK_FILE = kekFile(); // both CAs sealed under it (the device CA too)
    process.env.CORDON_EST = 'off';
    process.env.CORDON_MONITORING_TICK = '300ms';
  });
  afterAll(async () => {
    for (const c of ctls) await c.close().catch(() => undefined);
    for (const [k, v] of [['CORDON_KEK_FILE', saved.kek], ['CORDON_EST', saved.est], ['CORDON_MONITORING_TICK', saved.tick]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await pg?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('14_site_ca: controllers started together share one CA; enrolled on A, served by B; a data dir with another CA is refused', async () => {
    const databaseUrl = await pg.createDatabase('siteca');
    const [a, b] = await quietly(() =>
      Promise.all([0, 1].map(() => startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: dataDir(), databaseUrl, logLevel: 'silent' }))),
    );
    ctls.push(a, b);
    const caA = await (await fetch(`${a.url}/v1/control/ca.pem`)).text();
    const caB = await (await fetch(`${b.url}/v1/control/ca.pem`)).text();
    expect(caA).toMatch(/BEGIN CERTIFICATE/);
    expect(caB).toBe(caA);
    const rows = await a.store.sql.query<{ purpose: string; sealed: boolean }>("select purpose, sealed_key is not null as sealed from site_cas order by purpose");
    expect(rows).toEqual([{ purpose: 'device-ca', sealed: true }, { purpose: 'enforcer-ca', sealed: true }]); // sealed under the KEK, never in clear

    const tokenFile = fs.existsSync(a.adminTokenPath) ? a.adminTokenPath : b.adminTokenPath;
    const admin = fs.readFileSync(tokenFile, 'utf8').trim();
    const e = await enrollEnforcer(a, admin, 'gw-site');
    const onB = e.client(b.grpcAddress);
    try {
      const status = { enforcer: 'gw-site', generation: 0, mapFill: {}, health: null, drops: [], version: 't', certificateExpiresAt: e.expiresAt, droppedBatches: 0 };
      await expect(rpc.reportStatus(onB, status)).resolves.toBeDefined();
    } finally {
      onB.close();
    }

    // A controller whose data dir already holds another enforcer CA would split the site: refused.
    const own = dataDir();
    await CertificateAuthority.open(own, { kekFile: process.env.CORDON_KEK_FILE });
    await expect(quietly(() => startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: own, databaseUrl, logLevel: 'silent' }))).rejects.toThrow(
      /holds another enforcer CA than the one of the site/,
    );
  });
});

describe('issue 14: the audit tail (and its SIEM export) is led by one controller', () => {
  let pg: TestPostgres;
  const dirs: string[] = [];
  const saved = { est: process.env.CORDON_EST, tick: process.env.CORDON_MONITORING_TICK };
  beforeAll(async () => {
    pg = await startPostgres();
    process.env.CORDON_EST = 'off';
    process.env.CORDON_MONITORING_TICK = '200ms';
  });
  afterAll(async () => {
    for (const [k, v] of [['CORDON_EST', saved.est], ['CORDON_MONITORING_TICK', saved.tick]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await pg?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('14_audit_tail_leader: each audit entry becomes one security event across two controllers; when the leader goes, the other takes over', async () => {
    const databaseUrl = await pg.createDatabase('leader');
    const start = () => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-lead-'));
      dirs.push(d);
      return quietly(() => startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir: d, databaseUrl, logLevel: 'silent' }));
    };
    const a = await start();
    const b = await start();
    const admin = fs.readFileSync(a.adminTokenPath, 'utf8').trim();
    const apply = (c: RunningController, n: number) =>
      fetch(`${c.url}/v1/apply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ documents: [{ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: `lead${n}` }, spec: { cidrs: [`10.77.${n}.0/24`] } }] }),
      }).then((r) => r.status);
    const eventsOf = async () =>
      (await a.store.sql.query<{ id: number; n: string }>(
        "select (body->'data'->>'auditId')::int as id, count(*) as n from security_events where body->'data' ? 'auditId' group by 1 order by 1",
      )).map((r) => ({ id: Number(r.id), n: Number(r.n) }));
    const audits = async (c: RunningController = a) => (await c.store.sql.query<{ id: number }>('select id from audit order by id')).map((r) => Number(r.id));
    try {
      expect(await apply(a, 1)).toBe(200);
      expect(await apply(b, 2)).toBe(200);
      const ids = await audits();
      await until('every audit entry an event', async () => (await eventsOf()).filter((e) => ids.includes(e.id)).length === ids.length, 10_000);
      await sleep(1000); // several ticks of both: still once each
      expect((await eventsOf()).every((e) => e.n === 1)).toBe(true);
    } finally {
      await a.close();
    }
    // A is gone (its lock with it): B leads, and resumes where A stopped.
    try {
      const before = await audits(b);
      const r = await fetch(`${b.url}/v1/apply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ documents: [{ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'lead3' }, spec: { cidrs: ['10.77.3.0/24'] } }] }),
      });
      expect(r.status).toBe(200);
      const after = (await audits(b)).filter((id) => !before.includes(id));
      expect(after.length).toBeGreaterThan(0);
      const q = async () =>
        (await b.store.sql.query<{ id: number; n: string }>(
          "select (body->'data'->>'auditId')::int as id, count(*) as n from security_events where body->'data' ? 'auditId' group by 1",
        )).map((x) => ({ id: Number(x.id), n: Number(x.n) }));
      await until('B to turn the new entry into an event', async () => (await q()).filter((x) => after.includes(x.id)).length === after.length, 10_000);
      expect((await q()).every((x) => x.n === 1)).toBe(true);
    } finally {
      await b.close();
    }
  });
});

/** A FlowAggregator that records the sequence numbers it counted, and can die at the Nth. */
class CountingAggregator extends FlowAggregator {
  readonly seqs: number[] = [];
  dieAt = 0;
  onDie: () => void = () => undefined;
  ingest(enforcer: string, b: FlowBatch): void {
    super.ingest(enforcer, b);
    this.seqs.push(b.seq);
    if (this.seqs.length === this.dieAt) this.onDie();
  }
}

describe('issue 14: an enforcer moves when its controller dies, and no flow batch is lost or counted twice', () => {
  let pg: TestPostgres;
  let stores: SqlStore[] = [];
  let dir: string;
  const servers: ControlServer[] = [];
  let enforcer: Enforcer | null = null;

  beforeAll(async () => {
    pg = await startPostgres();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-failover-'));
  });
  afterAll(async () => {
    await enforcer?.stop();
    for (const s of servers) await s.close().catch(() => undefined);
    for (const s of stores) await s.close().catch(() => undefined);
    await pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('14_failover_flows: A dies between counting a batch and acknowledging it; the enforcer moves to B, which takes the rest and acknowledges the resend as a duplicate', async () => {
    const databaseUrl = await pg.createDatabase('failover');
    // Each controller its own connection to the database (the sequences are shared through it).
    stores = await Promise.all([0, 1].map(() => openStore({ dataDir: dir, databaseUrl })));
    await stores[0].migrate();
    const ca = await CertificateAuthority.open(path.join(dir, 'ctl'));
    const store = new MemoryControlStore();
    const generations = new MemoryGenerations();
    const aggs = [0, 1].map(() => new CountingAggregator(new Registry(), generations));
    for (const i of [0, 1]) servers.push(new ControlServer({ ca, store, generations, log, flows: aggs[i], sequences: new SqlFlowSequences(stores[i].sql) }));
    const [addrA, addrB] = await Promise.all(servers.map(async (s) => `127.0.0.1:${await s.listen('127.0.0.1:0')}`));
    // A dies (every connection torn down at once) inside the 10th batch: counted, not yet acknowledged.
    aggs[0].dieAt = 10;
    let diedAt = 0;
    aggs[0].onDie = () => {
      diedAt = Date.now();
      servers[0]['server']?.forceShutdown();
    };

    store.addToken('tok');
    const dp = new RecordingDatapath();
    const cfg = validateEnforcerConfig(
      {
        controller: [addrA, addrB],
        token: formatJoin('tok', caCertSha256(ca.certificatePem)),
        interface: ['eth1'],
        stateDir: path.join(dir, 'enf'),
        metrics: '127.0.0.1:0',
        name: 'gw-move',
        flowInterval: '100ms',
        netns: '/proc/self/ns/net',
      },
      { datapath: dp, log },
    );
    expect(cfg.controllers).toEqual([addrA, addrB]);
    enforcer = await new Enforcer(cfg).start();
    generations.publish({ generation: 1, identities: { s0: 256, s1: 257 }, ipcache: [{ cidr: '10.10.1.0/24', identity: 256 }], policy: [], rules: [], warnings: [] } as never);
    await until('generation 1 on the enforcer', () => dp.applied().includes(1), 10_000);

    // Traffic: the pair counters grow every 40 ms, so every poll cuts a batch.
    let packets = 0;
    let traffic = true;
    const drive = (async () => {
      for (let i = 0; i < 400 && traffic; i++) {
        packets += 3;
        dp.pairs = [{ srcIdentity: 256, dstIdentity: 257, verdict: 'allow', reason: 'none', packets, bytes: packets * 100 }];
        await sleep(40);
      }
    })();
    await until('A to die', () => diedAt > 0, 30_000);
    await until('the enforcer on B', () => servers[1].sessions.connected().includes('gw-move'), 10_000);
    const moveMs = Date.now() - diedAt;
    expect(moveMs).toBeLessThan(10_000);
    await until('B to take 10 batches', () => aggs[1].seqs.length >= 10, 20_000);

    // A generation published after the move reaches the enforcer through B.
    generations.publish({ generation: 2, identities: { s0: 256, s1: 257 }, ipcache: [{ cidr: '10.10.2.0/24', identity: 256 }], policy: [], rules: [], warnings: [] } as never);
    await until('generation 2 on the enforcer', () => dp.applied().includes(2), 10_000);

    traffic = false;
    await drive;
    const collector = enforcer['collector'];
    // The traffic's last change is cut by a poll after it stopped (every 100 ms): settled once no batch was
    // made for 500 ms and none is queued (an empty queue alone can come just before that last cut).
    let seqSeen = -1;
    let seqSince = Date.now();
    await until('every batch cut and acknowledged', () => {
      const seq = collector['seq'] as number;
      if (seq !== seqSeen) [seqSeen, seqSince] = [seq, Date.now()];
      return collector.queue.length === 0 && Date.now() - seqSince >= 500;
    }, 20_000);
    const made = collector['seq'] as number;
    const all = [...aggs[0].seqs, ...aggs[1].seqs].sort((x, y) => x - y);
    expect(collector.queue.dropped).toBe(0);
    expect(all).toEqual(Array.from({ length: made }, (_, i) => i + 1)); // each batch counted once, none lost
    expect(aggs[0].seqs.at(-1)).toBe(10);
    expect(servers[1].flowReports.duplicates).toBeGreaterThanOrEqual(1); // the 10th, taken by A, sent again to B
    const text = await fetch(`http://127.0.0.1:${enforcer.metricsPort}/metrics`).then((r) => r.text());
    expect(text).toMatch(/^cordon_controller_moves_total [1-9]/m);
    expect(text).toMatch(/^cordon_flow_batches_unacknowledged 0$/m);
    const rows = await stores[1].sql.query<{ last_seq: string }>("select last_seq from flow_sequences where enforcer = 'gw-move'");
    expect(Number(rows[0].last_seq)).toBe(made);
    // Every batch made was counted by exactly one of the two controllers (their sequences together are 1..made).
    expect(aggs.reduce((n, a) => n + a.seqs.length, 0)).toBe(made);
    process.stdout.write(`failover: moved in ${moveMs} ms; ${made} batches, ${aggs[0].seqs.length} on A, ${aggs[1].seqs.length} on B, ${servers[1].flowReports.duplicates} duplicate(s)\n`);
  });
});
