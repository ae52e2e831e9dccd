// SPDX-License-Identifier: Apache-2.0
/**
 * The metrics both daemons export under one name, with the one HELP text they
 * share (issue 17: a name means the same thing on the controller and on an
 * enforcer). Where the controller re-exports what enforcers report it adds an
 * `enforcer` label; the enforcer's own series carry none (Prometheus adds
 * `instance`). README.md "Metrics reference" lists every metric.
 */
import { Gauge, type Registry } from 'prom-client';
import { CORDON_VERSION } from '../../controller/src/version/cordon-version';

export const SHARED_HELP = {
  cordon_policy_generation: 'Policy generation this daemon holds: the newest on the controller, the one the datapath enforces on an enforcer (0 until the first bundle)',
  cordon_flow_packets_total: 'Packets by segment pair and verdict',
  cordon_flow_bytes_total: 'Bytes by segment pair and verdict',
  cordon_drops_total: 'Packets refused by the datapath, by reason (with verdict audit: those it would have refused, and passed)',
  cordon_security_events_total: 'Drop and audit events read from the datapath by verdict and reason (a rate-limited sample; cordon_drops_total has the exact counts)',
  cordon_security_events_lost_total: 'Drop and audit events lost: held back by the datapath rate limit or dropped from the enforcer\'s full queue',
  cordon_flow_batches_dropped_total: 'Flow batches an enforcer dropped (oldest first) while the controller was away',
  cordon_build_info: 'Always 1; the labels tell the build: version (package.json), node (the Node.js runtime), daemon',
} as const;

/** cordon_build_info{version,node,daemon} 1. */
export function registerBuildInfo(registry: Registry, daemon: 'controller' | 'enforcer'): void {
  if (registry.getSingleMetric('cordon_build_info')) return;
  new Gauge({ name: 'cordon_build_info', help: SHARED_HELP.cordon_build_info, labelNames: ['version', 'node', 'daemon'], registers: [registry] }).set({ version: CORDON_VERSION, node: process.version, daemon }, 1);
}

/** A metric whose series can be listed and removed (prom-client's Counter and Gauge). */
interface Labelled {
  get(): Promise<{ values: Array<{ labels: Record<string, string | number | undefined> }> }>;
  remove(labels: Record<string, string | number>): void;
}

/**
 * Removes the series of `metric` whose labels `keep` refuses: those of a
 * segment or policy the current generation no longer has.
 */
export async function pruneSeries(metric: Labelled, keep: (labels: Record<string, string | number | undefined>) => boolean): Promise<void> {
  const { values } = await metric.get();
  for (const v of values) if (!keep(v.labels)) metric.remove(v.labels as Record<string, string | number>);
}

/** Keeps a series whose segment labels (src_segment, dst_segment) all name one of `names`. */
export const segmentsIn =
  (names: { has(name: string): boolean }) =>
  (labels: Record<string, string | number | undefined>): boolean =>
    ['src_segment', 'dst_segment', 'segment'].every((k) => labels[k] === undefined || names.has(String(labels[k])));

/**
 * A counter fed from a cumulative count that another party keeps (an enforcer's
 * since its start): adds what the count moved by; a count that went down
 * started over (a restarted enforcer) and is added whole.
 */
export class CumulativeFeed {
  private readonly last = new Map<string, number>();

  delta(key: string, value: number): number {
    const prev = this.last.get(key) ?? 0;
    this.last.set(key, value);
    return value >= prev ? value - prev : value;
  }
}
