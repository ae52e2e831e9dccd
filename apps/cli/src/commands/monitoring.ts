// SPDX-License-Identifier: Apache-2.0
/**
 * Continuous verification commands (issue 6): `get devices --unknown`,
 * `get anomalies [--device D]`, `get incidents [--device D]`, `admit`, `events`, `recommend`, `report`,
 * `mud import`. Registered through cli.ts OPTIONAL_GROUPS ('monitoring').
 */
import type { Command } from 'commander';
import { CliContext, Client, ClientOptions, outputFormat } from '../context';
import { printList, type ListView } from '../output/format';
import type { Cell, Style } from '../output/table';
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

const UNKNOWN_VIEW: ListView<any> = {
  columns: [
    { header: 'ADDRESS', cell: (u) => u.address },
    { header: 'MAC', cell: (u) => u.mac ?? '-' },
    { header: 'INTERFACE', cell: (u) => u.interface ?? '-' },
    { header: 'ENFORCER', cell: (u) => u.enforcer },
    { header: 'SEGMENT', cell: (u) => u.segment },
    { header: 'FIRST SEEN', cell: (u) => u.firstSeen },
    { header: 'LAST SEEN', cell: (u) => u.lastSeen },
    { header: 'TRIED', cell: (u) => `${u.tried.slice(0, 3).join(', ')}${u.tried.length > 3 ? ` (+${u.tried.length - 3})` : ''}` },
  ],
  name: (u) => `unknown/${u.address}`,
};

async function getUnknown(ctx: CliContext, o: ClientOptions) {
  const format = outputFormat(o);
  const { items } = await new Client(o, ctx.env).json('GET', '/v1/unknown-devices');
  printList(ctx, format, UNKNOWN_VIEW, items);
}

const SEVERITY_STYLE: Record<string, Style> = { high: 'red', critical: 'red', medium: 'yellow' };
const severity = (s: string): Cell => (SEVERITY_STYLE[s] ? { text: s, style: SEVERITY_STYLE[s] } : s);

const ANOMALY_VIEW: ListView<any> = {
  columns: [
    { header: 'AT', cell: (a) => a.at },
    { header: 'DEVICE', cell: (a) => a.device },
    { header: 'KIND', cell: (a) => a.kind },
    { header: 'SEVERITY', cell: (a) => severity(a.severity) },
    { header: 'EVIDENCE', cell: (a) => JSON.stringify(a.evidence) },
  ],
  name: (a) => `anomaly/${a.id}`,
};

async function getAnomalies(ctx: CliContext, o: ClientOptions & { device?: string; kind?: string }) {
  const format = outputFormat(o);
  const q = new URLSearchParams();
  if (o.device) q.set('device', o.device);
  if (o.kind) q.set('kind', o.kind);
  const { items } = await new Client(o, ctx.env).json('GET', `/v1/anomalies${q.size ? `?${q}` : ''}`);
  printList(ctx, format, ANOMALY_VIEW, items);
}

const INCIDENT_VIEW: ListView<any> = {
  columns: [
    { header: 'ID', cell: (i) => String(i.id) },
    { header: 'OPENED', cell: (i) => i.openedAt },
    { header: 'DEVICE', cell: (i) => i.device },
    { header: 'SEVERITY', cell: (i) => severity(i.severity) },
    { header: 'KINDS', cell: (i) => i.kinds.join(',') },
    { header: 'ANOMALIES', cell: (i) => String(i.anomalies) },
    { header: 'ACTION', cell: (i) => i.action },
    { header: 'OPEN', cell: (i) => (i.open ? 'yes' : 'no') },
    { header: 'SUMMARY', cell: (i) => i.summary },
  ],
  name: (i) => `incident/${i.id}`,
};

/** Incidents: what to look at, one line each; `get anomalies` has the detail. */
async function getIncidents(ctx: CliContext, o: ClientOptions & { device?: string }) {
  const format = outputFormat(o);
  const q = new URLSearchParams();
  if (o.device) q.set('device', o.device);
  const { items } = await new Client(o, ctx.env).json('GET', `/v1/incidents${q.size ? `?${q}` : ''}`);
  printList(ctx, format, INCIDENT_VIEW, items);
}
