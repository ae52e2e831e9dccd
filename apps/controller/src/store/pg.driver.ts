import { Client, Pool } from 'pg';
import { SessionLock, SqlDatabase, SqlExecutor } from './sql';

/** A PostgreSQL server shared by one or several controllers. */
export async function openPostgres(url: string): Promise<SqlDatabase> {
  const pool = new Pool({ connectionString: url, max: 10 });
  // An idle client losing its server must not crash the controller; the next query reconnects.
  pool.on('error', () => undefined);
  // Fail at boot, with the server's own reason, rather than on the first request.
  const probe = await pool.connect();
  probe.release();

  const exec = (c: { query: Pool['query'] }): SqlExecutor => ({
    async exec(script: string) {
      // Without parameters pg uses the simple protocol, which accepts several statements.
      await (c.query as (t: string) => Promise<unknown>)(script);
    },
    async query<T>(text: string, params: unknown[] = []) {
      const res = await (c.query as (t: string, p: unknown[]) => Promise<{ rows: T[] }>)(text, params);
      return res.rows;
    },
  });
  const root = exec(pool);
  const listeners = new Set<Client>();

  return {
    driver: 'postgres',
    query: root.query,
    exec: root.exec,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const out = await fn(exec(client));
        await client.query('commit');
        return out;
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    sessionLock(key: number): SessionLock {
      let client: Client | null = null;
      let held = false;
      const dropped = new WeakSet<Client>();
      const drop = (c: Client) => {
        if (dropped.has(c)) return;
        dropped.add(c);
        if (client === c) {
          client = null;
          held = false;
        }
        listeners.delete(c);
        void c.end().catch(() => undefined);
      };
      return {
        async tryAcquire() {
          if (held && client) return true;
          if (!client) {
            const c = new Client({ connectionString: url });
            c.on('error', () => drop(c));
            c.on('end', () => drop(c));
            await c.connect();
            client = c;
            listeners.add(c);
          }
          const c = client;
          try {
            const r = await c.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [key]);
            held = r.rows[0]?.ok === true;
          } catch {
            drop(c);
          }
          return held;
        },
        async release() {
          const c = client;
          if (c) drop(c); // closing the session releases its locks
        },
      };
    },
    async listen(channel, onNotify) {
      const client = new Client({ connectionString: url });
      client.on('error', () => undefined);
      await client.connect();
      listeners.add(client);
      client.on('notification', (msg) => {
        if (msg.channel === channel) onNotify(msg.payload ?? '');
      });
      await client.query(`listen ${quoteIdent(channel)}`);
      return async () => {
        listeners.delete(client);
        await client.end().catch(() => undefined);
      };
    },
    async close() {
      await Promise.all([...listeners].map((c) => c.end().catch(() => undefined)));
      listeners.clear();
      await pool.end();
    },
  };
}

function quoteIdent(s: string): string {
  return '"' + s.replace(/"/g, '""') + '"';
}
