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
import { hostAddresses } from './host-addresses';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { daemonLogger } from '../../daemon/src/logger';
import { notifySystemdReady } from '../../daemon/src/sd-notify';
import { controlClient, rpc, RawControlClient } from '../../../proto/cordon/v1/client';
import type { BundleUpdate, EnforcerStatus, FlowAck, WireReasonCount } from '../../../proto/cordon/v1/control';
import { reasonToWire } from '../../../proto/cordon/v1/control';
import type { BundleState } from '../../../proto/cordon/v1/bundle';
import { Backoff, sleep } from './backoff';
import { BundleKeeper, ResyncNeeded } from './bundle-keeper';
import type { DatapathPort, Direction } from './datapath.port';
import { openDatapath } from './datapath.port';
import { FlowCollector } from './flow-collector';
import { InterfaceNames, NeighbourMacs } from './interface-names';
import { Credentials, IdentityError, IdentityStore, enroll, newKeyAndCsr, renewAt, usable } from './identity';
import { EnforcerMetrics } from './metrics';
import type { EnforcerConfig } from './config';
import { describeFailsafe, withFailsafe, type GenerationEntries } from './failsafe';
import { resolveController, type ControllerEndpoint } from './controller-address';
import * as fs from 'node:fs';
import { isIP } from 'node:net';

const VERSION = '0.1.0';
const DIRECTIONS: Direction[] = ['ingress', 'egress'];
const EVENT_POLL_MS = 200;
const EVENT_FLUSH_MS = 1000;
/** A controller given by name is resolved again at most this often. */
const RESOLVE_EVERY_MS = 30_000;
/** The generation before the first bundle: default deny plus the failsafe set. */
const FAILSAFE_ONLY: GenerationEntries & { generation: number; auditAll: boolean } = { generation: 0, ipcache: [], policy: [], identities: {}, auditAll: false };

interface Watch {
  call: grpc.ClientReadableStream<BundleUpdate>;
  accepted: Promise<boolean>;
  done: Promise<grpc.ServiceError | null>;
}

export class Enforcer {
  readonly metrics = new EnforcerMetrics();
  readonly keeper: BundleKeeper;
  private readonly identity: IdentityStore;
  private dp!: DatapathPort;
  private creds!: Credentials;
  private client: RawControlClient | null = null;
  private collector!: FlowCollector;
  private metricsServer: { port: number; close(): Promise<void> } | null = null;
  private attached = false;
  /** What the last applied generation was built with; a change re-applies it. */
  private applied: { entries: GenerationEntries & { generation: number; auditAll: boolean }; inputs: string } | null = null;
  private controllerAt: ControllerEndpoint;
  private resolvedAt = 0;
  private stopped = false;
  private readonly abort = new AbortController();
  private watch: Watch | null = null;
  private flowStream: grpc.ClientWritableStream<unknown> | null = null;
  private applyChain: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private loops: Promise<void>[] = [];
  private health = { healthy: true, detail: '' };
  private stopEvents: (() => void) | null = null;
  /** Wakes the flow loop when a batch is queued, so it does not sit out its idle wait. */
  private wakeFlows: (() => void) | null = null;
  readonly log: Logger;

  constructor(readonly cfg: EnforcerConfig) {
    this.keeper = BundleKeeper.inDir(cfg.stateDir);
    this.identity = new IdentityStore(cfg.stateDir);
    this.log = cfg.log ?? daemonLogger('cordon-enforcer', cfg.logLevel ?? 'info');
    this.controllerAt = { addresses: [], port: Number(/:(\d+)$/.exec(cfg.controller)?.[1] ?? 0) };
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
    this.dp = this.cfg.datapath ?? (await openDatapath(this.cfg.datapathName, this.cfg.pinRoot));
    // An adopted datapath's counters as they stand now: the previous run reported up to
    // here (give or take its last interval); everything after, enrollment included, is ours.
    const baselineFlows = this.dp.adopted && this.dp.flowsRaw ? await this.dp.flowsRaw() : undefined;
    const dp = this.dp;
    if (typeof dp.linkLocalFrames === 'function') this.metrics.watchLinkLocal(() => dp.linkLocalFrames!());
    await this.resolveControllerAddresses();
    await this.restore();
    await this.attachAll();
    this.signalReady();
    this.every(this.cfg.hostAddressIntervalMs, () => this.refreshAddresses());

    let creds = this.identity.load();
    if (!usable(creds)) creds = await this.enrollLoop();
    if (this.cfg.name && creds.name !== this.cfg.name) {
      this.log.warn({ stored: creds.name, flag: this.cfg.name }, 'the stored certificate names another enforcer; using the stored name (remove the state directory to enroll anew)');
    }
    this.useCredentials(creds);

    this.collector = new FlowCollector(this.dp, this.metrics, this.name, () => this.keeper.current?.identities ?? {}, () => this.enforcedGeneration, {
      queueBatches: this.cfg.flowQueueBatches,
      baseline: this.dp.adopted && !baselineFlows,
      baselineFlows,
      onQueued: () => this.wakeFlows?.(),
      // Names of the interfaces flows arrive on, read where they live (--netns), once per ifindex.
      interfaceNames: new InterfaceNames(this.cfg.netns),
      neighbours: new NeighbourMacs(this.cfg.netns),
    });
    this.every(this.cfg.flowIntervalMs, () => this.collector.poll());
    // Drop events: the datapath rate-limits them; the collector queues a bounded number and they
    // leave within EVENT_FLUSH_MS rather than waiting for the next counter poll.
    if (this.dp.onEvents) {
      this.stopEvents = this.dp.onEvents((evs) => this.collector.pushEvents(evs), EVENT_POLL_MS);
      this.every(Math.min(EVENT_FLUSH_MS, this.cfg.flowIntervalMs), async () => this.collector.flushEvents());
    }
    this.every(this.cfg.statusIntervalMs, () => this.reportStatus());
    this.loops.push(this.watchLoop(), this.flowLoop());
    this.scheduleRenewal();
    this.log.info({ name: this.name, controller: this.cfg.controller, interfaces: this.cfg.interfaces, netns: this.cfg.netns, generation: this.enforcedGeneration }, 'enforcer started');
    return this;
  }

  /** Stops the daemon. Enforcement stays (programs attached, maps pinned) unless detach. */
  async stop(opts: { detach?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    this.wakeFlows?.();
    for (const t of this.timers) clearInterval(t);
    if (this.stopEvents) {
      this.stopEvents();
      this.stopEvents = null;
      // The event poll in flight on the addon's worker must end before the datapath's handles close.
      await sleep(EVENT_POLL_MS + 100);
    }
    this.watch?.call.cancel();
    this.flowStream?.end();
    await Promise.race([Promise.allSettled(this.loops), sleep(2000)]);
    await this.applyChain.catch(() => undefined);
    this.client?.close();
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

  /**
   * A generation in the datapath before anything is attached or asked of the
   * controller: the kept one (re-applied even over adopted maps of the same
   * generation, so the failsafe set, this host's addresses and --link-local are
   * those of this run), else the failsafe alone. Maps adopted without a kept
   * bundle.json stay as they are: they hold a real generation, and a
   * snapshot follows.
   */
  private async restore(): Promise<void> {
    const saved = this.keeper.load();
    const live = this.dp.state();
    if (saved) {
      await this.applyToDatapath(saved);
    } else if (this.dp.adopted && live.generation > 0) {
      this.metrics.generation.set(live.generation);
      this.log.info({ generation: live.generation }, 'adopted a generation without a kept bundle: enforcing it until the controller sends a snapshot');
    } else {
      await this.applyToDatapath(FAILSAFE_ONLY);
      this.log.info({ failsafe: describeFailsafe(this.cfg.failsafe) }, 'no bundle yet: enforcing default deny plus the failsafe set');
    }
  }

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

  /** The controller's addresses, for the control channel's failsafe entry (a name is looked up; failure: none yet). */
  private async resolveControllerAddresses(): Promise<void> {
    this.resolvedAt = Date.now();
    try {
      this.controllerAt = await resolveController(this.cfg.controller);
    } catch (err) {
      this.log.warn({ controller: this.cfg.controller, err: String(err) }, 'cannot resolve the controller: its control channel is not in the failsafe set until it resolves');
    }
  }

  /** Re-applies the generation when this host's addresses (or a named controller's) moved. */
  private async refreshAddresses(): Promise<void> {
    const host = /^(?:\[([^\]]+)\]|([^:]+)):\d+$/.exec(this.cfg.controller);
    if (host && !isIP(host[1] ?? host[2]) && Date.now() - this.resolvedAt >= RESOLVE_EVERY_MS) await this.resolveControllerAddresses();
    const run = async () => {
      if (this.stopped || !this.applied) return;
      if (this.inputs() === this.applied.inputs) return;
      this.log.info('this host\'s or the controller\'s addresses changed: re-applying the generation with them');
      await this.applyToDatapath(this.applied.entries).catch((err) => this.log.error({ err: String(err) }, 're-applying the generation failed; the previous one stays enforced'));
    };
    this.applyChain = this.applyChain.then(run, run);
    await this.applyChain;
  }

  /** Everything besides the bundle that a generation is built from. */
  private inputs(): string {
    return JSON.stringify([this.ownAddresses(), this.controllerAt]);
  }

  /** This host's addresses where the interfaces live (the `host` identity); none if they cannot be read. */
  private ownAddresses(): string[] {
    try {
      return hostAddresses(this.cfg.netns);
    } catch (err) {
      this.log.warn({ err: String(err) }, 'cannot read this host\'s addresses: they will not carry the host identity');
      return [];
    }
  }

  /** Where the managed interfaces live; undefined: this process's namespace. */
  private get nsOpts(): { netns?: string } {
    return this.cfg.netns ? { netns: this.cfg.netns } : {};
  }

  private async attachAll(): Promise<void> {
    if (this.attached) return;
    for (const ifname of this.cfg.interfaces) for (const d of DIRECTIONS) await this.dp.attach(ifname, d, this.nsOpts);
    this.attached = true;
  }

  private async applyToDatapath(s: GenerationEntries & { generation: number; auditAll: boolean }): Promise<void> {
    const end = this.metrics.applyDuration.startTimer();
    try {
      const hostAddresses = this.ownAddresses();
      const inputs = JSON.stringify([hostAddresses, this.controllerAt]);
      const { ipcache, policy } = withFailsafe(s, this.cfg.failsafe, { hostAddresses, controllerAddresses: this.controllerAt.addresses, controllerPort: this.controllerAt.port });
      const r = await this.dp.applyGeneration({ generation: s.generation, ipcache, policy, auditAll: s.auditAll, linkLocalDrop: this.cfg.linkLocal === 'drop' });
      end();
      this.applied = { entries: s, inputs };
      this.metrics.generation.set(s.generation);
      this.health = { healthy: true, detail: '' };
      this.log.info({ generation: s.generation, epoch: r.epoch, ms: r.durationMs, ipcache: s.ipcache.length, policy: s.policy.length, failsafe: policy.length - s.policy.length }, 'generation applied');
    } catch (err) {
      this.health = { healthy: false, detail: `apply generation ${s.generation}: ${(err as Error).message}` };
      throw err;
    }
  }

  /** One update, in order: resolve against what we hold, apply atomically, keep, report. */
  private onUpdate(u: BundleUpdate, w: Watch): void {
    this.applyChain = this.applyChain.then(async () => {
      if (this.stopped || this.watch !== w) return; // a stream being handed over, or gone
      const cur = this.keeper.current;
      if (cur && cur.generation === u.generation && cur.hash === u.hash) return;
      let next: BundleState;
      try {
        next = this.keeper.resolve(u);
      } catch (err) {
        if (!(err instanceof ResyncNeeded)) throw err;
        this.log.warn({ err: err.message }, 'cannot build the generation from what we hold: asking for a snapshot');
        this.keeper.forget();
        w.call.cancel();
        return;
      }
      try {
        await this.applyToDatapath(next);
      } catch (err) {
        this.log.error({ generation: u.generation, err: String(err) }, 'applying the generation failed; the previous one stays enforced');
        w.call.cancel(); // re-sync from what the datapath enforces
        return;
      }
      this.keeper.commit(next);
      void this.reportStatus();
    }).catch((err) => this.log.error({ err: String(err) }, 'bundle update failed'));
  }

  // ---- identity -------------------------------------------------------------

  private async enrollLoop(): Promise<Credentials> {
    if (!this.cfg.token) {
      throw new IdentityError(`no usable certificate in ${this.cfg.stateDir} and no --token: create one with \`cordon token create\` and pass --token`);
    }
    const backoff = new Backoff(1000, 30_000);
    for (;;) {
      try {
        const c = await enroll({ controller: this.cfg.controller, token: this.cfg.token, name: this.cfg.name, caSha256: this.cfg.caSha256, insecureSkipCaCheck: this.cfg.insecureSkipCaCheck, store: this.identity });
        this.log.info({ name: c.name, serial: c.serial, expiresAt: c.notAfter }, 'enrolled');
        return c;
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (e.code === grpc.status.PERMISSION_DENIED || e.code === grpc.status.INVALID_ARGUMENT || err instanceof IdentityError) {
          throw new IdentityError(`enrollment refused: ${e.details ?? e.message}`);
        }
        if (this.stopped) throw err;
        const ms = backoff.next();
        this.log.warn({ err: e.details ?? e.message, retryInMs: ms }, 'controller not reachable for enrollment; retrying');
        await sleep(ms, this.abort.signal);
      }
    }
  }

  private useCredentials(c: Credentials): void {
    this.creds = c;
    this.metrics.certExpiry.set(c.notAfter.getTime() / 1000);
    this.client = controlClient(this.cfg.controller, { caPem: c.caPem, certPem: c.certPem, keyPem: c.keyPem });
  }

  private scheduleRenewal(): void {
    const at = renewAt(this.creds);
    const t = setTimeout(() => void this.renew(), Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1));
    t.unref();
    this.timers.push(t);
  }

  /** Renews the certificate and moves every stream to the new one before closing the old (no gap). */
  async renew(): Promise<void> {
    if (this.stopped || !this.client) return;
    try {
      const { keyPem, csrPem } = await newKeyAndCsr(this.name);
      const res = await rpc.renew(this.client, { csrPem });
      const creds = this.identity.save(keyPem, res);
      const oldClient = this.client;
      const oldWatch = this.watch;
      const oldFlows = this.flowStream;
      this.useCredentials(creds);
      // Make before break: the new watch must be accepted before the old one goes.
      if (oldWatch) {
        const w = this.openWatch(this.client);
        if (await Promise.race([w.accepted, sleep(10_000, this.abort.signal).then(() => false)])) {
          this.watch = w;
          oldWatch.call.cancel();
        } else {
          w.call.cancel();
        }
      }
      oldFlows?.end(); // the flow loop reopens on the new client
      setTimeout(() => oldClient.close(), 5000).unref();
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

  // ---- streams ----------------------------------------------------------------

  private openWatch(client: RawControlClient): Watch {
    const cur = this.keeper.current;
    const call = client.WatchBundles({ enforcer: this.name, lastGeneration: cur?.generation ?? 0, lastHash: cur?.hash ?? '' });
    let accept!: (ok: boolean) => void;
    const accepted = new Promise<boolean>((r) => (accept = r));
    const w: Watch = {
      call,
      accepted,
      done: new Promise((resolve) => {
        call.on('metadata', () => accept(true));
        call.on('data', (u: BundleUpdate) => {
          accept(true);
          this.onUpdate(u, w);
        });
        call.on('error', (e: grpc.ServiceError) => {
          accept(false);
          resolve(e);
        });
        call.on('end', () => {
          accept(false);
          resolve(null);
        });
      }),
    };
    return w;
  }

  private async watchLoop(): Promise<void> {
    const backoff = new Backoff(500, 30_000);
    while (!this.stopped) {
      if (!this.watch) this.watch = this.openWatch(this.client!);
      const w = this.watch;
      void w.accepted.then((ok) => {
        if (ok && this.watch === w) {
          backoff.reset();
          this.metrics.connected.set(1);
        }
      });
      const err = await w.done;
      if (this.watch !== w) continue; // handed over to a new stream (renewal)
      this.watch = null;
      this.metrics.connected.set(0);
      if (this.stopped) break;
      let ms = backoff.next();
      if (err?.code === grpc.status.CANCELLED) ms = 0; // we cancelled it ourselves to re-sync
      if (err?.code === grpc.status.PERMISSION_DENIED) ms = 30_000; // revoked: keep enforcing, poll slowly
      if (err && err.code !== grpc.status.CANCELLED) {
        this.log.warn({ code: grpc.status[err.code], err: err.details, retryInMs: ms }, 'policy stream lost; enforcing the last generation meanwhile');
      }
      await sleep(ms, this.abort.signal);
    }
  }

  private async flowLoop(): Promise<void> {
    const backoff = new Backoff(1000, 30_000);
    while (!this.stopped) {
      const queue = this.collector.queue;
      if (queue.length === 0) {
        await this.idleFlows();
        continue;
      }
      const client = this.client!;
      const result = await new Promise<grpc.ServiceError | FlowAck | undefined>((resolve) => {
        const s = client.ReportFlows(new grpc.Metadata(), {}, (err, ack) => resolve(err ?? ack));
        this.flowStream = s as unknown as grpc.ClientWritableStream<unknown>;
        const pump = async () => {
          while (!this.stopped && this.flowStream === (s as unknown) && this.client === client) {
            const b = queue.peek();
            if (!b) {
              await this.idleFlows();
              continue;
            }
            const ok = await new Promise<boolean>((r) => s.write({ ...b, droppedBatches: queue.dropped }, (e: unknown) => r(!e)));
            if (!ok) return;
            if (queue.peek() === b) queue.shift();
            backoff.reset();
          }
          s.end();
        };
        void pump();
      });
      this.flowStream = null;
      if (this.stopped) break;
      if (result && 'code' in result && result.code !== grpc.status.OK) {
        const ms = backoff.next();
        this.log.debug({ err: result.details, retryInMs: ms }, 'flow stream lost; batches stay queued');
        await sleep(ms, this.abort.signal);
      }
    }
  }

  /** Waits for a queued batch (or a second at most, to notice a stop or a new client). */
  private idleFlows(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakeFlows = null;
        resolve();
      };
      const t = setTimeout(done, Math.min(1000, this.cfg.flowIntervalMs));
      t.unref();
      this.wakeFlows = done;
      if (this.stopped) done();
    });
  }

  private status(): EnforcerStatus {
    let fill: Record<string, { entries: number; max: number }> = {};
    let drops: WireReasonCount[] = [];
    let epoch = 0;
    try {
      fill = this.dp.mapFill();
      drops = Object.entries(this.dp.reasonStats()).map(([r, c]) => ({ reason: reasonToWire(r), packets: c.packets, bytes: c.bytes }));
      epoch = this.dp.state().epoch;
    } catch (err) {
      this.health = { healthy: false, detail: `datapath: ${(err as Error).message}` };
    }
    return {
      enforcer: this.name,
      generation: this.enforcedGeneration,
      mapFill: fill,
      health: { ...this.health, interfaces: this.attached ? this.cfg.interfaces : [], adopted: this.dp.adopted, epoch },
      drops,
      version: VERSION,
      certificateExpiresAt: this.creds.notAfter.getTime(),
      droppedBatches: this.collector?.queue.dropped ?? 0,
    };
  }

  private async reportStatus(): Promise<void> {
    if (this.stopped || !this.client) return;
    await rpc.reportStatus(this.client, this.status()).catch((err) => this.log.debug({ err: String((err as grpc.ServiceError).details ?? err) }, 'status report failed'));
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
