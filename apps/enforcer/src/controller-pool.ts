// SPDX-License-Identifier: Apache-2.0
/**
 * The controllers of the site, as the enforcer reaches them: every --controller,
 * a name expanded to each of its addresses. The first is where it starts (the
 * operator's choice: the nearest one, say); the others follow in an order of
 * this enforcer's own (shuffled, seeded by its name: the same at every start),
 * so the enforcers of a dead controller spread over the survivors instead of
 * all moving to the same next one (that one would take the whole load, and
 * the take-over would last twice as long with three controllers). One is
 * current; the streams run on its client. When the policy stream to it cannot
 * be opened or is lost (the health check: a stream the controller accepted,
 * kept alive by gRPC keepalives), the enforcer moves to the next one at once
 * (a short random wait, so enforcers of a dead controller do not all land in
 * the same millisecond), and once every controller failed in a row, waits
 * with exponential backoff and jitter (backoff.ts) before the next round.
 * The next controller of the order has a standby connection (standby.ts): a
 * move is a stream on it, not a TLS handshake.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { parseHostPort } from '../../common/src/host-port';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { controlCredentials, type ControlTls, type RawControlClient } from '../../../proto/cordon/v1/client';
import { CONTROL_GRPC, controlClientConstructor } from '../../../proto/cordon/v1/control';
import { Backoff } from './backoff';
import { resolveController } from './controller-address';
import { Standby, STANDBY_AFTER_MOVE_MS, STANDBY_AT_START_MS } from './standby';

/** Upper bound of the random wait before trying the next controller of a round. */
export const MOVE_JITTER_MS = 250;

export interface ControllerPoolOptions {
  log: Logger;
  /** Builds a client (tests); default: a Control client on the credentials of `tls`, made once per tls (credentialsFor). */
  makeClient?: (address: string, tls: ControlTls) => RawControlClient;
  random?: () => number;
  /** Backoff between rounds in which every controller failed. */
  backoff?: Backoff;
  /** Seeds this enforcer's order of the controllers after the first (its name); none: as given. */
  seed?: string;
}

/** The first as given, the rest shuffled by a generator seeded from `seed` (the same order for the same seed). */
export function spreadOrder(targets: readonly string[], seed: string | undefined): string[] {
  const [first, ...rest] = targets;
  if (seed === undefined || rest.length < 2) return [...targets];
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0) || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  for (let i = rest.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [rest[i], rest[j]] = [rest[j], rest[i]];
  }
  return [first, ...rest];
}

export class ControllerPool {
  private targets: string[];
  private index = 0;
  private tls: ControlTls | null = null;
  private live: RawControlClient | null = null;
  /** Failures since a controller last accepted a stream. */
  private failuresInRow = 0;
  private readonly backoff: Backoff;
  private readonly random: () => number;
  private readonly makeClient: (address: string, tls: ControlTls) => RawControlClient;
  readonly standby: Standby;
  /** Called when the current controller changes (the flow stream reopens on the new one). */
  onMove: (from: string, to: string) => void = () => undefined;

  constructor(
    readonly controllers: readonly string[],
    private readonly o: ControllerPoolOptions,
  ) {
    if (controllers.length === 0) throw new Error('at least one controller address is needed');
    this.targets = spreadOrder(controllers, o.seed);
    this.random = o.random ?? Math.random;
    this.backoff = o.backoff ?? new Backoff(500, 30_000, this.random);
    this.makeClient = o.makeClient ?? ((address, tls) => new (controlClientConstructor())(address, this.credentialsFor(tls), CONTROL_GRPC.client) as unknown as RawControlClient);
    this.standby = new Standby((address) => this.makeClient(address, this.tls!));
  }

  private creds: { tls: ControlTls; creds: ChannelCredentials } | null = null;
  /**
   * The channel credentials of `tls`, made once for each certificate (useTls) rather than at every move: each is a
   * TLS SecureContext, the key and both certificates parsed again (OpenSSL 3's decoders: about a millisecond).
   */
  credentialsFor(tls: ControlTls): ChannelCredentials {
    if (this.creds?.tls !== tls) this.creds = { tls, creds: controlCredentials(tls) };
    return this.creds.creds;
  }

  /** Where the streams go now (HOST:PORT). */
  get current(): string {
    return this.targets[this.index];
  }
  /** Every address tried, in order. */
  get addresses(): readonly string[] {
    return this.targets;
  }

  /**
   * Expands names to their addresses (a name with several is several
   * controllers), keeping the current one current when it is still there.
   */
  async resolve(): Promise<void> {
    const out: string[] = [];
    for (const c of this.controllers) {
      try {
        if (isIP(parseHostPort(c)?.host ?? '')) {
          out.push(c);
          continue;
        }
        const ep = await resolveController(c);
        if (ep.addresses.length === 0) out.push(c);
        else for (const a of ep.addresses) out.push(a.includes(':') ? `[${a}]:${ep.port}` : `${a}:${ep.port}`);
      } catch (err) {
        this.o.log.warn({ controller: c, err: String(err) }, 'cannot resolve a controller: tried as it is');
        out.push(c);
      }
    }
    const next = spreadOrder([...new Set(out)], this.o.seed);
    if (next.join(',') === this.targets.join(',')) return;
    const cur = this.current;
    this.targets = next;
    const at = next.indexOf(cur);
    if (at >= 0) this.index = at;
    else this.moveTo(0);
    if (this.live) this.keepStandby(this.random() * STANDBY_AT_START_MS);
  }

  /**
   * The credentials the clients present; a change (renewal) makes a new client
   * on the current controller and returns the previous one, still open (the
   * caller hands its streams over, then closes it).
   */
  useTls(tls: ControlTls): RawControlClient | null {
    const old = this.live;
    this.tls = tls;
    this.live = this.makeClient(this.current, tls);
    // made with the old certificate: again with the new one (the first one waits for an accepted stream: ok())
    const had = this.standby.address !== null;
    this.standby.drop();
    if (had) this.keepStandby(this.random() * STANDBY_AT_START_MS);
    return old;
  }

  /** The client of the current controller. */
  client(): RawControlClient {
    if (!this.live) {
      if (!this.tls) throw new Error('no credentials yet');
      this.live = this.makeClient(this.current, this.tls);
    }
    return this.live;
  }

  /**
   * A controller accepted a stream: the next failure moves on at once again; the standby to the next one is made
   * (after a random wait: a fleet starting at once does not double its handshakes' storm) unless it is there.
   */
  ok(): void {
    this.failuresInRow = 0;
    this.backoff.reset();
    this.keepStandby(this.random() * STANDBY_AT_START_MS);
  }

  /**
   * The current controller failed: move to the next and return how long to
   * wait before using it (a short jitter within a round, backoff after a whole
   * round failed).
   */
  failed(why: string): number {
    this.failuresInRow++;
    const from = this.current;
    const wholeRound = this.failuresInRow % this.targets.length === 0;
    const taken = this.standby.taken;
    if (this.targets.length > 1) this.moveTo((this.index + 1) % this.targets.length);
    const ms = wholeRound ? this.backoff.next() : Math.floor(this.random() * MOVE_JITTER_MS);
    if (this.targets.length > 1) this.o.log.warn({ from, to: this.current, why, inMs: ms, overStandby: this.standby.taken > taken }, 'controller lost: moving to the next one');
    return ms;
  }

  close(): void {
    const c = this.live;
    this.live = null;
    c?.close();
    this.standby.drop();
  }

  private moveTo(i: number): void {
    const from = this.current;
    this.index = i;
    const old = this.live;
    this.live = this.tls ? (this.standby.take(this.current) ?? this.makeClient(this.current, this.tls)) : null;
    // Calls still open on the old client end with it; their loops reopen on the new one.
    old?.close();
    if (this.live) this.keepStandby(STANDBY_AFTER_MOVE_MS.min + this.random() * STANDBY_AFTER_MOVE_MS.spread);
    if (from !== this.current) this.onMove(from, this.current);
  }

  /** A standby to the controller after the current one (none with one controller), in `delayMs` unless one is there. */
  private keepStandby(delayMs: number): void {
    const next = this.targets[(this.index + 1) % this.targets.length];
    this.standby.keep(next === this.current ? null : next, delayMs);
  }
}
