// SPDX-License-Identifier: Apache-2.0
/**
 * The generation applier's boundary timer, on a recording datapath and the real
 * clock: a kept bundle with a scheduled entry is applied without it before its
 * window, again with it from the window's start, and again without it by the
 * window's end, with no controller anywhere. (That packets follow is
 * test/e2e/schedule.e2e.test.ts's business, with the kernel.)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { compile } from '../../controller/src/compiler/compile';
import type { Document } from '../../controller/src/policy/schema';
import { BundleKeeper } from './bundle-keeper';
import { validateEnforcerConfig } from './config';
import { GenerationApplier } from './generation-applier';
import { EnforcerMetrics } from './metrics';
import { RecordingDatapath } from './testing/recording-datapath';
import { clockOffsetMs } from './clock';

const log = pino({ level: 'silent' });
const wall = (t: number) => new Date(t).toISOString().slice(0, 19);

describe('schedule boundaries in the generation applier', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-sched-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('applies the generation again at each boundary, with the entries then open', async () => {
    const open = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    const close = open + 1000;
    const docs: Document[] = [
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'a' }, spec: { cidrs: ['10.1.0.0/24'], selector: {}, mode: 'enforce', onAnomaly: 'alert' } },
      { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'b' }, spec: { cidrs: ['10.2.0.0/24'], selector: {}, mode: 'enforce', onAnomaly: 'alert' } },
      { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'always' }, spec: { from: ['a'], to: ['b'], allow: [{ protocol: 'tcp', ports: [80] }], mode: 'enforce' } },
      {
        apiVersion: 'cordon/v1',
        kind: 'Policy',
        metadata: { name: 'window' },
        spec: { from: ['a'], to: ['b'], allow: [{ protocol: 'tcp', ports: [22] }], mode: 'enforce', schedule: { timezone: 'UTC', windows: [`${wall(open)}/${wall(close)}`] } },
      },
    ];
    const bundle = compile(docs, { identities: {}, generation: 7 });
    const keeper = BundleKeeper.inDir(path.join(dir, 'state'));
    keeper.commit(bundle);
    const dp = new RecordingDatapath();
    const at: number[] = [];
    const apply = dp.applyGeneration.bind(dp);
    dp.applyGeneration = (g) => (at.push(Date.now()), apply(g));
    const cfg = validateEnforcerConfig({ controller: '127.0.0.1:1', interface: ['eth1'], stateDir: path.join(dir, 'state'), name: 'gw-t', netns: '/proc/self/ns/net', failsafe: ['none'] }, { datapath: dp, log });
    const applier = new GenerationApplier(cfg, dp, keeper, new EnforcerMetrics(), log, () => false);
    try {
      await applier.restore();
      await new Promise((r) => setTimeout(r, close + 400 - Date.now()));
      await applier.settled();
    } finally {
      applier.stop();
    }
    const ports = dp.calls.flatMap((c) => (c.op === 'apply' ? [c.policy.filter((e) => e.srcIdentity >= 256).map((e) => e.port).sort()] : []));
    expect(ports).toEqual([[80], [22, 80], [80]]);
    expect(dp.calls.every((c) => c.op !== 'apply' || c.generation === 7)).toBe(true);
    // An opening is applied at its boundary, never before; a closing up to the lead (twice the last apply, at least 20 ms) ahead of it.
    expect(at[1]).toBeGreaterThanOrEqual(open);
    expect(at[1]).toBeLessThan(open + 500);
    expect(at[2]).toBeGreaterThanOrEqual(close - 200);
    expect(at[2]).toBeLessThan(close + 500);
  });

  it('reads the test-only clock offset, and refuses one that is not a number', () => {
    expect(clockOffsetMs({})).toBe(0);
    expect(clockOffsetMs({ CORDON_TEST_CLOCK_OFFSET_MS: '-3600000' })).toBe(-3600000);
    expect(() => clockOffsetMs({ CORDON_TEST_CLOCK_OFFSET_MS: 'soon' })).toThrow('CORDON_TEST_CLOCK_OFFSET_MS=soon: expected a number of milliseconds');
  });
});
