// SPDX-License-Identifier: Apache-2.0
/**
 * What an enforcer may report. One compromised gateway must not speak for the
 * whole site, so before a FlowBatch reaches /metrics, /v1/flows or monitoring
 * (FLOW_FEED, SECURITY_EVENTS) each record is checked against what its
 * enforcer serves and against the controller's clock:
 *
 * 1. Scope. An enforcer serves the addresses of its scope: the prefixes an
 *    operator declared for it (PUT /v1/enforcers/NAME/scope), or, when none are
 *    declared, the site's own addresses (every segment CIDR and device address
 *    of the current generation). A flow or event is accepted when its source or
 *    its destination is served; otherwise it is refused (`out_of_scope`).
 * 2. MAC. A source MAC is dropped when the source is one of the site's own
 *    addresses that this enforcer does not serve: an enforcer cannot bind a MAC
 *    to a device it does not serve. A source outside every segment (world) is
 *    nobody's to serve, and the gateway it reached is the only one that knows its
 *    MAC, so that MAC stays (discovery shows it beside the unknown address).
 * 3. Clock. Times (first/last seen, an event's time) more than `futureMs`
 *    ahead of the controller's clock, or older than `pastMs`, are refused
 *    (`clock`); a batch window in the future is clamped to now. A far-future
 *    time can no longer poison /v1/flows or make a device look seen.
 *
 * Refusals are counted in cordon_control_records_refused_total{enforcer,reason}.
 */
import { Counter, Registry } from 'prom-client';
import type { FlowBatch, WireFlowRecord, WireSecurityEvent } from '../../../../../proto/cordon/v1/control';
import { parseAddress, parseCidr, PrefixIndex } from '../../policy/net';

export const REPORT_FUTURE_MS = 5 * 60_000;
export const REPORT_PAST_MS = 7 * 86_400_000;

const HOST = 2;

export type RefusalReason = 'out_of_scope' | 'clock';

/** Addresses an enforcer serves. */
export class AddressScope {
  private readonly index = new PrefixIndex<true>();
  private readonly memo = new Map<string, boolean>();
  constructor(readonly prefixes: readonly string[]) {
    for (const p of prefixes) this.index.add(parseCidr(p), true);
  }
  serves(address: string): boolean {
    let hit = this.memo.get(address);
    if (hit === undefined) {
      const a = parseAddress(address);
      hit = a !== null && this.index.lookup(a.value) === true;
      if (this.memo.size >= 50_000) this.memo.clear();
      this.memo.set(address, hit);
    }
    return hit;
  }
}

/** Why a list of prefixes cannot be a scope, or null. */
export function scopeError(prefixes: unknown): string | null {
  if (!Array.isArray(prefixes) || prefixes.length > 4096) return 'prefixes must be a list of at most 4096 CIDRs (or null for the site\'s own addresses)';
  for (const [i, p] of prefixes.entries()) {
    try {
      if (typeof p !== 'string') throw new Error('expected a CIDR string such as 10.10.1.0/24');
      parseCidr(p);
    } catch (err) {
      return `prefixes[${i}]: ${(err as Error).message}`;
    }
  }
  return null;
}

export class ReportGuard {
  private readonly refused: Counter<'enforcer' | 'reason'>;
  /** null until the first generation: before any policy there is nothing to speak for. */
  private site: AddressScope | null = null;
  private readonly declared = new Map<string, AddressScope>();

  constructor(
    registry: Registry,
    private readonly futureMs = REPORT_FUTURE_MS,
    private readonly pastMs = REPORT_PAST_MS,
  ) {
    this.refused =
      (registry.getSingleMetric('cordon_control_records_refused_total') as Counter<'enforcer' | 'reason'> | undefined) ??
      new Counter({
        name: 'cordon_control_records_refused_total',
        help: 'Flow records and events an enforcer reported that the controller refused (out_of_scope: neither end is an address it serves; clock: a time beyond its clock skew)',
        labelNames: ['enforcer', 'reason'],
        registers: [registry],
      });
  }

  /** The site's own addresses (each segment CIDR and device address of the current generation). */
  setSite(cidrs: readonly string[]): void {
    // Most generations (a policy changed) keep every address: building the scope of a site's 21,000 is what costs.
    const prev = this.site?.prefixes;
    if (prev && prev.length === cidrs.length && prev.every((c, i) => c === cidrs[i])) return;
    this.site = new AddressScope([...cidrs]);
  }

  /** An operator-declared scope for an enforcer; null returns it to the site's addresses. */
  setDeclared(enforcer: string, prefixes: readonly string[] | null): void {
    if (prefixes === null) this.declared.delete(enforcer);
    else this.declared.set(enforcer, new AddressScope(prefixes));
  }

  declaredScope(enforcer: string): readonly string[] | null {
    return this.declared.get(enforcer)?.prefixes ?? null;
  }

  /** The batch with only what the enforcer may report (a new object when anything was removed). */
  filter(enforcer: string, b: FlowBatch, now = Date.now()): FlowBatch {
    const declared = this.declared.get(enforcer);
    const scope = declared ?? this.site;
    if (!scope) return b;
    // Under the site scope the gateway's own flows (host identity) are its own to report; a declared
    // scope names the gateway's addresses itself when it wants them.
    const own = (r: { srcIdentity: number; dstIdentity: number }) => !declared && (r.srcIdentity === HOST || r.dstIdentity === HOST);
    const othersMac = (src: string) => this.site !== null && this.site.serves(src);
    const lo = now - this.pastMs;
    const hi = now + this.futureMs;
    const timeOk = (t: number) => t === 0 || (t >= lo && t <= hi);
    let outOfScope = 0;
    let clock = 0;
    let changed = false;

    const flows: WireFlowRecord[] = [];
    for (const f of b.flows) {
      if (!timeOk(f.firstSeen) || !timeOk(f.lastSeen)) {
        clock++;
        continue;
      }
      const src = scope.serves(f.src);
      if (!src && !scope.serves(f.dst) && !own(f)) {
        outOfScope++;
        continue;
      }
      if (!src && f.srcMac && othersMac(f.src)) {
        flows.push({ ...f, srcMac: '' });
        changed = true;
      } else flows.push(f);
    }
    const events: WireSecurityEvent[] = [];
    for (const e of b.events ?? []) {
      if (!timeOk(e.at)) {
        clock++;
        continue;
      }
      const src = scope.serves(e.src);
      if (!src && !scope.serves(e.dst) && !own(e)) {
        outOfScope++;
        continue;
      }
      if (!src && e.srcMac && othersMac(e.src)) {
        events.push({ ...e, srcMac: '' });
        changed = true;
      } else events.push(e);
    }
    const windowStart = Math.min(b.windowStart, now);
    const windowEnd = Math.min(b.windowEnd, now);
    if (outOfScope) this.refused.inc({ enforcer, reason: 'out_of_scope' }, outOfScope);
    if (clock) this.refused.inc({ enforcer, reason: 'clock' }, clock);
    if (!changed && !outOfScope && !clock && windowStart === b.windowStart && windowEnd === b.windowEnd) return b;
    return { ...b, flows, events, windowStart, windowEnd };
  }
}
