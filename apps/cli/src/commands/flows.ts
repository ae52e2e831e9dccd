// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon flows`: the flows enforcers report (GET /v1/flows), with hubble's filters.
 * `--watch` polls by the controller's receive cursor, not by the flows' own
 * last-packet time: a flow an enforcer reports a flow interval late still shows.
 */
import { isIP } from 'node:net';
import { Option, type Command } from 'commander';
import { ApiError, CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat } from '../context';
import { EXIT } from '../exit-codes';
import { FLOW_VIEW, type FlowRow } from '../flows/flow-view';
import { printList, StreamPrinter } from '../output/format';
import { watchLoop } from '../watch';

interface FlowsOptions extends ClientOptions {
  watch?: boolean;
  from?: string;
  to?: string;
  port?: string;
  protocol?: string;
  verdict?: string;
  reason?: string;
  encryption?: string;
  enforcer?: string;
  segment?: string;
  since?: string;
  last?: string;
  limit?: string;
  interval: string;
}

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since 5m` (ago), an ISO time or ms since the epoch, as what the API takes. */
export function sinceParam(v: string, now = Date.now()): string {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(v);
  if (m) return String(now - Number(m[1]) * DURATION_MS[m[2]]);
  if (/^\d+$/.test(v) || Number.isFinite(Date.parse(v))) return v;
  throw new CliError(`--since takes a duration (30s, 5m, 2h, 1d), an ISO time or ms since the epoch, got "${v}"`, EXIT.USAGE);
}

/** Device names as their addresses (the API knows addresses, CIDRs, segments and DNS names); the rest as given. */
async function endpoints(client: Client, v: string): Promise<string> {
  const out: string[] = [];
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    // document names have no dots: one with a dot is a DNS name (or a *.domain pattern), matched against dst_name
    if (part.includes('/') || isIP(part) || part.includes('.')) {
      out.push(part);
      continue;
    }
    try {
      const d = await client.json<{ spec: { addresses: string[] } }>('GET', `/v1/devices/${encodeURIComponent(part)}`);
      out.push(part, ...d.spec.addresses);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      out.push(part);
    }
  }
  return out.join(',');
}

export function register(program: Command, ctx: CliContext): void {
  clientOptions(program.command('flows').description('flows reported by the enforcers, most recent first (with --watch: as they arrive)'), true)
    .option('-w, --watch', 'keep printing flows as the controller receives them, until interrupted')
    .option('--from <endpoint>', 'source: address, CIDR, device or segment (comma: any)')
    .option('--to <endpoint>', 'destination: address, CIDR, device, segment, or the DNS name (or *.domain) it was resolved from (comma: any)')
    .option('--port <port>', 'destination port (tcp, udp; comma: any)')
    .option('--protocol <proto>', 'tcp, udp, icmp, icmpv6 or a number (comma: any)')
    .option('--verdict <v>', 'allow, deny or audit (comma: any)')
    .option('--reason <r>', 'drop reason: policy, spoofed, malformed, fragment, no_connection, plaintext, flow_budget')
    .option('--encryption <class>', 'tls, dtls, ssh, quic, plaintext, mqtt, http, coap, pending, unknown')
    .option('--enforcer <name>', 'only what this enforcer reported')
    .option('--segment <name>', 'only flows from or to this segment')
    .option('--since <when>', 'last packet within this duration (5m, 1h) or after this time')
    .option('--last <n>', 'the N most recent flows', '100')
    .addOption(new Option('--limit <n>', 'the same as --last').hideHelp())
    .addOption(new Option('--interval <ms>', 'poll interval with --watch').default('2000').hideHelp())
    .action(async (o: FlowsOptions) => {
      const format = outputFormat(o);
      const client = new Client(o, ctx.env);
      const last = o.limit ?? o.last ?? '100';
      if (!/^\d+$/.test(last) || Number(last) < 1 || Number(last) > 10000) throw new CliError(`--last must be a whole number from 1 to 10000, got "${last}"`, EXIT.USAGE);
      const p = new URLSearchParams({ limit: last });
      if (o.from) p.set('from', await endpoints(client, o.from));
      if (o.to) p.set('to', await endpoints(client, o.to));
      for (const k of ['port', 'protocol', 'verdict', 'reason', 'encryption', 'enforcer', 'segment'] as const) if (o[k]) p.set(k, o[k]!);
      if (o.since) p.set('since', sinceParam(o.since));
      type Page = { now: number; cursor: string; items: FlowRow[] };
      const fetchPage = (after?: string) => {
        const q = new URLSearchParams(p);
        if (after) q.set('after', after);
        return client.json<Page>('GET', `/v1/flows?${q}`);
      };
      let page: Page;
      try {
        page = await fetchPage();
      } catch (err) {
        // The controller names the bad filter; it came from a flag of this command line.
        if (err instanceof ApiError && err.status === 400) throw new CliError(err.problem.detail ?? err.message, EXIT.USAGE);
        throw err;
      }
      if (!o.watch) return printList(ctx, format, FLOW_VIEW, page.items);
      // A stream reads oldest first: the page is newest first.
      const out = new StreamPrinter(ctx, format, FLOW_VIEW);
      out.print([...page.items].reverse());
      let cursor = page.cursor;
      await watchLoop(ctx, Number(o.interval) || 2000, async () => {
        page = await fetchPage(cursor);
        cursor = page.cursor;
        out.print([...page.items].reverse());
      });
    });
}
