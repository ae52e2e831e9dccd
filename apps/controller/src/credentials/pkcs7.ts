// SPDX-License-Identifier: Apache-2.0
/**
 * PKCS#7 / CMS "certs-only" (RFC 7030 §4.1.3, RFC 5652 degenerate SignedData):
 * a SignedData with certificates, no signers and no content. Built with
 * @peculiar/asn1-cms, the same ASN.1 classes @peculiar/x509 uses.
 */
import { CertificateChoices, CertificateSet, CMSVersion, ContentInfo, EncapsulatedContentInfo, id_data, id_signedData, SignedData } from '@peculiar/asn1-cms';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import type * as x509 from '@peculiar/x509';

export function certsOnly(certs: x509.X509Certificate[]): Buffer {
  const signed = new SignedData({
    version: CMSVersion.v1,
    encapContentInfo: new EncapsulatedContentInfo({ eContentType: id_data }),
    certificates: new CertificateSet(certs.map((c) => new CertificateChoices({ certificate: AsnConvert.parse(c.rawData, Certificate) }))),
  });
  const info = new ContentInfo({ contentType: id_signedData, content: AsnConvert.serialize(signed) });
  return Buffer.from(AsnConvert.serialize(info));
}

/** base64 with line breaks every 64 characters, as EST responses are usually sent. */
export function base64Lines(der: Buffer): string {
  return (der.toString('base64').match(/.{1,64}/g) ?? []).join('\r\n') + '\r\n';
}
