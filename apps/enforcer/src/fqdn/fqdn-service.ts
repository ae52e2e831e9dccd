// SPDX-License-Identifier: Apache-2.0
/**
 * Learning names on the enforcer: the DNS proxy, the learned-name store, the
 * datapath's steering, their metrics and their snapshot (fqdn.json in the
 * state directory; with the pinned cordon_fqdn map it carries what was learned
 * over a restart, SIGKILL included). Runs from the enforcer's first moment,
 * controller or not: only a generation's name selectors and resolvers come
 * from the bundle.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isIPv4, isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { VERDICT, LIMITS } from '../../../../native/lib/abi';
import type { DnsSteering, FqdnEntry } from '../../../../native/lib/fqdn-maps';
import { fqdnSelectors } from '../../../../model/generation/fqdn';
import type { GenerationEntries } from '../failsafe';
import { DnsProxy, type AnswerOutcome } from './dns-proxy';
import type { FqdnConfig } from './fqdn-config';
import { LearnedNames, type FqdnSink, type LearnedView, type PersistedEntry } from './learned-names';

/** The datapath as this needs it (the real one; recording test datapaths have none of it). */
export interface FqdnDatapath extends FqdnSink {
  fqdnEntries(): Promise<FqdnEntry[]>;
  setDnsSteering(s: DnsSteering): void;
}

const SNAPSHOT_MS = 5000;
const COLLECT_MS = 10_000;

function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

export class FqdnService {
  readonly names: LearnedNames;
  private proxy: DnsProxy | null = null;
  private resolvers: string[] = [];
  private timers: NodeJS.Timeout[] = [];
  /** The snapshot to restore once the first generation names its selectors (see start). */
  private deferred: PersistedEntry[] | null = null;
  private readonly file: string;
  private readonly answers: Counter<'outcome'>;

  constructor(
    private readonly cfg: FqdnConfig,
    private readonly dp: FqdnDatapath,
    registry: Registry,
    private readonly log: Logger,
    stateDir: string,
    /** This host's addresses, for the proxy's own when --dns-proxy-address is not given. */
    private readonly hostAddresses: () => string[],
  ) {
    this.names = new LearnedNames(dp, cfg);
    this.file = path.join(stateDir, 'fqdn.json');
    const names = this.names;
    new Gauge({ name: 'cordon_fqdn_addresses', help: 'Addresses learned from DNS answers the enforcer holds for name selectors', registers: [registry], collect() { this.set(names.addressCount); } });
    new Counter({
      name: 'cordon_fqdn_evictions_total',
      help: 'Learned addresses dropped before their expiry to stay within --fqdn-max-addresses or --fqdn-max-per-name (oldest first)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(names.evictions);
      },
    });
    new Counter({
      name: 'cordon_fqdn_selector_overflows_total',
      help: 'Learned addresses that matched more name selectors than the datapath holds per address: denies kept, allows dropped first',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(names.overflows);
      },
    });
    this.answers = new Counter({ name: 'cordon_dns_answers_total', help: 'DNS answers the proxy passed on, by what they taught', labelNames: ['outcome'], registers: [registry] });
  }

  /** Restores what was learned, then starts steering and the proxy for the generation enforced now. */
  async start(g: GenerationEntries & { generation: number; dnsResolvers?: readonly string[] }): Promise<void> {
    let saved: PersistedEntry[] = [];
    try {
      const j = JSON.parse(fs.readFileSync(this.file, 'utf8')) as { bootId?: string; entries?: PersistedEntry[] };
      if (j.bootId === bootId() && Array.isArray(j.entries)) saved = j.entries;
    } catch {
      /* none yet, or unreadable: the pinned map alone */
    }
    this.setSelectors(g);
    // Before any generation (a datapath adopted without its kept bundle) no selector is known yet: restoring now
    // would find every pinned address matching nothing and delete it. The first generation restores instead.
    if (g.generation > 0) await this.restore(saved);
    else this.deferred = saved;
    await this.steer(g.dnsResolvers ?? []);
    this.every(SNAPSHOT_MS, () => this.snapshot());
    this.every(COLLECT_MS, () => void this.names.collect());
  }

  /** A generation was applied: its selectors, and its resolvers if they changed. */
  async onGeneration(g: GenerationEntries & { dnsResolvers?: readonly string[] }): Promise<void> {
    this.setSelectors(g);
    if (this.deferred) {
      const saved = this.deferred;
      this.deferred = null;
      await this.restore(saved);
    }
    await this.steer(g.dnsResolvers ?? []);
  }

  private async restore(saved: PersistedEntry[]): Promise<void> {
    this.names.restore(saved, await this.dp.fqdnEntries());
    this.log.info({ addresses: this.names.addressCount }, 'learned names restored');
  }

  list(): LearnedView[] {
    return this.names.list();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    // queries go to their resolvers directly again rather than to a closed port: DNS works while the enforcer is away,
    // and the pinned learned addresses keep their allows until they expire
    if (this.proxy) this.dp.setDnsSteering({ resolvers: [], portBase: 0 });
    this.proxy?.close();
    this.proxy = null;
    this.snapshot();
  }

  private setSelectors(g: GenerationEntries): void {
    const denying = new Set(g.policy.filter((e) => e.verdict === VERDICT.DENY).map((e) => e.dstIdentity));
    this.names.setSelectors(fqdnSelectors(g.identities ?? {}), denying);
  }

  /** (Re)starts the proxy when the resolvers changed, and points the datapath's steering at it. */
  private async steer(fromBundle: readonly string[]): Promise<void> {
    const resolvers = [...new Set([...this.cfg.resolvers, ...fromBundle])].slice(0, LIMITS.RESOLVERS);
    if (this.proxy && resolvers.join(',') === this.resolvers.join(',')) return;
    this.proxy?.close();
    this.proxy = null;
    this.resolvers = resolvers;
    const own = this.cfg.proxyAddresses.length ? this.cfg.proxyAddresses : this.hostAddresses().filter((a) => !a.toLowerCase().startsWith('fe80:'));
    const proxy4 = own.find((a) => isIPv4(a));
    const proxy6 = own.find((a) => isIPv6(a));
    if (resolvers.length === 0 || (!proxy4 && !proxy6)) {
      this.dp.setDnsSteering({ resolvers: [], portBase: 0 });
      if (resolvers.length) this.log.warn('no address of this host to receive DNS queries on: names are not learned (give --dns-proxy-address)');
      return;
    }
    const proxy = new DnsProxy({ resolvers, proxy4, proxy6, portBase: this.cfg.proxyPort }, this.names, this.log, { answer: (o: AnswerOutcome) => this.answers.inc({ outcome: o }) });
    try {
      await proxy.start();
    } catch (err) {
      this.dp.setDnsSteering({ resolvers: [], portBase: 0 });
      this.log.error({ err: (err as Error).message }, 'the DNS proxy cannot start: names are not learned');
      return;
    }
    this.proxy = proxy;
    this.dp.setDnsSteering({ resolvers, proxy4, proxy6, portBase: this.cfg.proxyPort });
    this.log.info({ resolvers, proxy4, proxy6, port: this.cfg.proxyPort }, 'DNS proxy listening; queries to the resolvers are steered to it');
  }

  private snapshot(): void {
    if (!this.names.dirty) return;
    this.names.dirty = false;
    const tmp = `${this.file}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify({ bootId: bootId(), entries: this.names.persisted() }), { mode: 0o600 });
      fs.renameSync(tmp, this.file);
    } catch (err) {
      this.names.dirty = true;
      this.log.warn({ file: this.file, err: String(err) }, 'cannot write the learned names');
    }
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(() => {
      try {
        fn();
      } catch (err) {
        this.log.warn({ err: String(err) }, 'learned names: periodic task failed');
      }
    }, ms);
    t.unref();
    this.timers.push(t);
  }
}
