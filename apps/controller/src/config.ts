import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from '../../daemon/src/logger';
import { parseDuration } from '../../common/src/duration';
import { parseHostPort, type HostPort } from '../../common/src/host-port';
import { parseAddress } from './policy/net';
import { LIMITS } from '../../../native/lib/abi';
import { canonicalAddress } from './compiler/fqdn-refs';

/** What `cordon controller` accepts (flags) and startController() takes. */
export interface ControllerOptions {
  http?: string;
  grpc?: string;
  dataDir?: string;
  databaseUrl?: string;
  logLevel?: string;
  /** Enforcer certificate lifetime, a duration such as 24h, 30m or 90s (default 24h). */
  certTtl?: string;
  /** How long baselines learn before anomalies are judged, a duration such as 7d, 12h or 5s (default 7d). */
  learningWindow?: string;
  /** Syslog collector for security events: udp://HOST:PORT or tcp://HOST:PORT (default: none). */
  syslog?: string;
  /** Syslog message body: rfc5424 (ECS JSON in an RFC 5424 message) or cef (default rfc5424). */
  syslogFormat?: string;
  /** Largest request body (after gzip is undone), a size such as 64MiB or 512KiB (default 64MiB). */
  maxBody?: string;
  /** GET /v1/flows/stream: rows a stream sends in a second before it sends aggregate events (default 500). */
  streamRowsPerSecond?: string | number;
  /** GET /v1/flows/stream: streams open at once per API token (default 4). */
  streamsPerToken?: string | number;
  /** PEM file of the CAs whose signers a MUD file's `mud-signature` may chain to (default: none, so a signed file is refused). */
  mudTrustAnchors?: string;
  /** PEM file of extra CAs trusted for the HTTPS servers MUD files are fetched from (default: the system's). */
  mudCa?: string;
  /** How long one MUD fetch may take, redirects included (default 10s). */
  mudFetchTimeout?: string;
  /** `URI=SEGMENT` (repeatable): the segment a MUD `controller` class (or `my-controller`) stands for. */
  mudController?: string[];
  /** This controller's name in the fleet status (`cordon get enforcers` CONNECTED); default HOSTNAME:GRPC-PORT. */
  id?: string;
  /** `--dns-resolver ADDRESS` (repeatable): the site's resolvers, for segments without spec.dns (DESIGN.md "Names"). */
  dnsResolver?: string[];
}

export type { HostPort };

export interface ControllerConfig {
  http: HostPort;
  grpc: HostPort;
  /** `--grpc` as given, host:port. */
  grpcAddress: string;
  dataDir: string;
  databaseUrl?: string;
  logLevel: LogLevel;
  /** How often to look for generations made by other controllers when NOTIFY is missed. */
  pollIntervalMs: number;
  /** `--cert-ttl`: lifetime of the enforcer certificates the CA signs, ms. */
  certTtlMs: number;
  /**
   * `--learning-window`, `--syslog`, `--syslog-format` as given; monitoring/settings.ts
   * reads them by these names and, when a flag is absent, falls back to its
   * CORDON_* variable and then to the default (7d, no collector, rfc5424).
   */
  learningWindow?: string;
  syslog?: string;
  syslogFormat?: 'rfc5424' | 'cef';
  /** `--max-body` in bytes: a whole site (21,000 documents is ~4 MB of YAML) fits in one apply. */
  maxBodyBytes: number;
  /** `--stream-rows-per-second`, `--streams-per-token`: the caps of GET /v1/flows/stream. */
  streamRowsPerSecond: number;
  streamsPerToken: number;
  /** The MUD manager (mud/mud-manager.service.ts): trust anchors and fetch CA files, fetch deadline, controller classes. */
  mud: { trustAnchors?: string; ca?: string; fetchTimeoutMs: number; controllers: Record<string, string> };
  /** `--id`: this controller's name where it serves an enforcer (control/stream-registry.ts); absent: HOSTNAME:GRPC-PORT. */
  id?: string;
  /**
   * `--dns-resolver`, canonical, each once: compiled into every generation (the
   * bundle's dnsResolvers) for segments without spec.dns; a restart with other
   * resolvers makes a new generation (apply.service.ts).
   */
  dnsResolvers: string[];
}

/** As many as the datapath holds (the enforcer takes no more from a bundle). */
export const MAX_DNS_RESOLVERS = LIMITS.RESOLVERS;

/** The longest --cert-ttl: 7 days. */
export const MAX_CERT_TTL_MS = 7 * 86_400_000;

export const DEFAULTS = {
  http: '127.0.0.1:7470',
  grpc: '0.0.0.0:7471',
  dataDir: path.join(os.homedir(), '.cordon'),
  logLevel: 'info',
  certTtl: '24h',
  learningWindow: '7d',
  syslogFormat: 'rfc5424',
  maxBody: '64MiB',
  streamRowsPerSecond: 500,
  streamsPerToken: 4,
  mudFetchTimeout: '10s',
} as const;

const SIZE_UNIT: Record<string, number> = { b: 1, kib: 1024, kb: 1000, mib: 1024 ** 2, mb: 1000 ** 2, gib: 1024 ** 3, gb: 1000 ** 3 };

/** "64MiB", "512KiB", "4mb", "100000" → bytes; null when malformed. */
export function parseSize(s: string): number | null {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(s.trim());
  if (!m) return null;
  const unit = SIZE_UNIT[(m[2] || 'b').toLowerCase()];
  return unit === undefined ? null : Number(m[1]) * unit;
}

export { parseDuration };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid controller configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const hostPort = (flag: string) =>
  z.string().transform((s, ctx): HostPort => {
    const hp = parseHostPort(s);
    if (!hp) {
      ctx.addIssue({ code: 'custom', message: `${flag} must be HOST:PORT (for example 127.0.0.1:7470), got "${s}"` });
      return z.NEVER;
    }
    return hp;
  });

const intIn = (flag: string, min: number, max: number) =>
  z.union([z.number(), z.string()]).transform((v, ctx): number => {
    const n = typeof v === 'number' ? v : /^\d+$/.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `${flag} must be a whole number from ${min} to ${max}, got "${v}"` });
      return z.NEVER;
    }
    return n;
  });

const schema = z.object({
  http: hostPort('--http'),
  grpc: hostPort('--grpc'),
  dataDir: z.string().min(1, '--data-dir must not be empty'),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\/.+/, '--database-url must be a postgres:// or postgresql:// URL')
    .optional(),
  logLevel: z.enum(LOG_LEVELS, { message: `--log-level must be one of ${LOG_LEVELS.join(', ')}` }),
  certTtl: z.string().transform((s, ctx): number => {
    const ms = parseDuration(s);
    // Below a few seconds an enforcer would spend its life renewing. Above 7 days a stolen key lives too
    // long, and every open stream is cut when its certificate expires (a timer: it must stay armable).
    if (ms === null || ms < 5000 || ms > MAX_CERT_TTL_MS) {
      ctx.addIssue({ code: 'custom', message: `--cert-ttl must be a duration between 5s and 7d such as 24h, 30m or 90s, got "${s}" (enforcers renew on their own: a short lifetime costs nothing)` });
      return z.NEVER;
    }
    return ms;
  }),
  learningWindow: z.string().optional().refine((s) => {
    if (s === undefined) return true;
    const ms = parseDuration(s);
    return ms !== null && ms >= 1000;
  }, { message: '--learning-window must be a duration of at least 1s such as 7d, 12h or 30s' }),
  syslog: z
    .string()
    .regex(/^(udp|tcp):\/\/(\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d{1,5}$/, '--syslog must be udp://HOST:PORT or tcp://HOST:PORT (for example tcp://127.0.0.1:514)')
    .refine((s) => Number(/:(\d+)$/.exec(s)?.[1]) <= 65535, '--syslog port must be at most 65535')
    .optional(),
  syslogFormat: z.enum(['rfc5424', 'cef'], { message: '--syslog-format must be rfc5424 or cef' }).optional(),
  maxBody: z.string().transform((s, ctx): number => {
    const n = parseSize(s);
    // Below 64 KiB a normal apply fails; above 1 GiB one request could exhaust the controller's memory.
    if (n === null || n < 64 * 1024 || n > 1024 ** 3) {
      ctx.addIssue({ code: 'custom', message: `--max-body must be a size between 64KiB and 1GiB such as 64MiB or 512KiB, got "${s}"` });
      return z.NEVER;
    }
    return n;
  }),
  // Below 1 a stream sends nothing but aggregates; above 20,000 rows a second one browser tab could not keep up.
  streamRowsPerSecond: intIn('--stream-rows-per-second', 1, 20_000),
  streamsPerToken: intIn('--streams-per-token', 1, 64),
  mudTrustAnchors: z.string().min(1).optional(),
  mudCa: z.string().min(1).optional(),
  mudFetchTimeout: z.string().transform((s, ctx): number => {
    const ms = parseDuration(s);
    if (ms === null || ms < 100 || ms > 120_000) {
      ctx.addIssue({ code: 'custom', message: `--mud-fetch-timeout must be a duration between 100ms and 2m such as 10s, got "${s}"` });
      return z.NEVER;
    }
    return ms;
  }),
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/, '--id must be 1 to 128 letters, digits, ".", "_", ":", "@" or "-", starting with a letter or digit').optional(),
  dnsResolver: z
    .array(
      z.string().superRefine((a, ctx) => {
        if (!parseAddress(a.trim())) ctx.addIssue({ code: 'custom', message: `--dns-resolver must be an IPv4 or IPv6 address (for example 10.10.53.2 or fd00::53), got "${a}"` });
      }),
    )
    .max(MAX_DNS_RESOLVERS, `--dns-resolver may be given at most ${MAX_DNS_RESOLVERS} times`),
  mudController: z.array(z.string().regex(/^[^=\s]+=[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, '--mud-controller must be URI=SEGMENT (for example urn:ietf:params:mud:dns=resolvers)')),
});

/** Validates the flags once, at boot, so a bad one stops the controller with a clear message. */
export function validateConfig(opts: ControllerOptions): ControllerConfig {
  const raw = {
    http: opts.http ?? DEFAULTS.http,
    grpc: opts.grpc ?? DEFAULTS.grpc,
    dataDir: expandHome(opts.dataDir ?? DEFAULTS.dataDir),
    databaseUrl: opts.databaseUrl || undefined,
    logLevel: opts.logLevel ?? DEFAULTS.logLevel,
    certTtl: opts.certTtl ?? DEFAULTS.certTtl,
    learningWindow: opts.learningWindow || undefined,
    syslog: opts.syslog || undefined,
    syslogFormat: opts.syslogFormat || undefined,
    maxBody: opts.maxBody ?? DEFAULTS.maxBody,
    streamRowsPerSecond: opts.streamRowsPerSecond ?? DEFAULTS.streamRowsPerSecond,
    streamsPerToken: opts.streamsPerToken ?? DEFAULTS.streamsPerToken,
    mudTrustAnchors: opts.mudTrustAnchors || undefined,
    mudCa: opts.mudCa || undefined,
    mudFetchTimeout: opts.mudFetchTimeout ?? DEFAULTS.mudFetchTimeout,
    mudController: opts.mudController ?? [],
    id: opts.id || undefined,
    dnsResolver: opts.dnsResolver ?? [],
  };
  const r = schema.safeParse(raw);
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => i.message));
  const { certTtl, maxBody, mudTrustAnchors, mudCa, mudFetchTimeout, mudController, dnsResolver, ...rest } = r.data;
  return {
    ...rest,
    dnsResolvers: [...new Set(dnsResolver.map((a) => canonicalAddress(a.trim())))],
    mud: {
      trustAnchors: mudTrustAnchors ? path.resolve(mudTrustAnchors) : undefined,
      ca: mudCa ? path.resolve(mudCa) : undefined,
      fetchTimeoutMs: mudFetchTimeout,
      controllers: Object.fromEntries(mudController.map((c) => [c.slice(0, c.lastIndexOf('=')), c.slice(c.lastIndexOf('=') + 1)])),
    },
    certTtlMs: certTtl,
    maxBodyBytes: maxBody,
    dataDir: path.resolve(r.data.dataDir),
    grpcAddress: raw.grpc,
    pollIntervalMs: Number(process.env.CORDON_POLL_INTERVAL_MS) || 2000,
  };
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}
