import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { Command } from 'commander';
import { resolveContext } from './config/contexts';
import { EXIT, exitForStatus } from './exit-codes';
import { CliError } from './cli-error';
import { FORMATS, parseFormat, type OutputFormat } from './output/formats';

export { table } from './output/table';

/** Where a command writes, and the environment it reads: in-process tests swap these. */
export interface CliContext {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); daemons await it. */
  stopSignal(): Promise<string>;
  /** stdout is a terminal: tables may be coloured (never with NO_COLOR). */
  isTTY?: boolean;
}

/** A command group file (apps/cli/src/commands/*.ts) exports `register(program, ctx)`. */
export type RegisterCommands = (program: Command, ctx: CliContext) => void;

export { CliError } from './cli-error';

export const DEFAULT_SERVER = 'http://127.0.0.1:7470';
/** Request bodies larger than this (bytes) are sent gzip-compressed. */
const GZIP_ABOVE = 256 * 1024;

export interface ClientOptions {
  server?: string;
  token?: string;
  /** A context of ~/.config/cordon/config.yaml (config/contexts.ts). */
  context?: string;
  output?: string;
  /** Send the token over plain http:// to a host that is not this one. */
  insecure?: boolean;
}

/** --server/--token/--context on every client command, plus --output on reads. */
export function clientOptions(cmd: Command, read = true): Command {
  cmd.option('--server <url>', `controller URL (env CORDON_SERVER, else the context's, default ${DEFAULT_SERVER})`);
  cmd.option('--token <token>', "API token (env CORDON_TOKEN, else the context's token file, default: ~/.cordon/admin.token)");
  cmd.option('--context <name>', 'a site of ~/.config/cordon/config.yaml (env CORDON_CONTEXT; cordon config get-contexts)');
  cmd.option('--insecure', 'allow sending the token over plain http:// to a host other than this one (anyone on the path can read it)');
  if (read) cmd.option('-o, --output <format>', FORMATS.join(', '), 'table');
  return cmd;
}

/** The -o of a command: table, wide, json, yaml or name (output/format.ts prints them). */
export function outputFormat(o: ClientOptions): OutputFormat {
  return parseFormat(o.output);
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  issues?: Array<{ file?: string; document?: number; kind?: string; name?: string; path?: string; message: string; line?: number }>;
  failures?: Array<{ test: string; index: number; from: string; to: string; packet: string; expected: string; got: string; policy: string | null; error?: string }>;
}

/** Thrown for a non-2xx answer; carries the problem details. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`, exitForStatus(status));
  }
}

export class Client {
  readonly server: string;
  private readonly token: string | undefined;
  /** PEM of the CA the server's certificate chains to (from the context), for https://. */
  private readonly ca: string | undefined;

  /**
   * Where to and as whom: --server/--token first, then a context named by --context (or CORDON_CONTEXT),
   * then CORDON_SERVER/CORDON_TOKEN, then the config file's current context, then the defaults.
   */
  constructor(o: ClientOptions, env: NodeJS.ProcessEnv) {
    // An empty variable (`CORDON_SERVER=`) is no setting, as in kubectl's KUBECONFIG.
    env = { ...env, CORDON_SERVER: env.CORDON_SERVER || undefined, CORDON_TOKEN: env.CORDON_TOKEN || undefined, CORDON_CONTEXT: env.CORDON_CONTEXT || undefined };
    const site = resolveContext(o.context, env);
    const fromSite = (explicit: boolean) => (site && site.explicit === explicit ? site : null);
    const server = (o.server ?? fromSite(true)?.server ?? env.CORDON_SERVER ?? fromSite(false)?.server ?? DEFAULT_SERVER).replace(/\/+$/, '');
    try {
      const u = new URL(server);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    } catch {
      throw new CliError(`--server must be a URL such as ${DEFAULT_SERVER}, got "${server}"`, 2);
    }
    this.server = server;
    const siteToken = (explicit: boolean) => {
      const file = fromSite(explicit)?.tokenFile;
      return file ? readTokenFile(file, site!.name) : undefined;
    };
    this.token = o.token ?? siteToken(true) ?? env.CORDON_TOKEN ?? siteToken(false) ?? readDefaultToken(env);
    // The context's CA only for the context's own server: a --server elsewhere is not vouched for by it.
    if (site?.ca && !o.server && server === site.server.replace(/\/+$/, '')) {
      try {
        this.ca = fs.readFileSync(site.ca, 'utf8');
      } catch (err) {
        throw new CliError(`context ${site.name}: cannot read the CA ${site.ca}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.USAGE);
      }
    }
    const u = new URL(server);
    if (this.token && u.protocol === 'http:' && !isLoopback(u.hostname) && !o.insecure) {
      throw new CliError(
        `refusing to send the API token in clear to ${u.host} (plain http:// to another host): use https://, reach the controller on this host (127.0.0.1, an SSH tunnel), or pass --insecure if the path is trusted`,
        2,
      );
    }
  }

  async request(method: string, p: string, body?: unknown, contentType = 'application/json'): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = contentType;
    let payload: string | Buffer | undefined = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    // A site-scale apply is megabytes of YAML that compresses ~10x: send it gzipped.
    if (payload !== undefined && payload.length > GZIP_ABOVE) {
      payload = zlib.gzipSync(payload, { level: 1 });
      headers['content-encoding'] = 'gzip';
    }
    let res: Response;
    try {
      res = this.ca && this.server.startsWith('https:') ? await requestWithCa(this.server + p, method, headers, payload, this.ca) : await fetch(this.server + p, { method, headers, body: payload });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause ?? (err as { code?: string; message?: string });
      throw new CliError(
        `cannot reach the controller at ${this.server}: ${cause?.code ?? cause?.message ?? (err as Error).message} — is it running (cordon controller), and is --server (or the context) right?`,
        EXIT.UNREACHABLE,
      );
    }
    if (!res.ok) {
      const text = await res.text();
      let problem: Problem;
      try {
        problem = JSON.parse(text) as Problem;
      } catch {
        problem = { status: res.status, title: res.statusText, detail: text.slice(0, 500) };
      }
      if (res.status === 401 && !this.token) problem.detail = `${problem.detail ?? 'unauthorized'} (no token: pass --token or set CORDON_TOKEN)`;
      throw new ApiError(res.status, problem);
    }
    return res;
  }

  async json<T = any>(method: string, p: string, body?: unknown, contentType?: string): Promise<T> {
    const res = await this.request(method, p, body, contentType);
    return (await res.json()) as T;
  }

  /** Follows nextCursor until the end. */
  async all<T = any>(p: string): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null = null;
    do {
      const sep = p.includes('?') ? '&' : '?';
      const page: { items: T[]; nextCursor: string | null } = await this.json('GET', `${p}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }
}

/** This host: localhost, 127.0.0.0/8, ::1 (and ::ffff:127.x). */
export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || /^::ffff:127\./.test(h) || /^::ffff:7f[0-9a-f]{2}:/.test(h);
  return false;
}

/** fetch's answer over https with a CA of the context's (fetch takes no CA without undici's dispatcher). */
function requestWithCa(url: string, method: string, headers: Record<string, string>, body: string | Buffer | undefined, ca: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        const status = res.statusCode ?? 500;
        const noBody = status === 204 || status === 304;
        resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage, headers: h }));
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function readTokenFile(file: string, context: string): string {
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    if (t) return t;
  } catch (err) {
    throw new CliError(`context ${context}: cannot read the token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.USAGE);
  }
  throw new CliError(`context ${context}: the token file ${file} is empty`, EXIT.USAGE);
}

function readDefaultToken(env: NodeJS.ProcessEnv): string | undefined {
  const file = path.join(env.HOME ?? os.homedir(), '.cordon', 'admin.token');
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A problem as the user reads it: title, detail, then every issue or failure on its own line. */
export function formatProblem(p: Problem, file?: string): string {
  const lines = [`error: ${p.title ?? 'request failed'}${p.detail && !p.issues ? `: ${p.detail}` : ''}`];
  for (const i of p.issues ?? []) {
    const where = [file ?? i.file, i.document !== undefined && i.document >= 0 ? `document ${i.document}` : undefined, i.kind || i.name ? `${i.kind ?? '?'}/${i.name ?? '?'}` : undefined, i.line ? `line ${i.line}` : undefined, i.path || undefined]
      .filter(Boolean)
      .join(': ');
    lines.push(`  ${where ? where + ': ' : ''}${i.message}`);
  }
  for (const f of p.failures ?? []) {
    lines.push(`  ${f.test}[${f.index}]: ${f.from} -> ${f.to} (${f.packet}): expected ${f.expected}, got ${f.got}${f.policy ? ` by policy ${f.policy}` : ' (default deny)'}${f.error ? `: ${f.error}` : ''}`);
  }
  return lines.join('\n') + '\n';
}
