// SPDX-License-Identifier: Apache-2.0
/**
 * Generations into the datapath, one at a time: the kept one (or the failsafe
 * alone) at start, each update from the controller once the keeper has built
 * it, and the same generation again when this host's addresses or the
 * controller's move. Every generation carries the failsafe set (failsafe.ts)
 * and this host's addresses; a failed apply leaves the previous one enforced.
 * A generation with scheduled allows is applied with those open now
 * (model/schedule/gate.ts), and applied again, by this process's own timer
 * (schedule-boundaries.ts), at each boundary: a new epoch, so flows a closing window no longer allows are
 * judged again on their next packet and dropped, as after any change.
 */
import { fqdnSelectors } from '../../../model/generation/fqdn';
import type { Logger } from 'pino';
import type { BundleUpdate } from '../../../proto/cordon/v1/control';
import { BundleKeeper, ResyncNeeded } from './bundle-keeper';
import type { EnforcerConfig } from './config';
import { resolveController, type ControllerEndpoint } from './controller-address';
import type { DatapathPort } from './datapath.port';
import { describeFailsafe, withFailsafe, type GenerationEntries } from './failsafe';
import { hostAddresses } from './host-addresses';
import { isIP } from 'node:net';
import type { EnforcerMetrics } from './metrics';
import { parseHostPort } from '../../common/src/host-port';
import type { RuleInfo } from '../../../model/generation/bundle';
import { ScheduleBoundaries } from './schedule-boundaries';
import { enforcerClock } from './clock';

/** What the datapath is given: a generation's entries, number and global audit flag. */
export type AppliedEntries = GenerationEntries & { generation: number; auditAll?: boolean; rules?: readonly RuleInfo[]; dnsResolvers?: readonly string[] };

/** The generation before the first bundle: default deny plus the failsafe set. */
const FAILSAFE_ONLY: AppliedEntries = { generation: 0, ipcache: [], policy: [], identities: {} };
/** A controller given by name is resolved again at most this often. */
const RESOLVE_EVERY_MS = 30_000;

export class GenerationApplier {
  /** What the last applied generation was built with; a change re-applies it. */
  private applied: { entries: AppliedEntries; inputs: string; openKey: string } | null = null;
  private readonly boundaries: ScheduleBoundaries;
  private controllerAt: ControllerEndpoint[];
  private resolvedAt = 0;
  private chain: Promise<void> = Promise.resolve();
  /** Healthy unless the last apply (or a datapath read) failed; reported in the status. */
  health = { healthy: true, detail: '' };
  /** Told of every generation once it is in the datapath (the learned names follow its selectors). */
  onApplied: ((s: AppliedEntries) => void) | null = null;

  constructor(
    private readonly cfg: EnforcerConfig,
    private readonly dp: DatapathPort,
    private readonly keeper: BundleKeeper,
    private readonly metrics: EnforcerMetrics,
    private readonly log: Logger,
    private readonly stopped: () => boolean,
    private readonly now: () => number = enforcerClock(),
  ) {
    this.controllerAt = this.controllers().map((c) => ({ addresses: [], port: parseHostPort(c)?.port ?? 0 }));
    this.boundaries = new ScheduleBoundaries(now, () => this.onBoundary());
  }

  /** Resolves once every apply queued so far has run. */
  settled(): Promise<void> {
    return this.chain.catch(() => undefined);
  }

  /**
   * A generation in the datapath before anything is attached or asked of the
   * controller: the kept one (re-applied even over adopted maps of the same
   * generation, so the failsafe set, this host's addresses and --link-local are
   * those of this run), else the failsafe alone. Maps adopted without a kept
   * bundle.json stay as they are: they hold a real generation, and a
   * snapshot follows.
   */
  async restore(): Promise<void> {
    await this.resolveControllerAddresses();
    const saved = this.keeper.load();
    const live = this.dp.state();
    if (saved) {
      await this.apply(saved);
    } else if (this.dp.adopted && live.generation > 0) {
      this.metrics.generation.set(live.generation);
      this.log.info({ generation: live.generation }, 'adopted a generation without a kept bundle: enforcing it until the controller sends a snapshot');
    } else {
      await this.apply(FAILSAFE_ONLY);
      this.log.info({ failsafe: describeFailsafe(this.cfg.failsafe) }, 'no bundle yet: enforcing default deny plus the failsafe set');
    }
  }

  /** Re-applies the generation when this host's addresses (or a named controller's) moved. */
  async refreshAddresses(): Promise<void> {
    const named = this.controllers().some((c) => {
      const host = parseHostPort(c)?.host;
      return !!host && !isIP(host);
    });
    if (named && Date.now() - this.resolvedAt >= RESOLVE_EVERY_MS) await this.resolveControllerAddresses();
    const run = async () => {
      if (this.stopped() || !this.applied) return;
      if (this.inputs() === this.applied.inputs) return;
      this.log.info('this host\'s or the controller\'s addresses changed: re-applying the generation with them');
      await this.apply(this.applied.entries).catch((err) => this.log.error({ err: String(err) }, 're-applying the generation failed; the previous one stays enforced'));
    };
    this.chain = this.chain.then(run, run);
    await this.chain;
  }

  /**
   * One update, in order: resolve against what we hold, apply atomically, keep.
   * `resync` is called when the stream must start over (with a snapshot, or from
   * what the datapath enforces); `applied` after the generation is kept.
   */
  onUpdate(u: BundleUpdate, current: () => boolean, resync: () => void, applied: () => void): void {
    this.chain = this.chain.then(async () => {
      if (this.stopped() || !current()) return; // a stream being handed over, or gone
      const cur = this.keeper.current;
      if (cur && cur.generation === u.generation && cur.hash === u.hash) return;
      let next;
      try {
        next = this.keeper.resolve(u);
      } catch (err) {
        if (!(err instanceof ResyncNeeded)) throw err;
        this.log.warn({ err: err.message }, 'cannot build the generation from what we hold: asking for a snapshot');
        this.keeper.forget();
        return resync();
      }
      try {
        await this.apply(next);
      } catch (err) {
        this.log.error({ generation: u.generation, err: String(err) }, 'applying the generation failed; the previous one stays enforced');
        return resync(); // re-sync from what the datapath enforces
      }
      this.keeper.commit(next);
      applied();
    }).catch((err) => this.log.error({ err: String(err) }, 'bundle update failed'));
  }

  /** Stops the boundary timer (the daemon is stopping). */
  stop(): void {
    this.boundaries.stop();
  }

  /** The generation in the datapath now (before the first bundle: the failsafe alone). */
  get current(): AppliedEntries {
    return this.applied?.entries ?? FAILSAFE_ONLY;
  }

  private async apply(s: AppliedEntries): Promise<void> {
    const end = this.metrics.applyDuration.startTimer();
    try {
      const hostAddresses = this.ownAddresses();
      const inputs = JSON.stringify([hostAddresses, this.controllerAt]);
      const t0 = performance.now();
      const gated = this.boundaries.gate(s.policy, s.rules);
      const { ipcache, policy } = withFailsafe({ ...s, policy: gated.policy }, this.cfg.failsafe, { hostAddresses, controllers: this.controllerAt });
      const r = await this.dp.applyGeneration({ generation: s.generation, ipcache, policy, auditAll: s.auditAll === true, linkLocalDrop: this.cfg.linkLocal === 'drop', nameSelectors: fqdnSelectors(s.identities ?? {}).length > 0 });
      end();
      this.applied = { entries: s, inputs, openKey: gated.openKey };
      if (this.stopped()) this.boundaries.stop();
      else this.boundaries.applied(performance.now() - t0, gated.next);
      this.metrics.generation.set(s.generation);
      this.health = { healthy: true, detail: '' };
      this.onApplied?.(s);
      const scheduled = gated.open + gated.closed ? { scheduledOpen: gated.open, scheduledClosed: gated.closed, nextBoundary: gated.next === null ? null : new Date(gated.next).toISOString() } : {};
      this.log.info({ generation: s.generation, epoch: r.epoch, ms: r.durationMs, ipcache: s.ipcache.length, policy: gated.policy.length, failsafe: policy.length - gated.policy.length, ...scheduled }, 'generation applied');
    } catch (err) {
      this.health = { healthy: false, detail: `apply generation ${s.generation}: ${(err as Error).message}` };
      throw err;
    }
  }

  /** The boundary timer's call: apply the generation again when the entries open now differ from those applied. */
  private onBoundary(): void {
    const run = async () => {
      if (this.stopped() || !this.applied) return;
      const { entries, openKey } = this.applied;
      const gated = this.boundaries.gate(entries.policy, entries.rules);
      if (gated.openKey === openKey) return this.boundaries.arm(gated.next); // a recheck, or not yet
      this.log.info({ generation: entries.generation, scheduledOpen: gated.open, scheduledClosed: gated.closed }, 'schedule boundary: re-applying the generation');
      await this.apply(entries).catch((err) => {
        this.log.error({ err: String(err) }, 're-applying the generation at a schedule boundary failed; trying again in a second');
        this.boundaries.arm(this.now() + 1000);
      });
    };
    this.chain = this.chain.then(run, run);
  }

  private controllers(): string[] {
    return this.cfg.controllers?.length ? this.cfg.controllers : [this.cfg.controller];
  }

  /** Every controller's addresses, for the control channel's failsafe entries (a name is looked up; failure: the last known). */
  private async resolveControllerAddresses(): Promise<void> {
    this.resolvedAt = Date.now();
    const list = this.controllers();
    this.controllerAt = await Promise.all(
      list.map(async (c, i) => {
        try {
          return await resolveController(c);
        } catch (err) {
          this.log.warn({ controller: c, err: String(err) }, 'cannot resolve the controller: its control channel is not in the failsafe set until it resolves');
          return this.controllerAt[i] ?? { addresses: [], port: parseHostPort(c)?.port ?? 0 };
        }
      }),
    );
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
}
