// SPDX-License-Identifier: Apache-2.0
/**
 * Device credentials: X.509 certificates from the device CA and pre-shared keys,
 * issued, rotated (with an overlap during which old and new both work) and
 * revoked. Every change is an audit event; a certificate revocation republishes
 * the CRL before the call returns, a PSK revocation rewrites the PSK file before
 * it returns. Devices deleted from the policy lose everything they hold.
 *
 * For the posture engine: credentialStatus(device).
 */
import { Inject, Injectable, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as x509 from '@peculiar/x509';
import type { Logger } from 'pino';
import { Subject, type Subscription } from 'rxjs';
import { AuditService } from '../audit/audit.service';
import { BundleService } from '../bundles/bundle.service';
import type { ControllerConfig } from '../config';
import { Problem } from '../http/problem';
import type { CaKey } from '../keys/ca-key';
import { keyStoreConfigured, openCaKey } from '../keys/open-ca-key';
import { parsePositiveDuration as parseDuration } from '../../../common/src/duration';
import { CONFIG, LOGGER, STORE } from '../di-tokens';
import { openSiteCa, siteDatabase } from '../keys/site-ca';
import type { Store } from '../store/store';
import { credentialsConfig, type CredentialsConfig } from './credentials.config';
import { CredentialRepository, type CredentialKind, type CredentialRow } from '../store/credentials.repository';
import { DocumentRepository } from '../store/documents.repository';
import { CrlBuilder, REASON } from './crl';
import { DeviceCa, deviceUris } from './device-ca';
import { EstServer } from './est.server';
import { rowStatus, statusOf } from './credential-status';
import type { CredentialStatus, EstIssuer, IssuedCredential, Who } from './credential-types';
import { deviceKey } from './device-key';
import { credentialLifetime } from './lifetime';
import { PskFile } from './psk-file';

export type { CredentialStatus, IssuedCredential } from './credential-types';

const CONTROLLER: Who = { name: 'controller', source: null };
const hashToken = (t: string) => createHash('sha256').update(t).digest('hex');
const REASONS: Record<string, number> = {
  unspecified: REASON.unspecified,
  keyCompromise: REASON.keyCompromise,
  superseded: REASON.superseded,
  cessationOfOperation: REASON.cessationOfOperation,
};

@Injectable()
export class CredentialsService implements EstIssuer, OnModuleInit, OnModuleDestroy {
  readonly cfg: CredentialsConfig;
  private ca: DeviceCa | null = null;
  private key: CaKey | null = null;
  private psk: PskFile;
  private est: EstServer | null = null;
  private crl: { der: Buffer; pem: string; number: number; at: Date } | null = null;
  private crlBuilder: CrlBuilder | null = null;
  private crlJob: Promise<void> | null = null;
  private crlDirty = false;
  private timer: NodeJS.Timeout | null = null;
  private sub: Subscription | null = null;
  private closing = false;
  private reconciling: Promise<void> = Promise.resolve();
  /** A certificate issued for a CSR naming a MUD URL (id-pe-mud-url): what the MUD manager hears. */
  readonly mudUrls = new Subject<{ device: string; url: string }>();

  constructor(
    @Inject(CredentialRepository) private readonly repo: CredentialRepository,
    @Inject(DocumentRepository) private readonly documents: DocumentRepository,
    @Inject(CONFIG) config: ControllerConfig,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(BundleService) private readonly bundles: BundleService,
    @Optional() @Inject(STORE) private readonly store?: Pick<Store, 'driver' | 'sql'>,
  ) {
    this.cfg = credentialsConfig(config.dataDir);
    this.psk = new PskFile(this.cfg.pskFile);
  }

  /** Why the device CA is off, or null when it is on. */
  get disabledReason(): string | null {
    if (this.ca) return null;
    return (
      'the device CA is not configured: start the controller with --kek-file FILE (CA key sealed with a key-encryption key kept apart from --data-dir) ' +
      'or with --pkcs11-module LIB --pkcs11-token LABEL --pkcs11-pin-file FILE (CA key in a PKCS#11 token)'
    );
  }

  async onModuleInit() {
    if (!keyStoreConfigured(this.cfg.keys)) {
      this.log.info('device CA off: no --kek-file or --pkcs11-module');
      return;
    }
    const open = async () => {
      this.key = await openCaKey(this.cfg.keys);
      return DeviceCa.open(this.cfg.dir, this.key);
    };
    try {
      const db = this.store?.driver === 'postgres' ? siteDatabase(this.store.sql) : null; // one device CA per site (keys/site-ca.ts)
      this.ca = db ? (await openSiteCa(db, { dir: this.cfg.dir, purpose: 'device-ca', what: 'device CA' }, open)).ca : await open();
      this.crlBuilder = new CrlBuilder(this.ca);
      this.psk.load();
      await this.publishCrl();
      await this.writePskFile();
      if (this.cfg.est) {
        this.est = new EstServer(this, this.ca, this.log);
        await this.est.listen(this.cfg.est.host, this.cfg.est.port);
      }
    } catch (err) {
      await this.onModuleDestroy();
      throw err;
    }
    this.log.info({ key: this.key?.describe(), est: this.est?.address ?? 'off', pskFile: this.cfg.pskFile }, 'device CA ready');
    // Deleting a Device revokes everything it holds: every new generation is checked.
    this.sub = this.bundles.generation$.subscribe(() => {
      this.reconciling = this.reconciling.then(async () => void (await this.revokeDeleted())).catch((err) => this.log.error({ err: String(err) }, 'revoking credentials of deleted devices failed'));
    });
    this.schedule();
  }

  async onModuleDestroy() {
    this.closing = true;
    this.sub?.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    await this.reconciling.catch(() => undefined);
    await this.crlJob?.catch(() => undefined);
    await this.est?.close();
    this.est = null;
    await this.key?.close();
    this.ca = null;
  }

  /** The EST server's address (host:port actually bound), or null when off. */
  get estAddress(): string | null {
    return this.est?.address ?? null;
  }

  requireCa(): DeviceCa {
    if (!this.ca) throw new Problem(503, 'Device CA not configured', this.disabledReason ?? undefined);
    return this.ca;
  }

  caCertificatePem(): string {
    return this.requireCa().certificatePem;
  }

  currentCrl(): { der: Buffer; pem: string; number: number; at: Date } {
    this.requireCa();
    if (!this.crl) throw new Problem(503, 'CRL not ready', 'the CRL is being generated; retry in a moment');
    return this.crl;
  }

  // ---- status --------------------------------------------------------------

  /** For PostureRule `credential: valid`: the best state among the device's credentials. */
  async credentialStatus(deviceName: string): Promise<CredentialStatus> {
    const rows = await this.repo.listDevice(deviceName);
    return statusOf(rows, Date.now());
  }

  async describe(device: string) {
    const rows = await this.repo.listDevice(device);
    const now = Date.now();
    return {
      device,
      status: statusOf(rows, now),
      items: rows.map((r) => ({
        kind: r.kind,
        id: r.id,
        fingerprint: r.fingerprint,
        issuedAt: r.issuedAt,
        notAfter: r.notAfter,
        retireAt: r.retireAt,
        revokedAt: r.revokedAt,
        revokeReason: r.revokeReason,
        status: rowStatus(r, now),
      })),
    };
  }

  // ---- certificates -----------------------------------------------------------

  /**
   * Issues a certificate for a Device. With a CSR (PEM or base64 DER) the key never
   * leaves the device; without one a P-256 key is made here and returned once.
   * `rotate` retires the device's other certificates after the overlap (0: at once).
   */
  async issueCertificate(device: string, opts: { csr?: string; actor: Who; rotate?: boolean; overlapMs?: number; via?: string; replaces?: string[] }): Promise<IssuedCredential> {
    const ca = this.requireCa();
    const doc = await this.device(device);
    const { publicKey, privateKey, mudUrl } = await deviceKey(opts.csr);
    const lifetimeMs = await this.lifetimeFor(doc);
    const cert = await ca.issue({ commonName: device, publicKey, notAfter: new Date(Date.now() + lifetimeMs), uris: deviceUris(device, doc.labels) });
    const pem = cert.toString('pem') + '\n';
    const fingerprint = Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex');
    await this.repo.insert({ id: cert.serialNumber, device, kind: 'certificate', fingerprint, notAfter: cert.notAfter, certificate: pem, actor: opts.actor.name });
    const retiring = opts.rotate ? await this.retire(device, 'certificate', cert.serialNumber, opts.overlapMs ?? this.cfg.overlapMs, opts.replaces) : undefined;
    await this.audit.record(opts.actor, opts.rotate ? 'credential.rotate' : 'credential.issue', `Device/${device}`, {
      kind: 'certificate',
      serial: cert.serialNumber,
      fingerprint,
      notAfter: cert.notAfter.toISOString(),
      keyFrom: opts.csr ? 'csr' : 'controller',
      via: opts.via ?? 'api',
      ...(retiring ? { retiring } : {}),
    });
    this.log.info({ device, serial: cert.serialNumber, rotate: !!opts.rotate, via: opts.via ?? 'api' }, 'device certificate issued');
    if (mudUrl) this.mudUrls.next({ device, url: mudUrl });
    return { device, kind: 'certificate', id: cert.serialNumber, notAfter: cert.notAfter.toISOString(), certificate: pem, caCertificate: ca.certificatePem, privateKey, retiring };
  }

  // ---- PSKs -------------------------------------------------------------------

  /** A new PSK (32 random bytes, hex) under a new identity, written to the PSK file. */
  async issuePsk(device: string, opts: { actor: Who; rotate?: boolean; overlapMs?: number }): Promise<IssuedCredential> {
    this.requireCa();
    await this.device(device);
    if (!opts.rotate && (await this.repo.live(device, 'psk')).length) {
      throw new Problem(409, 'Conflict', `Device "${device}" already holds a PSK; rotate it (cordon credential rotate ${device} --psk) or revoke it first`);
    }
    const key = randomBytes(32).toString('hex');
    const identity = `${device}.${randomBytes(4).toString('hex')}`;
    const fingerprint = createHash('sha256').update(key).digest('hex');
    await this.repo.insert({ id: identity, device, kind: 'psk', fingerprint, notAfter: null, certificate: null, actor: opts.actor.name });
    this.psk.set(identity, key);
    const retiring = opts.rotate ? await this.retire(device, 'psk', identity, opts.overlapMs ?? this.cfg.overlapMs) : undefined;
    await this.writePskFile();
    await this.audit.record(opts.actor, opts.rotate ? 'credential.rotate' : 'credential.issue', `Device/${device}`, {
      kind: 'psk',
      identity,
      fingerprint,
      ...(retiring ? { retiring } : {}),
    });
    this.log.info({ device, identity, rotate: !!opts.rotate }, 'device PSK issued');
    return { device, kind: 'psk', id: identity, notAfter: null, identity, psk: key, pskFile: this.cfg.pskFile, retiring };
  }

  // ---- revocation --------------------------------------------------------------

  /** Revokes at once (CRL republished / PSK file rewritten before returning). */
  async revoke(device: string, opts: { actor: Who; kind?: CredentialKind; id?: string; reason?: string }): Promise<{ device: string; revoked: string[] }> {
    this.requireCa();
    const reason = opts.reason ?? 'unspecified';
    if (!Object.hasOwn(REASONS, reason)) throw new Problem(400, 'Bad Request', `reason must be one of ${Object.keys(REASONS).join(', ')}`);
    const live = (await this.repo.live(device, opts.kind)).filter((r) => !opts.id || r.id === opts.id);
    if (opts.id && !live.length) {
      const known = await this.repo.get(opts.id);
      if (!known || known.device !== device) throw new Problem(404, 'Not Found', `Device "${device}" holds no credential "${opts.id}"`);
    }
    const revoked = await this.applyRevocation(live, reason);
    await this.audit.record(opts.actor, 'credential.revoke', `Device/${device}`, { kind: opts.kind ?? 'all', reason, revoked });
    this.log.info({ device, revoked: revoked.length, reason }, 'device credentials revoked');
    return { device, revoked };
  }

  private async applyRevocation(rows: CredentialRow[], reason: string): Promise<string[]> {
    const revoked = await this.repo.revoke(rows.map((r) => r.id), reason);
    const set = new Set(revoked);
    const kinds = new Set(rows.filter((r) => set.has(r.id)).map((r) => r.kind));
    if (kinds.has('psk')) {
      for (const r of rows) if (set.has(r.id) && r.kind === 'psk') this.psk.delete(r.id);
      await this.writePskFile();
    }
    if (kinds.has('certificate')) await this.publishCrl();
    return revoked;
  }

  /** Schedules the device's other live credentials of `kind` to stop at now + overlap. */
  private async retire(device: string, kind: CredentialKind, keep: string, overlapMs: number, only?: string[]) {
    const old = (await this.repo.live(device, kind)).filter((r) => r.id !== keep && (!only || only.includes(r.id)));
    if (!old.length) return undefined;
    const at = new Date(Date.now() + overlapMs);
    if (overlapMs <= 0) await this.applyRevocation(old, 'superseded');
    else await this.repo.setRetire(old.map((r) => r.id), at);
    this.schedule();
    return { ids: old.map((r) => r.id), at: at.toISOString() };
  }

  /** Ends overlaps that are due; runs on a timer set to the next one. */
  async sweep(): Promise<void> {
    if (!this.ca) return;
    const due = await this.repo.dueForRetirement(new Date());
    if (due.length) {
      const revoked = await this.applyRevocation(due, 'superseded');
      for (const device of new Set(due.map((d) => d.device))) {
        const ids = due.filter((d) => d.device === device && revoked.includes(d.id)).map((d) => d.id);
        if (ids.length) await this.audit.record(CONTROLLER, 'credential.retire', `Device/${device}`, { reason: 'superseded', overlapEnded: true, revoked: ids });
      }
    }
    if (this.crl && Date.now() - this.crl.at.getTime() > 12 * 3600_000) await this.publishCrl();
  }

  private schedule() {
    if (this.closing || !this.ca) return;
    void this.repo
      .nextRetirement()
      .then((next) => {
        if (this.closing) return;
        if (this.timer) clearTimeout(this.timer);
        const delay = Math.max(0, Math.min(next ? next.getTime() - Date.now() : Infinity, 3600_000));
        this.timer = setTimeout(() => {
          this.timer = null;
          this.sweep()
            .catch((err) => this.log.error({ err: String(err) }, 'credential sweep failed'))
            .finally(() => this.schedule());
        }, delay + 5);
        this.timer.unref();
      })
      .catch((err) => this.log.error({ err: String(err) }, 'credential schedule failed'));
  }

  /** Revokes what devices no longer in the policy still hold (called on every generation). */
  async revokeDeleted(): Promise<string[]> {
    if (!this.ca || this.closing) return [];
    const holders = await this.repo.liveDevices();
    if (!holders.length) return [];
    const present = new Set((await this.documents.list('Device')).map((d) => d.name));
    const gone = holders.filter((d) => !present.has(d));
    for (const device of gone) {
      const revoked = await this.applyRevocation(await this.repo.live(device), 'cessationOfOperation');
      await this.audit.record(CONTROLLER, 'credential.revoke', `Device/${device}`, { kind: 'all', reason: 'cessationOfOperation', cause: 'Device deleted', revoked });
      this.log.info({ device, revoked: revoked.length }, 'Device deleted: its credentials are revoked');
    }
    return gone;
  }

  // ---- EST enrollment tokens --------------------------------------------------------

  /** A one-time password for EST simpleenroll (HTTP Basic, user = device name). Shown once. */
  async enrollmentToken(device: string, opts: { actor: Who; ttl?: string }) {
    this.requireCa();
    await this.device(device);
    const ttlMs = opts.ttl ? parseDuration(opts.ttl) : 3600_000;
    if (!ttlMs || ttlMs > 30 * 86400_000) throw new Problem(400, 'Bad Request', `ttl must be a duration up to 30d such as 15m or 1h, got "${opts.ttl}"`);
    const token = randomBytes(24).toString('base64url');
    const expiresAt = new Date(Date.now() + ttlMs);
    await this.repo.insertToken(hashToken(token), device, expiresAt);
    await this.audit.record(opts.actor, 'credential.enrollment-token', `Device/${device}`, { expiresAt: expiresAt.toISOString() });
    return { device, username: device, token, expiresAt: expiresAt.toISOString(), est: this.est ? `https://${this.est.address}/.well-known/est` : null };
  }

  consumeEnrollmentToken(device: string, token: string): Promise<boolean> {
    return this.repo.consumeToken(hashToken(token), device);
  }

  /** For EST re-enroll: is this certificate one of ours and still live? */
  async liveCertificate(serial: string): Promise<CredentialRow | null> {
    const r = await this.repo.get(serial);
    if (!r || r.kind !== 'certificate' || r.revokedAt) return null;
    if (r.notAfter && Date.parse(r.notAfter) <= Date.now()) return null;
    return r;
  }

  // ---- CRL and PSK file -------------------------------------------------------------

  /** Rebuilds the CRL from the store; concurrent callers share one run that covers them all. */
  publishCrl(): Promise<void> {
    this.crlDirty = true;
    if (!this.crlJob) {
      this.crlJob = (async () => {
        while (this.crlDirty) {
          this.crlDirty = false;
          await this.buildCrl();
        }
      })().finally(() => {
        this.crlJob = null;
      });
    }
    return this.crlJob;
  }

  private async buildCrl() {
    const builder = this.crlBuilder;
    if (!this.ca || !builder) return;
    const rows = await this.repo.revokedCertificates();
    const number = Math.max((this.crl?.number ?? 0) + 1, Date.now());
    const now = new Date();
    const der = await builder.build(
      rows.map((r) => ({ serial: r.id, revokedAt: new Date(r.revokedAt), reason: REASONS[r.reason ?? 'unspecified'] ?? 0 })),
      { number, thisUpdate: new Date(now.getTime() - 1000), nextUpdate: new Date(now.getTime() + 2 * 86400_000) },
    );
    const pem = x509.PemConverter.encode(der, 'X509 CRL') + '\n';
    const file = path.join(this.cfg.dir, 'crl.pem');
    fs.writeFileSync(`${file}.tmp`, pem);
    fs.renameSync(`${file}.tmp`, file);
    this.crl = { der, pem, number, at: now };
  }

  private async writePskFile() {
    const live = await this.repo.livePsks();
    const missing = this.psk.write(live.map((r) => r.id));
    if (missing.length) {
      this.log.warn({ identities: missing, file: this.cfg.pskFile }, 'PSKs recorded as live are missing from the PSK file (it was replaced or lost); rotate those devices');
    }
  }

  // ---- helpers ----------------------------------------------------------------------

  private async device(name: string) {
    const d = await this.documents.get('Device', name);
    if (!d) throw new Problem(404, 'Not Found', `Device "${name}" does not exist (cordon get devices lists them)`);
    return d;
  }

  /** Device label, else the shortest among its segments' labels, else --credential-lifetime. */
  private async lifetimeFor(doc: { name: string; labels: Record<string, string>; spec: unknown }): Promise<number> {
    return credentialLifetime(doc, await this.documents.list('Segment'), this.cfg.lifetimeMs);
  }
}

