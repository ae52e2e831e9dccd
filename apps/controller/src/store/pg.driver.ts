import { Client, Pool } from 'pg';
import { SqlDatabase, SqlExecutor } from './sql';

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
