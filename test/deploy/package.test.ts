/**
 * The Debian package, end to end: `scripts/package.sh` (npm run package) builds
 * the .deb from the built checkout, `dpkg --root` installs it into an empty
 * directory (its postinst makes the cordon user there, not on this host), and
 * from that install alone (its own node_modules and addon, a PATH holding node
 * and nothing else: no clang, cc or cmake) a controller and an enforcer run as
 * the package's user, the enforcer with only the capabilities of its unit and
 * the netns drop-in (CAP_BPF CAP_NET_ADMIN CAP_PERFMON CAP_SYS_ADMIN), both
 * configured by the package's /etc/cordon/*.yaml. Packets cross the gateway:
 * one port allowed, one dropped. The units pass `systemd-analyze verify`.
 *
 * Needs root, bpffs, dpkg and the built checkout (npm run build); run under
 * flock /tmp/cordon-kernel.lock.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { down, gatewayInterfaces, gatewayNs, runIn, site, spawnIn, Topology, up } from '../../scripts/topology';
import { until } from '../support/wait';

const ROOT = path.resolve(__dirname, '..', '..');
const AGENT = path.join(ROOT, 'test', 'support', 'traffic-agent.js');
const topo: Topology = { prefix: 'cpkg', net: 251, sites: [{ name: 'client', index: 1 }, { name: 'server', index: 2 }] };
const client = site(topo, 'client');
const server = site(topo, 'server');

/** A process with its output kept for the failure message. */
class Proc {
  log = '';
  readonly exited: Promise<number | null>;
  constructor(readonly what: string, readonly child: ChildProcess) {
    child.stdout?.on('data', (d) => (this.log += d));
    child.stderr?.on('data', (d) => (this.log += d));
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
  }
  async waitFor(re: RegExp, ms = 30000): Promise<RegExpExecArray> {
    await until(`${this.what} to print ${re}`, () => re.test(this.log) || this.child.exitCode !== null, ms, 50);
    const m = re.exec(this.log);
    if (!m) throw new Error(`${this.what} exited (${this.child.exitCode}) before ${re}:\n${this.log}`);
    return m;
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(t);
  }
}

const root = process.getuid?.() === 0;
(root ? describe : describe.skip)('the Debian package, installed into an empty root (root)', () => {
  let dir: string;
  let inst: string; // the installed root
  let deb: string;
  let bin: string; // PATH of the installed daemons: node only
  let uid = 0;
  let gid = 0;
  let ctl: Proc | null = null;
  let enf: Proc | null = null;
  const servers: ChildProcess[] = [];

  /** The installed `cordon`, from inside the install, with a PATH that has node and nothing else. */
  const cordonArgs = () => [process.execPath, path.join(inst, 'opt', 'cordon', 'bin', 'cordon.js')];
  const cleanEnv = (extra: Record<string, string> = {}) => ({ PATH: bin, HOME: dir, LANG: 'C.UTF-8', CORDON_LOG_FORMAT: 'json', ...extra });
  /** As the package's user, with exactly CAPS (none: []). */
  const asCordon = (caps: string[]) => {
    const set = ['-all', ...caps.map((c) => `+${c}`)].join(',');
    return ['/usr/bin/setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`, '--no-new-privs'];
  };
  const installedCli = (args: string[]) => {
    const r = spawnSync(cordonArgs()[0], [...cordonArgs().slice(1), ...args], { cwd: inst, env: cleanEnv(), encoding: 'utf8', timeout: 30000 });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  };
  const connect = async (port: number, timeoutMs = 800) => {
    const r = await runIn(client.ns, ['node', AGENT, 'connect', server.v4, String(port), String(timeoutMs)], 10000);
    return JSON.parse(r.stdout.trim().split('\n').pop() || '{}').ok === true;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-package-'));
    fs.chmodSync(dir, 0o755); // the package's user walks into the install below it
    // Uncompressed: the test checks the contents, not xz; `npm run package` compresses.
    const out = execFileSync('bash', [path.join(ROOT, 'scripts', 'package.sh'), '--no-build', '--out', path.join(dir, 'out')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CORDON_DEB_COMPRESS: 'none' },
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 120_000,
    });
    deb = out.trim().split('\n').pop()!;
    inst = path.join(dir, 'root');
    for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'etc']) fs.mkdirSync(path.join(inst, d), { recursive: true });
    fs.writeFileSync(path.join(inst, 'var/lib/dpkg/status'), '');
    // --force-depends: this empty root has no nodejs or libbpf1 packages (this host's are used);
    // chrootless: the maintainer scripts run here with DPKG_ROOT set, and act on that root.
    execFileSync('dpkg', [`--root=${inst}`, '--force-depends', '--force-script-chrootless', '--log=/dev/null', '-i', deb], { stdio: 'pipe' });
    const pw = /^cordon:x:(\d+):(\d+):/m.exec(fs.readFileSync(path.join(inst, 'etc', 'passwd'), 'utf8'));
    if (!pw) throw new Error('the postinst did not create the cordon user in the install root');
    [uid, gid] = [Number(pw[1]), Number(pw[2])];
    bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    up(topo);
  }, 150_000);

  afterAll(async () => {
    await enf?.stop();
    await ctl?.stop();
    for (const s of servers) s.kill('SIGKILL');
    down(topo); // the programs attached in the gateway go with its interfaces; the pins lived in a private bpffs
    if (process.env.E2E_LOG) process.stderr.write(`controller:\n${ctl?.log}\nenforcer:\n${enf?.log}\n`);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  test('package_depends_on_runtime_libraries_only_and_holds_the_prebuilt_datapath', () => {
    const depends = execFileSync('dpkg-deb', ['-f', deb, 'Depends'], { encoding: 'utf8' });
    expect(depends).toMatch(/\bnodejs \(>= 20\)/);
    expect(depends).toMatch(/\blibbpf1\b/);
    expect(depends).toMatch(/\blibelf1\b/);
    expect(depends).not.toMatch(/clang|cmake|libbpf-dev|gcc|g\+\+|llvm|bpftool/);
    const opt = path.join(inst, 'opt', 'cordon');
    for (const f of ['native/build/Release/cordon_native.node', 'bpf/cordon.bpf.o', 'dist/apps/cli/src/main.js', 'apps/console/dist/app.js', 'node_modules/@grpc/grpc-js/package.json']) {
      expect(fs.existsSync(path.join(opt, f))).toBe(true);
    }
    // Production dependencies only.
    for (const dev of ['typescript', 'jest', 'cmake-js', 'esbuild', 'tsx']) expect(fs.existsSync(path.join(opt, 'node_modules', dev))).toBe(false);
    expect(fs.readlinkSync(path.join(inst, 'usr', 'bin', 'cordon'))).toBe('/opt/cordon/bin/cordon.js');
    expect(fs.readFileSync(path.join(inst, 'var/lib/dpkg/info/cordon.conffiles'), 'utf8').split('\n')).toEqual(expect.arrayContaining(['/etc/cordon/controller.yaml', '/etc/cordon/enforcer.yaml']));
    // The daemons' PATH has no compiler, and their modules resolve inside the install.
    for (const tool of ['clang', 'cc', 'gcc', 'cmake', 'make']) expect(fs.existsSync(path.join(bin, tool))).toBe(false);
    const resolved = spawnSync(process.execPath, ['-p', "require.resolve('@grpc/grpc-js') + ' ' + require.resolve('pino')"], { cwd: path.join(opt, 'dist'), env: cleanEnv(), encoding: 'utf8' });
    for (const p of resolved.stdout.trim().split(' ')) expect(p.startsWith(opt + '/')).toBe(true);
  });

  test('package_units_pass_systemd_analyze_verify_and_are_hardened', () => {
    const units = ['cordon-controller.service', 'cordon-enforcer.service'].map((u) => path.join(inst, 'lib', 'systemd', 'system', u));
    // verify exits 0 on unknown keys too: its stderr must be empty.
    const r = spawnSync('systemd-analyze', ['verify', ...units], { encoding: 'utf8' });
    expect({ code: r.status, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    for (const u of units) {
      const text = fs.readFileSync(u, 'utf8');
      expect(text).toMatch(/^User=cordon$/m);
      expect(text).toMatch(/^RestartPreventExitStatus=2$/m);
      expect(text).toMatch(/^ProtectKernelModules=yes$/m);
      expect(text).toMatch(/^RestrictAddressFamilies=/m);
      expect(text).toMatch(/^SystemCallFilter=/m);
      const s = spawnSync('systemd-analyze', ['security', '--offline=true', u], { encoding: 'utf8' });
      const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(s.stdout)?.[1] ?? NaN);
      expect(score).toBeLessThanOrEqual(3.0);
    }
    const enforcer = fs.readFileSync(units[1], 'utf8');
    expect(enforcer).toMatch(/^AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON$/m);
    expect(enforcer).toMatch(/^Before=network-pre\.target/m);
    expect(fs.readFileSync(units[0], 'utf8')).toMatch(/^Type=notify$/m);
  });

  test('package_installed_controller_and_enforcer_run_as_cordon_from_the_install_alone_and_enforce', async () => {
    // The package's own config files, given the test's addresses (as an operator edits them).
    const etc = path.join(inst, 'etc', 'cordon');
    const ctlYaml = YAML.parse(fs.readFileSync(path.join(etc, 'controller.yaml'), 'utf8'));
    const dataDir = path.join(inst, 'var', 'lib', 'cordon', 'controller');
    fs.writeFileSync(path.join(etc, 'controller.yaml'), YAML.stringify({ ...ctlYaml, http: '127.0.0.1:0', grpc: '127.0.0.1:0', 'data-dir': dataDir, 'log-level': 'warn' }));
    fs.mkdirSync(path.dirname(dataDir), { recursive: true, mode: 0o755 });
    fs.mkdirSync(dataDir, { mode: 0o700 });
    fs.chownSync(dataDir, uid, gid); // what StateDirectory= does
    ctl = new Proc('controller', spawn(asCordon([])[0], [...asCordon([]).slice(1), ...cordonArgs(), 'controller', '--config', path.join(etc, 'controller.yaml')], { cwd: inst, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] }));
    const m = await ctl.waitFor(/listening on (http:\/\/\S+) grpc (\S+) /);
    const [url, grpcAddr] = [m[1], m[2]];
    const admin = fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();

    const policy = path.join(dir, 'policy.yaml');
    fs.writeFileSync(policy, `
apiVersion: cordon/v1
kind: Segment
metadata: { name: clients }
spec: { cidrs: [${client.subnet4}] }
---
apiVersion: cordon/v1
kind: Segment
metadata: { name: servers }
spec: { cidrs: [${server.subnet4}] }
---
apiVersion: cordon/v1
kind: Policy
metadata: { name: clients-to-servers }
spec: { from: [clients], to: [servers], allow: [{ protocol: tcp, ports: ["7000"] }] }
`);
    const applied = installedCli(['apply', '-f', policy, '--server', url, '--token', admin]);
    expect(applied.code).toBe(0);
    const tok = installedCli(['token', 'create', '--ttl', '10m', '--server', url, '--token', admin, '--output', 'json']);
    expect(tok.code).toBe(0);

    for (const port of [7000, 7001]) {
      const s = spawnIn(server.ns, ['node', AGENT, 'serve', String(port), '170']);
      servers.push(s);
      let out = '';
      s.stdout!.on('data', (d) => (out += d));
      await until(`server on ${port}`, () => out.includes('ready'), 5000);
    }

    const stateDir = path.join(inst, 'var', 'lib', 'cordon', 'enforcer');
    fs.mkdirSync(stateDir, { mode: 0o700 });
    fs.chownSync(stateDir, uid, gid);
    const enfYaml = YAML.parse(fs.readFileSync(path.join(etc, 'enforcer.yaml'), 'utf8')) ?? {};
    fs.writeFileSync(
      path.join(etc, 'enforcer.yaml'),
      YAML.stringify({ ...enfYaml, controller: grpcAddr, interface: gatewayInterfaces(topo), netns: `/run/netns/${gatewayNs(topo)}`, 'state-dir': stateDir, metrics: '127.0.0.1:0', name: 'gw-pkg', 'flow-interval': '500ms' }),
    );
    // The unit's ExecStartPre, in a bpffs of this process's own (a private mount namespace), so
    // that the pins of this run cannot collide with the host's and vanish with it.
    const caps = ['bpf', 'net_admin', 'perfmon', 'sys_admin']; // the unit's three plus the netns drop-in's
    const prep = `/bin/mount -t bpf bpf /sys/fs/bpf && /bin/mkdir -p /sys/fs/bpf/cordon && /bin/chown -R ${uid}:${gid} /sys/fs/bpf/cordon && /bin/chmod 0700 /sys/fs/bpf/cordon && exec "$@"`;
    enf = new Proc(
      'enforcer',
      spawn('/usr/bin/unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', prep, 'sh', ...asCordon(caps), ...cordonArgs(), 'enforcer', '--config', path.join(etc, 'enforcer.yaml')], {
        cwd: inst,
        env: cleanEnv({ CORDON_ENROLL_TOKEN: JSON.parse(tok.stdout).join }),
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    await enf.waitFor(/cordon enforcer gw-pkg running/);
    await until('7001 dropped', async () => !(await connect(7001, 300)), 10000);
    expect(await connect(7000)).toBe(true);
    expect(await connect(7001)).toBe(false);
    // It ran as the package's user, not root.
    const pid = enf.child.pid!;
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(Number(/^Uid:\s+(\d+)/m.exec(status)?.[1])).toBe(uid);
  }, 90_000);
});
