/**
 * The write-behind monitoring state (migration 1300) on both drivers: two
 * controllers' tables (UnknownDevices, EncryptionStats) flushing into one
 * database add up — counters summed, not overwritten; targets and destinations
 * merged in order and capped — and each sees the other's after its next
 * flush. A flush the store refuses is kept and sent once with the next one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UnknownDevices } from '../monitoring/discovery';
import type { FlowRecord } from '../monitoring/flow-record';
import { EncryptionStats, MAX_ADDRESSES, MAX_CLEAR_TO, MAX_SOURCES, type EncryptionFlowRecord } from '../plaintext/encryption-stats';
import { openStore } from './open';
import { SqlStore } from './store';
import { startPostgres, TestPostgres } from '../../../../test/support/postgres';

type Rec = FlowRecord & EncryptionFlowRecord;
const T = 1_700_000_000_000;
const rec = (over: Partial<Rec>): Rec =>
  ({ src: '10.5.0.9', dst: '10.6.0.1', sport: 40000, dport: 1883, protocol: 6, family: 4, srcIdentity: 10, dstIdentity: 11, verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE', ruleId: 0, packetsFwd: 2, bytesFwd: 100, packetsRev: 1, bytesRev: 50, firstSeen: T, lastSeen: T + 10, encryption: 'mqtt', ...over }) as Rec;
const who = () => ({ device: null, segment: 'sensors' });

/** One controller's monitoring state and its flush, as discovery.service.ts and plaintext.service.ts run it. */
class Controller {
  readonly unknown = new UnknownDevices(10_000, 3);
  readonly stats = new EncryptionStats();
  private at: Date | null = null;
  constructor(private readonly store: SqlStore) {}
  see(enforcer: string, r: Rec) {
    this.unknown.observe(enforcer, r, 'sensors', r.lastSeen!);
    this.stats.ingest(enforcer, [r], who, r.lastSeen);
  }
  async flush() {
    const u = this.unknown.takeChanges();
    const p = this.stats.takeChanges();
    const since = this.at && new Date(this.at.getTime() - 30_000);
    try {
      const ru = await this.store.unknownDevices.sync({ ...u, pull: true, since, max: 10_000, maxTargets: 3 });
      const rp = await this.store.plaintextTallies.sync({ changes: p, pull: true, since, maxSources: MAX_SOURCES, maxClearTo: MAX_CLEAR_TO, maxAddresses: MAX_ADDRESSES });
      this.unknown.merge(ru.rows);
      this.stats.merge(rp.rows);
      this.at = ru.at;
    } catch (err) {
      this.unknown.restoreChanges(u);
      this.stats.restoreChanges(p);
      throw err;
    }
  }
}

describe.each(['pglite', 'postgres'] as const)('monitoring state on %s', (driver) => {
  let pg: TestPostgres | undefined;
  const dirs: string[] = [];
  const open = async (name: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-mstate-'));
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

  it('two controllers on one database add up: counters summed, lists merged and capped, each sees the other after a flush', async () => {
    const store = await open('addup');
    try {
      const a = new Controller(store);
      const b = new Controller(store);
      a.see('gw-1', rec({ dport: 1883 }));
      a.see('gw-1', rec({ sport: 40001, dport: 80, encryption: 'http' }));
      b.see('gw-2', rec({ sport: 40002, dport: 8883, encryption: 'tls', srcMac: '02:00:00:00:00:99', lastSeen: T + 20 } as Partial<Rec>));
      b.see('gw-2', rec({ sport: 40003, dport: 23, encryption: 'pending', verdict: 'VERDICT_DENY', lastSeen: T + 30 }));
      await a.flush();
      await b.flush();
      await a.flush(); // a takes b's rows back
      for (const c of [a, b]) {
        expect(c.unknown.get('10.5.0.9')).toMatchObject({
          enforcer: 'gw-2',
          mac: '02:00:00:00:00:99',
          flows: 4,
          packets: 12,
          bytes: 600,
          denied: 2,
          firstSeen: new Date(T).toISOString(),
          lastSeen: new Date(T + 30).toISOString(),
          tried: ['10.6.0.1:1883/tcp allow', '10.6.0.1:80/tcp allow', '10.6.0.1:8883/tcp allow'], // capped at 3, first tried first
        });
        const r = c.stats.report();
        expect(r.total).toMatchObject({ flows: 3, flowsInClear: 2, flowsEncrypted: 1, bytes: 450, bytesInClear: 300 });
        expect(r.devices).toEqual([expect.objectContaining({ device: null, addresses: ['10.5.0.9'], segment: 'sensors', flows: 3, byClass: { tls: { flows: 1, bytes: 150 }, mqtt: { flows: 1, bytes: 150 }, http: { flows: 1, bytes: 150 } } })]);
        expect(r.devices[0].clearTo.sort()).toEqual(['10.6.0.1:1883/tcp', '10.6.0.1:80/tcp']);
      }
      // b's flow goes on: its new bytes land once, on both, whatever the overlap of the pulls.
      b.see('gw-2', rec({ sport: 40002, dport: 8883, encryption: 'tls', bytesFwd: 1000, bytesRev: 0, lastSeen: T + 40 }));
      await b.flush();
      await a.flush();
      await a.flush();
      for (const c of [a, b]) expect(c.stats.report().total).toMatchObject({ flows: 3, bytes: 1450, bytesEncrypted: 1150 });
      expect((await store.unknownDevices.list())[0]).toMatchObject({ flows: 5, bytes: 1600 });
    } finally {
      await store.close();
    }
  }, 60_000);

  it('a flush the store refuses is kept and sent once with the next', async () => {
    const store = await open('refused');
    try {
      const a = new Controller(store);
      a.see('gw-1', rec({}));
      await a.flush();
      a.see('gw-1', rec({ bytesFwd: 10, bytesRev: 0, lastSeen: T + 50 }));
      await store.sql.exec('alter table unknown_devices rename to unknown_devices_away; alter table plaintext_tallies rename to plaintext_tallies_away');
      await expect(a.flush()).rejects.toThrow(/unknown_devices/);
      await store.sql.exec('alter table unknown_devices_away rename to unknown_devices; alter table plaintext_tallies_away rename to plaintext_tallies');
      a.see('gw-1', rec({ bytesFwd: 5, bytesRev: 0, lastSeen: T + 60 }));
      await a.flush();
      const b = new Controller(store);
      await b.flush(); // a fresh controller: every row
      expect(b.unknown.get('10.5.0.9')).toMatchObject({ flows: 3, bytes: 165, lastSeen: new Date(T + 60).toISOString() });
      expect(b.stats.report().total).toMatchObject({ flows: 1, bytes: 165 });
    } finally {
      await store.close();
    }
  }, 60_000);
});
