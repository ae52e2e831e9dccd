// SPDX-License-Identifier: Apache-2.0
/**
 * CRL v2 built on @peculiar/asn1-x509 and asn1js. X509CrlGenerator checks every
 * entry against all before it (quadratic: minutes at 100,000 revoked devices);
 * serials here come from the database, unique by primary key, so we skip that.
 *
 * Each revoked entry is serialised once by asn1-schema and its DER kept in a
 * CrlBuilder's cache: rebuilding after one more revocation only serialises the
 * new entry, and asn1js frames the list (tags and lengths) around the cached
 * DER. The generic serialiser costs ~25 µs an entry; at 100,000 revoked devices
 * that is seconds per rebuild, which a revocation must not wait for.
 */
import * as asn1js from 'asn1js';
import { AsnConvert, AsnSerializer, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AuthorityKeyIdentifier,
  CRLNumber,
  CRLReason,
  Extension,
  Extensions,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
  KeyIdentifier,
  Name,
  RevokedCertificate,
  TBSCertList,
  Time,
  Version,
} from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import type { CaKey } from '../keys/ca-key';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/** RFC 5280 CRLReason codes we use. */
export const REASON = { unspecified: 0, keyCompromise: 1, superseded: 4, cessationOfOperation: 5 } as const;

export interface CrlEntry {
  serial: string; // hex
  revokedAt: Date;
  reason?: number;
}

/**
 * A node asn1js writes as given: DER already encoded by asn1-schema. asn1js's own
 * RawData ignores the writer inside constructed blocks, so it cannot be nested.
 */
class EncodedDer extends asn1js.RawData {
  override toBER(sizeOnly?: boolean, writer?: { write(buf: ArrayBuffer): void }): ArrayBuffer {
    const buf = this.dataView.slice().buffer as ArrayBuffer;
    if (writer) {
      writer.write(buf);
      return new ArrayBuffer(0);
    }
    return buf;
  }
}

export class CrlBuilder {
  private cache = new Map<string, ArrayBuffer>();

  constructor(private readonly ca: { key: CaKey; certificate: x509.X509Certificate }) {}

  /** Entries serialised and cached (for tests and the bench). */
  get cached(): number {
    return this.cache.size;
  }

  async build(entries: Iterable<CrlEntry>, opts: { number: bigint | number; thisUpdate?: Date; nextUpdate: Date }): Promise<Buffer> {
    const sigAlg = new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });
    const ski = this.ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
    const crlExtensions = [
      new Extension({ extnID: id_ce_cRLNumber, critical: false, extnValue: new OctetString(AsnConvert.serialize(new CRLNumber(Number(opts.number)))) }),
    ];
    if (ski) {
      const aki = new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(Buffer.from(ski.keyId, 'hex')) });
      crlExtensions.push(new Extension({ extnID: id_ce_authorityKeyIdentifier, critical: false, extnValue: new OctetString(AsnConvert.serialize(aki)) }));
    }
    const next = new Map<string, ArrayBuffer>();
    const encoded: Uint8Array[] = [];
    for (const e of entries) {
      const k = `${e.serial}|${e.revokedAt.getTime()}|${e.reason ?? 0}`;
      let der = this.cache.get(k);
      if (!der) {
        const r = new RevokedCertificate({ userCertificate: serialBytes(e.serial), revocationDate: new Time(e.revokedAt) });
        if (e.reason) {
          r.crlEntryExtensions = [new Extension({ extnID: id_ce_cRLReasons, critical: false, extnValue: new OctetString(AsnConvert.serialize(new CRLReason(e.reason))) })];
        }
        der = AsnConvert.serialize(r);
      }
      next.set(k, der);
      encoded.push(new Uint8Array(der));
    }
    // Entries no longer listed (expired certificates) leave the cache.
    this.cache = next;
    const tbs = new TBSCertList({
      version: Version.v2,
      signature: sigAlg,
      issuer: AsnConvert.parse(this.ca.certificate.subjectName.toArrayBuffer(), Name),
      thisUpdate: new Time(opts.thisUpdate ?? new Date()),
      nextUpdate: new Time(opts.nextUpdate),
      crlExtensions: new Extensions(crlExtensions),
    });
    const tbsAsn = AsnSerializer.toASN(tbs) as asn1js.Sequence;
    if (encoded.length) {
      // revokedCertificates sits right before the [0] crlExtensions (RFC 5280 §5.1).
      const fields = tbsAsn.valueBlock.value;
      const ext = fields.findIndex((b) => b.idBlock.tagClass === 3);
      // The SEQUENCE OF's content is its entries' DER one after another; asn1js writes its tag and length.
      const content = new EncodedDer({ data: Buffer.concat(encoded) });
      fields.splice(ext < 0 ? fields.length : ext, 0, new asn1js.Sequence({ value: [content] as unknown as asn1js.AsnType[] }));
    }
    const tbsDer = tbsAsn.toBER(false);
    const raw = await this.ca.key.sign(tbsDer);
    const signature = new x509.AsnEcSignatureFormatter().toAsnSignature({ name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as never, raw);
    if (!signature) throw new Error('cannot encode the CRL signature');
    const list = new asn1js.Sequence({
      value: [new EncodedDer({ data: tbsDer }), AsnSerializer.toASN(sigAlg), new asn1js.BitString({ valueHex: signature })] as unknown as asn1js.AsnType[],
    });
    return Buffer.from(list.toBER(false));
  }
}

/** One-off build (no cache kept). */
export function buildCrl(ca: { key: CaKey; certificate: x509.X509Certificate }, entries: Iterable<CrlEntry>, opts: { number: bigint | number; thisUpdate?: Date; nextUpdate: Date }): Promise<Buffer> {
  return new CrlBuilder(ca).build(entries, opts);
}

function serialBytes(hex: string): ArrayBuffer {
  const b = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
