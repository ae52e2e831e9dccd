// SPDX-License-Identifier: Apache-2.0
/**
 * When the enforcer applies its generation again for a schedule: a timer for
 * the next boundary, by the enforcer's own clock (clock.ts), looking again
 * every 30 s at most (a wall clock moved by NTP moves under a timer).
 *
 * Writing a generation takes time (275 ms for 100,000 entries, README), so a
 * boundary that closes entries is applied that long ahead (twice the last
 * apply's duration, 20 ms to 5 s), with the entries open both now and at the
 * boundary: what closes is closed when the boundary comes, never after.
 * An opening is applied at the boundary, never before (gatePolicy's alsoAt).
 */
import type { PolicyEntry } from '../../../native/lib/abi';
import type { RuleInfo } from '../../../model/generation/bundle';
import { gatePolicy, type GatedPolicy } from '../../../model/schedule/gate';

const RECHECK_MS = 30_000;
const MAX_LEAD_MS = 5000;

export class ScheduleBoundaries {
  private timer: NodeJS.Timeout | null = null;
  private next: number | null = null;
  private applyMs = 0;

  constructor(
    private readonly now: () => number,
    private readonly onTime: () => void,
  ) {}

  private get lead(): number {
    return Math.min(MAX_LEAD_MS, Math.ceil(this.applyMs * 2) + 20);
  }

  /** The entries to apply now: those open now and, within the lead before the next boundary, still open at it. */
  gate(policy: readonly PolicyEntry[], rules: readonly RuleInfo[] | undefined): GatedPolicy {
    const t = this.now();
    const ahead = this.next !== null && t < this.next && t >= this.next - this.lead ? this.next : undefined;
    return gatePolicy(policy, rules, t, ahead);
  }

  /** After an apply that took `ms`: the timer for `next` (the gate's next boundary). */
  applied(ms: number, next: number | null): void {
    this.applyMs = ms;
    this.arm(next);
  }

  /** The timer for boundary `next`: the lead before it, then the boundary itself. */
  arm(next: number | null): void {
    this.stop();
    this.next = next;
    if (next === null) return;
    const t = this.now();
    const at = t < next - this.lead ? next - this.lead : next;
    this.timer = setTimeout(this.onTime, Math.max(0, Math.min(at - t, RECHECK_MS)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
