/**
 * Issue 14: an enforcer run through `ip netns exec` finds a private
 * /sys/fs/bpf (ip netns exec mounts a fresh sysfs over /sys in a mount
 * namespace of its own), mounts its own bpffs there, and its pins die with it.
 * It says so at start, with the fix; the same enforcer given --netns from the
 * host's mount namespace says nothing and its pins outlive it. The real
 * `cordon enforcer` processes, a real namespace, the kernel's bpffs; the
 * controller address is unreachable (nothing here needs one).
 * Needs root, bpffs and the built addon (run under the kernel lock).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Datapath } from '../../native/lib/datapath';
import { ensureCliBuilt } from '../support/cli-build';
import { ROOT } from '../support/site';
import { until } from '../support/wait';

const NS = 'cbpffs-gw';
const NAME = 'e2e-bpffs';
const PINS = `/sys/fs/bpf/cordon/${NAME}`;
const JOIN = `tok.${'ab'.repeat(32)}`; // a pinned token: the enforcer tries to enroll (nowhere) and keeps enforcing

const root = process.getuid?.() === 0;
(root ? describe : describe.skip)('the datapath pins and the mount namespace (root)', () => {
  let dir: string;
  const children: ChildProcess[] = [];

  const enforcer = (prefix: string[], extra: string[]) => {
    const args = [process.execPath, path.join(ROOT, 'bin', 'cordon.js'), 'enforcer', '--controller', '127.0.0.1:1', '--token', JOIN, '--interface', 'lo', '--state-dir', path.join(dir, `state-${children.length}`), '--metrics', '127.0.0.1:0', '--name', 'gw-bpffs', '--datapath-name', NAME, '--failsafe', 'none', ...extra];
    const c = spawn(prefix.length ? prefix[0] : args[0], prefix.length ? [...prefix.slice(1), ...args] : args.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    children.push(c);
    return { child: c, out: () => out };
  };
  const killed = (c: ChildProcess) =>
    new Promise<void>((r) => {
      if (c.exitCode !== null || c.signalCode !== null) return r();
      c.once('exit', () => r());
      c.kill('SIGKILL');
    });

  beforeAll(() => {
    ensureCliBuilt();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-bpffs-'));
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    Datapath.removePins(NAME);
  });
  afterAll(async () => {
    for (const c of children) await killed(c);
    Datapath.removePins(NAME);
    execFileSync('ip', ['netns', 'del', NS]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('14_bpffs_ip_netns_exec: warned at start, and the pins are gone with the process', async () => {
    const e = enforcer(['ip', 'netns', 'exec', NS], []);
    try {
      await until('the warning', () => /is not a bpffs here/.test(e.out()) || e.child.exitCode !== null, 30_000);
      const line = JSON.parse(e.out().split('\n').find((l) => l.includes('is not a bpffs here'))!) as { msg: string; level: number; pinsOutliveProcess: boolean };
      expect(line.pinsOutliveProcess).toBe(false);
      expect(line.msg).toMatch(/filesystem type 0x62656572/); // sysfs: what ip netns exec mounted over /sys
      expect(line.msg).toMatch(/--netns \/run\/netns\/NAME instead of `ip netns exec`/);
      await until('the datapath attached', () => /running|enroll/.test(e.out()), 30_000);
      expect(fs.existsSync(PINS)).toBe(false); // its bpffs is not the host's
    } finally {
      await killed(e.child); // a failure here must not leave it attached for the next test
    }
    expect(fs.existsSync(PINS)).toBe(false);
  }, 90_000);

  test('14_bpffs_netns_flag: the host bpffs, no warning, and the pins outlive the process', async () => {
    const e = enforcer([], ['--netns', `/run/netns/${NS}`]);
    // attached (its pins all made), not only the pin directory made: killed in between, the directory was empty
    await until('the datapath attached', () => (fs.existsSync(PINS) && /running|enroll/.test(e.out())) || e.child.exitCode !== null, 30_000);
    expect(fs.existsSync(PINS)).toBe(true);
    expect(e.out()).not.toMatch(/is not a bpffs/);
    await killed(e.child);
    expect(fs.readdirSync(PINS).length).toBeGreaterThan(0); // there for the next enforcer to adopt
  }, 90_000);
});
