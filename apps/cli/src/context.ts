import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { Command } from 'commander';

/** Where a command writes, and the environment it reads: in-process tests swap these. */
export interface CliContext {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); daemons await it. */
  stopSignal(): Promise<string>;
}

/** A command group file (apps/cli/src/commands/*.ts) exports `register(program, ctx)`. */
export type RegisterCommands = (program: Command, ctx: CliContext) => void;

/** An error meant for the user: printed without a stack, exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

export const DEFAULT_SERVER = 'http://127.0.0.1:7470';
/** Request bodies larger than this (bytes) are sent gzip-compressed. */
const GZIP_ABOVE = 256 * 1024;

export interface ClientOptions {
  server?: string;
  token?: string;
  output?: string;
  /** Send the token over plain http:// to a host that is not this one. */
  insecure?: boolean;
}

/** --server/--token on every client command, plus --output on reads. */
export function clientOptions(cmd: Command, read = true): Command {
  cmd.option('--server <url>', `controller URL (env CORDON_SERVER, default ${DEFAULT_SERVER})`);
  cmd.option('--token <token>', 'API token (env CORDON_TOKEN, default: ~/.cordon/admin.token)');
  cmd.option('--insecure', 'allow sending the token over plain http:// to a host other than this one (anyone on the path can read it)');
  if (read) cmd.option('-o, --output <format>', 'json or table', 'table');
  return cmd;
}

export function outputFormat(o: ClientOptions): 'json' | 'table' {
  const f = o.output ?? 'table';
  if (f !== 'json' && f !== 'table') throw new CliError(`--output must be json or table, got "${f}"`, 2);
  return f;
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
    super(problem.detail ?? problem.title ?? `HTTP ${status}`, 1);
  }
}

export class Client {
  readonly server: string;
  private readonly token: string | undefined;

  constructor(o: ClientOptions, env: NodeJS.ProcessEnv) {
    const server = (o.server ?? env.CORDON_SERVER ?? DEFAULT_SERVER).replace(/\/+$/, '');
    try {
      const u = new URL(server);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    } catch {
      throw new CliError(`--server must be a URL such as ${DEFAULT_SERVER}, got "${server}"`, 2);
    }
    this.server = server;
    this.token = o.token ?? env.CORDON_TOKEN ?? readDefaultToken(env);
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
      res = await fetch(this.server + p, { method, headers, body: payload });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach the controller at ${this.server}: ${cause?.code ?? cause?.message ?? (err as Error).message} — is it running (cordon controller), and is --server right?`);
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

function readDefaultToken(env: NodeJS.ProcessEnv): string | undefined {
  const file = path.join(env.HOME ?? os.homedir(), '.cordon', 'admin.token');
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Fixed-width columns, header first. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
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
