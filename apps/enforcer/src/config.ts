// SPDX-License-Identifier: Apache-2.0
/** `cordon enforcer` flags, validated at start so a bad flag stops the daemon with a clear message. */
import type { DhcpTap } from './mud-dhcp';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Logger } from 'pino';
import { ENFORCER_NAME } from '../../../proto/cordon/v1/control';
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../../daemon/src/logger';
import type { DatapathPort } from './datapath.port';
import { FailsafeSpec, parseFailsafe } from './failsafe';
import { parseDuration } from '../../common/src/duration';
import { parseHostPort } from '../../common/src/host-port';
import { MAX_LABELS, parseLabelArg } from '../../../model/placement/labels';
import { parseFqdnFlags, type FqdnConfig, type FqdnFlags } from './fqdn/fqdn-config';

export interface EnforcerFlags extends FqdnFlags {
  /** --controller, repeatable: the controllers of the site, tried in turn (a name may resolve to several). */
  controller: string | string[];
  token?: string;
  interface: string[];
  stateDir?: string;
  metrics?: string;
  name?: string;
  detach?: boolean;
  /** --xdp: the XDP short-cut drops repeats of denied flows before tc (off: tc alone judges ingress). */
  xdp?: boolean;
  caSha256?: string;
  /** Enroll without a CA pin (trust the first controller that answers). */
  insecureSkipCaCheck?: boolean;
  flowInterval?: string;
  netns?: string;
  datapathName?: string;
  /** --failsafe values (repeatable): none, control, dhcp, dns, PROTO:PORT[-PORT]; none given: the defaults. */
  failsafe?: string[];
  /** --link-local pass|drop: 802.1X/EAPOL and LLDP frames. */
  linkLocal?: string;
  /** --mud-dhcp on|off: read MUD URLs from DHCP (option 161/112) on the enforced interfaces; off: no DHCP tap at all. */
  mudDhcp?: string;
  readyFile?: string;
  /** --log-level: trace, debug, info (default), warn, error. */
  logLevel?: string;
  /** --label KEY=VALUE (repeatable): what this enforcer is, e.g. site=plant-1 (Policies and Segments select enforcers by it). */
  label?: string[];
}

export interface EnforcerConfig {
  /** The first of `controllers` (enrollment goes there first; logs). */
  controller: string;
  /** Every --controller given, in order: the enforcer moves to the next when one fails. */
  controllers: string[];
  token?: string;
  interfaces: string[];
  stateDir: string;
  metrics: string;
  name: string;
  detach: boolean;
  /** Attach the XDP short-cut before tc on ingress (bpf/lib/xdp.h): true with --xdp. */
  xdp: boolean;
  caSha256?: string;
  /** Enroll without a CA pin (the join string's or --ca-sha256): trust on first use. */
  insecureSkipCaCheck: boolean;
  flowIntervalMs: number;
  statusIntervalMs: number;
  flowQueueBatches: number;
  /**
   * Network namespace (a bind-mounted nsfs file such as /run/netns/gw, or
   * /proc/PID/ns/net) that holds the managed interfaces. Only attach/detach
   * happen there (the addon enters it on its worker thread); the daemon's own
   * sockets (gRPC, /metrics) stay in the namespace it was started in.
   */
  netns?: string;
  /** Pins under PIN_ROOT/<datapathName>/. */
  datapathName: string;
  pinRoot?: string;
  /** What stays reachable whatever the policy (failsafe.ts), in every generation applied. */
  failsafe: FailsafeSpec;
  /** Link-local control frames (802.1X/EAPOL, LLDP): passed and counted, or dropped. */
  linkLocal: 'pass' | 'drop';
  /** Written once enforcement is attached (the unit's ExecStartPost waits for it). */
  readyFile?: string;
  /** How often this host's addresses (the `host` identity) are read again; a change re-applies the generation. */
  hostAddressIntervalMs: number;
  /** Its --label flags, sent to the controller when the bundle stream opens (model/placement/labels.ts). */
  labels: Record<string, string>;
  /** Level of the logger made when `log` is not given (default info). */
  logLevel?: LogLevel;
  /** Learning names from DNS answers (fqdn/fqdn-config.ts). */
  fqdn: FqdnConfig;
  /** For tests: a datapath instead of the native addon. */
  datapath?: DatapathPort;
  /** The DHCP tap for MUD URLs (mud-dhcp.ts); default the addon's with the native datapath, none with a test datapath; false: none. */
  dhcpTap?: DhcpTap | false;
  log?: Logger;
}

export const ENFORCER_DEFAULTS = { stateDir: '/var/lib/cordon', metrics: '127.0.0.1:7472', flowInterval: '5s' } as const;

export class EnforcerConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid enforcer configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

export function defaultName(): string {
  const n = os.hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '').slice(0, 63);
  return n || 'enforcer';
}

/** A duration flag; a bare number is seconds. */
const ms = (text: string) => parseDuration(text, { bareUnit: 's' });

/** Why PATH cannot be the --netns of the managed interfaces, or null. */
export function netnsProblem(p: string): string | null {
  if (!p || !p.startsWith('/')) return `--netns must be an absolute path such as /run/netns/gw (ip netns add NAME creates one), got "${p}"`;
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `--netns ${p}: ${code === 'ENOENT' ? 'no such file' : code ?? String(err)} — is the namespace created (ip netns list) and is this the host's /run?`;
  }
  if (st.isDirectory()) return `--netns ${p} is a directory; give the namespace file itself (for example /run/netns/gw or /proc/PID/ns/net)`;
  try {
    fs.accessSync(p, fs.constants.R_OK);
  } catch {
    return `--netns ${p}: not readable; the enforcer needs root (CAP_SYS_ADMIN) to enter it`;
  }
  return null;
}

export function validateEnforcerConfig(f: EnforcerFlags, extra: Partial<EnforcerConfig> = {}): EnforcerConfig {
  const problems: string[] = [];
  const controllers = [...new Set((Array.isArray(f.controller) ? f.controller : [f.controller ?? '']).flatMap((c) => c.split(',')).map((c) => c.trim()).filter(Boolean))];
  if (controllers.length === 0) problems.push('--controller must be HOST:PORT (for example 10.0.0.1:7471), got ""');
  for (const c of controllers) if (!parseHostPort(c)) problems.push(`--controller must be HOST:PORT (for example 10.0.0.1:7471), got "${c}"`);
  const interfaces = f.interface ?? [];
  if (interfaces.length === 0) problems.push('--interface IF is required (once per interface to enforce on)');
  for (const i of interfaces) if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(i)) problems.push(`--interface "${i}" is not an interface name (at most 15 characters)`);
  const metrics = f.metrics ?? ENFORCER_DEFAULTS.metrics;
  if (!parseHostPort(metrics)) problems.push(`--metrics must be HOST:PORT, got "${metrics}"`);
  const name = f.name ?? defaultName();
  if (!ENFORCER_NAME.test(name)) problems.push(`--name "${name}" must be 1-63 of [a-z0-9-], starting with a letter or digit`);
  if (f.caSha256 && !/^(sha256:)?[0-9a-fA-F:]{64,95}$/.test(f.caSha256)) problems.push('--ca-sha256 must be the hex SHA-256 of the CA certificate (GET /v1/control/ca.pem)');
  const flowIntervalMs = ms(f.flowInterval ?? ENFORCER_DEFAULTS.flowInterval);
  if (flowIntervalMs === null || flowIntervalMs < 100) problems.push(`--flow-interval must be a duration such as 5s or 500ms (at least 100ms), got "${f.flowInterval}"`);
  const datapathName = f.datapathName ?? 'enforcer';
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(datapathName)) problems.push(`--datapath-name "${datapathName}" must be 1-63 of [a-z0-9_-] (pins go under /sys/fs/bpf/cordon/NAME)`);
  if (f.netns !== undefined) {
    const p = netnsProblem(f.netns);
    if (p) problems.push(p);
  }
  const failsafe = parseFailsafe(f.failsafe ?? []);
  problems.push(...failsafe.problems);
  const linkLocal = f.linkLocal ?? 'pass';
  if (linkLocal !== 'pass' && linkLocal !== 'drop') problems.push(`--link-local must be pass or drop, got "${linkLocal}"`);
  const mudDhcp = f.mudDhcp ?? 'on';
  if (mudDhcp !== 'on' && mudDhcp !== 'off') problems.push(`--mud-dhcp must be on or off, got "${mudDhcp}"`);
  if (f.readyFile !== undefined && !f.readyFile.startsWith('/')) problems.push(`--ready-file must be an absolute path, got "${f.readyFile}"`);
  const logLevel = f.logLevel ?? 'info';
  if (!isLogLevel(logLevel)) problems.push(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const labels: Record<string, string> = {};
  for (const arg of f.label ?? []) {
    try {
      const { key, value } = parseLabelArg(arg, false);
      if (Object.hasOwn(labels, key) && labels[key] !== value) problems.push(`--label ${key} is given twice (${labels[key]} and ${value})`);
      labels[key] = value!;
    } catch (err) {
      problems.push(`--label: ${(err as Error).message}`);
    }
  }
  if (Object.keys(labels).length > MAX_LABELS) problems.push(`--label: at most ${MAX_LABELS} labels`);
  const fqdn = parseFqdnFlags(f, problems);
  if (problems.length) throw new EnforcerConfigError(problems);
  return {
    controller: controllers[0],
    controllers,
    token: f.token,
    interfaces: [...new Set(interfaces)],
    stateDir: f.stateDir ?? ENFORCER_DEFAULTS.stateDir,
    metrics,
    name,
    detach: f.detach === true,
    xdp: f.xdp === true,
    caSha256: f.caSha256,
    insecureSkipCaCheck: f.insecureSkipCaCheck === true,
    flowIntervalMs: flowIntervalMs!,
    statusIntervalMs: 15_000,
    flowQueueBatches: 120,
    datapathName,
    netns: f.netns,
    failsafe: failsafe.spec,
    linkLocal: linkLocal as 'pass' | 'drop',
    readyFile: f.readyFile,
    hostAddressIntervalMs: 2000,
    logLevel: logLevel as LogLevel,
    labels,
    fqdn,
    ...(mudDhcp === 'off' ? { dhcpTap: false as const } : {}),
    ...extra,
  };
}
