// SPDX-License-Identifier: Apache-2.0
import type { Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat, table } from '../context';
import { emitted } from '../output/format';

/**
 * `cordon report plaintext [--segment S] [--device D] [--limit N]`: each
 * device's and segment's share of flows and bytes sent in clear (GET
 * /v1/report/plaintext), devices most in clear first. Joins the `report` group
 * `cordon report unused` (recommend.ts) also uses, whichever registers first.
 */
export function register(program: Command, ctx: CliContext): void {
  const report = program.commands.find((c) => c.name() === 'report') ?? program.command('report').description('reports over observed flows');
  clientOptions(
    report
      .command('plaintext')
      .description('share of flows and bytes each device and segment sent in clear (MQTT, HTTP, CoAP, other plaintext) since the site began counting')
      .option('--segment <name>', 'only this source segment')
      .option('--device <name>', 'only this device (or source address)')
      .option('--limit <n>', 'at most this many devices'),
  ).action(async (o: ClientOptions & { segment?: string; device?: string; limit?: string }) => {
    const format = outputFormat(o);
    if (o.limit !== undefined && !/^\d+$/.test(o.limit)) throw new CliError(`--limit must be a whole number, got "${o.limit}"`, 2);
    const q = new URLSearchParams();
    if (o.segment) q.set('segment', o.segment);
    if (o.device) q.set('device', o.device);
    if (o.limit !== undefined) q.set('limit', o.limit);
    const qs = q.toString();
    const r = await new Client(o, ctx.env).json('GET', `/v1/report/plaintext${qs ? `?${qs}` : ''}`);
    if (emitted(ctx, format, r)) return;
    const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
    const classes = (b: Record<string, { flows: number }>) =>
      Object.entries(b)
        .map(([c, v]) => `${c}:${v.flows}`)
        .join(' ');
    const t = r.total;
    ctx.out(`# since ${r.since}: ${t.flowsInClear} of ${t.flows} flow(s) in clear (${pct(t.flowShareInClear)}), ${t.bytesInClear} of ${t.bytes} byte(s) (${pct(t.bytesShareInClear)}); ${t.refusedInClear} refused by encryption: required\n`);
    ctx.out(
      table(
        ['DEVICE', 'SEGMENT', 'FLOWS', 'IN CLEAR', 'FLOWS %', 'BYTES', 'IN CLEAR', 'BYTES %', 'REFUSED', 'CLEAR TO', 'CLASSES'],
        r.devices.map((d: any) => [
          d.device ?? `(unknown) ${d.addresses.join(',')}`,
          d.segment,
          String(d.flows),
          String(d.flowsInClear),
          pct(d.flowShareInClear),
          String(d.bytes),
          String(d.bytesInClear),
          pct(d.bytesShareInClear),
          String(d.refusedInClear),
          d.clearTo.slice(0, 2).join(',') || '-',
          classes(d.byClass),
        ]),
      ),
    );
    ctx.out('\n');
    ctx.out(
      table(
        ['SEGMENT', 'FLOWS', 'IN CLEAR', 'FLOWS %', 'BYTES', 'IN CLEAR', 'BYTES %', 'REFUSED', 'CLASSES'],
        r.segments.map((s: any) => [s.segment, String(s.flows), String(s.flowsInClear), pct(s.flowShareInClear), String(s.bytes), String(s.bytesInClear), pct(s.bytesShareInClear), String(s.refusedInClear), classes(s.byClass)]),
      ),
    );
    if (r.sourcesOverflow) ctx.out(`# ${r.sourcesOverflow} flow record(s) from sources beyond the per-device limit are counted in their segment only\n`);
  });
}
