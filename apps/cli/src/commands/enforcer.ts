// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon enforcer` (the daemon) and `cordon enforcer revoke NAME`.
 */
import { Option, type Command } from 'commander';
import { Client, CliContext, CliError, clientOptions, ClientOptions, outputFormat } from '../context';
import { emitted } from '../output/format';
import { ENFORCER_DEFAULTS, EnforcerConfigError, validateEnforcerConfig } from '../../../enforcer/src/config';
import { Enforcer } from '../../../enforcer/src/enforcer';
import { IdentityError } from '../../../enforcer/src/identity';
import { FAILSAFE_DEFAULTS } from '../../../enforcer/src/failsafe';
import { ENFORCER_CONFIG, ENFORCER_CONFIG_PATH } from '../../../enforcer/src/config-file';
import { applyConfigFile, ConfigFileError } from '../../../daemon/src/config-file';

const collect = (v: string, prev: string[]) => [...prev, v];

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('enforcer')
    .description('run the enforcer daemon on this host (needs root: loads eBPF), or manage enforcers')
    .option('--config <file>', `configuration file: these flags without their dashes, in YAML (default: ${ENFORCER_CONFIG_PATH} when it exists); flags and CORDON_* variables win over it`)
    .option('--controller <host:port>', 'controller gRPC address; repeat for each controller of the site (or give a name with several addresses): the enforcer moves to another when one fails', collect, [] as string[])
    .option('--token <join>', 'the join string of `cordon token create` (TOKEN.CAHEX: one-time enrollment token and CA pin), needed only until a certificate is stored (env CORDON_ENROLL_TOKEN)')
    .option('--interface <if>', 'interface to enforce on (repeat for more)', collect, [] as string[])
    .option('--state-dir <dir>', 'key, certificate and last bundle', ENFORCER_DEFAULTS.stateDir)
    .option('--metrics <host:port>', 'Prometheus /metrics address', ENFORCER_DEFAULTS.metrics)
    .option('--name <name>', 'enforcer name (default: host name)')
    .option('--ca-sha256 <hex>', 'SHA-256 of the controller CA certificate, checked before the token is sent (the join string carries it already)')
    .option('--insecure-skip-ca-check', 'enroll with a bare token and no CA pin, trusting the first controller that answers (man in the middle possible)')
    .option('--flow-interval <duration>', 'how often flow counters are read and sent', ENFORCER_DEFAULTS.flowInterval)
    .option('--netns <path>', 'network namespace holding the interfaces (e.g. /run/netns/gw); gRPC and /metrics stay in this one')
    .option('--datapath-name <name>', 'pins under /sys/fs/bpf/cordon/NAME; only for several enforcers on one host (tests, benches)', 'enforcer')
    .option('--detach', 'on SIGTERM, detach from the interfaces and remove the pins (default: enforcement stays)')
    .option('--xdp', 'attach an XDP short-cut that drops repeats of denied flows before tc (a flood costs less; on veth it costs passing traffic much more: use it on NICs with native XDP)')
    .addOption(
      new Option(
        '--failsafe <entry>',
        'what stays reachable whatever the policy, before the first bundle and in every generation (repeat for more): ' +
          'control (this host to the controller), dhcp (to and from this host, 0.0.0.0 -> 255.255.255.255 and relays), dns (udp/tcp 53 to this host), ' +
          'PROTO:PORT[-PORT] to this host (e.g. tcp:22); none removes the defaults',
      )
        .argParser(collect)
        .default([] as string[], FAILSAFE_DEFAULTS.join(', ')),
    )
    .option('--link-local <pass|drop>', 'link-local control frames (802.1X/EAPOL, LLDP): pass and count, or drop', 'pass')
    .option('--mud-dhcp <on|off>', 'read the MUD URLs devices announce in DHCP (option 161, DHCPv6 112) on the enforced interfaces and report them to the controller; off: no DHCP tap', 'on')
    .option('--ready-file <path>', 'written once enforcement is attached (with NOTIFY_SOCKET set, systemd is told too)')
    .option('--label <key=value>', 'what this enforcer is, e.g. site=plant-1 (repeat for more): Policies and Segments with `enforcers:` apply only where their labels match; `cordon label enforcer` overrides them', collect, [] as string[])
    .option('--dns-resolver <address>', 'a resolver devices use (repeat for more; Segments\' spec.dns adds to them): queries to it go through the DNS proxy, which learns the names of fqdn policies', collect, [] as string[])
    .option('--fqdn-min-ttl <duration>', 'the least time a learned address stays allowed for new connections, whatever the answer\'s TTL', '60s')
    .option('--dns-proxy-port <port>', 'first port of the DNS proxy (resolver i: port + i)', '10053')
    .option('--dns-proxy-address <address>', 'address of this host the proxy listens on (one IPv4, one IPv6; default: one of each of this host\'s)', collect, [] as string[])
    .option('--fqdn-max-addresses <n>', 'learned addresses kept in all (the oldest go first)', '50000')
    .option('--fqdn-max-per-name <n>', 'learned addresses kept per name (the oldest go first)', '64')
    .option('--log-level <level>', 'trace, debug, info, warn or error (logs are JSON on stderr, human-readable on a terminal)', 'info')
    // The daemon only: `enforcer revoke` is a client command, and the file's enrollment token is no admin token.
    .hook('preAction', (c, action) => {
      if (action !== c) return;
      try {
        applyConfigFile(c, ENFORCER_CONFIG, ctx.env);
      } catch (err) {
        throw err instanceof ConfigFileError ? new CliError(err.message, 2) : err;
      }
    })
    .action(async (o: { controller: string[]; token?: string; interface: string[]; stateDir: string; metrics: string; name?: string; caSha256?: string; insecureSkipCaCheck?: boolean; flowInterval: string; detach?: boolean; netns?: string; datapathName: string; failsafe: string[]; linkLocal: string; mudDhcp: string; readyFile?: string; logLevel: string; label: string[]; dnsResolver: string[]; fqdnMinTtl: string; dnsProxyPort: string; dnsProxyAddress: string[]; fqdnMaxAddresses: string; fqdnMaxPerName: string }) => {
      let cfg;
      try {
        cfg = validateEnforcerConfig({ ...o, controller: o.controller ?? [] });
      } catch (err) {
        if (err instanceof EnforcerConfigError) throw new CliError(err.message, 2);
        throw err;
      }
      let enforcer: Enforcer;
      try {
        enforcer = await new Enforcer(cfg).start();
      } catch (err) {
        if (err instanceof IdentityError) throw new CliError(err.message, 1);
        throw err;
      }
      ctx.err(`cordon enforcer ${enforcer.name} running (metrics on ${cfg.metrics}, controller ${cfg.controllers.join(', ')}${cfg.netns ? `, interfaces in ${cfg.netns}` : ''})\n`);
      const sig = await ctx.stopSignal();
      ctx.err(`cordon enforcer: ${sig}, stopping${cfg.detach ? ' and detaching' : '; enforcement stays in place'}\n`);
      await enforcer.stop();
    });

  clientOptions(cmd.command('revoke <name>').description('revoke an enforcer: its certificates are refused and its streams cut at once'), true).action(
    async (name: string, o: ClientOptions) => {
      // `enforcer` has an enrollment --token of its own, and commander gives it `revoke NAME --token T`'s value: take it back.
      const client = new Client({ ...o, token: o.token ?? (cmd.opts() as { token?: string }).token }, ctx.env);
      const r = await client.json<{ name: string; serials: string[]; streamsCut: number }>('POST', `/v1/enforcers/${encodeURIComponent(name)}/revoke`);
      if (!emitted(ctx, outputFormat(o), r)) ctx.out(`enforcer ${r.name} revoked (${r.serials.length} certificate(s), ${r.streamsCut} stream(s) cut)\n`);
    },
  );
}
