// SPDX-License-Identifier: Apache-2.0
/**
 * PostureRule evaluation, pure: which rules select a device, and which of their
 * requirements it fails. The service (posture.service.ts) acts on the result.
 */
import type { Device, PostureRule } from '../policy/schema';
import { durationMs } from '../../../common/src/duration';

export type CredentialStatus = 'valid' | 'expired' | 'revoked' | 'none';

/** Answers PostureRule `credential: valid`: the credentials feature's CredentialsService (posture.module.ts). */
export interface CredentialStatusProvider {
  credentialStatus(deviceName: string): CredentialStatus | Promise<CredentialStatus>;
}

export interface PostureFailure {
  rule: string;
  requirement: 'firmware' | 'lastSeenWithin' | 'credential';
  expected: string;
  actual: string;
  onFailure: 'quarantine' | 'alert';
}

export interface PostureVerdict {
  device: string;
  rules: string[];
  compliant: boolean;
  failures: PostureFailure[];
}

/** Numeric parts of a version, pre-release after: 4.2.0-rc1 < 4.2.0 (semver's rule). */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const m = /^v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$/.exec(v.trim());
    if (!m) return null;
    return { nums: m[1].split('.').map(Number), pre: m[2] ?? null };
  };
  const x = split(a);
  const y = split(b);
  if (!x || !y) throw new Error(`cannot compare versions "${a}" and "${b}"`);
  const n = Math.max(x.nums.length, y.nums.length);
  for (let i = 0; i < n; i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (d) return Math.sign(d);
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === null) return 1;
  if (y.pre === null) return -1;
  const pa = x.pre.split('.');
  const pb = y.pre.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if (pa[i] === undefined) return -1;
    if (pb[i] === undefined) return 1;
    const na = /^\d+$/.test(pa[i]) ? Number(pa[i]) : NaN;
    const nb = /^\d+$/.test(pb[i]) ? Number(pb[i]) : NaN;
    if (!isNaN(na) && !isNaN(nb) && na !== nb) return Math.sign(na - nb);
    if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  }
  return 0;
}

/** `>=4.2.0`, `<5`, `==4.2.1`, `4.2.1` (equality). */
export function satisfies(version: string, constraint: string): boolean {
  const m = /^(>=|<=|>|<|==|=)?\s*(.+)$/.exec(constraint.trim());
  if (!m) throw new Error(`bad version constraint "${constraint}"`);
  const c = compareVersions(version, m[2]);
  switch (m[1] ?? '==') {
    case '>=':
      return c >= 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    case '<':
      return c < 0;
    default:
      return c === 0;
  }
}

export { durationMs };

export function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return Object.entries(selector).every(([k, v]) => l[k] === v);
}

export interface PostureInputs {
  /** When the device was last seen in a flow (ms), or when it became known if never. */
  lastSeen(device: Device): number | null;
  credential(device: Device): CredentialStatus;
  now: number;
}

export function evaluateDevice(device: Device, rules: readonly PostureRule[], inp: PostureInputs): PostureVerdict {
  const failures: PostureFailure[] = [];
  const applied: string[] = [];
  for (const r of rules) {
    if (!selects(r.spec.selector, device.metadata.labels)) continue;
    applied.push(r.metadata.name);
    const req = r.spec.require;
    const fail = (requirement: PostureFailure['requirement'], expected: string, actual: string) =>
      failures.push({ rule: r.metadata.name, requirement, expected, actual, onFailure: r.spec.onFailure });
    if (req.firmware) {
      const fw = device.spec.firmware;
      if (!fw) fail('firmware', req.firmware, 'none reported');
      else {
        let ok = false;
        try {
          ok = satisfies(fw, req.firmware);
        } catch {
          ok = false;
        }
        if (!ok) fail('firmware', req.firmware, fw);
      }
    }
    if (req.lastSeenWithin) {
      const seen = inp.lastSeen(device);
      const limit = durationMs(req.lastSeenWithin);
      if (seen === null) fail('lastSeenWithin', req.lastSeenWithin, 'never seen');
      else if (inp.now - seen > limit) fail('lastSeenWithin', req.lastSeenWithin, `last seen ${Math.round((inp.now - seen) / 1000)}s ago`);
    }
    if (req.credential === 'valid') {
      const c = inp.credential(device);
      if (c !== 'valid') fail('credential', 'valid', c);
    }
  }
  return { device: device.metadata.name, rules: applied, compliant: failures.length === 0, failures };
}

/** Without a provider: what the Device document says of its credential, else none. */
export function credentialFromSpec(device: Device, now: number): CredentialStatus {
  const c = device.spec.credential;
  if (!c) return 'none';
  if (c.status === 'revoked' || c.status === 'expired') return c.status;
  if (c.expiresAt && Date.parse(c.expiresAt) < now) return 'expired';
  if (c.status === 'valid' || c.fingerprint || c.serial) return 'valid';
  return 'none';
}
