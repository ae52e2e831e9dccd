// SPDX-License-Identifier: Apache-2.0
/** In-memory stand-ins for the store and the current generation, for the control channel's own tests. */
import { BehaviorSubject } from 'rxjs';
import { createHash, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Bundle, BundleDelta } from '../../../../../model/generation/bundle';
import { diffBundles } from '../../../../../model/generation/delta';
import { bundleHash } from '../../../../../model/generation/digest';
import { comparePolicy } from '../../../../../model/generation/keys';
import { IdentityNames } from '../../../../../model/generation/names';
import { sortIpcache } from '../../../../../model/generation/order';
import type { ControlStore, GenerationSource, Published } from '../control.ports';
import type { EnrollmentClaim, EnrollmentRefusal } from '../../store/enrollment-claim';
import type { EnforcerRecord } from '../../store/store';
import { EC_ALG, toPem } from '../ca/certificate-authority';

export class MemoryControlStore implements ControlStore {
  tokens = new Map<string, { expiresAt: number; used: boolean; enforcer: string | null; replace: boolean }>();
  enforcers = new Map<string, { name: string; revoked: boolean; certSerial: string | null; generation?: number | null; status?: unknown }>();

  addToken(secret: string, ttlMs = 3600_000, bind: { enforcer?: string; replace?: boolean } = {}) {
    this.tokens.set(createHash('sha256').update(secret).digest('hex'), { expiresAt: Date.now() + ttlMs, used: false, enforcer: bind.enforcer ?? null, replace: bind.replace === true });
  }
  async claimEnrollment(hash: string, name: string, refuse: EnrollmentRefusal): Promise<EnrollmentClaim> {
    const t = this.tokens.get(hash);
    if (!t || t.used || t.expiresAt < Date.now()) return { ok: false, reason: 'unknown' };
    const existing = this.enforcers.get(name) ?? null;
    const rec = { id: 0, kind: 'enrollment', role: 'enforcer', name: 'enroll', createdAt: '', expiresAt: null, usedAt: null, revoked: false, usedBy: null, lastUsedAt: null, bootstrap: false, enforcer: t.enforcer, replace: t.replace } as const;
    const why = refuse(rec, name, existing as EnforcerRecord | null);
    if (why) return { ok: false, reason: 'refused', message: why };
    t.used = true;
    if (!existing || existing.revoked) await this.upsertEnforcer(name, null);
    return { ok: true, token: rec, existing: existing as EnforcerRecord | null };
  }
  async getEnforcer(name: string) {
    return this.enforcers.get(name) ?? null;
  }
  async upsertEnforcer(name: string, certSerial: string | null) {
    const e = { name, revoked: false, certSerial };
    this.enforcers.set(name, e);
    return e;
  }
  async setEnforcerCertSerial(name: string, certSerial: string) {
    const e = this.enforcers.get(name);
    if (e) e.certSerial = certSerial;
  }
  readonly learnedNames = new Map<string, { total: number; names: readonly { name: string; address: string; expiresAt: number; selectors: string[] }[] }>();
  async recordLearnedNames(name: string, total: number, names: readonly { name: string; address: string; expiresAt: number; selectors: string[] }[]) {
    this.learnedNames.set(name, { total, names });
  }
  async recordEnforcerSeen(name: string, u: { generation?: number | null; status?: Record<string, unknown> }) {
    const e = this.enforcers.get(name);
    if (e) Object.assign(e, u);
  }
  async revokeEnforcer(name: string) {
    const e = this.enforcers.get(name);
    if (!e) return false;
    e.revoked = true;
    return true;
  }
}

/**
 * Published generations in memory, as CurrentGeneration publishes them: each
 * bundle in the order and with the digest the compiler gives it; deltas between
 * them computed with the model's diff (what the store would hold).
 */
export class MemoryGenerations implements GenerationSource {
  bundles = new Map<number, Bundle>();
  private names = new IdentityNames();
  private readonly subject = new BehaviorSubject<Published>({ bundle: null, docs: [] });
  published$ = this.subject.asObservable();
  publish(b: Omit<Bundle, 'hash'>): Bundle {
    const ordered = {
      ...b,
      identities: Object.fromEntries(Object.entries(b.identities).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))),
      ipcache: sortIpcache([...b.ipcache]),
      policy: [...b.policy].sort(comparePolicy),
      rules: [...b.rules].sort((x, y) => x.ruleId - y.ruleId),
    };
    const full: Bundle = { ...ordered, hash: bundleHash(ordered) };
    this.bundles.set(b.generation, full);
    this.names = new IdentityNames(full.identities);
    this.subject.next({ bundle: full, docs: [] });
    return full;
  }
  async latest() {
    return this.subject.value;
  }
  async get(g: number) {
    return this.bundles.get(g) ?? null;
  }
  async deltaTo(to: Bundle, base: { generation: number; hash: string }): Promise<BundleDelta | null> {
    const from = this.bundles.get(base.generation);
    if (!from || from.generation >= to.generation || (base.hash !== '' && base.hash !== from.hash)) return null;
    return diffBundles(from, to);
  }
  segmentOf(identity: number): string {
    return this.names.segmentOf(identity);
  }
  policyOf(ruleId: number): string | null {
    return (ruleId && this.subject.value.bundle?.rules.find((r) => r.ruleId === ruleId)?.policy) || null;
  }
  complete() {
    this.subject.complete();
  }
}

/** A fresh P-256 key and a CSR for it (what the enforcer does), PEM. */
export async function keyAndCsr(cn = 'ignored'): Promise<{ keyPem: string; csrPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC_ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${cn}`, keys, signingAlgorithm: EC_ALG });
  return { keyPem: toPem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}
