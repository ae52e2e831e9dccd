import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ControllerOptions } from '../../apps/controller/src/config';
import { startController, type RunningController } from '../../apps/controller/src/main';
import { startPostgres, type TestPostgres } from '../support/postgres';

export type Driver = 'pglite' | 'postgres';

export interface TestController {
  ctl: RunningController;
  url: string;
  adminToken: string;
  dataDir: string;
  pg?: TestPostgres;
  databaseUrl?: string;
  /** fetch against the controller with a bearer token (admin by default). */
  call(method: string, p: string, body?: unknown, opts?: { token?: string | null; contentType?: string }): Promise<{ status: number; body: any; type: string }>;
  close(): Promise<void>;
}

export async function startTestController(driver: Driver, shared?: { pg: TestPostgres; databaseUrl: string }, options: ControllerOptions = {}): Promise<TestController> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-api-'));
  let pg = shared?.pg;
  let ownPg = false;
  let databaseUrl = shared?.databaseUrl;
  if (driver === 'postgres' && !databaseUrl) {
    pg = await startPostgres();
    ownPg = true;
    databaseUrl = await pg.createDatabase('cordon');
  }
  const stderr = process.stderr.write;
  // The first-start token banner is expected; keep test output clean.
  process.stderr.write = (() => true) as typeof process.stderr.write;
  let ctl: RunningController;
  try {
    ctl = await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir, databaseUrl, logLevel: 'error', ...options });
  } finally {
    process.stderr.write = stderr;
  }
  const tokenFile = path.join(dataDir, 'admin.token');
  const adminToken = fs.existsSync(tokenFile) ? fs.readFileSync(tokenFile, 'utf8').trim() : '';
  const call: TestController['call'] = async (method, p, body, opts = {}) => {
    const token = opts.token === undefined ? adminToken : opts.token;
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(ctl.url + p, { method, headers, body: payload });
    const type = res.headers.get('content-type') ?? '';
    const text = await res.text();
    let parsed: unknown = text;
    if (/json/.test(type) && !/ndjson/.test(type)) parsed = text ? JSON.parse(text) : null;
    return { status: res.status, body: parsed, type };
  };
  return {
    ctl,
    url: ctl.url,
    adminToken,
    dataDir,
    pg,
    databaseUrl,
    call,
    async close() {
      await ctl.close();
      if (ownPg) await pg?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
