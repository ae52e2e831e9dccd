// SPDX-License-Identifier: Apache-2.0
/**
 * cordon_policy_packets_total / cordon_policy_bytes_total{policy}: the
 * datapath's per-rule counters (cordon_rule_stats), summed per Policy document
 * through the enforced generation's rule table. Series are bounded by the
 * policy count: a policy the generation no longer has loses its series.
 *
 * The kernel's counters are cumulative since the datapath was loaded and a
 * rule id may pass to another rule in a later generation, so increments are
 * taken per rule id against the last reading, whoever held it (the hits of a
 * removed rule in its last poll interval may go to the id's next holder). An
 * adopted datapath's counts before this run are its previous run's: the
 * first reading only sets the baseline.
 */
import type { RuleInfo } from '../../../model/generation/bundle';
import type { EnforcerMetrics } from './metrics';
import { CumulativeFeed, pruneSeries } from '../../common/src/metric-catalog';

export type RuleStatsReader = (ids: readonly number[]) => Promise<Map<number, { packets: number; bytes: number }>>;

export class PolicyHits {
  /** Per rule id: the datapath's cumulative packets and bytes, turned into increments. */
  private readonly packets = new CumulativeFeed();
  private readonly bytes = new CumulativeFeed();
  private baseline: boolean;
  private prunedFor: readonly RuleInfo[] | null = null;

  constructor(
    private readonly read: RuleStatsReader,
    private readonly rules: () => readonly RuleInfo[],
    private readonly metrics: EnforcerMetrics,
    opts: { adopted: boolean },
  ) {
    this.baseline = opts.adopted;
  }

  async poll(): Promise<void> {
    const current = this.rules();
    const rules = current.filter((r) => r.ruleId > 0);
    const stats = rules.length > 0 ? await this.read(rules.map((r) => r.ruleId)) : new Map<number, { packets: number; bytes: number }>();
    const record = !this.baseline;
    // the baseline is the first reading of an adopted datapath's rules (an empty rule table reads nothing)
    if (rules.length > 0) this.baseline = false;
    const inc = new Map<string, { packets: number; bytes: number }>();
    for (const r of rules) {
      const now = stats.get(r.ruleId);
      if (!now) continue;
      const dp = this.packets.delta(String(r.ruleId), now.packets);
      const db = this.bytes.delta(String(r.ruleId), now.bytes);
      const t = inc.get(r.policy) ?? { packets: 0, bytes: 0 };
      t.packets += dp;
      t.bytes += db;
      inc.set(r.policy, t);
    }
    if (current !== this.prunedFor) {
      this.prunedFor = current;
      const policies = new Set(current.map((r) => r.policy));
      const keep = (l: Record<string, string | number | undefined>) => policies.has(String(l.policy));
      await pruneSeries(this.metrics.policyPackets, keep);
      await pruneSeries(this.metrics.policyBytes, keep);
    }
    // Every policy of the generation has its series from the start (0 rather than none).
    for (const [policy, t] of inc) {
      this.metrics.policyPackets.inc({ policy }, record ? t.packets : 0);
      this.metrics.policyBytes.inc({ policy }, record ? t.bytes : 0);
    }
  }
}
