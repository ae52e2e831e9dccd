/**
 * The written-behind observed tuples and rule uses (migration 1320) on both
 * drivers: two controllers' tables flushing into one database add up —
 * packets and bytes summed, not overwritten; first and last seen widened —
 * and each sees the other's after its next flush; the table is trimmed to its
 * bound, least recently seen first; a flush the store refuses is kept and
 * sent once with the next one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ObservedFlows, type ObservedFlow } from '../monitoring/observed-flows';
import { mergeInSlices } from '../monitoring/observed-flows.service';
import { openStore } from './open';
import { SqlStore } from './store';
import { startPostgres, TestPostgres } from '../../../../test/support/postgres';

const T = 1_700_000_000_000;
type Seen = Omit<ObservedFlow, 'firstSeen' | 'lastSeen'>;
const tuple = (over: Partial<Seen> = {}): Seen => ({ srcSegment: 'sensors', dstSegment: 'broker', protocol: 6, port: 8883, verdict: 'allow', reason: 'none', packets: 3, bytes: 300, sample: '10.5.0.9 -> 10.6.0.1', ...over });

/** One controller's table and its flush, as observed-flows.service.ts runs it (bounds given). */
class Controller {
  readonly table: ObservedFlows;
  private at: Date | null = null;
  constructor(
    private readonly store: SqlStore,
    private readonly max = 1000,
  ) {
    this.table = new ObservedFlows(max, max);
  }
  async flush() {
    const taken = this.table.takeChanges();
    const since = this.at && new Date(this.at.getTime() - 30_000);
    try {
      const r = await this.store.observedFlows.sync({ ...taken, pull: true, since, maxTuples: this.max, maxRules: this.max, startedMs: this.table.observedSince });
      await mergeInSlices(this.table, r.rows);
      this.at = r.at;
    } catch (err) {
      this.table.restoreChanges(taken);
      throw err;
    }
  }
}

describe.each(['pglite', 'postgres'] as const)('observed flows and rule uses on %s', (driver) => {
  let pg: TestPostgres | undefined;
  const dirs: string[] = [];
  const open = async (name: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-observed-'));
    dirs.push(dir);
    return openStore({ dataDir: dir, databaseUrl: pg ? await pg.createDatabase(name) : undefined });
  };
  beforeAll(async () => {
    if (driver === 'postgres') pg = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await pg?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('two controllers on one database add up, and each sees the other after a flush', async () => {
    const store = await open('addup');
    try {
      const a = new Controller(store);
      const b = new Controller(store);
      a.table.observe(tuple(), T + 10);
      a.table.useRule('sensors-to-broker', 'allow', 0, 3, T + 10);
      b.table.observe(tuple({ packets: 5, bytes: 500, sample: '10.5.0.8 -> 10.6.0.1' }), T);
      b.table.observe(tuple({ port: 23, verdict: 'deny', reason: 'policy', packets: 1, bytes: 60 }), T + 30);
      b.table.useRule('sensors-to-broker', 'allow', 0, 5, T + 30);
      await a.flush();
      await b.flush();
      await a.flush(); // a takes b's rows back
      for (const c of [a, b]) {
        const byPort = new Map(c.table.list().map((f) => [f.port, f]));
        expect(byPort.get(8883)).toEqual({ ...tuple({ packets: 8, bytes: 800 }), firstSeen: T, lastSeen: T + 10 }); // the sample first stored kept
        expect(byPort.get(23)).toMatchObject({ verdict: 'deny', packets: 1, lastSeen: T + 30 });
        expect(c.table.ruleUses()).toEqual([{ policy: 'sensors-to-broker', action: 'allow', index: 0, packets: 8, firstUsed: T + 10, lastUsed: T + 30 }]);
      }
      // a goes on: its new packets land once, on both, whatever the overlap of the pulls.
      a.table.useRule('sensors-to-broker', 'allow', 0, 2, T + 40);
      await a.flush();
      await b.flush();
      await b.flush();
      for (const c of [a, b]) expect(c.table.ruleUses()[0]).toMatchObject({ packets: 10, lastUsed: T + 40 });
    } finally {
      await store.close();
    }
  }, 60_000);

  it('the store keeps at most the bound, least recently seen trimmed first', async () => {
    const store = await open('bound');
    try {
      const a = new Controller(store, 100);
      // Two flushes within the memory's bound, 150 rows in all.
      for (const [from, to] of [[0, 80], [80, 150]]) {
        for (let p = from; p < to; p++) {
          a.table.observe(tuple({ port: p }), T + p);
          a.table.useRule('p', 'allow', p, 1, T + p);
        }
        await a.flush();
      }
      const ports = (await store.sql.query<{ port: number }>('select port from observed_tuples order by port')).map((r) => Number(r.port));
      expect(ports).toEqual([...Array(100).keys()].map((i) => i + 50));
      expect((await store.sql.query<{ n: unknown }>('select count(*)::int as n from rule_uses'))[0].n).toBe(100);
    } finally {
      await store.close();
    }
  }, 60_000);

  it('a flush the store refuses is kept and sent once with the next', async () => {
    const store = await open('refused');
    try {
      const a = new Controller(store);
      a.table.useRule('sensors-to-broker', 'allow', 0, 1, T);
      await a.flush();
      a.table.useRule('sensors-to-broker', 'allow', 0, 2, T + 50);
      a.table.observe(tuple(), T + 50);
      await store.sql.exec('alter table rule_uses rename to rule_uses_away');
      await expect(a.flush()).rejects.toThrow(/rule_uses/);
      await store.sql.exec('alter table rule_uses_away rename to rule_uses');
      a.table.useRule('sensors-to-broker', 'allow', 0, 4, T + 60);
      await a.flush();
      const b = new Controller(store);
      await b.flush(); // a fresh controller: every row
      expect(b.table.ruleUses()).toEqual([{ policy: 'sensors-to-broker', action: 'allow', index: 0, packets: 7, firstUsed: T, lastUsed: T + 60 }]);
      expect(b.table.list()).toEqual([expect.objectContaining({ port: 8883, packets: 3 })]);
    } finally {
      await store.close();
    }
  }, 60_000);
});
