// SPDX-License-Identifier: Apache-2.0
/**
 * CRL v2 built directly on @peculiar/asn1-x509. X509CrlGenerator checks every
 * entry against all before it (quadratic: minutes at 100,000 revoked devices);
 * serials here come from the database, unique by primary key, so we skip that.
 */
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AuthorityKeyIdentifier,
  CertificateList,
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

export async function buildCrl(
  ca: { key: CaKey; certificate: x509.X509Certificate },
  entries: Iterable<CrlEntry>,
  opts: { number: bigint | number; thisUpdate?: Date; nextUpdate: Date },
): Promise<Buffer> {
  const sigAlg = new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });
  const ski = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  const crlExtensions = [
    new Extension({ extnID: id_ce_cRLNumber, critical: false, extnValue: new OctetString(AsnConvert.serialize(new CRLNumber(Number(opts.number)))) }),
  ];
  if (ski) {
    const aki = new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(Buffer.from(ski.keyId, 'hex')) });
    crlExtensions.push(new Extension({ extnID: id_ce_authorityKeyIdentifier, critical: false, extnValue: new OctetString(AsnConvert.serialize(aki)) }));
  }
  const revoked: RevokedCertificate[] = [];
  for (const e of entries) {
    const r = new RevokedCertificate({ userCertificate: serialBytes(e.serial), revocationDate: new Time(e.revokedAt) });
    if (e.reason) {
      r.crlEntryExtensions = [new Extension({ extnID: id_ce_cRLReasons, critical: false, extnValue: new OctetString(AsnConvert.serialize(new CRLReason(e.reason))) })];
    }
    revoked.push(r);
  }
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: sigAlg,
    issuer: AsnConvert.parse(ca.certificate.subjectName.toArrayBuffer(), Name),
    thisUpdate: new Time(opts.thisUpdate ?? new Date()),
    nextUpdate: new Time(opts.nextUpdate),
    revokedCertificates: revoked.length ? revoked : undefined,
    crlExtensions: new Extensions(crlExtensions),
  });
  const tbsDer = AsnConvert.serialize(tbs);
  const raw = await ca.key.sign(tbsDer);
  const signature = new x509.AsnEcSignatureFormatter().toAsnSignature({ name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as never, raw);
  if (!signature) throw new Error('cannot encode the CRL signature');
  const list = new CertificateList({ tbsCertList: tbs, signatureAlgorithm: sigAlg, signature });
  return Buffer.from(AsnConvert.serialize(list));
}

function serialBytes(hex: string): ArrayBuffer {
  const b = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
