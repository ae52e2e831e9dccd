import type { Command } from 'commander';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat } from '../context';
import { emitted } from '../output/format';

interface End {
  address: string;
  segment: string;
  device: string | null;
}

export function register(program: Command, ctx: CliContext): void {
  clientOptions(
    program
      .command('trace')
      .description('the verdict for a packet, the segments and the policy that decided it')
      .requiredOption('--from <addr>', 'address, device or segment')
      .requiredOption('--to <addr>', 'address, device, segment or DNS name (judged by the fqdn rules that match it)')
      .option('--protocol <proto>', 'tcp, udp, icmp, icmpv6 or a number', 'tcp')
      .option('--port <port>', 'destination port (tcp, udp)')
      .option('--type <type>', 'icmp type (name or number)')
      .option('--enforcer <name>', 'judge as this enforcer would: only the policies and segments whose `enforcers:` match its labels')
      .option('--at <time>', 'judge at this time, with its offset (2026-12-24T09:00+01:00, 2026-12-24T08:00Z); default now: scheduled policies as they are then'),
  ).action(async (o: ClientOptions & { from: string; to: string; protocol: string; port?: string; type?: string; enforcer?: string; at?: string }) => {
    const format = outputFormat(o);
    let port: number | undefined;
    if (o.port !== undefined) {
      port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be 0-65535, got "${o.port}"`, 2);
    }
    const protocol = /^\d+$/.test(o.protocol) ? Number(o.protocol) : o.protocol;
    const type = o.type !== undefined && /^\d+$/.test(o.type) ? Number(o.type) : o.type;
    const r = await new Client(o, ctx.env).json('POST', '/v1/trace', { from: o.from, to: o.to, protocol, port, type, enforcer: o.enforcer, at: o.at });
    if (emitted(ctx, format, r)) return;
    const end = (e: End) => `${e.address} (${e.device ? `device ${e.device}, ` : ''}segment ${e.segment})`;
    const on = r.enforcer ? `  on   enforcer ${r.enforcer.name} (${Object.entries(r.enforcer.labels as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',') || 'no labels'})\n` : '';
    const closed = r.closedSchedule ? `  policy ${r.closedSchedule.policy} would ${r.closedSchedule.verdict}, but its schedule is closed (opens ${r.closedSchedule.nextChange ?? 'never'})\n` : '';
    ctx.out(`${r.verdict}  ${r.packet ?? ''}\n${on}  from ${end(r.from)}\n  to   ${end(r.to)}\n  decided by ${r.reason === 'malformed' ? 'the parser: an IPv6 packet between an IPv4-mapped and an IPv6 address is malformed' : r.policy ? `policy ${r.policy} (rule ${r.ruleId})` : 'the default deny'}${r.schedule ? ` — schedule open, next change ${r.schedule.nextChange ?? 'none'}` : ''}\n  at ${r.at}\n${closed}${r.name ? `  name ${r.name.name}: ${r.name.pattern ? `fqdn rule ${r.name.pattern}` : 'no fqdn rule decided'} — ${r.name.note}\n` : ''}${r.note ? `  note: ${r.note}\n` : ''}`);
  });
}
