// SPDX-License-Identifier: Apache-2.0
/**
 * The decision path's per-CPU caches of the ipcache's and the policy's
 * answers (bpf/lib/ipcache.h, cordon.bpf.c struct policy_cached) answer as
 * the maps do: never with another epoch's answer, never with another
 * address's or question's that shares the slot. Through the real program
 * (BPF_PROG_TEST_RUN); each packet opens a new flow, so each is decided.
 */
import { IpcacheEntry, PolicyEntry, VERDICT } from '../../native/lib/abi';
import { Datapath } from '../../native/lib/datapath';
import { openTestDatapath, passes } from '../support/datapath';
import { TCP_FLAGS } from '../support/packets';

const SENSORS = 256;
const BROKER = 257;
const CAMERAS = 258;
const base: IpcacheEntry[] = [
  { cidr: '10.10.1.0/24', identity: SENSORS },
  { cidr: '10.10.2.0/24', identity: CAMERAS },
  { cidr: '10.10.9.0/24', identity: BROKER },
];
const allow = (port: number, ruleId: number): PolicyEntry => ({ srcIdentity: SENSORS, dstIdentity: BROKER, protocol: 6, port, portPrefixLen: 16, verdict: VERDICT.ALLOW, ruleId });

let dp: Datapath;
let sport = 20000;
beforeAll(async () => {
  dp = await openTestDatapath('test-decision-cache');
});
afterAll(() => {
  dp.unpin();
  dp.close();
});

const open = (src: string, dport: number) => passes(dp, { src, dst: '10.10.9.1', protocol: 'tcp', sport: sport++, dport, tcpFlags: TCP_FLAGS.SYN });

/** The cache slot of an IPv4 address (as ipcache.h computes it on the IPv4-mapped form). */
function slotOf(a: string, bits: number): number {
  const w3 = a.split('.').reduce((x, o) => ((x << 8) | Number(o)) >>> 0, 0);
  const le = (v: number) => (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
  // words as the kernel loads them from the address bytes (little-endian): ::ffff:a.b.c.d
  const w2 = le(0x0000ffff);
  const h = Math.imul((0 ^ Math.imul(0, 0x85ebca6b) ^ Math.imul(w2, 0xc2b2ae35) ^ le(w3)) >>> 0, 0x9e3779b1) >>> 0;
  return h >>> (32 - bits);
}

test('cache_1_an_address_decided_under_one_epoch_is_decided_again_under_the_next', async () => {
  await dp.applyGeneration({ generation: 1, ipcache: base, policy: [allow(8883, 1)] });
  expect(await open('10.10.1.5', 8883)).toBe(true);
  // the same address, now a camera's: no rule lets cameras in
  await dp.applyGeneration({ generation: 2, ipcache: [...base, { cidr: '10.10.1.5/32', identity: CAMERAS }], policy: [allow(8883, 1)] });
  expect(await open('10.10.1.5', 8883)).toBe(false);
  await dp.applyGeneration({ generation: 3, ipcache: base, policy: [allow(8883, 1)] });
  expect(await open('10.10.1.5', 8883)).toBe(true);
});

test('cache_2_a_question_answered_under_one_epoch_is_asked_again_under_the_next', async () => {
  await dp.applyGeneration({ generation: 4, ipcache: base, policy: [allow(8883, 1)] });
  expect(await open('10.10.1.6', 8883)).toBe(true);
  await dp.applyGeneration({ generation: 5, ipcache: base, policy: [allow(8884, 2)] });
  expect(await open('10.10.1.6', 8883)).toBe(false);
  expect(await open('10.10.1.6', 8884)).toBe(true);
});

/** The policy cache's slot of a question (cordon.bpf.c cordon_policy_judge): TCP, the port as on the wire. */
function questionSlot(src: number, dst: number, port: number, bits: number): number {
  const pp = ((6 << 16) | (((port & 0xff) << 8) | (port >>> 8))) >>> 0;
  const h = Math.imul((Math.imul(src, 0x9e3779b1) ^ Math.imul(dst, 0x85ebca6b) ^ pp) >>> 0, 0xc2b2ae35) >>> 0;
  return h >>> (32 - bits);
}

test('cache_3_addresses_that_share_a_slot_keep_their_own_answers', async () => {
  await dp.applyGeneration({ generation: 6, ipcache: base, policy: [allow(8883, 1)] });
  // a sensor and a camera whose addresses share a slot of the 256
  const sensor = '10.10.1.7';
  let camera = '';
  for (let i = 1; i < 255 && !camera; i++) if (slotOf(`10.10.2.${i}`, 8) === slotOf(sensor, 8)) camera = `10.10.2.${i}`;
  expect(camera).not.toBe('');
  for (let i = 0; i < 3; i++) {
    expect(await open(sensor, 8883)).toBe(true);
    expect(await open(camera, 8883)).toBe(false);
  }
});

test('cache_4_questions_that_share_a_slot_keep_their_own_answers', async () => {
  await dp.applyGeneration({ generation: 7, ipcache: base, policy: [allow(8883, 1)] });
  // a port of the same pair whose question shares the allowed port's slot of the 16
  let other = 0;
  for (let port = 1; port < 65536 && !other; port++) if (port !== 8883 && questionSlot(SENSORS, BROKER, port, 4) === questionSlot(SENSORS, BROKER, 8883, 4)) other = port;
  expect(other).not.toBe(0);
  for (let i = 0; i < 3; i++) {
    expect(await open('10.10.1.8', 8883)).toBe(true);
    expect(await open('10.10.1.8', other)).toBe(false);
  }
});
