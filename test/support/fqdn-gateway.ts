// SPDX-License-Identifier: Apache-2.0
/**
 * A gateway whose real enforcer (`cordon enforcer` in the gateway namespace,
 * no controller: its bundle is the kept one) proxies the DNS of a device
 * namespace: what the fqdn burst test and `npm run bench` (scripts/bench/fqdn.ts)
 * drive. The caller makes the topology and the world's DNS server.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runIn } from '../../scripts/topology';
import { parseDocuments } from '../../apps/controller/src/policy/parse';
import { compile } from '../../apps/controller/src/compiler/compile';
import { BundleKeeper } from '../../apps/enforcer/src/bundle-keeper';
import { sleep, until } from './wait';

const ROOT = path.resolve(__dirname, '..', '..');

export interface GatewayOptions {
  gatewayNs: string;
  deviceNs: string;
  /** The gateway's interface towards the devices, and its addresses there (the proxy's). */
  deviceIf: string;
  proxy4: string;
  resolver: string;
  datapathName: string;
  metrics: string;
  work: string;
  /** The site's documents: the kept bundle the enforcer starts with. */
  site: string;
  args?: string[];
}

export class FqdnGateway {
  private child: ChildProcess | null = null;
  log = '';

  constructor(private readonly o: GatewayOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const state = path.join(this.o.work, 'state');
    fs.mkdirSync(state, { recursive: true, mode: 0o700 });
    BundleKeeper.inDir(state).commit(compile(parseDocuments(this.o.site), { identities: {}, generation: 1 }));
    execFileSync('rm', ['-rf', `/sys/fs/bpf/cordon/${this.o.datapathName}`]);
    this.log = '';
    // nsenter, not `ip netns exec`: that one remounts /sys, and the pins would land in a bpffs of its own
    const c = spawn('nsenter', [`--net=/run/netns/${this.o.gatewayNs}`,
      process.execPath, '--import', 'tsx', path.join(ROOT, 'apps', 'cli', 'src', 'main.ts'), 'enforcer',
      '--controller', '127.0.0.1:1', '--token', `${'t'.repeat(32)}.${'a'.repeat(64)}`, '--name', `gw-${this.o.datapathName}`,
      '--interface', this.o.deviceIf, '--state-dir', state, '--metrics', this.o.metrics, '--datapath-name', this.o.datapathName,
      '--dns-resolver', this.o.resolver, '--dns-proxy-address', this.o.proxy4, '--mud-dhcp', 'off', '--log-level', 'info', ...(this.o.args ?? []),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = c;
    c.stdout!.on('data', (d) => (this.log = (this.log + d).slice(-50_000)));
    c.stderr!.on('data', (d) => (this.log = (this.log + d).slice(-50_000)));
    await until('the enforcer to run its DNS proxy', () => /DNS proxy listening/.test(this.log) || c.exitCode != null, 60_000);
    if (!/DNS proxy listening/.test(this.log)) throw new Error(`enforcer exited:\n${this.log}`);
  }

  async stop(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (c && c.exitCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([gone, sleep(10_000)]);
    }
    execFileSync('rm', ['-rf', `/sys/fs/bpf/cordon/${this.o.datapathName}`]);
  }

  /** The enforcer's resident memory, bytes (/proc: nsenter execs the enforcer in its own process). */
  rssBytes(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  }

  async metric(name: string): Promise<number> {
    const r = await runIn(this.o.gatewayNs, ['curl', '-s', `http://${this.o.metrics}/metrics`], 10_000);
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(r.stdout);
    return m ? Number(m[1]) : NaN;
  }

  /** Entries in the pinned learned-name map (bpftool, the kernel's count, not the enforcer's). */
  pinnedEntries(): number {
    const out = execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', `/sys/fs/bpf/cordon/${this.o.datapathName}/cordon_fqdn`], { encoding: 'utf8', maxBuffer: 256 << 20 });
    return (JSON.parse(out) as unknown[]).length;
  }

  /** test/support/dns-client.ts in the device namespace; its JSON line. */
  async device(args: object, timeoutMs = 150_000): Promise<any> {
    const r = await runIn(this.o.deviceNs, [process.execPath, '--import', 'tsx', path.join(ROOT, 'test', 'support', 'dns-client.ts'), JSON.stringify(args)], timeoutMs);
    try {
      return JSON.parse(r.stdout.trim().split('\n').pop()!);
    } catch {
      throw new Error(`dns client failed (${r.code}): ${r.stdout}\n${r.stderr}`);
    }
  }
}

/** Starts test/support/dns-synth-server.js in ns; resolves once it listens. */
export async function synthDns(ns: string, address: string, perAnswer: number, seconds: number, fixed: string[] = []): Promise<ChildProcess> {
  const c = spawn('ip', ['netns', 'exec', ns, process.execPath, path.join(ROOT, 'test', 'support', 'dns-synth-server.js'), address, String(perAnswer), String(seconds), ...fixed], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout!.on('data', (d) => (out += d));
  c.stderr!.on('data', (d) => (out += d));
  await until('the synthetic DNS server to listen', () => out.includes('listening') || c.exitCode != null, 10_000);
  if (!out.includes('listening')) throw new Error(`dns-synth-server: ${out}`);
  return c;
}
