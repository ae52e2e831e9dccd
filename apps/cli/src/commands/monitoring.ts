// SPDX-License-Identifier: Apache-2.0
/**
 * Continuous verification commands (issue 6): `get devices --unknown`,
 * `get anomalies [--device D]`, `get incidents [--device D]`, `admit`, `events`, `recommend`, `report`,
 * `mud import`. Registered through cli.ts OPTIONAL_GROUPS ('monitoring').
 */
import type { Command } from 'commander';
import { CliContext, Client, ClientOptions, outputFormat, table } from '../context';
import { register as admit } from './admit';
import { register as events } from './events';
import { register as mud } from './mud';
import { register as recommend } from './recommend';

export function register(program: Command, ctx: CliContext): void {
  extendGet(program, ctx);
  admit(program, ctx);
  events(program, ctx);
  recommend(program, ctx);
  mud(program, ctx);
}

/**
 * `get` belongs to get.ts; monitoring adds two readings to it: `get devices
 * --unknown` and `get anomalies [--device D]`, and hands everything else back.
 */
function extendGet(program: Command, ctx: CliContext): void {
  const get = program.commands.find((c) => c.name() === 'get');
  if (!get) return;
  get.option('--unknown', 'with devices: sources no Device claims (discovered from flows)');
  get.option('--device <name>', 'with anomalies or incidents: only this device');
  get.option('--kind <kind>', 'with anomalies: only this kind (new_peer, new_port, volume, scan, denied_burst)');
  const original = (get as unknown as { _actionHandler: (args: unknown[]) => Promise<void> })._actionHandler;
  get.action(async (kind: string, name: string | undefined, o: ClientOptions & { unknown?: boolean; device?: string; kind?: string }) => {
    const k = kind.toLowerCase();
    if ((k === 'devices' || k === 'device') && o.unknown) return getUnknown(ctx, o);
    if (k === 'anomalies' || k === 'anomaly') return getAnomalies(ctx, o);
    if (k === 'incidents' || k === 'incident') return getIncidents(ctx, o);
    return original.call(get, [kind, name]);
  });
}

async function getUnknown(ctx: CliContext, o: ClientOptions) {
  const format = outputFormat(o);
  const { items } = await new Client(o, ctx.env).json('GET', '/v1/unknown-devices');
  if (format === 'json') return ctx.out(JSON.stringify(items, null, 2) + '\n');
  ctx.out(
    table(
      ['ADDRESS', 'MAC', 'INTERFACE', 'ENFORCER', 'SEGMENT', 'FIRST SEEN', 'LAST SEEN', 'TRIED'],
      items.map((u: any) => [u.address, u.mac ?? '-', u.interface ?? '-', u.enforcer, u.segment, u.firstSeen, u.lastSeen, `${u.tried.slice(0, 3).join(', ')}${u.tried.length > 3 ? ` (+${u.tried.length - 3})` : ''}`]),
    ),
  );
}

async function getAnomalies(ctx: CliContext, o: ClientOptions & { device?: string; kind?: string }) {
  const format = outputFormat(o);
  const q = new URLSearchParams();
  if (o.device) q.set('device', o.device);
  if (o.kind) q.set('kind', o.kind);
  const { items } = await new Client(o, ctx.env).json('GET', `/v1/anomalies${q.size ? `?${q}` : ''}`);
  if (format === 'json') return ctx.out(JSON.stringify(items, null, 2) + '\n');
  ctx.out(table(['AT', 'DEVICE', 'KIND', 'SEVERITY', 'EVIDENCE'], items.map((a: any) => [a.at, a.device, a.kind, a.severity, JSON.stringify(a.evidence)])));
}

/** Incidents: what to look at, one line each; `get anomalies` has the detail. */
async function getIncidents(ctx: CliContext, o: ClientOptions & { device?: string }) {
  const format = outputFormat(o);
  const q = new URLSearchParams();
  if (o.device) q.set('device', o.device);
  const { items } = await new Client(o, ctx.env).json('GET', `/v1/incidents${q.size ? `?${q}` : ''}`);
  if (format === 'json') return ctx.out(JSON.stringify(items, null, 2) + '\n');
  ctx.out(
    table(
      ['ID', 'OPENED', 'DEVICE', 'SEVERITY', 'KINDS', 'ANOMALIES', 'ACTION', 'OPEN', 'SUMMARY'],
      items.map((i: any) => [String(i.id), i.openedAt, i.device, i.severity, i.kinds.join(','), String(i.anomalies), i.action, i.open ? 'yes' : 'no', i.summary]),
    ),
  );
}
