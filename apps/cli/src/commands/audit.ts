import * as fs from 'node:fs';
import type { Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat } from '../context';
import { emitted } from '../output/format';

export function register(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description('the hash-chained audit log');
  clientOptions(
    audit
      .command('verify')
      .description(
        'walk the chain; exit 1 at the first altered, removed or reordered entry. --offline reads `cordon audit export` lines ' +
          '(stdin or --file) and checks them without the controller; --checkpoints (signed heads from the event stream, JSON lines) with --ca ' +
          '(the enforcer CA certificate) detects a log rewritten from the start',
      )
      .option('--offline', 'verify an export, not the controller\'s database')
      .option('--file <file>', 'the export to verify (default: stdin)')
      .option('--checkpoints <file>', 'signed checkpoints: JSON lines or a JSON list of checkpoints or of the events carrying them (cordon events -o json)')
      .option('--ca <file>', 'the enforcer CA certificate that signed the checkpoints (/v1/control/ca.pem)'),
  ).action(async (o: ClientOptions & { offline?: boolean; file?: string; checkpoints?: string; ca?: string }) => {
    const format = outputFormat(o);
    let r: { ok: boolean; entries: number; checkpoints?: number; firstBadId?: number; reason?: string };
    if (o.offline) {
      const { verifyOffline } = await import('../../../controller/src/audit/offline-verify');
      const lines = (f: string | number): any[] => {
        const text = fs.readFileSync(f, 'utf8');
        // A JSON list (`cordon events -o json`) or JSON lines (the audit export, `events -o ecs`, `events -w -o json`).
        if (text.trimStart().startsWith('[')) {
          try {
            return JSON.parse(text);
          } catch {
            throw new CliError(`${f === 0 ? 'stdin' : f}: not a JSON list`, 2);
          }
        }
        return jsonLines(text, f);
      };
      const jsonLines = (text: string, f: string | number) => text.split('\n').filter((l) => l.trim()).map((l, i) => {
        try {
          return JSON.parse(l);
        } catch {
          throw new CliError(`${f === 0 ? 'stdin' : f}: line ${i + 1} is not JSON`, 2);
        }
      });
      const entries = lines(o.file ?? 0);
      const cps = o.checkpoints ? lines(o.checkpoints).map((x) => x?.cordon?.data?.checkpoint ?? x?.data?.checkpoint ?? x).filter((x) => x && typeof x.lastId === 'number' && typeof x.signature === 'string') : [];
      if (o.checkpoints && cps.length === 0) throw new CliError(`${o.checkpoints}: no signed checkpoint in it`, 2);
      r = await verifyOffline(entries, cps, o.ca ? fs.readFileSync(o.ca, 'utf8') : undefined);
    } else r = await new Client(o, ctx.env).json('POST', '/v1/audit/verify');
    if (!emitted(ctx, format, r))
      ctx.out(r.ok ? `audit log intact: ${r.entries} entries${r.checkpoints ? `, ${r.checkpoints} signed checkpoints match` : ''}\n` : `audit log NOT intact${r.firstBadId ? ` at entry ${r.firstBadId}` : ''}: ${r.reason}\n`);
    if (!r.ok) throw new CliError('', 1);
  });
  clientOptions(audit.command('export').description('every entry as JSON lines, oldest first'), false).action(async (o: ClientOptions) => {
    const res = await new Client(o, ctx.env).request('GET', '/v1/audit/export');
    ctx.out(await res.text());
  });
}
