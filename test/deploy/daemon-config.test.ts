/**
 * The daemons' configuration files and logs, through the built CLI (bin/cordon.js
 * -> dist) as real processes: values from --config are used, flags and CORDON_*
 * variables win over them, a bad file stops the daemon with exit code 2 and says
 * what is wrong where; --log-level filters, logs are JSON off a terminal and
 * human-readable on one (a pty from util-linux `script`), and an expected refusal
 * (no device CA: 503) is one warn line without a stack; with NOTIFY_SOCKET set the
 * controller reports READY=1 (Type=notify). No kernel, no root.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'cordon.js');
/** Without the developer's CORDON_* settings, and JSON logs unless a test asks otherwise. */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CORDON_')));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30000, env: { ...ENV, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Starts a controller, waits for its "listening" line, returns its URL, output so far and a stop(). */
async function controller(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'controller', ...args], { env: { ...ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const t0 = Date.now();
  let m: RegExpExecArray | null = null;
  while (!(m = /listening on (http:\/\/\S+) grpc \S+ \(admin token: (\S+)\)/.exec(log))) {
    if (child.exitCode !== null || Date.now() - t0 > 45000) {
      child.kill('SIGKILL');
      throw new Error(`controller did not start (exit ${child.exitCode}):\n${log}`);
    }
    await sleep(50);
  }
  return {
    url: m[1],
    adminTokenPath: m[2],
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      return log;
    },
  };
}

/** pino's JSON lines in OUT. */
const jsonLines = (out: string) =>
  out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string; [k: string]: unknown });

describe('daemon configuration files and logs (processes)', () => {
  let dir: string;
  let file: string;
  let dataDir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-daemon-config-'));
    dataDir = path.join(dir, 'from-flag');
    file = path.join(dir, 'controller.yaml');
    fs.writeFileSync(file, `http: 127.0.0.1:0\ngrpc: 127.0.0.1:0\ndata-dir: ${path.join(dir, 'from-file')}\ncert-ttl: 12h\nlog-level: debug\n`);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('config_file_values_are_used_and_a_flag_wins_over_the_file', async () => {
    const ctl = await controller(['--config', file, '--data-dir', dataDir]);
    const log = jsonLines(await ctl.stop());
    // From the file: the level (debug lines show) and the certificate lifetime.
    expect(log.some((l) => l.level === 20)).toBe(true);
    expect(log.find((l) => l.msg === 'controller started')?.certTtlMs).toBe(12 * 3_600_000);
    // From the flag: the data directory; the file's was never made.
    expect(ctl.adminTokenPath).toBe(path.join(dataDir, 'admin.token'));
    expect(fs.existsSync(path.join(dir, 'from-file'))).toBe(false);
  }, 60_000);

  test('config_environment_wins_over_the_file_and_an_expected_refusal_is_one_warn_line_without_a_stack', async () => {
    const ctl = await controller(['--config', file, '--data-dir', dataDir], { CORDON_LOG_LEVEL: 'warn' });
    const r = await fetch(`${ctl.url}/v1/ca/cert`); // no --kek-file or PKCS#11 token: the device CA is off
    expect(r.status).toBe(503);
    await sleep(200);
    const log = jsonLines(await ctl.stop());
    expect(log.filter((l) => l.level < 40)).toEqual([]); // CORDON_LOG_LEVEL=warn beat the file's debug
    const refused = log.filter((l) => l.msg === 'request refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: 40, status: 503, url: '/v1/ca/cert', title: 'Device CA not configured' });
    expect(JSON.stringify(log)).not.toMatch(/stack|    at /);
    expect(log.filter((l) => l.level >= 50)).toEqual([]);
  }, 60_000);

  test('config_a_bad_file_exits_2_naming_the_file_and_what_is_wrong', async () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'htp: 127.0.0.1:7470\nlog-level: loud\n');
    const c = await cli(['controller', '--config', bad, '--data-dir', dataDir]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain(`invalid controller configuration ${bad}`);
    expect(c.stderr).toMatch(/Unrecognized key: "htp"/);
    expect(c.stderr).toMatch(/log-level: must be one of/);
    const missing = await cli(['enforcer', '--config', path.join(dir, 'no-such.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the enforcer configuration .*no-such\.yaml: no such file/);
    const e = path.join(dir, 'enforcer.yaml');
    fs.writeFileSync(e, 'controller: 10.0.0.1:7471\ninterface: [eth1\n');
    const broken = await cli(['enforcer', '--config', e]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain(`${e} is not valid YAML`);
    // A value from the file that only the daemon's own validation can judge is exit 2 as well.
    fs.writeFileSync(e, 'controller: 10.0.0.1:7471\ninterface: [eth1]\nflow-interval: 10ms\n');
    const range = await cli(['enforcer', '--config', e]);
    expect(range.code).toBe(2);
    expect(range.stderr).toMatch(/--flow-interval must be a duration/);
  });

  test('log_level_is_checked_on_both_daemons', async () => {
    const e = await cli(['enforcer', '--controller', '10.0.0.1:7471', '--interface', 'eth1', '--log-level', 'loud']);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/--log-level must be one of trace, debug, info, warn, error/);
    const c = await cli(['controller', '--data-dir', dataDir, '--log-level', 'loud']);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/--log-level must be one of trace, debug, info, warn, error/);
  });

  test('ready_the_controller_tells_systemd_once_it_listens_when_NOTIFY_SOCKET_is_set', async () => {
    // systemd's side of Type=notify: a datagram socket (python3: Node has no Unix datagram sockets).
    const sock = path.join(dir, 'notify.sock');
    const receiver = spawn('python3', ['-c', `import socket,sys\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('bound', flush=True)\nprint(s.recv(4096).decode(), flush=True)`, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    let got = '';
    receiver.stdout!.on('data', (d) => (got += d));
    try {
      while (!got.includes('bound')) await sleep(20);
      const ctl = await controller(['--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn'], { NOTIFY_SOCKET: sock });
      const t0 = Date.now();
      while (!got.includes('READY=1') && Date.now() - t0 < 10000) await sleep(20);
      await ctl.stop();
      expect(got).toMatch(/^READY=1$/m);
      expect(got).toContain(`STATUS=serving ${ctl.url}`);
    } finally {
      receiver.kill();
    }
  }, 60_000);

  test('log_lines_are_human_readable_on_a_terminal', async () => {
    // `script` gives the controller a pty for stderr; it stops after a few seconds by itself.
    const cmd = `timeout -s INT 8 ${process.execPath} ${CLI} controller --config ${file} --data-dir ${dataDir} --log-level info`;
    const out = await new Promise<string>((resolve) => execFile('script', ['-qefc', cmd, '/dev/null'], { env: ENV, timeout: 30000 }, (_e, stdout) => resolve(stdout)));
    const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/\[\d\d:\d\d:\d\d\.\d{3}\] INFO: controller started/);
    expect(plain).not.toMatch(/^\{"level"/m);
  }, 60_000);
});
