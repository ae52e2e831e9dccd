import type { Command } from 'commander';
import { DEFAULTS } from '../../../controller/src/config';
import { CONTROLLER_CONFIG, CONTROLLER_CONFIG_PATH } from '../../../controller/src/config-file';
import { applyConfigFile, ConfigFileError } from '../../../daemon/src/config-file';
import { CliContext, CliError } from '../context';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('controller')
    .description('run the controller: REST API and /metrics, gRPC for enforcers, the policy store')
    .option('--config <file>', `configuration file: these flags without their dashes, in YAML (default: ${CONTROLLER_CONFIG_PATH} when it exists); flags and CORDON_* variables win over it`)
    .option('--http <host:port>', 'REST and /metrics address', DEFAULTS.http)
    .option('--grpc <host:port>', 'gRPC address for enforcers', DEFAULTS.grpc)
    .option('--id <name>', 'this controller\'s name where it serves an enforcer (`cordon get enforcers`, CONNECTED) (default: HOSTNAME:GRPC-PORT)')
    .option('--data-dir <dir>', 'state directory (PGlite database, admin.token, CA)', DEFAULTS.dataDir)
    .option('--database-url <url>', 'PostgreSQL URL, to share state between controllers (default: embedded PGlite)')
    .option('--log-level <level>', 'trace, debug, info, warn or error (logs are JSON on stderr, human-readable on a terminal)', DEFAULTS.logLevel)
    .option('--cert-ttl <duration>', 'lifetime of enforcer certificates (enforcers renew them on their own), e.g. 24h, 30m', DEFAULTS.certTtl)
    .option('--learning-window <duration>', `how long device baselines learn before anomalies are raised, e.g. 7d, 12h, 30s (default: ${DEFAULTS.learningWindow}, or CORDON_LEARNING_WINDOW)`)
    .option('--syslog <url>', 'send security events to a syslog collector: udp://HOST:PORT or tcp://HOST:PORT')
    .option('--syslog-format <format>', `syslog message body: rfc5424 (ECS JSON) or cef (default: ${DEFAULTS.syslogFormat}, or CORDON_SYSLOG_FORMAT)`)
    .option('--max-body <size>', 'largest request body accepted (a whole site goes in one apply), e.g. 64MiB, 512KiB', DEFAULTS.maxBody)
    .option('--stream-rows-per-second <n>', 'flow rows GET /v1/flows/stream sends a client in a second; beyond, aggregate events', String(DEFAULTS.streamRowsPerSecond))
    .option('--streams-per-token <n>', 'flow streams one API token may hold open at once', String(DEFAULTS.streamsPerToken))
    .option('--mud-trust-anchors <file>', 'PEM CAs a MUD file\'s mud-signature must chain to (without it a signed MUD file is refused)')
    .option('--mud-ca <file>', 'PEM CAs trusted for the HTTPS servers MUD files come from, beside the system\'s')
    .option('--mud-fetch-timeout <duration>', 'deadline of one MUD fetch, redirects included', DEFAULTS.mudFetchTimeout)
    .option('--mud-controller <uri=segment>', 'the segment a MUD controller class (or my-controller) stands for (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--dns-resolver <address>', 'a resolver the site\'s devices use, for segments without spec.dns: enforcers learn names from its answers (repeatable; CORDON_DNS_RESOLVER lists them)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    // Before the device-CA flags' own hook (credential.ts) hands them over as CORDON_* variables;
    // `controller ca seal` reads --data-dir and --kek-file from here too.
    .hook('preAction', (cmd) => {
      try {
        applyConfigFile(cmd, CONTROLLER_CONFIG, ctx.env);
      } catch (err) {
        throw err instanceof ConfigFileError ? new CliError(err.message, 2) : err;
      }
    })
    .action(async (o: { http: string; grpc: string; dataDir: string; databaseUrl?: string; logLevel: string; certTtl: string; learningWindow?: string; syslog?: string; syslogFormat?: string; maxBody: string; streamRowsPerSecond: string; streamsPerToken: string; mudTrustAnchors?: string; mudCa?: string; mudFetchTimeout: string; mudController: string[]; id?: string; dnsResolver: string[] }) => {
      // Loaded here, not at the top: every other command (the enforcer above all) stays light.
      const { startController } = await import('../../../controller/src/main');
      const ctl = await startController({
        http: o.http,
        grpc: o.grpc,
        dataDir: o.dataDir,
        databaseUrl: o.databaseUrl ?? ctx.env.CORDON_DATABASE_URL,
        logLevel: o.logLevel,
        certTtl: o.certTtl,
        learningWindow: o.learningWindow,
        syslog: o.syslog,
        syslogFormat: o.syslogFormat,
        maxBody: o.maxBody,
        streamRowsPerSecond: o.streamRowsPerSecond,
        streamsPerToken: o.streamsPerToken,
        mudTrustAnchors: o.mudTrustAnchors,
        mudCa: o.mudCa,
        mudFetchTimeout: o.mudFetchTimeout,
        mudController: o.mudController,
        id: o.id,
        dnsResolver: o.dnsResolver,
      });
      // Scripts (and the e2e tests) read the bound addresses from this line, so --http/--grpc may ask for port 0.
      ctx.err(`cordon controller listening on ${ctl.url} grpc ${ctl.grpcAddress} (admin token: ${ctl.adminTokenPath})\n`);
      const sig = await ctx.stopSignal();
      ctx.err(`cordon controller: ${sig}, stopping\n`);
      await ctl.close();
    });
}
