// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon __complete WORD...`: the candidates for the last word of a command line,
 * one a line, from the command tree itself (commands, flags, flag values) and, for
 * `get`/`describe`/`delete KIND NAME`, from the controller. The shell scripts of
 * `cordon completion bash|zsh|fish` call it; `__files__` asks the shell for paths.
 */
import { DROP_REASON_NAMES, ENCRYPTION_NAME } from '../../../../native/lib/abi';
import { PROTOCOL_NUMBER } from '../../../controller/src/policy/protocols';
import type { Command, Option } from 'commander';
import { Client, type CliContext } from '../context';
import { readConfig } from '../config/contexts';
import { FORMATS } from '../output/format';
import { collectionOf, GET_KINDS } from '../commands/get';

export const FILES = '__files__';

const VALUES: Record<string, readonly string[]> = {
  '--output': FORMATS,
  '--protocol': Object.keys(PROTOCOL_NUMBER),
  '--verdict': ['allow', 'deny', 'audit'],
  '--reason': DROP_REASON_NAMES,
  '--encryption': [...ENCRYPTION_NAME, 'unknown'],
  '--role': ['viewer', 'operator', 'admin'],
};
const FILE_OPTIONS = new Set(['--filename', '--file', '--ca', '--token-file', '--checkpoints', '--key-out', '--cert-out', '--kek-file', '--ready-file']);
const NAMED_KINDS = new Set(['get', 'describe', 'delete']);

const visible = (c: Command) => c.commands.filter((s) => !(s as unknown as { _hidden?: boolean })._hidden);
const optionOf = (cmd: Command, word: string): Option | undefined => cmd.options.find((o) => o.long === word || o.short === word);
const takesValue = (o: Option | undefined) => !!o && (o.required || o.optional);

export async function complete(program: Command, words: string[], ctx: CliContext): Promise<string[]> {
  const cur = words.length ? words[words.length - 1] : '';
  const done = words.slice(0, -1);
  let cmd = program;
  const positionals: string[] = [];
  const given: Record<string, string> = {};
  for (let i = 0; i < done.length; i++) {
    const w = done[i];
    if (w.startsWith('-')) {
      const [flag, inline] = w.split('=', 2);
      const opt = optionOf(cmd, flag);
      if (takesValue(opt) && inline === undefined) given[opt!.long ?? flag] = done[++i] ?? '';
      else if (opt && inline !== undefined) given[opt.long ?? flag] = inline;
      continue;
    }
    const sub = positionals.length === 0 ? cmd.commands.find((c) => c.name() === w || c.aliases().includes(w)) : undefined;
    if (sub) cmd = sub;
    else positionals.push(w);
  }
  const prefix = (list: readonly string[]) => list.filter((c) => c.startsWith(cur));

  // The value of a flag.
  const prev = done[done.length - 1];
  const prevOpt = prev?.startsWith('-') && !prev.includes('=') ? optionOf(cmd, prev) : undefined;
  if (takesValue(prevOpt)) {
    const long = prevOpt!.long ?? '';
    if (FILE_OPTIONS.has(long)) return [FILES];
    if (long === '--context') return prefix(safe(() => readConfig(ctx.env).contexts.map((c) => c.name)));
    if (long === '--output' && cmd.name() === 'events') return prefix(['ecs', ...FORMATS]);
    return prefix(VALUES[long] ?? []);
  }
  if (cur.startsWith('-')) {
    const flags = cmd.options.filter((o) => !o.hidden).flatMap((o) => [o.long, o.short].filter((x): x is string => !!x));
    return prefix([...flags, '--help']);
  }
  const subs = visible(cmd).map((c) => c.name());
  if (subs.length && positionals.length === 0) return prefix(subs);
  if (NAMED_KINDS.has(cmd.name()) && cmd.parent === program) {
    const kinds = cmd.name() === 'get' ? GET_KINDS : ['segment', 'device', 'policy', 'policytest', 'posturerule'];
    if (positionals.length === 0) return prefix(kinds);
    if (positionals.length === 1) return prefix(await names(positionals[0], given, ctx));
  }
  if (cmd.name() === 'use-context' || cmd.name() === 'delete-context' || cmd.name() === 'set-context') {
    return positionals.length === 0 ? prefix(safe(() => readConfig(ctx.env).contexts.map((c) => c.name))) : [];
  }
  if (cmd.name() === 'completion') return positionals.length === 0 ? prefix(['bash', 'zsh', 'fish']) : [];
  return [];
}

function safe(f: () => string[]): string[] {
  try {
    return f();
  } catch {
    return [];
  }
}

/** Names of a kind's items, from the controller the command line points at; none when it does not answer. */
async function names(kind: string, given: Record<string, string>, ctx: CliContext): Promise<string[]> {
  const col = collectionOf(kind);
  const k = kind.toLowerCase();
  try {
    const client = new Client({ server: given['--server'], token: given['--token'], context: given['--context'] }, ctx.env);
    if (col) return (await client.all<{ metadata: { name: string } }>(`/v1/${col}`)).map((d) => d.metadata.name);
    if (k === 'enforcer' || k === 'enforcers') return (await client.all<{ name: string }>('/v1/enforcers')).map((e) => e.name);
  } catch {
    // completion never fails loudly
  }
  return [];
}
