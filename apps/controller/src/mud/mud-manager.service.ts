// SPDX-License-Identifier: Apache-2.0
/**
 * The MUD manager (RFC 8520 §1.5, DESIGN.md "MUD"): a device announces its
 * MUD URL (DHCPv4 option 161, DHCPv6 option 112 or its certificate, reported
 * by the enforcer that saw it, or POST /v1/mud/announce); the manager fetches
 * the file over HTTPS (mud-fetch.ts), checks its `mud-signature` when it
 * names one (mud-signature.ts), keeps it for its cache-validity (a still
 * valid file is not fetched again), turns it into documents (mud.ts,
 * mud-proposal.ts) and stores them as the device's proposal: pending review
 * (`cordon mud pending`, `cordon mud approve DEVICE`, through the normal
 * apply with its PolicyTests), or applied at once where a Segment says
 * `mud: auto`. A fetch, signature or translation that fails is stored as a
 * failed proposal with the reason; nothing is applied. The signer of an
 * accepted file is pinned for its URL: a later file signed by another is
 * held pending with the reason, even where a Segment says `mud: auto`.
 */
import * as fs from 'node:fs';
import type { X509Certificate } from 'node:crypto';
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { CredentialsService } from '../credentials/credentials.service';
import { MUD_ANNOUNCEMENTS, type MudAnnouncementFeed } from '../control/feeds';
import type { Logger } from 'pino';
import { ApplyService } from '../apply/apply.service';
import type { Actor } from '../auth/roles';
import type { ControllerConfig } from '../config';
import { CONFIG, LOGGER, STORE } from '../di-tokens';
import { badRequest, notFound, Problem } from '../http/problem';
import type { Store } from '../store/store';
import type { MudProposal } from '../store/mud-proposals.repository';
import { DeviceSpec, type Document } from '../policy/schema';
import { formatAddress, parseAddress } from '../policy/net';
import { importMud, type MudImport } from './mud';
import { fetchHttps } from './mud-fetch';
import { isObj, mudAuthority } from './mud-model';
import { Announcement, autoSegment, deviceDocument, findDevice, keepSegmentChoices, newDeviceName } from './mud-proposal';
import { parseTrustAnchors, verifyMudSignature } from './mud-signature';

export interface FetchedMud {
  mud: unknown;
  signedBy: string | null;
  fetchedAt: string;
  validUntil: string;
}

const SOURCES = ['dhcpv4', 'dhcpv6', 'certificate', 'api'];

/** Who announcements that no operator made act as (certificates, enforcers), in the audit log. */
const systemActor = (name: string): Actor => ({ name, role: 'operator', tokenId: 0, source: null });

@Injectable()
export class MudManager implements OnModuleInit, OnModuleDestroy {
  /** The clock (tests move it past a file's cache-validity). */
  now: () => Date = () => new Date();
  private anchors: X509Certificate[] | null = null;
  private fetchCa: string | undefined | null = null;
  private subs: Subscription[] = [];
  /** device|url -> when it was last taken from an enforcer: DHCP repeats itself (renewals), the manager need not. */
  private readonly recent = new Map<string, number>();

  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(ApplyService) private readonly apply: ApplyService,
    @Inject(CONFIG) private readonly config: ControllerConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CredentialsService) private readonly credentials: CredentialsService,
    @Inject(MUD_ANNOUNCEMENTS) private readonly enforcerFeed: MudAnnouncementFeed,
  ) {}

  /** A device certificate issued for a CSR with id-pe-mud-url announces that URL for the device. */
  onModuleInit() {
    const run = (a: Announcement, who: string) => this.announce(a, systemActor(who)).catch((err) => this.logger.warn({ url: a.url, err: String(err) }, 'mud: announcement failed'));
    this.subs.push(this.credentials.mudUrls.subscribe(({ device, url }) => void run({ url, device, source: 'certificate' }, `est:${device}`)));
    // What enforcers saw in DHCP (ReportMud): once a minute per device, address and URL at most (a DISCOVER has no address yet, its REQUEST has), a bounded memory of it.
    this.subs.push(
      this.enforcerFeed.subscribe((m) => {
        const key = `${m.mac ?? ''}|${m.address ?? ''}|${m.url}`;
        const now = m.at.getTime();
        if ((this.recent.get(key) ?? -Infinity) > now - 60_000) return;
        this.recent.delete(key);
        this.recent.set(key, now);
        if (this.recent.size > 4096) this.recent.delete(this.recent.keys().next().value!);
        void run({ url: m.url, mac: m.mac, address: m.address, enforcer: m.enforcer, source: m.source }, `enforcer:${m.enforcer}`);
      }),
    );
  }

  onModuleDestroy() {
    for (const s of this.subs) s.unsubscribe();
  }

  get controllers(): Record<string, string> {
    return this.config.mud?.controllers ?? {};
  }

  private trustAnchors(): X509Certificate[] {
    if (this.anchors) return this.anchors;
    const file = this.config.mud?.trustAnchors;
    this.anchors = file ? parseTrustAnchors(fs.readFileSync(file, 'utf8')) : [];
    return this.anchors;
  }

  private ca(): string | undefined {
    if (this.fetchCa === null) this.fetchCa = this.config.mud?.ca ? fs.readFileSync(this.config.mud.ca, 'utf8') : undefined;
    return this.fetchCa;
  }

  /** Fetches url (and its signature, when the file names one), checks both; what the cache keeps. */
  async fetch(url: string): Promise<FetchedMud> {
    const opts = { ca: this.ca(), timeoutMs: this.config.mud?.fetchTimeoutMs ?? 10_000 };
    const body = await fetchHttps(url, opts);
    let mud: unknown;
    try {
      mud = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new Error(`${url}: not JSON: ${(err as Error).message}`);
    }
    const m = isObj(mud) ? mud['ietf-mud:mud'] : undefined;
    if (!isObj(m)) throw new Error(`${url}: not a MUD file (no "ietf-mud:mud" container)`);
    if (m['mud-url'] !== url) throw new Error(`${url}: the file's mud-url is ${JSON.stringify(m['mud-url'])}, not the URL it was fetched from`);
    let signedBy: string | null = null;
    if (m['mud-signature'] !== undefined) {
      const sigUrl = String(m['mud-signature']);
      const sig = await fetchHttps(sigUrl, { ...opts, accept: 'application/pkcs7-signature' });
      try {
        signedBy = verifyMudSignature(body, sig, this.trustAnchors(), this.now());
      } catch (err) {
        throw new Error(`${url}: mud-signature ${sigUrl}: ${(err as Error).message}`);
      }
    }
    const hours = Number.isInteger(m['cache-validity']) && m['cache-validity'] >= 1 && m['cache-validity'] <= 168 ? m['cache-validity'] : 48;
    const now = this.now();
    return { mud, signedBy, fetchedAt: now.toISOString(), validUntil: new Date(now.getTime() + hours * 3600_000).toISOString() };
  }

  /** The documents a MUD file becomes on this site (its segments resolve local-networks and controller labels). */
  async translate(mud: unknown, opts: { file: string; name?: string; controllers?: Record<string, string> }): Promise<MudImport> {
    const segments = await this.store.documents.list('Segment');
    const r = importMud(mud, { file: opts.file, name: opts.name, segments: segments.map((s) => ({ name: s.name, labels: s.labels, cidrs: (s.spec as { cidrs?: string[] }).cidrs })), controllers: { ...this.controllers, ...(opts.controllers ?? {}) } });
    return { ...r, documents: keepSegmentChoices(r.documents, segments) };
  }

  async announce(a: Announcement, actor: Actor): Promise<MudProposal> {
    if (typeof a.url !== 'string' || !mudAuthority(a.url)) throw badRequest(`a MUD URL is an https URL, got ${JSON.stringify(a.url)}`);
    if (!SOURCES.includes(a.source)) throw badRequest(`source is one of ${SOURCES.join(', ')}`);
    // in the forms Devices store them (DeviceSpec: lower case, colons; addresses canonical), so the device is found by either
    if (a.mac != null) {
      const mac = DeviceSpec.shape.mac.safeParse(a.mac);
      if (!mac.success || !mac.data) throw badRequest(`mac ${JSON.stringify(a.mac)} is not a MAC address`);
      a = { ...a, mac: mac.data };
    }
    if (a.address) {
      const address = parseAddress(a.address);
      if (!address) throw badRequest(`address ${JSON.stringify(a.address)} is not an IP address`);
      a = { ...a, address: formatAddress(address) };
    }
    const devices = await this.store.documents.list('Device');
    const existing = findDevice(devices, a);
    const device = existing?.name ?? a.device ?? newDeviceName(a);
    if (!device) throw badRequest('an announcement names the device by its mac or address');
    const base = { device, mac: a.mac ?? null, address: a.address ?? null, enforcer: a.enforcer ?? null, url: a.url, source: a.source };
    // DHCP renewals and certificate renewals announce again: an applied proposal whose file did not change stays applied
    const stored = await this.store.mudProposals.get(device);
    const applied = stored?.status === 'applied' ? stored : null;
    let file: FetchedMud | null = null;
    try {
      file = await this.store.mudProposals.validFile(a.url, this.now());
      if (!file) file = await this.fetch(a.url);
      if (applied && applied.url === a.url && JSON.stringify(applied.mud) === JSON.stringify(file.mud)) {
        await this.store.mudProposals.upsert({ ...base, status: 'applied', mud: file.mud, signedBy: file.signedBy, documents: applied.documents, notes: applied.notes, error: null, fetchedAt: file.fetchedAt, validUntil: file.validUntil });
        return (await this.store.mudProposals.get(device))!;
      }
      if (!existing && !a.address) throw new Error(`no Device has MAC ${a.mac} and its address is not known yet: it is proposed once the device's address is reported`);
      const r = await this.translate(file.mud, { file: a.url });
      const documents: Document[] = [...r.documents, deviceDocument(r, existing, a, device)];
      const held = await this.signerChange(a.url, file.signedBy, device);
      await this.store.mudProposals.upsert({ ...base, status: 'pending', mud: file.mud, signedBy: file.signedBy, documents, notes: r.notes, error: held, fetchedAt: file.fetchedAt, validUntil: file.validUntil });
      const segments = await this.store.documents.list('Segment');
      const auto = held ? null : autoSegment(segments, r.name, existing, a.address ?? null);
      if (held) this.logger.warn({ device, url: a.url, signedBy: file.signedBy }, 'mud: %s', held);
      this.logger.info({ device, url: a.url, auto }, 'mud: proposal for %s', device);
      if (auto) {
        try {
          await this.approve(device, actor);
        } catch (err) {
          await this.store.mudProposals.setStatus(device, 'pending', `segment ${auto} says mud: auto, and the apply was refused: ${(err as Error).message}`);
        }
      }
    } catch (err) {
      const error = (err as Error).message;
      this.logger.warn({ device, url: a.url, err: error }, 'mud: no proposal for %s', device);
      // what was applied stays applied (and enforced): the failure is recorded beside it
      if (applied) await this.store.mudProposals.setStatus(device, 'applied', error);
      else await this.store.mudProposals.upsert({ ...base, status: 'failed', mud: file?.mud ?? null, signedBy: file?.signedBy ?? null, documents: [], notes: [], error, fetchedAt: file?.fetchedAt ?? null, validUntil: file?.validUntil ?? null });
    }
    return (await this.store.mudProposals.get(device))!;
  }

  /**
   * Signer pinning (RFC 8520 §13.2): once a URL's file was accepted signed by
   * S, a file signed by anyone else (or unsigned) is held for review, never
   * applied by itself (`mud: auto` included); the reason, or null.
   */
  private async signerChange(url: string, signedBy: string | null, device: string): Promise<string | null> {
    const pinned = await this.store.mudProposals.pinnedSigner(url);
    if (!pinned || signedBy === pinned) return null;
    return `signer changed: this file is ${signedBy ? `signed by ${signedBy}` : 'unsigned'}, but ${url} was accepted signed by ${pinned}; held for review (RFC 8520 §13.2), \`cordon mud approve ${device}\` accepts it and its signer`;
  }

  async list(all: boolean): Promise<MudProposal[]> {
    const items = await this.store.mudProposals.list();
    return all ? items : items.filter((p) => p.status !== 'applied');
  }

  /** Applies a pending proposal through the normal apply (validation, PolicyTests, audit). */
  async approve(device: string, actor: Actor) {
    const p = await this.store.mudProposals.get(device);
    if (!p) throw notFound(`no MUD proposal for device ${device} (cordon mud pending lists them)`);
    if (p.status === 'failed') throw new Problem(409, 'Conflict', `the MUD proposal for ${device} failed, nothing to approve: ${p.error}`);
    if (p.status === 'applied') throw new Problem(409, 'Conflict', `the MUD proposal for ${device} is already applied`);
    const result = await this.apply.apply(p.documents, { dryRun: false, actor, source: `mud ${p.url}` });
    // accepted signed: this URL's later files must come from the same signer (RFC 8520 §13.2), or be reviewed again
    if (p.signedBy) await this.store.mudProposals.pinSigner(p.url, p.signedBy);
    await this.store.mudProposals.setStatus(device, 'applied');
    return { proposal: (await this.store.mudProposals.get(device))!, result };
  }
}
