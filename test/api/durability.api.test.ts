/**
 * The real `cordon` executable (bin/cordon.js after `tsc -p tsconfig.build.json`):
 * an apply that was acknowledged survives SIGKILL of the controller right after.
 */
import { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SITE } from './fixtures';
import { ensureCliBuilt } from '../support/cli-build';
import { exited, startControllerProcess } from '../support/controller-process';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/cordon.js');

const startChild = (dataDir: string) => startControllerProcess(dataDir, null);
const killed = exited;

describe('controller process (bin/cordon.js)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-proc-'));
  let child: ChildProcess | undefined;

  beforeAll(() => {
    ensureCliBuilt();
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await killed(child);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps an acknowledged apply across SIGKILL and restart', async () => {
    let c = await startChild(dataDir);
    child = c.child;
    const tokenFile = path.join(dataDir, 'admin.token');
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = fs.readFileSync(tokenFile, 'utf8').trim();
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const r = await fetch(`${c.url}/v1/apply`, { method: 'POST', headers, body: JSON.stringify({ documents: SITE }) });
    expect(r.status).toBe(200);
    const applied = (await r.json()) as { generation: number; hash: string };
    c.child.kill('SIGKILL');
    await killed(c.child);

    c = await startChild(dataDir);
    child = c.child;
    // Same token file, same admin: first start only makes one.
    expect(fs.readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    const seg = await fetch(`${c.url}/v1/segments/sensors`, { headers });
    expect(seg.status).toBe(200);
    const b = await (await fetch(`${c.url}/v1/bundles/current`, { headers })).json();
    expect(b).toMatchObject({ generation: applied.generation, hash: applied.hash });
    c.child.kill('SIGTERM');
    await killed(c.child);
  }, 180_000);
});
