import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { FlowImpact, FlowImpactEntry } from '../../../controller/src/apply/flow-impact';
import { readDocuments } from '../../../controller/src/policy/parse';
import { ApiError, CliContext, CliError, Client, clientOptions, ClientOptions, formatProblem, outputFormat } from '../context';
import { EXIT } from '../exit-codes';
import { printValue } from '../output/format';
import { parseDuration } from '../../../common/src/duration';
import { formatWait, waitEnforced } from './apply-wait';

interface FieldChange {
  path: string;
  from?: unknown;
  to?: unknown;
}
interface ChangeResult {
  dryRun: boolean;
  changed: boolean;
  generation: number;
  hash: string;
  documents: Array<{ kind: string; name: string; action: string; changes: FieldChange[] }>;
  warnings: string[];
  flows?: FlowImpact;
}

const SIGN: Record<string, string> = { created: '+', updated: '~', unchanged: '=', deleted: '-' };
const show = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v));

export function formatChange(r: ChangeResult): string {
  const lines: string[] = [];
  for (const d of r.documents) {
    lines.push(`${SIGN[d.action] ?? '?'} ${d.kind}/${d.name} ${d.action}`);
    for (const c of d.changes) lines.push(`    ${c.path}: ${show(c.from)} -> ${show(c.to)}`);
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (r.flows) lines.push(...formatImpact(r.flows, r.dryRun));
  if (r.dryRun) lines.push(`dry run: would be generation ${r.generation}; nothing was stored`);
  else if (!r.changed) lines.push(`no change; still generation ${r.generation}`);
  else lines.push(`applied: generation ${r.generation} (${r.hash.slice(0, 12)})`);
  return lines.join('\n') + '\n';
}

const decidedBy = (p: string | null) => (p ? `policy ${p}` : 'the default deny');
const flowText = (f: FlowImpactEntry) =>
  `${f.src} (${f.srcSegment}) -> ${f.dst} (${f.dstSegment}) ${f.protocol}${f.port !== null ? `/${f.port}` : ''}, ${f.packets} packet(s)`;

/** The observed flows whose verdict the change turns around, one line each. */
export function formatImpact(impact: FlowImpact, dryRun: boolean): string[] {
  const would = dryRun ? 'would be' : 'now';
  const lines = [`observed flows: ${impact.checked} checked, ${impact.newlyDenied.length} ${would} newly denied, ${impact.newlyAllowed.length} ${would} newly allowed`];
  const why = (f: FlowImpactEntry) => `${f.before} by ${decidedBy(f.policyBefore)} before, ${f.after} by ${decidedBy(f.policyAfter)} after`;
  for (const f of impact.newlyDenied) lines.push(`  newly denied: ${flowText(f)}: ${why(f)}`);
  for (const f of impact.newlyAllowed) lines.push(`  newly allowed: ${flowText(f)}: ${why(f)}`);
  if (impact.truncated) lines.push('  (more flows changed than are listed; see --output json)');
  return lines;
}

/** Prints a refused change the user's way (file, document, field, reason) and exits non-zero (3 when refused). */
export function refuse(ctx: CliContext, err: unknown, file?: string): never {
  if (err instanceof ApiError) {
    ctx.err(formatProblem(err.problem, file));
    throw new CliError('', err.code);
  }
  throw err;
}

/** Reads FILE (or stdin for -) as text; unreadable is a usage error. */
export function readInput(file: string): string {
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.USAGE);
  }
}

/**
 * Validates documents here first: the error then names the file and line, and nothing is sent.
 * Returns the documents as read (empty ones left out), for sending as JSON: the YAML is parsed once.
 */
export function validateLocally(ctx: CliContext, text: string, file: string): unknown[] {
  const values: unknown[] = [];
  try {
    readDocuments(text, file, values);
    return values;
  } catch (err) {
    const issues = (err as { issues?: unknown[] }).issues;
    if (!issues) throw err;
    ctx.err(formatProblem({ title: 'Invalid documents', issues: issues as never }));
    throw new CliError('', EXIT.REFUSED);
  }
}

export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('apply')
      .description('create or update the documents in FILE (YAML, one or many; what get -o yaml prints); deletes nothing. A document carrying version is refused if it changed since')
      .requiredOption('-f, --filename <file>', 'YAML or JSON file of policy documents, - for stdin')
      .option('--dry-run', 'validate, compile and run every PolicyTest; show the diff; store nothing')
      .option('--wait', 'then wait until every connected enforcer (of every controller of the site) enforces the new generation; exit 1 naming those that did not')
      .option('--timeout <duration>', 'how long --wait waits', '60s'),
  ).action(async (o: ClientOptions & { filename: string; dryRun?: boolean; wait?: boolean; timeout: string }) => {
    const format = outputFormat(o);
    const timeoutMs = parseDuration(o.timeout, { bareUnit: 's' });
    if (o.wait && (timeoutMs === null || timeoutMs <= 0)) throw new CliError(`--timeout must be a duration such as 30s or 2m, got "${o.timeout}"`, EXIT.USAGE);
    const text = readInput(o.filename);
    const documents = validateLocally(ctx, text, o.filename);
    const client = new Client(o, ctx.env);
    let r: ChangeResult;
    try {
      // As JSON, what was read here: parsing a site's YAML again on the controller was a quarter of its apply.
      r = await client.json<ChangeResult>('POST', '/v1/apply', { documents, dryRun: Boolean(o.dryRun) });
    } catch (err) {
      refuse(ctx, err, o.filename);
    }
    if (!o.wait || o.dryRun) return printValue(ctx, format, r, () => formatChange(r));
    const w = await waitEnforced(client, r.generation, timeoutMs!);
    printValue(ctx, format, { ...r, wait: w }, () => formatChange(r) + formatWait(w));
    if (w.timedOut) throw new CliError('', EXIT.FAILURE);
  });
}
