// SPDX-License-Identifier: Apache-2.0
/**
 * Open calls per enforcer, so that a revocation (or a certificate expiring)
 * ends them at once, and so that `cordon_enforcers_connected` is exact.
 */
import { status as Status } from '@grpc/grpc-js';

export interface OpenCall {
  enforcer: string;
  serial: string;
  kind: 'watch' | 'flows';
  /** Ends the call with this status. */
  cut(code: Status, details: string): void;
  /** Registered (a revocation cuts it) but not yet admitted (PeerAuth.admitRegistered): not counted as connected. */
  pending?: boolean;
}

export class Sessions {
  private calls = new Set<OpenCall>();
  private expiry = new Map<OpenCall, NodeJS.Timeout>();
  /** Admitted watch calls by enforcer, and connected() from them (null: changed since): kept as calls come and go,
   * since a controller taking over a dead one's enforcers changes the set at every stream (the scan of every call
   * each time was 10% of its CPU). */
  private watching = new Map<string, number>();
  private names: string[] | null = [];
  onChange: () => void = () => undefined;

  /** Registers a call; it is cut with UNAUTHENTICATED when its certificate expires. */
  add(call: OpenCall, notAfter: Date): () => void {
    this.calls.add(call);
    this.count(call, 1);
    this.arm(call, notAfter.getTime());
    this.onChange();
    return () => this.remove(call);
  }

  /**
   * setTimeout overflows past 2^31-1 ms (~24.8 days) and then fires at once; so a
   * far expiry is reached in steps of at most a day, and every call gets its cut.
   */
  private arm(call: OpenCall, at: number): void {
    const ms = Math.max(0, at - Date.now());
    const t = setTimeout(() => {
      if (!this.calls.has(call)) return;
      if (Date.now() < at) return this.arm(call, at);
      this.remove(call);
      call.cut(Status.UNAUTHENTICATED, 'client certificate expired: renew it or enroll again');
    }, Math.min(ms, Sessions.MAX_TIMER_MS));
    t.unref();
    this.expiry.set(call, t);
  }
  static MAX_TIMER_MS = 86_400_000;

  /** A pending call was admitted: counted as connected from now on. */
  admitted(call: OpenCall): void {
    if (!call.pending) return;
    if (!this.calls.has(call)) return void (call.pending = false);
    call.pending = false;
    this.count(call, 1);
    this.onChange();
  }

  /** Whether a call is still registered (not cut, not ended). */
  has(call: OpenCall): boolean {
    return this.calls.has(call);
  }

  remove(call: OpenCall): void {
    if (!this.calls.delete(call)) return;
    this.count(call, -1);
    clearTimeout(this.expiry.get(call));
    this.expiry.delete(call);
    this.onChange();
  }

  /** Cuts every call of an enforcer; returns how many. */
  cutEnforcer(enforcer: string, code: Status, details: string): number {
    const victims = [...this.calls].filter((c) => c.enforcer === enforcer);
    for (const c of victims) {
      this.remove(c);
      c.cut(code, details);
    }
    return victims.length;
  }

  /** Names of enforcers with an open bundle watch. */
  connected(): string[] {
    this.names ??= [...this.watching.keys()].sort();
    return [...this.names];
  }

  /** An admitted watch call counted in (+1) or out (-1) of watching. */
  private count(call: OpenCall, by: 1 | -1): void {
    if (call.kind !== 'watch' || call.pending) return;
    const n = (this.watching.get(call.enforcer) ?? 0) + by;
    if (n > 0) this.watching.set(call.enforcer, n);
    else this.watching.delete(call.enforcer);
    this.names = null;
  }

  cutAll(code: Status, details: string): void {
    for (const c of [...this.calls]) {
      this.remove(c);
      c.cut(code, details);
    }
  }
}
