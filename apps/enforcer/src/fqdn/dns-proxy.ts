// SPDX-License-Identifier: Apache-2.0
/**
 * The transparent DNS proxy (Cilium's design): the datapath steers a device's
 * query to declared resolver i to (proxy address, portBase + i) (bpf/lib/dns.h);
 * here it is forwarded to that resolver from a fresh socket, and the answer
 * - from the resolver's address and port 53, with the query's id and question
 * - is learned (its addresses written into the datapath) before it is sent
 * back, so the device's first packet to an address finds it known. Answers
 * that fail any check are not the answer: the proxy waits on for the real one.
 * An answer it cannot parse reaches the device unlearned (fail closed: its
 * addresses stay dropped).
 */
import * as dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import { DnsFormatError, parseMessage, resolution, type DnsMessage } from './dns-message';
import type { LearnedNames } from './learned-names';

export interface DnsProxyOptions {
  resolvers: readonly string[];
  proxy4?: string;
  proxy6?: string;
  portBase: number;
  timeoutMs?: number;
  maxPending?: number;
}

export type AnswerOutcome = 'learned' | 'unmatched' | 'malformed' | 'timeout' | 'refused';

export interface DnsProxyEvents {
  answer?(outcome: AnswerOutcome): void;
}

const DNS_PORT = 53;

function sameQuestion(q: DnsMessage, a: DnsMessage): boolean {
  const x = q.questions[0];
  const y = a.questions[0];
  return !!x && !!y && x.name === y.name && x.type === y.type && x.class === y.class;
}

export class DnsProxy {
  private readonly listeners: dgram.Socket[] = [];
  private readonly pending = new Set<dgram.Socket>();
  private closed = false;

  constructor(
    private readonly opts: DnsProxyOptions,
    private readonly names: LearnedNames,
    private readonly log: Logger,
    private readonly events: DnsProxyEvents = {},
  ) {}

  /** Binds one socket per resolver and family; fails (closing what it bound) if one cannot be bound. */
  async start(): Promise<void> {
    try {
      for (let i = 0; i < this.opts.resolvers.length; i++) {
        for (const addr of [this.opts.proxy4, this.opts.proxy6]) {
          if (!addr) continue;
          const s = dgram.createSocket({ type: isIPv4(addr) ? 'udp4' : 'udp6', reuseAddr: true });
          await new Promise<void>((resolve, reject) => {
            s.once('error', reject);
            s.bind(this.opts.portBase + i, addr, () => {
              s.off('error', reject);
              resolve();
            });
          });
          s.on('error', (err) => this.log.warn({ err: String(err) }, 'DNS proxy socket error'));
          s.on('message', (msg, rinfo) => this.query(i, s, msg, rinfo));
          this.listeners.push(s);
        }
      }
    } catch (err) {
      this.close();
      throw new Error(`DNS proxy: cannot listen on port ${this.opts.portBase}+: ${(err as Error).message}`);
    }
  }

  close(): void {
    this.closed = true;
    for (const s of [...this.listeners, ...this.pending]) {
      try {
        s.close();
      } catch {
        /* closed already */
      }
    }
    this.listeners.length = 0;
    this.pending.clear();
  }

  private query(i: number, listener: dgram.Socket, msg: Buffer, from: dgram.RemoteInfo): void {
    if (this.closed) return;
    let q: DnsMessage;
    try {
      q = parseMessage(msg);
    } catch {
      return; // not a query we can match an answer to: dropped, as a resolver would
    }
    if (q.response || q.questions.length !== 1) return;
    if (this.pending.size >= (this.opts.maxPending ?? 4096)) {
      this.events.answer?.('refused');
      return;
    }
    const resolver = this.opts.resolvers[i];
    const up = dgram.createSocket(isIPv4(resolver) ? 'udp4' : 'udp6');
    this.pending.add(up);
    const done = () => {
      clearTimeout(timer);
      if (this.pending.delete(up)) up.close();
    };
    const timer = setTimeout(() => {
      this.events.answer?.('timeout');
      done();
    }, this.opts.timeoutMs ?? 5000);
    timer.unref();
    up.on('error', () => done());
    up.on('message', (ans, rinfo) => {
      // only the resolver asked, from port 53, answering this id and question
      if (rinfo.address !== resolver || rinfo.port !== DNS_PORT || ans.length < 12 || ans.readUInt16BE(0) !== q.id) return;
      let a: DnsMessage | null = null;
      try {
        a = parseMessage(ans);
      } catch (err) {
        if (!(err instanceof DnsFormatError)) throw err;
      }
      if (a && (!a.response || !sameQuestion(q, a))) return;
      let outcome: AnswerOutcome = 'malformed';
      if (a) {
        try {
          const r = resolution(a);
          outcome = a.rcode === 0 && this.names.learn(r.names, r.addresses) > 0 ? 'learned' : 'unmatched';
        } catch (err) {
          // the datapath refused the write: the answer goes out unlearned, its addresses stay dropped
          this.log.error({ err: String(err) }, 'cannot write learned addresses into the datapath');
          outcome = 'malformed';
        }
      }
      this.events.answer?.(outcome);
      done();
      listener.send(ans, from.port, from.address);
    });
    up.send(msg, DNS_PORT, resolver, (err) => {
      if (err) done();
    });
  }
}
