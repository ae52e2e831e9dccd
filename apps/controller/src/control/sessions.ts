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
}

export class Sessions {
  private calls = new Set<OpenCall>();
  private expiry = new Map<OpenCall, NodeJS.Timeout>();
  onChange: () => void = () => undefined;

  /** Registers a call; it is cut with UNAUTHENTICATED when its certificate expires. */
  add(call: OpenCall, notAfter: Date): () => void {
    this.calls.add(call);
    const ms = Math.max(0, notAfter.getTime() - Date.now());
    // setTimeout overflows past ~24.8 days; certificates are shorter-lived than that.
    if (ms < 2 ** 31 - 1) {
      const t = setTimeout(() => call.cut(Status.UNAUTHENTICATED, 'client certificate expired: renew it or enroll again'), ms);
      t.unref();
      this.expiry.set(call, t);
    }
    this.onChange();
    return () => this.remove(call);
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
    return [...new Set([...this.calls].filter((c) => c.kind === 'watch').map((c) => c.enforcer))].sort();
  }

  cutAll(code: Status, details: string): void {
    for (const c of [...this.calls]) {
      this.remove(c);
      c.cut(code, details);
    }
  }
}
