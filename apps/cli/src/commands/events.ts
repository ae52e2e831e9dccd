// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions } from '../context';

/** `cordon events [--follow]`: the security event stream as ECS JSON lines (or a table). */
export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('events')
      .description('security events (ECS JSON lines by default)')
      .option('-f, --follow', 'keep printing new events until interrupted')
      .option('--type <type>', 'drop, spoofing, unknown_device, anomaly, quarantine, posture, audit, enrollment, revocation')
      .option('--device <name>')
      .option('--after <id>', 'only events after this id', '0')
      .option('--interval <ms>', 'poll interval with --follow', '1000'),
    false,
  )
    .option('-o, --output <format>', 'ecs (JSON lines), json (raw events) or table', 'ecs')
    .action(async (o: ClientOptions & { follow?: boolean; type?: string; device?: string; after: string; interval: string; output: string }) => {
      if (!['ecs', 'json', 'table'].includes(o.output)) throw new CliError(`--output must be ecs, json or table, got "${o.output}"`, 2);
      const client = new Client(o, ctx.env);
      let after = Number(o.after) || 0;
      const q = (extra: string) => {
        const p = new URLSearchParams({ after: String(after), limit: '1000' });
        if (o.type) p.set('type', o.type);
        if (o.device) p.set('device', o.device);
        return `/v1/events?${p}${extra}`;
      };
      const once = async () => {
        const { items } = await client.json('GET', q(''));
        if (!items.length) return 0;
        if (o.output === 'ecs') {
          const res = await client.request('GET', q('&format=ecs'));
          ctx.out(await res.text());
        } else if (o.output === 'json') {
          for (const e of items) ctx.out(JSON.stringify(e) + '\n');
        } else {
          for (const e of items) ctx.out(`${e.at}  ${String(e.id).padStart(6)}  ${e.severity.padEnd(8)}  ${e.type.padEnd(14)}  ${e.message}\n`);
        }
        after = items[items.length - 1].id;
        return items.length;
      };
      while ((await once()) >= 1000);
      if (!o.follow) return;
      let stop = false;
      void ctx.stopSignal().then(() => (stop = true));
      while (!stop) {
        await new Promise((r) => setTimeout(r, Math.max(100, Number(o.interval) || 1000)));
        if (!stop) await once();
      }
    });
}
