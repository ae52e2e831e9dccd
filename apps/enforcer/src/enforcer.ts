// SPDX-License-Identifier: Apache-2.0
/**
 * The enforcer daemon: keeps its identity, the datapath and the policy stream
 * alive, and reports what it sees.
 *
 * Order of start-up, and why:
 *  1. /metrics first, so cordon_policy_generation (0) is scrapeable at once;
 *  2. the datapath, adopting pinned maps of an earlier run, and at once a
 *     generation: the one kept in bundle.json if there is one, otherwise
 *     default deny plus the failsafe set (generation 0); every generation
 *     carries the failsafe set (failsafe.ts) and this host's addresses;
 *  3. the interfaces are attached right after: the enforcer enforces from its
 *     first moment, before the controller has said anything (fail closed, with
 *     the failsafe as the way back in), and --ready-file says so;
 *  4. identity: enroll with the token only when no usable certificate is stored;
 *  5. the bundle watch, flow stream, status reports and certificate renewal run
 *     until stop(); losing the controller never touches enforcement. This
 *     host's addresses (and the controller's, if named) are read again every
 *     few seconds: a change re-applies the generation with them.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { daemonLogger } from '../../daemon/src/logger';
import { notifySystemdReady } from '../../daemon/src/sd-notify';
import { rpc, RawControlClient } from '../../../proto/cordon/v1/client';
import type { EnforcerStatus, WireReasonCount } from '../../../proto/cordon/v1/control';
import { reasonToWire } from '../../../proto/cordon/v1/control';
import { sleep } from './backoff';
import { BundleKeeper } from './bundle-keeper';
import { BundleStream } from './bundle-stream';
import { ControllerPool } from './controller-pool';
import type { DatapathPort, Direction } from './datapath.port';
import { openDatapath } from './datapath.port';
import { FlowCollector } from './flow-collector';
import { FlowStream } from './flow-stream';
import { GenerationApplier } from './generation-applier';
import { InterfaceNames, NeighbourMacs } from './interface-names';
import { Credentials, IdentityError, IdentityStore, enroll, newKeyAndCsr, renewAt, tokenPinsAnotherCa, usable } from './identity';
import { EnforcerMetrics } from './metrics';
import { FqdnService, type FqdnDatapath } from './fqdn/fqdn-service';
import { FqdnReporter } from './fqdn/fqdn-report';
import { hostAddresses } from './host-addresses';
import { MudDhcpWatcher, nativeDhcpTap } from './mud-dhcp';
import type { EnforcerConfig } from './config';
import * as fs from 'node:fs';
import { PolicyHits } from './policy-hits';
import { CORDON_VERSION as VERSION } from '../../controller/src/version/cordon-version';

const DIRECTIONS: Direction[] = ['ingress', 'egress'];
const EVENT_POLL_MS = 200;
const EVENT_FLUSH_MS = 1000;
/** How often the learned names are checked for a change to report (ReportFqdn): `cordon get fqdn` lags by at most this. */
const FQDN_REPORT_MS = 2000;

export class Enforcer {
  readonly metrics = new EnforcerMetrics();
  readonly keeper: BundleKeeper;
  private readonly identity: IdentityStore;
  private dp!: DatapathPort;
  private creds!: Credentials;
  private pool!: ControllerPool;
  private collector!: FlowCollector;
  private metricsServer: { port: number; close(): Promise<void> } | null = null;
  private attached = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private applier!: GenerationApplier;
  private bundles!: BundleStream;
  private flowStream!: FlowStream;
  private timers: NodeJS.Timeout[] = [];
  private loops: Promise<void>[] = [];
  private stopEvents: (() => void) | null = null;
  /** Learning names from DNS answers; null where the datapath cannot (a test's) or the interfaces live in another namespace. */
  fqdn: FqdnService | null = null;
  private fqdnReporter: FqdnReporter | null = null;
  private mud: MudDhcpWatcher | null = null;
  readonly log: Logger;

  constructor(readonly cfg: EnforcerConfig) {
    this.keeper = BundleKeeper.inDir(cfg.stateDir);
    this.identity = new IdentityStore(cfg.stateDir);
    this.log = cfg.log ?? daemonLogger('cordon-enforcer', cfg.logLevel ?? 'info');
  }

  get metricsPort(): number {
    return this.metricsServer?.port ?? 0;
  }
  get name(): string {
    return this.creds?.name ?? this.cfg.name;
  }
  get enforcedGeneration(): number {
    return this.keeper.current?.generation ?? 0;
  }

  async start(): Promise<this> {
    this.metricsServer = await this.metrics.listen(this.cfg.metrics);
    this.dp = this.cfg.datapath ?? (await openDatapath(this.cfg.datapathName, this.cfg.pinRoot, this.log));
    // An adopted datapath's counters as they stand now: the previous run reported up to
    // here (give or take its last interval); everything after, enrollment included, is ours.
    const baselineFlows = this.dp.adopted && this.dp.flowsRaw ? await this.dp.flowsRaw() : undefined;
    const dp = this.dp;
    if (typeof dp.linkLocalFrames === 'function') this.metrics.watchLinkLocal(() => dp.linkLocalFrames!());
    const stopped = () => this.stopped;
    this.applier = new GenerationApplier(this.cfg, this.dp, this.keeper, this.metrics, this.log, stopped);
    await this.applier.restore();
    await this.attachAll();
    this.metrics.health = () => this.health();
    await this.startFqdn();
    this.signalReady();
    this.every(this.cfg.hostAddressIntervalMs, () => this.applier.refreshAddresses());

    this.pool = new ControllerPool(this.cfg.controllers?.length ? this.cfg.controllers : [this.cfg.controller], { log: this.log, seed: this.cfg.name });
    await this.pool.resolve();
    let creds = this.identity.load();
    const otherCa = usable(creds) ? tokenPinsAnotherCa(creds, this.cfg.token, this.cfg.caSha256) : null;
    if (otherCa) {
      this.log.warn({ storedCa: `sha256:${otherCa.stored}`, pinnedCa: `sha256:${otherCa.pinned}` }, 'the stored certificate was issued under another CA than the one --token pins (a reinstalled controller, a moved gateway): enrolling anew with the token; the kept generation is enforced meanwhile');
    }
    if (!usable(creds) || otherCa) creds = await this.enrollLoop();
    if (this.cfg.name && creds.name !== this.cfg.name) {
      this.log.warn({ stored: creds.name, flag: this.cfg.name }, 'the stored certificate names another enforcer; using the stored name (remove the state directory to enroll anew)');
    }
    this.useCredentials(creds);

    this.collector = new FlowCollector(this.dp, this.metrics, this.name, () => this.keeper.current?.identities ?? {}, () => this.enforcedGeneration, {
      queueBatches: this.cfg.flowQueueBatches,
      baseline: this.dp.adopted && !baselineFlows,
      baselineFlows,
      onQueued: () => {
        this.metrics.batchesUnacked.set(this.collector?.queue.length ?? 0);
        this.flowStream?.wake();
      },
      // Names of the interfaces flows arrive on, read where they live (--netns), once per ifindex.
      interfaceNames: new InterfaceNames(this.cfg.netns),
      neighbours: new NeighbourMacs(this.cfg.netns),
      dstName: this.fqdn ? (a) => this.fqdn!.names.nameOf(a) : undefined,
    });
    this.every(this.cfg.flowIntervalMs, () => this.collector.poll());
    if (typeof dp.ruleStats === 'function') {
      const hits = new PolicyHits((ids) => dp.ruleStats!(ids), () => this.keeper.current?.rules ?? [], this.metrics, { adopted: dp.adopted });
      this.every(this.cfg.flowIntervalMs, () => hits.poll());
    }
    // Drop events: the datapath rate-limits them; the collector queues a bounded number and they
    // leave within EVENT_FLUSH_MS rather than waiting for the next counter poll.
    if (this.dp.onEvents) {
      this.stopEvents = this.dp.onEvents((evs) => this.collector.pushEvents(evs), EVENT_POLL_MS);
      this.every(Math.min(EVENT_FLUSH_MS, this.cfg.flowIntervalMs), async () => this.collector.flushEvents());
    }
    this.every(this.cfg.statusIntervalMs, () => this.reportStatus());
    const client = () => this.pool.client();
    this.pool.onMove = () => {
      this.metrics.controllerMoves.inc();
      this.flowStream?.end(); // the flow loop reopens on the new controller
      this.fqdnReporter?.reset(); // and the new one hears every learned name
    };
    if (this.fqdn) {
      const reporter = new FqdnReporter(this.name, this.fqdn.names, (r) => rpc.reportFqdn(client(), r), () =>
        this.log.warn('the controller does not take ReportFqdn (an older version): `cordon get fqdn` will not list this enforcer until it is upgraded'),
      );
      this.fqdnReporter = reporter;
      this.every(FQDN_REPORT_MS, () => reporter.tick().catch((err) => this.log.debug({ err: String((err as grpc.ServiceError).details ?? err) }, 'fqdn report failed')));
    }
    this.bundles = new BundleStream({
      name: () => this.name,
      labels: () => this.cfg.labels ?? {},
      client,
      keeper: this.keeper,
      applier: this.applier,
      metrics: this.metrics,
      log: this.log,
      stopped,
      abort: this.abort.signal,
      onApplied: () => void this.reportStatus(),
      // A controller that accepts the watch is healthy; it hears our status at once (after a move too).
      onAccepted: () => {
        this.pool.ok();
        void this.reportStatus();
      },
      onLost: (why) => this.pool.failed(why),
    });
    this.flowStream = new FlowStream({
      collector: () => this.collector,
      client,
      intervalMs: this.cfg.flowIntervalMs,
      log: this.log,
      stopped,
      abort: this.abort.signal,
      onAck: (duplicate, unacked) => {
        this.metrics.batchesAcked.inc({ duplicate: String(duplicate) });
        this.metrics.batchesUnacked.set(unacked);
      },
    });
    this.loops.push(this.bundles.run(), this.flowStream.run());
    // MUD URLs devices announce in DHCP (option 161/112), reported to the controller's MUD manager.
    const tap = this.cfg.dhcpTap ?? (this.cfg.datapath ? false : nativeDhcpTap());
    if (tap) {
      this.mud = new MudDhcpWatcher(tap, (r) => rpc.reportMud(client(), { enforcer: this.name, ...r }), this.log);
      this.mud.start(this.cfg.interfaces, this.cfg.netns);
    }
    this.scheduleRenewal();
    this.log.info({ name: this.name, controllers: this.pool.addresses, interfaces: this.cfg.interfaces, netns: this.cfg.netns, generation: this.enforcedGeneration }, 'enforcer started');
    return this;
  }

  /** Stops the daemon. Enforcement stays (programs attached, maps pinned) unless detach. */
  async stop(opts: { detach?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    this.flowStream?.wake();
    for (const t of this.timers) clearInterval(t);
    if (this.stopEvents) {
      this.stopEvents();
      this.stopEvents = null;
      // The event poll in flight on the addon's worker must end before the datapath's handles close.
      await sleep(EVENT_POLL_MS + 100);
    }
    await this.mud?.stop(); // its poll in flight ends within 200 ms
    this.fqdn?.stop();
    this.bundles?.cancel();
    this.flowStream?.end();
    await Promise.race([Promise.allSettled(this.loops), sleep(2000)]);
    this.applier?.stop();
    await this.applier?.settled();
    this.applier?.stop();
    this.pool?.close();
    if (this.dp) {
      if (opts.detach ?? this.cfg.detach) {
        for (const ifname of this.cfg.interfaces) for (const d of DIRECTIONS) await this.dp.detach(ifname, d, this.nsOpts).catch((e) => this.log.warn({ ifname, err: String(e) }, 'detach failed'));
        this.dp.unpin();
        this.log.info('detached: enforcement removed');
      } else {
        this.log.info({ generation: this.enforcedGeneration }, 'stopping; enforcement stays in place');
      }
      this.dp.close();
    }
    await this.metricsServer?.close();
  }

  // ---- datapath --------------------------------------------------------------

  /** Enforcement is attached: tells systemd (Type=notify; the network waits for it) and writes --ready-file. */
  private signalReady(): void {
    void notifySystemdReady(`enforcing generation ${this.enforcedGeneration}`, (err) => this.log.warn({ err: err.message }, 'cannot report readiness to systemd'));
    if (!this.cfg.readyFile) return;
    try {
      fs.writeFileSync(this.cfg.readyFile, `${this.enforcedGeneration}\n`);
    } catch (err) {
      this.log.warn({ file: this.cfg.readyFile, err: String(err) }, 'cannot write the ready file');
    }
  }

  /** Where the managed interfaces live; undefined: this process's namespace. */
  private get nsOpts(): { netns?: string } {
    return this.cfg.netns ? { netns: this.cfg.netns } : {};
  }

  private async attachAll(): Promise<void> {
    if (this.attached) return;
    for (const ifname of this.cfg.interfaces)
      for (const d of DIRECTIONS) {
        const r = await this.dp.attach(ifname, d, { ...this.nsOpts, xdp: this.cfg.xdp });
        // without the XDP short-cut tc judges every packet itself: same verdicts, a dearer denied flood
        if (r?.xdp?.startsWith('skipped')) this.log.warn({ ifname, xdp: r.xdp }, 'XDP short-cut not attached; tc alone judges ingress');
      }
    this.attached = true;
  }

  /**
   * The DNS proxy and what it learned, before the controller is asked anything:
   * names are learned with or without it. Its sockets live in this process's
   * namespace, so with --netns (the interfaces elsewhere) it does not run.
   */
  private async startFqdn(): Promise<void> {
    const dp = this.dp as DatapathPort & Partial<FqdnDatapath>;
    if (!dp.fqdnEntries || !dp.setDnsSteering || !dp.writeFqdn || !dp.deleteFqdn) return;
    if (this.cfg.netns) {
      // said once, whether the resolvers come from --dns-resolver or from a Segment's spec.dns
      let said = false;
      const say = () => {
        if (said) return;
        said = true;
        this.log.warn("--netns: the DNS proxy would listen in the enforcer's own namespace, not the interfaces' one, so it does not run: names of fqdn policies are not learned here");
      };
      if (this.cfg.fqdn.resolvers.length) say();
      this.applier.onApplied = (s) => {
        if (s.dnsResolvers?.length) say();
      };
      return;
    }
    const fqdn = new FqdnService(this.cfg.fqdn, dp as FqdnDatapath, this.metrics.registry, this.log, this.cfg.stateDir, () => hostAddresses());
    await fqdn.start(this.applier.current);
    this.applier.onApplied = (s) => void fqdn.onGeneration(s).catch((err) => this.log.warn({ err: String(err) }, 'learned names: new generation'));
    this.fqdn = fqdn;
  }

  // ---- identity -------------------------------------------------------------

  private async enrollLoop(): Promise<Credentials> {
    if (!this.cfg.token) {
      throw new IdentityError(`no usable certificate in ${this.cfg.stateDir} and no --token: create one with \`cordon token create\` and pass --token`);
    }
    for (;;) {
      try {
        const c = await enroll({ controller: this.pool.current, token: this.cfg.token, name: this.cfg.name, caSha256: this.cfg.caSha256, insecureSkipCaCheck: this.cfg.insecureSkipCaCheck, store: this.identity });
        this.log.info({ name: c.name, serial: c.serial, expiresAt: c.notAfter }, 'enrolled');
        return c;
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (e.code === grpc.status.PERMISSION_DENIED || e.code === grpc.status.INVALID_ARGUMENT || err instanceof IdentityError) {
          throw new IdentityError(`enrollment refused: ${e.details ?? e.message}`);
        }
        if (this.stopped) throw err;
        const at = this.pool.current;
        const ms = this.pool.failed(`enrollment: ${e.details ?? e.message}`);
        this.log.warn({ controller: at, err: e.details ?? e.message, retryInMs: ms }, 'controller not reachable for enrollment; retrying');
        await sleep(ms, this.abort.signal);
      }
    }
  }

  private useCredentials(c: Credentials): RawControlClient | null {
    this.creds = c;
    this.metrics.certExpiry.set(c.notAfter.getTime() / 1000);
    return this.pool.useTls({ caPem: c.caPem, certPem: c.certPem, keyPem: c.keyPem });
  }

  private scheduleRenewal(): void {
    const at = renewAt(this.creds);
    const t = setTimeout(() => void this.renew(), Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1));
    t.unref();
    this.timers.push(t);
  }

  /** Renews the certificate and moves every stream to the new one before closing the old (no gap). */
  async renew(): Promise<void> {
    if (this.stopped || !this.creds) return;
    try {
      const { keyPem, csrPem } = await newKeyAndCsr(this.name);
      const res = await rpc.renew(this.pool.client(), { csrPem });
      const creds = this.identity.save(keyPem, res);
      const oldClient = this.useCredentials(creds);
      // Make before break: the new watch must be accepted before the old one goes.
      await this.bundles.handOver(this.pool.client());
      this.flowStream.end(); // the flow loop reopens on the new client
      if (oldClient) setTimeout(() => oldClient.close(), 5000).unref();
      this.log.info({ serial: creds.serial, expiresAt: creds.notAfter }, 'certificate renewed');
    } catch (err) {
      this.log.warn({ err: String((err as grpc.ServiceError).details ?? err) }, 'certificate renewal failed; retrying in a minute');
      const t = setTimeout(() => void this.renew(), 60_000);
      t.unref();
      this.timers.push(t);
      return;
    }
    this.scheduleRenewal();
  }

  // ---- status ------------------------------------------------------------------

  /** /healthz: the datapath attached, the last apply good, and the kernel enforcing the generation kept. */
  private health(): { ok: boolean; detail: string; generation: number; connected: boolean; controller: string | null } {
    const generation = this.enforcedGeneration;
    const connected = this.pool ? this.watchConnected() : false;
    const base = { generation, connected, controller: this.pool?.current ?? null };
    if (!this.attached) return { ok: false, detail: 'the datapath is not attached', ...base };
    if (!this.applier.health.healthy) return { ok: false, detail: this.applier.health.detail, ...base };
    const live = this.dp.state().generation;
    if (live !== generation) return { ok: false, detail: `the kernel enforces generation ${live}, not ${generation} (the one kept)`, ...base };
    return { ok: true, detail: connected ? 'enforcing' : 'enforcing the last generation; the controller is not reachable', ...base };
  }

  private watchConnected(): boolean {
    return this.bundles?.connected ?? false;
  }

  private async status(): Promise<EnforcerStatus> {
    let fill: Record<string, { entries: number; max: number }> = {};
    let drops: WireReasonCount[] = [];
    let epoch = 0;
    try {
      fill = await this.dp.mapFill();
      drops = Object.entries(this.dp.reasonStats()).map(([r, c]) => ({ reason: reasonToWire(r), packets: c.packets, bytes: c.bytes }));
      epoch = this.dp.state().epoch;
    } catch (err) {
      this.applier.health = { healthy: false, detail: `datapath: ${(err as Error).message}` };
    }
    return {
      enforcer: this.name,
      generation: this.enforcedGeneration,
      mapFill: fill,
      health: { ...this.applier.health, interfaces: this.attached ? this.cfg.interfaces : [], adopted: this.dp.adopted, epoch },
      drops,
      version: VERSION,
      certificateExpiresAt: this.creds.notAfter.getTime(),
      droppedBatches: this.collector?.queue.dropped ?? 0,
    };
  }

  private async reportStatus(): Promise<void> {
    if (this.stopped || !this.creds) return;
    await rpc.reportStatus(this.pool.client(), await this.status()).catch((err) => this.log.debug({ err: String((err as grpc.ServiceError).details ?? err) }, 'status report failed'));
  }

  private every(ms: number, fn: () => Promise<void>): void {
    let busy = false;
    const t = setInterval(() => {
      if (busy || this.stopped) return;
      busy = true;
      fn()
        .catch((err) => this.log.warn({ err: String(err) }, 'periodic task failed'))
        .finally(() => (busy = false));
    }, ms);
    t.unref();
    this.timers.push(t);
  }
}
