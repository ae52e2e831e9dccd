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
  onChange: () => void = () => undefined;

  /** Registers a call; it is cut with UNAUTHENTICATED when its certificate expires. */
  add(call: OpenCall, notAfter: Date): () => void {
    this.calls.add(call);
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
    call.pending = false;
    if (this.calls.has(call)) this.onChange();
  }

  /** Whether a call is still registered (not cut, not ended). */
  has(call: OpenCall): boolean {
    return this.calls.has(call);
  }

  remove(call: OpenCall): void {
    if (!this.calls.delete(call)) return;
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
    return [...new Set([...this.calls].filter((c) => c.kind === 'watch' && !c.pending).map((c) => c.enforcer))].sort();
  }

  cutAll(code: Status, details: string): void {
    for (const c of [...this.calls]) {
      this.remove(c);
      c.cut(code, details);
    }
  }
}
