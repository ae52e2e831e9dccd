// SPDX-License-Identifier: Apache-2.0
/**
 * Contexts, like kubeconfig's: one per site, each a controller URL, the CA that
 * signs its certificate and the file holding the API token, kept in
 * ~/.config/cordon/config.yaml (XDG_CONFIG_HOME, or CORDON_CONFIG names another
 * file). `--context NAME` (or CORDON_CONTEXT) picks one for a command,
 * `cordon config use-context NAME` makes it the default.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { CliError } from '../cli-error';
import { EXIT } from '../exit-codes';

const ContextSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, { error: 'a context name is letters, digits, ".", "_" or "-"' }),
  server: z.url({ protocol: /^https?$/, error: 'server is a URL such as https://cordon.example:7470' }),
  ca: z.string().optional(),
  'token-file': z.string().optional(),
});
const ConfigSchema = z.strictObject({
  'current-context': z.string().optional(),
  contexts: z.array(ContextSchema).default([]),
});

export type SiteContext = z.output<typeof ContextSchema>;
export type CliConfig = z.output<typeof ConfigSchema>;

export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.CORDON_CONFIG) return env.CORDON_CONFIG;
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME ?? os.homedir(), '.config');
  return path.join(base, 'cordon', 'config.yaml');
}

/** `~/x` as the home directory's x; relative paths from the config file's directory. */
export function expandPath(p: string, env: NodeJS.ProcessEnv, relativeTo: string): string {
  if (p === '~' || p.startsWith('~/')) return path.join(env.HOME ?? os.homedir(), p.slice(1));
  return path.resolve(relativeTo, p);
}

export function readConfig(env: NodeJS.ProcessEnv): CliConfig {
  const file = configPath(env);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: [] };
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.USAGE);
  }
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (err) {
    throw new CliError(`${file}: not YAML: ${(err as Error).message.split('\n')[0]}`, EXIT.USAGE);
  }
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new CliError(`${file}: ${i.path.join('.') || '(top)'}: ${i.message}`, EXIT.USAGE);
  }
  const names = new Set<string>();
  for (const c of r.data.contexts) {
    if (names.has(c.name)) throw new CliError(`${file}: context "${c.name}" is defined twice`, EXIT.USAGE);
    names.add(c.name);
  }
  return r.data;
}

export function writeConfig(env: NodeJS.ProcessEnv, cfg: CliConfig): string {
  const file = configPath(env);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, stringify(cfg), { mode: 0o600 });
  fs.renameSync(tmp, file);
  return file;
}

/** What a context gives a command: server, CA file and token file, with paths resolved. */
export interface ResolvedContext {
  name: string;
  server: string;
  ca?: string;
  tokenFile?: string;
  /** Named by --context or CORDON_CONTEXT (then it wins over CORDON_SERVER and CORDON_TOKEN). */
  explicit: boolean;
}

export function resolveContext(name: string | undefined, env: NodeJS.ProcessEnv): ResolvedContext | null {
  const wanted = name ?? env.CORDON_CONTEXT;
  const cfg = readConfig(env);
  const pick = wanted ?? cfg['current-context'];
  if (!pick) return null;
  const c = cfg.contexts.find((x) => x.name === pick);
  if (!c) {
    const known = cfg.contexts.map((x) => x.name).join(', ') || 'none yet: cordon config set-context NAME --server URL';
    throw new CliError(`no context "${pick}" in ${configPath(env)} (contexts: ${known})`, EXIT.USAGE);
  }
  const dir = path.dirname(configPath(env));
  return {
    name: c.name,
    server: c.server,
    ca: c.ca ? expandPath(c.ca, env, dir) : undefined,
    tokenFile: c['token-file'] ? expandPath(c['token-file'], env, dir) : undefined,
    explicit: wanted !== undefined,
  };
}
