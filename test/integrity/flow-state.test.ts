/**
 * Issue 14: a flow batch's derived state (here: the unknown devices it shows)
 * is in the store before the batch is acknowledged, so a controller that dies
 * between taking a batch and its write-behind flush loses none of it: the
 * enforcer sends the batch again, which is counted once and fed again.
 * A real controller on its embedded store, a real enrolled certificate, real
 * StreamFlows calls; "a controller that died" is the rows it left in
 * flow_sequences, written with the controller's own code.
 */
import 'reflect-metadata';
import * as grpc from '@grpc/grpc-js';
import { SqlFlowSequences } from '../../apps/controller/src/control/flows/flow-sequences';
import { RESENT_GRACE_MS } from '../../apps/controller/src/control/grpc/flow-reports';
import type { FlowAck, FlowBatch, WireFlowRecord } from '../../proto/cordon/v1/control';
import type { RawControlClient } from '../../proto/cordon/v1/client';
import { SITE } from '../api/fixtures';
import { startTestController, type TestController } from '../api/harness';
import { sleep } from '../support/wait';
import { enrollEnforcer } from './enroll';

jest.setTimeout(60_000);

const NAME = 'gw-state';
/** One run for the whole file: each case's seq is above the previous ones'. */
const RUN = 'run-1';

/** A flow from an address no Device of SITE claims (an unknown sensor) to the broker; dport tells the cases apart. */
const unknownFlow = (src: string, dport: number): WireFlowRecord => ({
  src, dst: '10.10.9.1', sport: 40000, dport, protocol: 6, family: 4, srcIdentity: 0, dstIdentity: 0, verdict: 'VERDICT_ALLOW', reason: 'DROP_REASON_NONE',
  ruleId: 0, packetsFwd: 3, bytesFwd: 300, packetsRev: 2, bytesRev: 200, firstSeen: Date.now() - 900, lastSeen: Date.now(), ifindex: 2,
});
const batch = (seq: number, src: string, dport: number): FlowBatch => ({
  enforcer: NAME, run: RUN, seq, generation: 1, windowStart: Date.now() - 1000, windowEnd: Date.now(), droppedBatches: 0, pairs: [], events: [], flows: [unknownFlow(src, dport)],
});

/** Opens StreamFlows; send() writes a batch and resolves with its acknowledgement. */
function stream(c: RawControlClient) {
  const s = c.StreamFlows(new grpc.Metadata());
  const waiting: Array<(a: FlowAck) => void> = [];
  s.on('data', (a: FlowAck) => waiting.shift()?.(a));
  s.on('error', () => undefined);
  return {
    send: (b: FlowBatch) => new Promise<FlowAck>((resolve) => (waiting.push(resolve), s.write(b))),
    write: (b: FlowBatch) => s.write(b),
    cancel: () => s.cancel(),
  };
}

describe('issue 14: a batch is acknowledged once its derived state is stored', () => {
  let t: TestController;
  let c: RawControlClient;
  /** The unknown device's row in the store (what survives this controller), or null. */
  const stored = async (address: string) => {
    const row = (await t.ctl.store.sql.query<{ flows: string | number }>('select flows from unknown_devices where address = $1', [address]))[0];
    return row ? { flows: Number(row.flows) } : null;
  };
  const counted = async (dport: number) => (((await t.call('GET', '/v1/flows')).body.items ?? []) as Array<{ dport: number }>).filter((f) => f.dport === dport).length;

  beforeAll(async () => {
    t = await startTestController('pglite', undefined, { logLevel: 'silent' });
    expect((await t.call('POST', '/v1/apply', { documents: SITE })).status).toBe(200);
    c = (await enrollEnforcer(t.ctl, t.adminToken, NAME)).client();
  });
  afterAll(async () => {
    c?.close();
    await t?.close();
  });

  it('14_ack_after_state: the acknowledgement of a new batch comes after its unknown device is in the store', async () => {
    const s = stream(c);
    const t0 = Date.now();
    const ack = await s.send(batch(1, '10.10.1.71', 7001));
    expect(ack).toMatchObject({ lastSeq: 1, duplicate: false });
    expect(await stored('10.10.1.71')).toEqual({ flows: 1 }); // written behind (every 2 s), yet there at the ack
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await counted(7001)).toBe(1);
    s.cancel();
  });

  it('14_resend_unstored: a batch claimed by a controller that died before its flush is fed again, not counted again', async () => {
    await new SqlFlowSequences(t.ctl.store.sql).claim(NAME, RUN, 2); // taken there, its state never stored
    const s = stream(c);
    const t0 = Date.now();
    const ack = await s.send(batch(2, '10.10.1.72', 7002));
    expect(ack).toMatchObject({ lastSeq: 2, duplicate: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(RESENT_GRACE_MS); // it gave the first controller its flush
    expect(await stored('10.10.1.72')).toEqual({ flows: 1 });
    expect(await counted(7002)).toBe(0); // the dead controller counted it
    s.cancel();
  });

  it('14_resend_stored: a batch whose state was stored before its controller died is not fed again', async () => {
    const seqs = new SqlFlowSequences(t.ctl.store.sql);
    await seqs.claim(NAME, RUN, 3);
    await seqs.markStored(NAME, RUN, 3);
    const s = stream(c);
    expect(await s.send(batch(3, '10.10.1.73', 7003))).toMatchObject({ lastSeq: 3, duplicate: true });
    await sleep(2500); // past a write-behind flush
    expect(await stored('10.10.1.73')).toBeNull();
    s.cancel();
  });

  it('14_resend_here: a batch sent again to the controller still flushing it is fed once', async () => {
    const first = stream(c);
    first.write(batch(4, '10.10.1.74', 7004));
    await sleep(200); // claimed and taken, its flush not yet done
    first.cancel();
    const again = stream(c);
    expect(await again.send(batch(4, '10.10.1.74', 7004))).toMatchObject({ lastSeq: 4, duplicate: true });
    expect(await stored('10.10.1.74')).toEqual({ flows: 1 });
    expect(await counted(7004)).toBe(1);
    again.cancel();
  });

  it('14_resend_first_alive: a batch whose first controller lost the stream but lives, and marks it stored within the grace, is not fed again', async () => {
    const seqs = new SqlFlowSequences(t.ctl.store.sql);
    await seqs.claim(NAME, RUN, 5);
    const s = stream(c);
    const ack = s.send(batch(5, '10.10.1.75', 7005));
    await sleep(1000);
    await seqs.markStored(NAME, RUN, 5); // the first controller's flush, after the enforcer moved
    expect(await ack).toMatchObject({ lastSeq: 5, duplicate: true });
    await sleep(2500);
    expect(await stored('10.10.1.75')).toBeNull();
    s.cancel();
  });
});
