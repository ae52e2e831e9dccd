// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon diff -f FILE`: what `apply -f FILE` would change, as a unified diff of
 * each stored document against the file's (kubectl diff). The controller checks
 * the change first (a dry run: validation, compile, every PolicyTest); exits 0
 * when nothing would change, 1 when something would, 3 when the change is refused.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { parseDocuments } from '../../../controller/src/policy/parse';
import type { Document } from '../../../controller/src/policy/schema';
import { ApiError, CliContext, CliError, Client, clientOptions, ClientOptions } from '../context';
import { EXIT } from '../exit-codes';
import { collectionOf } from './get';
import { readInput, refuse, validateLocally } from './apply';
import { colorOn } from '../output/table';
import { unifiedDiff } from '../text-diff';

const COLOURS: Record<string, [string, string]> = { '-': ['\x1b[31m', '\x1b[39m'], '+': ['\x1b[32m', '\x1b[39m'], '@': ['\x1b[36m', '\x1b[39m'] };

/** A document as the controller stores it (apply/site-state.ts normalize): no empty labels, no bookkeeping fields. */
const normalize = (d: Document): Document =>
  ({ apiVersion: d.apiVersion, kind: d.kind, metadata: Object.keys(d.metadata.labels ?? {}).length ? { name: d.metadata.name, labels: d.metadata.labels } : { name: d.metadata.name }, spec: d.spec }) as Document;

// Sorted keys: the stored spec (jsonb) and the file's may list the same fields in another order.
const asYaml = (d: Document) => stringify(d, { lineWidth: 0, aliasDuplicateObjects: false, sortMapEntries: true });

export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('diff')
      .description('show what apply -f FILE would change, as a unified diff against what is stored (exit 0: no change, 1: changes, 3: refused)')
      .requiredOption('-f, --filename <file>', 'YAML or JSON file of policy documents, - for stdin'),
    false,
  ).action(async (o: ClientOptions & { filename: string }) => {
    const text = readInput(o.filename);
    const documents = validateLocally(ctx, text, o.filename);
    const client = new Client(o, ctx.env);
    let plan: { documents: Array<{ kind: string; name: string; action: string }>; warnings: string[] };
    try {
      plan = await client.json('POST', '/v1/apply', { documents, dryRun: true });
    } catch (err) {
      refuse(ctx, err, o.filename);
    }
    const wanted = new Map(parseDocuments(documents, o.filename).map((d) => [`${d.kind}/${d.metadata.name}`, normalize(d)]));
    const paint = colorOn(ctx) ? (sign: string, line: string) => (COLOURS[sign] ? COLOURS[sign][0] + line + COLOURS[sign][1] : line) : undefined;
    let changed = 0;
    for (const d of plan.documents) {
      if (d.action === 'unchanged') continue;
      const key = `${d.kind}/${d.name}`;
      const after = wanted.get(key);
      if (!after) continue;
      let before = '';
      let version = '';
      if (d.action !== 'created') {
        try {
          const stored = await client.json('GET', `/v1/${collectionOf(d.kind)}/${encodeURIComponent(d.name)}`);
          before = asYaml(normalize(stored as Document));
          version = ` (version ${stored.version})`;
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 404)) throw err;
        }
      }
      const diff = unifiedDiff(before, asYaml(after), before ? `stored/${key}${version}` : '/dev/null', `${o.filename}/${key}`, 3, paint);
      if (diff) {
        ctx.out(diff);
        changed++;
      }
    }
    for (const w of plan.warnings) ctx.err(`warning: ${w}\n`);
    // Differences are not an error, but scripts tell them by the exit code (diff(1), kubectl diff).
    if (changed) throw new CliError('', EXIT.FAILURE);
  });
}
