/**
 * Real peers for the credential tests: a controller with a device CA (KEK file or
 * SoftHSM2 token), a Mosquitto broker on loopback with a temporary config, and
 * the Debian command-line tools (openssl, curl, mosquitto_pub) run with a bound.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startController, type RunningController } from '../../apps/controller/src/main';
import { CREDENTIAL_ENV } from '../../apps/controller/src/credentials/credentials.config';
import { freePort, until } from '../support/wait';
import { ensureCliBuilt } from '../support/cli-build';
import type { ControllerOptions } from '../../apps/controller/src/config';

export { freePort } from '../support/wait';

export const SOFTHSM_MODULE = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so'].find((p) => fs.existsSync(p)) ?? '/usr/lib/softhsm/libsofthsm2.so';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command, killed after timeoutMs. Never throws on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 15_000, env: opts.env ?? process.env, cwd: opts.cwd, encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? ((err as NodeJS.ErrnoException & { code?: unknown }).code as number | undefined) ?? 1 : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}


export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** until() where fn's errors count as not yet (a server still starting), the last one told on timeout. */
export function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  return until(what, fn, timeoutMs, everyMs, { retryErrors: true });
}

// ---- controller -------------------------------------------------------------------

export interface CaController {
  ctl: RunningController;
  url: string;
  token: string;
  dataDir: string;
  estPort: number;
  pskFile: string;
  call(method: string, p: string, body?: unknown): Promise<{ status: number; body: any; raw: Buffer; type: string }>;
  close(): Promise<void>;
}

/** Starts a controller whose device CA key is sealed by a KEK (default) or in a PKCS#11 token. */
export async function startCaController(opts: { kekFile?: string; pkcs11?: { module: string; token: string; pinFile: string; conf: string }; dataDir?: string; overlap?: string; env?: Record<string, string>; controller?: ControllerOptions } = {}): Promise<CaController> {
  const dataDir = opts.dataDir ?? tmpDir('cordon-cred-');
  const estPort = await freePort();
  const pskFile = path.join(dataDir, 'psk_file');
  const env: Record<string, string | undefined> = {
    [CREDENTIAL_ENV.est]: `127.0.0.1:${estPort}`,
    [CREDENTIAL_ENV.kekFile]: opts.kekFile,
    [CREDENTIAL_ENV.pkcs11Module]: opts.pkcs11?.module,
    [CREDENTIAL_ENV.pkcs11Token]: opts.pkcs11?.token,
    [CREDENTIAL_ENV.pkcs11PinFile]: opts.pkcs11?.pinFile,
    [CREDENTIAL_ENV.pskFile]: pskFile,
    [CREDENTIAL_ENV.overlap]: opts.overlap,
    SOFTHSM2_CONF: opts.pkcs11?.conf ?? process.env.SOFTHSM2_CONF,
    ...opts.env,
  };
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const stderr = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  let ctl: RunningController;
  try {
    ctl = await startController({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', dataDir, logLevel: 'error', ...opts.controller });
  } finally {
    process.stderr.write = stderr;
    for (const [k, v] of Object.entries(saved)) {
      if (k === 'SOFTHSM2_CONF') continue; // the token library reads it again on use
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const token = fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  const call: CaController['call'] = async (method, p, body) => {
    const res = await fetch(ctl.url + p, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const raw = Buffer.from(await res.arrayBuffer());
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, raw, type, body: /json/.test(type) ? JSON.parse(raw.toString('utf8')) : raw.toString('utf8') };
  };
  return {
    ctl,
    url: ctl.url,
    token,
    dataDir,
    estPort,
    pskFile,
    call,
    async close() {
      await ctl.close();
    },
  };
}

export function makeKek(dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = path.join(dir, 'kek');
  fs.writeFileSync(f, randomBytes(32), { mode: 0o600 });
  return f;
}

export function device(name: string, labels: Record<string, string> = {}, address = '10.10.1.7') {
  return { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name, labels }, spec: { addresses: [address] } };
}

// ---- SoftHSM2 -----------------------------------------------------------------------

export interface SoftHsm {
  conf: string;
  token: string;
  pin: string;
  pinFile: string;
  module: string;
}

export async function initSoftHsm(dir: string, token = 'cordon-test'): Promise<SoftHsm> {
  fs.mkdirSync(path.join(dir, 'tokens'), { recursive: true });
  const conf = path.join(dir, 'softhsm2.conf');
  fs.writeFileSync(conf, `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const pin = '246810';
  const r = await run('softhsm2-util', ['--init-token', '--free', '--label', token, '--so-pin', '13579', '--pin', pin], { env: { ...process.env, SOFTHSM2_CONF: conf } });
  if (r.code !== 0) throw new Error(`softhsm2-util --init-token failed: ${r.stderr || r.stdout}`);
  const pinFile = path.join(dir, 'pin');
  fs.writeFileSync(pinFile, pin + '\n', { mode: 0o600 });
  return { conf, token, pin, pinFile, module: SOFTHSM_MODULE };
}

// ---- Mosquitto -----------------------------------------------------------------------

export interface Broker {
  tlsPort: number;
  pskPort: number;
  dir: string;
  /** CA that signed the broker's own server certificate (clients verify the broker with it). */
  serverCa: string;
  crlFile: string;
  proc: ChildProcess;
  log(): string;
  reload(): void;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A Mosquitto on two loopback ports: TLS requiring a client certificate from the
 * Cordon device CA, checked against crlFile; and TLS-PSK reading pskFile.
 */
export async function startBroker(opts: { deviceCa: string; crl: Buffer | string; pskFile: string }): Promise<Broker> {
  const dir = tmpDir('cordon-mosq-');
  // The broker's own identity: a throwaway CA made with openssl, apart from Cordon's.
  const serverCa = path.join(dir, 'server-ca.crt');
  const must = async (args: string[]) => {
    const r = await run('openssl', args, { cwd: dir });
    if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  await must(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server-ca.key', '-out', 'server-ca.crt', '-days', '2', '-subj', '/CN=broker test CA']);
  await must(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await must(['x509', '-req', '-in', 'server.csr', '-CA', 'server-ca.crt', '-CAkey', 'server-ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf']);
  fs.writeFileSync(path.join(dir, 'device-ca.crt'), opts.deviceCa);
  const crlFile = path.join(dir, 'crl.pem');
  fs.writeFileSync(crlFile, opts.crl);
  const tlsPort = await freePort();
  const pskPort = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    [
      'user root',
      'per_listener_settings true',
      'persistence false',
      `log_dest file ${path.join(dir, 'mosquitto.log')}`,
      'log_type all',
      '',
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${path.join(dir, 'device-ca.crt')}`,
      `certfile ${path.join(dir, 'server.crt')}`,
      `keyfile ${path.join(dir, 'server.key')}`,
      'require_certificate true',
      'use_identity_as_username true',
      `crlfile ${crlFile}`,
      'allow_anonymous true',
      '',
      `listener ${pskPort} 127.0.0.1`,
      'psk_hint cordon',
      `psk_file ${opts.pskFile}`,
      'use_identity_as_username true',
      'allow_anonymous true',
      '',
    ].join('\n'),
  );
  let proc!: ChildProcess;
  const start = async () => {
    proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr?.on('data', (d) => (err += String(d)));
    await waitFor(
      'mosquitto to listen',
      async () => {
        if (proc.exitCode !== null) throw new Error(`mosquitto exited ${proc.exitCode}: ${err} ${broker.log()}`);
        return (await canConnect(tlsPort)) && (await canConnect(pskPort));
      },
      10_000,
    );
  };
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([done, new Promise((r) => setTimeout(r, 5000).unref())]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  const broker: Broker = {
    tlsPort,
    pskPort,
    dir,
    serverCa,
    crlFile,
    get proc() {
      return proc;
    },
    log: () => {
      try {
        return fs.readFileSync(path.join(dir, 'mosquitto.log'), 'utf8');
      } catch {
        return '';
      }
    },
    reload: () => void proc.kill('SIGHUP'),
    restart: async () => {
      await stop();
      await start();
    },
    stop,
  };
  await start();
  return broker;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Publishes one QoS 1 message with a client certificate; exit 0 means the broker accepted it. */
export function publishWithCert(b: Broker, cert: string, key: string, id = 'dev'): Promise<Run> {
  return run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.tlsPort), '--cafile', b.serverCa, '--cert', cert, '--key', key, '-i', id, '-t', 'cordon/test', '-m', 'hello', '-q', '1'], { timeoutMs: 10_000 });
}

export function publishWithPsk(b: Broker, identity: string, psk: string, id = 'psk-dev'): Promise<Run> {
  return run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.pskPort), '--psk', psk, '--psk-identity', identity, '-i', id, '-t', 'cordon/test', '-m', 'hello', '-q', '1'], { timeoutMs: 10_000 });
}

// ---- controller as a process -----------------------------------------------------------

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'bin/cordon.js');

/** Runs the built cordon CLI (bin/cordon.js; dist/ built first when a source is newer), as a separate process: it starts in a second where compiling the sources with tsx took up to tens on a busy machine. */
export function cordonArgs(args: string[]): [string, string[]] {
  ensureCliBuilt();
  return [process.execPath, [CLI, ...args]];
}

export interface ControllerProcess {
  url: string;
  token: string;
  dataDir: string;
  estPort: number;
  proc: ChildProcess;
  stderr(): string;
  call: CaController['call'];
  stop(): Promise<void>;
}

/**
 * `cordon controller` in its own process with the given extra flags. The PKCS#11
 * tests need this: SoftHSM2 reads SOFTHSM2_CONF from the real process
 * environment, which Jest's sandboxed process.env does not reach.
 */
export async function spawnController(extra: string[], env: NodeJS.ProcessEnv, dataDir = tmpDir('cordon-cred-proc-')): Promise<ControllerProcess> {
  const estPort = await freePort();
  const [cmd, args] = cordonArgs(['controller', '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn', '--est', `127.0.0.1:${estPort}`, ...extra]);
  const proc = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (d) => (err += String(d)));
  const url = await waitFor(
    'the controller to listen',
    async () => {
      if (proc.exitCode !== null) throw new Error(`controller exited ${proc.exitCode}: ${err}`);
      return /listening on (http:\/\/\S+)/.exec(err)?.[1];
    },
    45_000,
  ).catch((e) => {
    proc.kill('SIGKILL');
    throw e;
  });
  const token = fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  const call: CaController['call'] = async (method, p, body) => {
    const res = await fetch(url + p, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const raw = Buffer.from(await res.arrayBuffer());
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, raw, type, body: /json/.test(type) ? JSON.parse(raw.toString('utf8')) : raw.toString('utf8') };
  };
  return {
    url,
    token,
    dataDir,
    estPort,
    proc,
    stderr: () => err,
    call,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([done, new Promise((r) => setTimeout(r, 10_000).unref())]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}

/** Runs `cordon controller` expecting it to fail at start; returns its exit code and stderr. */
export async function controllerFails(extra: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const dataDir = tmpDir('cordon-cred-fail-');
  const [cmd, args] = cordonArgs(['controller', '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'error', '--est', '127.0.0.1:0', ...extra]);
  const r = await run(cmd, args, { env: { ...process.env, ...env }, timeoutMs: 45_000, cwd: ROOT });
  fs.rmSync(dataDir, { recursive: true, force: true });
  return r;
}
