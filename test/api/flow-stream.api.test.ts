/**
 * GET /v1/flows/stream against a real controller over real HTTP, fed by a real
 * enrolled enforcer certificate over the real ReportFlows gRPC stream:
 * - rows arrive in the order the controller received them;
 * - a client resuming with Last-Event-ID (or after=) loses nothing and repeats nothing;
 * - beyond --stream-rows-per-second a burst becomes aggregate events that count every flow;
 * - a client that stops reading gets no queue of rows: what arrived meanwhile
 *   comes, once it reads again, as an aggregate (why: slow-client) and the
 *   bytes it receives are a fraction of the rows' bytes;
 * - no token is a 401, a viewer token streams, a bad cursor is a 400, a token's
 *   --streams-per-token + 1st stream is a 429, and a closed client frees its slot.
 */
import 'reflect-metadata';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { FlowAck, FlowBatch, WireFlowRecord } from '../../proto/cordon/v1/control';
import type { RawControlClient } from '../../proto/cordon/v1/client';
import { enrollEnforcer, type Enrolled } from '../integrity/enroll';
import { until } from '../support/site';
import { SITE } from './fixtures';
import { startTestController, type TestController } from './harness';

const RATE = 40;
const ids: Record<string, number> = {};
const flow = (sport: number, dport = 8883): WireFlowRecord => ({
  src: '10.10.1.5', dst: '10.10.9.1', sport, dport, protocol: 6, family: 4, srcIdentity: ids.sensors, dstIdentity: ids.broker, verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE',
  ruleId: 0, packetsFwd: 3, bytesFwd: 300, packetsRev: 2, bytesRev: 200, firstSeen: Date.now() - 900, lastSeen: Date.now(), ifindex: 2,
});

let seq = 0;
function report(c: RawControlClient, flows: WireFlowRecord[]): Promise<FlowAck> {
  return new Promise((resolve, reject) => {
    const s = c.ReportFlows(new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res!)));
    const b: FlowBatch = { enforcer: 'gw-sse', seq: ++seq, generation: 1, windowStart: Date.now() - 1000, windowEnd: Date.now(), droppedBatches: 0, pairs: [], flows, events: [] };
    s.write(b);
    s.end();
  });
}
const sports = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

interface Event {
  event: string;
  id?: string;
  data: any;
  at: number;
}

/** A server-sent event client over fetch (as the console reads it: the token in a header). */
class Sse {
  readonly events: Event[] = [];
  comments = 0;
  status = 0;
  private readonly abort = new AbortController();
  private done: Promise<void> = Promise.resolve();

  static async open(url: string, token: string | null, headers: Record<string, string> = {}): Promise<Sse> {
    const s = new Sse();
    const res = await fetch(url, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), accept: 'text/event-stream', ...headers }, signal: s.abort.signal });
    s.status = res.status;
    if (res.ok) s.done = s.read(res.body!);
    else s.events.push({ event: 'error', data: await res.json(), at: Date.now() });
    return s;
  }

  private async read(body: ReadableStream<Uint8Array>) {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const e: Partial<Event> = { event: 'message', at: Date.now() };
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) this.comments++;
            else if (line.startsWith('event: ')) e.event = line.slice(7);
            else if (line.startsWith('id: ')) e.id = line.slice(4);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data) this.events.push({ ...(e as Event), data: JSON.parse(data) });
        }
      }
    } catch {
      /* aborted */
    }
  }

  rows(): { sport: number }[] {
    return this.events.filter((e) => e.event === 'flows').flatMap((e) => e.data.items);
  }
  lastId(): string | undefined {
    return [...this.events].reverse().find((e) => e.id)?.id;
  }
  async close() {
    this.abort.abort();
    await this.done;
  }
}

describe('GET /v1/flows/stream: server-sent flows with a rate cap, resumable', () => {
  let t: TestController;
  let gw: Enrolled;
  let c: RawControlClient;
  let viewer: string;
  const open: Sse[] = [];
  const stream = async (query = '', token: string | null = viewer, headers?: Record<string, string>) => {
    const s = await Sse.open(`${t.url}/v1/flows/stream${query}`, token, headers);
    open.push(s);
    return s;
  };

  beforeAll(async () => {
    t = await startTestController('pglite', undefined, { streamRowsPerSecond: RATE, streamsPerToken: 2 });
    expect((await t.call('POST', '/v1/apply', { documents: SITE })).status).toBe(200);
    Object.assign(ids, (await t.call('GET', '/v1/bundles/current')).body.identities);
    gw = await enrollEnforcer({ url: t.url, grpcAddress: t.ctl.grpcAddress }, t.adminToken, 'gw-sse');
    c = gw.client();
    viewer = (await t.call('POST', '/v1/tokens', { role: 'viewer', name: 'sse-viewer' })).body.token;
  }, 120_000);
  afterAll(async () => {
    for (const s of open) await s.close();
    c?.close();
    await t?.close();
  });

  test('no token is a 401 and a bad cursor a 400; a viewer streams rows in receive order; a resume loses and repeats nothing', async () => {
    const anon = await stream('', null);
    expect(anon.status).toBe(401);
    expect((await stream('?after=nonsense')).status).toBe(400);
    expect((await stream('?verdict=maybe')).status).toBe(400);

    const s = await stream();
    expect(s.status).toBe(200);
    await until('the ready event', async () => s.events.find((e) => e.event === 'ready'), 10_000, 20);
    expect(s.events[0].data).toMatchObject({ rowsPerSecond: RATE });
    await report(c, sports(1000, 10).map(flow));
    await report(c, sports(1010, 10).map(flow));
    await until('20 rows', async () => s.rows().length >= 20, 10_000, 20);
    expect(s.rows().map((r) => r.sport)).toEqual(sports(1000, 20));
    expect(s.rows()[0]).toMatchObject({ src: '10.10.1.5', srcSegment: 'sensors', dstSegment: 'broker', verdict: 'allow', packets: 5 });
    const id = s.lastId()!;
    await s.close();

    // While no one listens: 15 more. A resume from the last event id gets exactly those, by header or by after=.
    await report(c, sports(1020, 15).map(flow));
    const byHeader = await stream('', viewer, { 'last-event-id': id });
    const byQuery = await stream(`?after=${id}`);
    for (const r of [byHeader, byQuery]) {
      await until('the 15 missed rows', async () => r.rows().length >= 15, 10_000, 20);
      await new Promise((res) => setTimeout(res, 600)); // a few ticks more: nothing else comes
      expect(r.rows().map((x) => x.sport)).toEqual(sports(1020, 15));
      await r.close();
    }
    // A stream opened without a cursor starts now; the filters of /v1/flows apply.
    const fresh = await stream('?verdict=deny');
    await report(c, [flow(1100)]);
    await new Promise((res) => setTimeout(res, 800));
    expect(fresh.rows()).toEqual([]);
    await fresh.close();
  }, 60_000);

  test('a burst beyond the rate cap becomes aggregate events that count every flow, never more than the cap in rows a second', async () => {
    const s = await stream('?segment=sensors');
    await until('the ready event', async () => s.events.length > 0, 10_000, 20);
    const N = 400;
    await report(c, sports(2000, N).map(flow));
    const aggregated = () => s.events.filter((e) => e.event === 'aggregate').reduce((n, e) => n + e.data.flows, 0);
    await until('every flow of the burst, as a row or counted', async () => s.rows().length + aggregated() >= N, 15_000, 20);
    expect(s.rows().length + aggregated()).toBe(N);
    expect(s.rows().length).toBeLessThanOrEqual(RATE * 2);
    const agg = s.events.find((e) => e.event === 'aggregate')!;
    expect(agg.data).toMatchObject({ why: 'rate', rowsPerSecond: RATE, pairs: [{ srcSegment: 'sensors', dstSegment: 'broker', verdict: 'allow' }] });
    expect(agg.data.pairs[0].packets).toBe(agg.data.flows * 5);
    // The rows that did come are the newest of the burst, in order, and none twice.
    const got = s.rows().map((r) => r.sport);
    expect(new Set(got).size).toBe(got.length);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(got[got.length - 1]).toBe(2000 + N - 1);
    // Event ids only move forward.
    const seqs = s.events.filter((e) => e.id).map((e) => Number(e.id!.split('.')[1]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    await s.close();
  }, 60_000);

  test('a token may hold --streams-per-token streams; the next is a 429 until one closes', async () => {
    const a = await stream();
    const b = await stream();
    expect([a.status, b.status]).toEqual([200, 200]);
    const third = await stream();
    expect(third.status).toBe(429);
    expect((await stream('', t.adminToken)).status).toBe(200); // another token has its own
    await a.close();
    await until('the closed stream to free its slot', async () => {
      const s = await stream();
      if (s.status === 200) return true;
      return false;
    }, 10_000, 100);
    const metrics = (await t.call('GET', '/metrics', undefined, { token: null })).body as string;
    expect(metrics).toMatch(/^cordon_flow_streams [1-9]/m);
    expect(metrics).toMatch(/^cordon_flow_stream_rows_total\{kind="aggregated"\} [1-9]/m);
  }, 60_000);
});

describe('GET /v1/flows/stream: a client that stops reading', () => {
  let t: TestController;
  let c: RawControlClient;

  beforeAll(async () => {
    t = await startTestController('pglite', undefined, { streamRowsPerSecond: 20_000 });
    expect((await t.call('POST', '/v1/apply', { documents: SITE })).status).toBe(200);
    Object.assign(ids, (await t.call('GET', '/v1/bundles/current')).body.identities);
    c = (await enrollEnforcer({ url: t.url, grpcAddress: t.ctl.grpcAddress }, t.adminToken, 'gw-sse')).client();
  }, 120_000);
  afterAll(async () => {
    c?.close();
    await t?.close();
  });

  test('gets nothing queued while it does not read: arrivals are counted and come as one slow-client aggregate when it reads again', async () => {
    const { port } = new URL(t.url);
    const sock = net.connect(Number(port), '127.0.0.1');
    sock.setNoDelay(true);
    let received = 0;
    let text = '';
    sock.on('data', (d: Buffer) => {
      received += d.length;
      text += d.toString('latin1');
    });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(`GET /v1/flows/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.adminToken}\r\nAccept: text/event-stream\r\n\r\n`);
    await until('the stream to answer', async () => text.includes('event: ready'), 10_000, 20);
    sock.pause(); // from here the client reads nothing: the kernel's buffers fill, then the controller's write() says so
    const BATCHES = 100;
    const PER = 1000;
    for (let b = 0; b < BATCHES; b++) {
      await report(c, sports(1000, PER).map((sp) => flow(sp, 10_000 + b)));
      if (b % 10 === 9) await new Promise((r) => setTimeout(r, 300)); // a few stream ticks between
    }
    const oneRow = JSON.stringify((await t.call('GET', '/v1/flows?limit=1')).body.items[0]).length;
    const allRows = oneRow * BATCHES * PER;
    await new Promise((r) => setTimeout(r, 600));
    sock.resume();
    await until('a slow-client aggregate', async () => /event: aggregate\n[^\n]*\ndata: \{"flows":\d+,"why":"slow-client"/.test(text), 20_000, 50);
    await new Promise((r) => setTimeout(r, 600));
    sock.destroy();
    const aggregated = [...text.matchAll(/"why":"slow-client"[^\n]*/g)].length;
    expect(aggregated).toBeGreaterThanOrEqual(1);
    // The rows it did get are what the socket's buffers held when it stopped, not the 100,000 rows (~30 MB).
    expect(received).toBeLessThan(allRows / 3);
    // Nothing lost and nothing twice: every flow reported came as a row or was counted in an aggregate.
    let rows = 0;
    let counted = 0;
    for (const m of text.matchAll(/event: (flows|aggregate)\n(?:id: [^\n]*\n)?data: ([^\n]*)\n/g)) {
      const data = JSON.parse(m[2]);
      if (m[1] === 'flows') rows += data.items.length;
      else counted += data.flows;
    }
    expect({ rows: rows > 0, total: rows + counted }).toEqual({ rows: true, total: BATCHES * PER });
    process.stderr.write(`slow client: received ${Math.round(received / 1024)} KiB of ${Math.round(allRows / 1024)} KiB of rows\n`);
    await until('the stream gone from the gauge', async () => /^cordon_flow_streams 0/m.test((await t.call('GET', '/metrics', undefined, { token: null })).body), 10_000, 100);
  }, 120_000);
});
