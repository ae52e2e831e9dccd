// SPDX-License-Identifier: Apache-2.0
import { Option, type Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions } from '../context';
import { EXIT } from '../exit-codes';
import { FORMATS, parseFormat, printList, StreamPrinter, type ListView } from '../output/format';
import type { Style } from '../output/table';
import { watchLoop } from '../watch';

interface SecurityEvent {
  id: number;
  at: string;
  severity: string;
  type: string;
  device?: string | null;
  message: string;
}

const SEVERITY_STYLE: Record<string, Style> = { critical: 'red', high: 'red', error: 'red', warning: 'yellow', medium: 'yellow' };

const EVENT_VIEW: ListView<SecurityEvent> = {
  columns: [
    { header: 'AT', cell: (e) => e.at },
    { header: 'ID', cell: (e) => String(e.id) },
    { header: 'SEVERITY', cell: (e) => (SEVERITY_STYLE[e.severity] ? { text: e.severity, style: SEVERITY_STYLE[e.severity] } : e.severity) },
    { header: 'TYPE', cell: (e) => e.type },
    { header: 'DEVICE', cell: (e) => e.device ?? '-', wide: true },
    { header: 'MESSAGE', cell: (e) => e.message },
  ],
  name: (e) => `event/${e.id}`,
};

/** The event id of an ECS line (`event.id`); `fallback` when the line has none. */
function ecsId(line: string, fallback: number): number {
  try {
    const id = Number((JSON.parse(line) as { event?: { id?: string } }).event?.id);
    return Number.isSafeInteger(id) && id > fallback ? id : fallback;
  } catch {
    return fallback;
  }
}

/** `cordon events [-w]`: the security event stream as ECS JSON lines (or any -o). */
export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('events')
      .description('security events (ECS JSON lines by default)')
      .option('-w, --watch', 'keep printing new events until interrupted')
      // `--follow` was the spelling before `--watch` was the one everywhere (issue 17).
      .addOption(new Option('-f, --follow', 'the same as --watch').hideHelp())
      .option('--type <type>', 'drop, spoofing, unknown_device, anomaly, quarantine, posture, audit, enrollment, revocation')
      .option('--device <name>')
      .option('--after <id>', 'only events after this id', '0')
      .addOption(new Option('--interval <ms>', 'poll interval with --watch').default('1000').hideHelp()),
    false,
  )
    .option('-o, --output <format>', `ecs (JSON lines, the default), ${FORMATS.join(', ')}`, 'ecs')
    .action(async (o: ClientOptions & { watch?: boolean; follow?: boolean; type?: string; device?: string; after: string; interval: string; output: string }) => {
      const ecs = o.output === 'ecs';
      const format = ecs ? 'json' : parseFormat(o.output, ['ecs', ...FORMATS]);
      const watch = !!(o.watch || o.follow);
      if (!/^\d+$/.test(o.after)) throw new CliError(`--after takes an event id, got "${o.after}"`, EXIT.USAGE);
      const client = new Client(o, ctx.env);
      let after = Number(o.after);
      const q = (extra: string) => {
        const p = new URLSearchParams({ after: String(after), limit: '1000' });
        if (o.type) p.set('type', o.type);
        if (o.device) p.set('device', o.device);
        return `/v1/events?${p}${extra}`;
      };
      const stream = watch && !ecs ? new StreamPrinter(ctx, format, EVENT_VIEW) : null;
      const collected: SecurityEvent[] = [];
      /** One page after `after`: printed at once when streaming, else kept for the one list at the end. */
      const once = async () => {
        if (ecs) {
          // One request: the lines printed are the lines `after` moves past (a second, JSON request
          // for the ids could see a newer event than the lines held, and print it again next poll).
          const text = await (await client.request('GET', q('&format=ecs'))).text();
          const lines = text.split('\n').filter((l) => l.trim() !== '');
          if (!lines.length) return 0;
          ctx.out(lines.map((l) => l + '\n').join(''));
          after = ecsId(lines[lines.length - 1], after);
          return lines.length;
        }
        const { items } = (await client.json('GET', q(''))) as { items: SecurityEvent[] };
        if (!items.length) return 0;
        if (stream) stream.print(items);
        else collected.push(...items);
        after = items[items.length - 1].id;
        return items.length;
      };
      while ((await once()) >= 1000);
      if (!watch) {
        if (!ecs) printList(ctx, format, EVENT_VIEW, collected);
        return;
      }
      await watchLoop(ctx, Number(o.interval) || 1000, async () => void (await once()));
    });
}
