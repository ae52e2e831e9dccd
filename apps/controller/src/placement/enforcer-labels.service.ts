// SPDX-License-Identifier: Apache-2.0
/**
 * Enforcer labels as the controller keeps them (model/placement/labels.ts):
 * what each enforcer reports when its bundle stream opens, the overrides set
 * with `cordon label enforcer` (stored and audited in one transaction), and
 * the changes, so that an open stream re-sends what changed for its enforcer
 * at once: those made here, and (PostgreSQL NOTIFY) those made by another
 * controller sharing the database.
 */
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { filter, Observable, Subject } from 'rxjs';
import { effectiveLabels, formatLabels, labelsProblem, type LabelOverrides, type Labels } from '../../../../model/placement/labels';
import type { Actor } from '../auth/roles';
import { LOGGER, STORE } from '../di-tokens';
import { badRequest, notFound } from '../http/problem';
import type { EnforcerRecord, Store } from '../store/store';

export interface LabelChange {
  /** Keys to set (a value) or to remove (null). */
  set: LabelOverrides;
  /** Drop every override first: back to what the enforcer reports. */
  reset?: boolean;
}

@Injectable()
export class EnforcerLabels implements OnModuleInit, OnModuleDestroy {
  private readonly changes = new Subject<{ name: string; labels: Labels }>();
  private unlisten: (() => Promise<void>) | null = null;

  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    try {
      this.unlisten = await this.store.notifications.listenLabels((name) => void this.announce(name));
    } catch (err) {
      this.log.warn({ err: String(err) }, 'LISTEN for label changes failed: other controllers\' relabels reach open streams when they reopen');
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.unlisten?.().catch(() => undefined);
    this.changes.complete();
  }

  /** A relabel announced by a controller sharing the database (this one included). */
  private async announce(name: string): Promise<void> {
    try {
      const labels = await this.of(name);
      if (labels) this.changes.next({ name, labels });
    } catch (err) {
      this.log.warn({ enforcer: name, err: String(err) }, 'could not read the labels of a relabelled enforcer');
    }
  }

  /** The labels of an enforcer now (null: not enrolled). */
  async of(name: string): Promise<Labels | null> {
    return (await this.store.enforcers.get(name))?.labels ?? null;
  }

  /** Stores what an enforcer reports (audited when it differs), then gives its labels and each change made here. */
  watch(name: string, reported: Labels): Observable<Labels> {
    return new Observable<Labels>((sub) => {
      let changed = false;
      const s = this.changes.pipe(filter((c) => c.name === name)).subscribe((c) => {
        changed = true;
        sub.next(c.labels);
      });
      this.report(name, reported).then(
        (labels) => {
          if (!changed) sub.next(labels);
        },
        (err) => sub.error(err),
      );
      return () => s.unsubscribe();
    });
  }

  private async report(name: string, reported: Labels): Promise<Labels> {
    // Most streams open with the labels stored already: no transaction (nor the change lock) for them.
    const known = await this.store.enforcers.get(name);
    if (!known) return effectiveLabels(reported, {});
    if (formatLabels(known.reportedLabels) === formatLabels(reported)) return known.labels;
    return this.store.change(async (tx) => {
      const before = await tx.enforcers.get(name);
      if (!before) return effectiveLabels(reported, {});
      if (formatLabels(before.reportedLabels) !== formatLabels(reported)) {
        await tx.enforcers.setReportedLabels(name, reported);
        await tx.audit.append({ actor: `enforcer:${name}`, source: null, action: 'enforcer.labels.reported', target: name, diff: { from: before.reportedLabels, to: reported } });
      }
      return effectiveLabels(reported, before.labelOverrides);
    });
  }

  /** `cordon label enforcer NAME k=v k2-`: stores the overrides, audits them, and re-sends the enforcer's bundle. */
  async label(name: string, change: LabelChange, actor: Pick<Actor, 'name' | 'source'>): Promise<EnforcerRecord> {
    const values = Object.fromEntries(Object.entries(change.set).filter(([, v]) => v !== null)) as Labels;
    const p = labelsProblem(values) ?? labelsProblem(Object.fromEntries(Object.keys(change.set).map((k) => [k, ''])));
    if (p) throw badRequest(p);
    const rec = await this.store.change(async (tx) => {
      const before = await tx.enforcers.get(name);
      if (!before) return null;
      const overrides: LabelOverrides = change.reset ? {} : { ...before.labelOverrides };
      Object.assign(overrides, change.set);
      const after = await tx.enforcers.setLabelOverrides(name, overrides);
      await tx.audit.append({ actor: actor.name, source: actor.source ?? null, action: 'enforcer.label', target: name, diff: { set: change.set, reset: change.reset === true, from: before.labels, to: after!.labels } });
      return after;
    });
    if (!rec) throw notFound(`enforcer "${name}" is not enrolled`);
    this.changes.next({ name, labels: rec.labels });
    await this.store.notifications.notifyLabels(this.store.sql, name).catch((err: Error) => this.log.error({ enforcer: name, err: err.message }, 'could not tell the other controllers of a relabel'));
    return rec;
  }
}
