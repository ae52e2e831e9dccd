// SPDX-License-Identifier: Apache-2.0
/**
 * The standby connection: a connection kept up to the controller the enforcer
 * would move to next, so that a move opens the policy watch on a connection
 * already made instead of starting a TLS handshake. A dead controller's
 * enforcers then cost the survivors a stream each, not a handshake each: what
 * bounds a take-over's time when a thousand enforcers move at once (TLS is
 * about 3 ms of a controller's CPU per handshake, OpenSSL 3; the stream well
 * under one: scripts/bench/controllers.ts, BENCH_STANDBY=0 to compare).
 *
 * It costs an idle connection on the next controller and no pings from the
 * enforcer (CONTROL_GRPC.client pings only while a call is open; the
 * controller's own pings find a dead enforcer host). A standby that is not up
 * or connecting when a move needs it is closed and a fresh client made: never
 * worse than without one. After a move, the next standby is made later and at
 * a random time (STANDBY_AFTER_MOVE_MS), so that a take-over's survivors
 * accept the new standbys after it, not during it.
 */
import { connectivityState } from '@grpc/grpc-js';
import type { RawControlClient } from '../../../proto/cordon/v1/client';

/** After a move, the next standby connection waits min + random * spread ms. */
export const STANDBY_AFTER_MOVE_MS = { min: 10_000, spread: 20_000 } as const;
/** Otherwise (the first stream accepted, a new certificate), within this many ms. */
export const STANDBY_AT_START_MS = 10_000;

/** How often the channel's state is watched again when nothing changes (the watch needs a deadline). */
const WATCH_MS = 3_600_000;

export class Standby {
  /** The controller the standby is for (made or waiting to be), and its client once made. */
  private target: string | null = null;
  private held: RawControlClient | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Moves made onto a standby connection (the enforcer's metric). */
  taken = 0;

  constructor(private readonly make: (address: string) => RawControlClient) {}

  /** Where the standby goes (null: none). */
  get address(): string | null {
    return this.target;
  }

  /** A standby to `address` after `delayMs`; one to it already (or waiting) is kept; null: none. */
  keep(address: string | null, delayMs: number): void {
    if (address !== null && address === this.target) return;
    this.drop();
    if (address === null) return;
    this.target = address;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.held = this.make(address);
      this.connect(this.held);
    }, delayMs);
    this.timer.unref();
  }

  /** The standby's client for `address` when it is up or connecting: the caller's from now on. Else null. */
  take(address: string): RawControlClient | null {
    const c = this.target === address ? this.held : null;
    if (!c) return null;
    this.held = null;
    this.target = null;
    const s = c.getChannel().getConnectivityState(false);
    if (s === connectivityState.READY || s === connectivityState.CONNECTING) {
      this.taken++;
      return c;
    }
    c.close();
    return null;
  }

  /** Whether the standby is connected now. */
  ready(): boolean {
    return this.held?.getChannel().getConnectivityState(false) === connectivityState.READY;
  }

  drop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.held?.close();
    this.held = null;
    this.target = null;
  }

  /** Connects, and again whenever the channel falls idle (a channel without calls does not reconnect itself). */
  private connect(c: RawControlClient): void {
    const ch = c.getChannel();
    const kick = () => {
      if (this.held !== c) return;
      ch.watchConnectivityState(ch.getConnectivityState(true), Date.now() + WATCH_MS, kick);
    };
    kick();
  }
}
