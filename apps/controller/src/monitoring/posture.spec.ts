// SPDX-License-Identifier: Apache-2.0
import type { Device, PostureRule } from '../policy/schema';
import { compareVersions, credentialFromSpec, evaluateDevice, satisfies } from './posture';

const device = (firmware?: string, labels = { type: 'camera' }, credential?: Device['spec']['credential']): Device => ({
  apiVersion: 'cordon/v1',
  kind: 'Device',
  metadata: { name: 'cam-07', labels },
  spec: { addresses: ['10.0.0.7'], firmware, credential },
});
const rule = (require: PostureRule['spec']['require'], onFailure: 'quarantine' | 'alert' = 'quarantine'): PostureRule => ({
  apiVersion: 'cordon/v1',
  kind: 'PostureRule',
  metadata: { name: 'camera-rule' },
  spec: { selector: { type: 'camera' }, require, onFailure },
});
const NOW = Date.UTC(2026, 0, 1);
const inputs = (lastSeen: number | null = NOW, cred: 'valid' | 'none' | 'revoked' = 'valid') => ({ now: NOW, lastSeen: () => lastSeen, credential: () => cred });

describe('posture', () => {
  it('compares versions numerically, pre-releases first', () => {
    expect(compareVersions('4.10.0', '4.9.9')).toBe(1);
    expect(compareVersions('4.2', '4.2.0')).toBe(0);
    expect(compareVersions('4.2.0-rc1', '4.2.0')).toBe(-1);
    expect(compareVersions('4.2.0-rc.2', '4.2.0-rc.10')).toBe(-1);
    expect(compareVersions('v5.0.0', '4.99')).toBe(1);
    expect(satisfies('4.2.1', '>=4.2.0')).toBe(true);
    expect(satisfies('4.1.9', '>=4.2.0')).toBe(false);
    expect(satisfies('4.2.0', '<4.2.0')).toBe(false);
    expect(satisfies('4.2.0', '4.2')).toBe(true);
    expect(satisfies('4.2.0', '==4.2.1')).toBe(false);
  });

  it('fails firmware below the minimum, or missing, naming rule, expected and actual', () => {
    expect(evaluateDevice(device('4.1.9'), [rule({ firmware: '>=4.2.0' })], inputs())).toEqual({
      device: 'cam-07',
      rules: ['camera-rule'],
      compliant: false,
      failures: [{ rule: 'camera-rule', requirement: 'firmware', expected: '>=4.2.0', actual: '4.1.9', onFailure: 'quarantine' }],
    });
    expect(evaluateDevice(device(undefined), [rule({ firmware: '>=4.2.0' })], inputs()).failures[0].actual).toBe('none reported');
    expect(evaluateDevice(device('4.2.0'), [rule({ firmware: '>=4.2.0' })], inputs()).compliant).toBe(true);
  });

  it('lastSeenWithin and credential', () => {
    const r = rule({ lastSeenWithin: '10m', credential: 'valid' }, 'alert');
    expect(evaluateDevice(device('1'), [r], inputs(NOW - 5 * 60_000)).compliant).toBe(true);
    const v = evaluateDevice(device('1'), [r], inputs(NOW - 11 * 60_000, 'revoked'));
    expect(v.failures.map((f) => [f.requirement, f.actual, f.onFailure])).toEqual([
      ['lastSeenWithin', 'last seen 660s ago', 'alert'],
      ['credential', 'revoked', 'alert'],
    ]);
    expect(evaluateDevice(device('1'), [r], inputs(null)).failures[0].actual).toBe('never seen');
  });

  it('only rules whose selector matches apply', () => {
    expect(evaluateDevice(device('1.0', { type: 'sensor' }), [rule({ firmware: '>=4' })], inputs())).toMatchObject({ rules: [], compliant: true });
  });

  it('without a provider, the Device spec says what its credential is', () => {
    expect(credentialFromSpec(device('1'), NOW)).toBe('none');
    expect(credentialFromSpec(device('1', undefined, { fingerprint: 'ab:cd' }), NOW)).toBe('valid');
    expect(credentialFromSpec(device('1', undefined, { fingerprint: 'ab', expiresAt: '2020-01-01T00:00:00Z' }), NOW)).toBe('expired');
    expect(credentialFromSpec(device('1', undefined, { status: 'revoked' }), NOW)).toBe('revoked');
  });
});
