// SPDX-License-Identifier: Apache-2.0
/**
 * The current generation, published once per generation for every feature of
 * this controller (control channel, trace, monitoring, plaintext): the bundle
 * and its GenerationView (identity names, rule infos, devices by address),
 * read from the store once when the generation moves, not by each feature:
 * the view before brought forward by the documents changed since, not built
 * from every document again.
 *
 * And the one way a generation reaches an enforcer holding an older one: the
 * deltas the store keeps (the compiler's own), folded, when the enforcer's base
 * is a stored generation with the hash it names; else nothing (a snapshot).
 */
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { BehaviorSubject, Observable, Subscription } from 'rxjs';
import type { Bundle, BundleDelta } from '../../../../model/generation/bundle';
import { foldDeltas } from '../../../../model/generation/delta';
import { docKey } from '../store/document-changes';
import { toDocument } from '../apply/site-state';
import type { Store, StoredDocument } from '../store/store';
import { LOGGER, STORE } from '../di-tokens';
import { BundleService } from './bundle.service';
import { GenerationView } from './generation-view';

/** Deltas are folded for enforcers at most this many generations behind; further back, a snapshot is as cheap. */
export const MAX_DELTA_CHAIN = 8;

@Injectable()
export class CurrentGeneration implements OnModuleInit, OnModuleDestroy {
  private readonly subject = new BehaviorSubject<GenerationView>(new GenerationView([], null));
  private loading: Promise<void> = Promise.resolve();
  private sub: Subscription | null = null;
  /** Deltas to the current generation, by base generation and hash (shared by every enforcer at that base). */
  private deltas = new Map<string, Promise<BundleDelta | null>>();
  /** The stamp of each document of the published view, by docKey: what the next one reads again (null: every document). */
  private stamps: Map<string, string> | null = null;
  /** The documents_version the stamps are as of (-1: compare them all). */
  private stampsAt = -1;

  /** Each generation once it is loaded; replays the current one on subscribe (generation 0: none yet). */
  readonly published$: Observable<GenerationView> = this.subject.asObservable();

  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(BundleService) private readonly bundles: BundleService,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  onModuleInit(): void {
    this.sub = this.bundles.generation$.subscribe((g) => {
      if (g > this.subject.value.generation) void this.latest();
    });
  }

  onModuleDestroy(): void {
    this.sub?.unsubscribe();
    this.subject.complete();
  }

  /** The generation published last. */
  get current(): GenerationView {
    return this.subject.value;
  }

  /** The newest generation this controller knows of, once loaded (waits for a load in flight). */
  latest(): Promise<GenerationView> {
    const run = () => this.load(this.bundles.currentGeneration);
    this.loading = this.loading.then(run, run);
    return this.loading.then(() => this.subject.value);
  }

  segmentOf(identity: number): string {
    return this.subject.value.segmentOf(identity);
  }

  policyOf(ruleId: number): string | null {
    return this.subject.value.policyOf(ruleId);
  }

  private async load(want: number): Promise<void> {
    if (want <= this.subject.value.generation) return;
    try {
      const bundle = await this.bundles.get(want);
      if (!bundle || bundle.generation <= this.subject.value.generation) return;
      const view = await this.nextView(bundle);
      this.deltas = new Map();
      this.subject.next(view);
    } catch (err) {
      this.stamps = null; // read every document again next time
      this.log.warn({ generation: want, err: (err as Error).message }, 'could not load the current generation; the previous one stays published');
    }
  }

  /**
   * The view of `bundle`: the published one brought forward by the documents
   * changed since (document-changes.ts, the way the apply path catches up);
   * with none published yet, built from every document.
   */
  private async nextView(bundle: Bundle): Promise<GenerationView> {
    const prev = this.subject.value;
    const held = prev.generation > 0 ? this.stamps : null;
    this.stamps = null; // until this view is built: a throw half-way reads everything next time
    const stamps = held ?? new Map<string, string>();
    const changes = await this.store.documents.changesSince(stamps, held ? this.stampsAt : -1);
    for (const r of changes.remove) stamps.delete(docKey(r.kind, r.name));
    for (const u of changes.upsert) stamps.set(docKey(u.row.kind, u.row.name), u.stamp);
    let view: GenerationView;
    if (!held) {
      const rows = changes.upsert.map((u) => u.row).sort(byKindName);
      const since = new Map(rows.filter((d) => d.kind === 'Device').map((d) => [d.name, Date.parse(d.updatedAt)]));
      view = new GenerationView(rows.map(toDocument), bundle, since);
    } else {
      let since = prev.deviceSince;
      const devices = changes.upsert.filter((u) => u.row.kind === 'Device');
      if (devices.length || changes.remove.some((r) => r.kind === 'Device')) {
        since = new Map(since);
        for (const r of changes.remove) if (r.kind === 'Device') since.delete(r.name);
        for (const u of devices) since.set(u.row.name, Date.parse(u.row.updatedAt));
      }
      view = prev.next({ upsert: changes.upsert.map((u) => toDocument(u.row)), remove: changes.remove }, bundle, since);
    }
    this.stamps = stamps;
    this.stampsAt = changes.version;
    return view;
  }

  /**
   * The delta from an enforcer's base to `to` (a published generation), from
   * the stored deltas; null when the base is not a stored generation with that
   * hash, is too far back, or a generation in between was stored whole.
   */
  deltaTo(to: Bundle, base: { generation: number; hash: string }): Promise<BundleDelta | null> {
    if (base.generation <= 0 || base.generation >= to.generation || to.generation - base.generation > MAX_DELTA_CHAIN) return Promise.resolve(null);
    const key = `${to.generation}:${base.generation}:${base.hash}`;
    let hit = this.deltas.get(key);
    if (!hit) {
      hit = this.readChain(to, base).catch((err: Error) => {
        this.log.warn({ base: base.generation, generation: to.generation, err: err.message }, 'could not read the stored deltas: sending a snapshot');
        return null;
      });
      if (to.generation === this.subject.value.generation) this.deltas.set(key, hit);
    }
    return hit;
  }

  private async readChain(to: Bundle, base: { generation: number; hash: string }): Promise<BundleDelta | null> {
    const rows = await this.store.generationChain(base.generation, to.generation);
    if (rows.length !== to.generation - base.generation + 1 || rows[0].generation !== base.generation) return null;
    if (base.hash !== '' && rows[0].hash !== base.hash) return null;
    const deltas: BundleDelta[] = [];
    for (const r of rows.slice(1)) {
      if (!r.delta) return null;
      deltas.push(r.delta);
    }
    const d = foldDeltas(deltas);
    return d.fromGeneration === base.generation && d.toGeneration === to.generation && d.hash === to.hash ? d : null;
  }
}

const byKindName = (a: StoredDocument, b: StoredDocument) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
