// SPDX-License-Identifier: Apache-2.0
/**
 * The `mud-signature` of a MUD file (RFC 8520 §13): a CMS SignedData (RFC
 * 5652) detached signature over the file's bytes, as `openssl cms -sign
 * -binary -outform DER` makes it. Verified: the signer's certificate is in
 * the SignedData, the messageDigest signed attribute is the file's digest,
 * the signature over the signed attributes holds, and the signer chains
 * through the SignedData's certificates to one of the configured trust
 * anchors, every certificate within its validity period.
 */
import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto';
import { ContentInfo, id_signedData, SignedData, type SignerInfo } from '@peculiar/asn1-cms';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1js from 'asn1js';
import { Certificate, id_ce_subjectKeyIdentifier, SubjectKeyIdentifier } from '@peculiar/asn1-x509';

export class MudSignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MudSignatureError';
  }
}

const DIGESTS: Record<string, string> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const ID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const ID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const ID_DATA = '1.2.840.113549.1.7.1';
/** Signature algorithms node:crypto verifies with the digest named by the signer (RSA PKCS#1 v1.5, ECDSA) or none (Ed25519). */
const SIGNATURES: Record<string, 'digest' | 'none'> = {
  '1.2.840.113549.1.1.1': 'digest',
  '1.2.840.113549.1.1.11': 'digest',
  '1.2.840.113549.1.1.12': 'digest',
  '1.2.840.113549.1.1.13': 'digest',
  '1.2.840.10045.2.1': 'digest',
  '1.2.840.10045.4.3.2': 'digest',
  '1.2.840.10045.4.3.3': 'digest',
  '1.2.840.10045.4.3.4': 'digest',
  '1.3.101.112': 'none',
};

/** DER, or PEM (`-----BEGIN PKCS7-----` / `CMS`). */
function der(sig: Buffer): Buffer {
  const text = sig.subarray(0, 64).toString('latin1');
  if (!text.includes('-----BEGIN')) return sig;
  return Buffer.from(sig.toString('latin1').replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** PEM text (one or more certificates) to trust anchors. */
export function parseTrustAnchors(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

interface Cert {
  node: X509Certificate;
  asn: Certificate;
}

/** The dotted form of a DER OBJECT IDENTIFIER, or null. */
function oidOf(v: ArrayBuffer): string | null {
  const r = asn1js.fromBER(v);
  return r.offset !== -1 && r.result instanceof asn1js.ObjectIdentifier ? r.result.valueBlock.toString() : null;
}

/**
 * The signed attributes of each SignerInfo as they were encoded (the bytes
 * the signature covers, RFC 5652 §5.4): ContentInfo [0] SignedData, whose
 * last element is the SET of SignerInfos, each with its [0] IMPLICIT attributes.
 */
function rawSignedAttrs(sig: Buffer): Array<Uint8Array | null> {
  const info = asn1js.fromBER(sig).result as asn1js.Sequence;
  const explicit = (info.valueBlock.value[1] as asn1js.Constructed).valueBlock.value[0] as asn1js.Sequence;
  const items = explicit.valueBlock.value;
  const signers = (items[items.length - 1] as asn1js.Set).valueBlock.value as asn1js.Sequence[];
  return signers.map((si) => {
    const a = si.valueBlock.value.find((v) => v.idBlock.tagClass === 3 && v.idBlock.tagNumber === 0);
    return a ? new Uint8Array(a.valueBeforeDecodeView) : null;
  });
}

const eq = (a: ArrayBuffer | Uint8Array, b: ArrayBuffer | Uint8Array) => Buffer.from(a as ArrayBuffer).equals(Buffer.from(b as ArrayBuffer));

function signerCert(si: SignerInfo, certs: Cert[]): Cert | undefined {
  const ias = si.sid.issuerAndSerialNumber;
  if (ias) {
    const issuer = AsnConvert.serialize(ias.issuer);
    return certs.find((c) => eq(c.asn.tbsCertificate.serialNumber, ias.serialNumber) && eq(AsnConvert.serialize(c.asn.tbsCertificate.issuer), issuer));
  }
  const ski = si.sid.subjectKeyIdentifier;
  if (!ski) return undefined;
  return certs.find((c) => {
    const ext = c.asn.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
    return ext ? eq(AsnConvert.parse(ext.extnValue, SubjectKeyIdentifier).buffer, ski.buffer) : false;
  });
}

function checkChain(leaf: Cert, pool: Cert[], anchors: X509Certificate[], now: Date): void {
  const within = (c: X509Certificate) => new Date(c.validFrom) <= now && now <= new Date(c.validTo);
  let cur = leaf.node;
  for (let depth = 0; depth < 6; depth++) {
    if (!within(cur)) throw new MudSignatureError(`certificate ${cur.subject.replace(/\n/g, ', ')} is not valid now (valid ${cur.validFrom} to ${cur.validTo})`);
    if (anchors.some((a) => a.fingerprint256 === cur.fingerprint256)) return;
    const anchor = anchors.find((a) => cur.checkIssued(a) && cur.verify(a.publicKey));
    if (anchor) {
      if (!within(anchor)) throw new MudSignatureError(`trust anchor ${anchor.subject.replace(/\n/g, ', ')} is not valid now`);
      return;
    }
    // an intermediate must be a CA: an end-entity certificate under the anchor may not mint signers of its own
    const next = pool.find((p) => p.node.ca && p.node.fingerprint256 !== cur.fingerprint256 && cur.checkIssued(p.node) && cur.verify(p.node.publicKey));
    if (!next) throw new MudSignatureError(`the signer ${leaf.node.subject.replace(/\n/g, ', ')} does not chain to a trusted MUD signer CA`);
    cur = next.node;
  }
  throw new MudSignatureError('certificate chain too long');
}

function checkSigner(content: Buffer, si: SignerInfo, rawAttrs: Uint8Array | null, certs: Cert[], anchors: X509Certificate[], now: Date): string {
  const hash = DIGESTS[si.digestAlgorithm.algorithm];
  if (!hash) throw new MudSignatureError(`digest algorithm ${si.digestAlgorithm.algorithm} is not accepted (sha256, sha384, sha512)`);
  const mode = SIGNATURES[si.signatureAlgorithm.algorithm];
  if (!mode) throw new MudSignatureError(`signature algorithm ${si.signatureAlgorithm.algorithm} is not supported`);
  const cert = signerCert(si, certs);
  if (!cert) throw new MudSignatureError('the signer\'s certificate is not in the signature');
  let signed: Buffer = content;
  if (si.signedAttrs) {
    const attr = (oid: string) => si.signedAttrs!.find((a) => a.attrType === oid)?.attrValues[0];
    const md = attr(ID_MESSAGE_DIGEST);
    if (!md) throw new MudSignatureError('the signed attributes have no messageDigest');
    if (!eq(AsnConvert.parse(md, OctetString).buffer, createHash(hash).update(content).digest())) throw new MudSignatureError('the file does not match its signature (messageDigest differs): it was changed after signing');
    const ct = attr(ID_CONTENT_TYPE);
    if (ct && oidOf(ct) !== ID_DATA) throw new MudSignatureError('the signed content type is not id-data');
    if (!rawAttrs) throw new MudSignatureError('the signed attributes cannot be read back');
    signed = Buffer.from(rawAttrs);
    signed[0] = 0x31; // signed as a SET OF (RFC 5652 §5.4), carried as [0] IMPLICIT
  }
  const ok = verifySignature(mode === 'digest' ? hash : null, signed, cert.node.publicKey, Buffer.from(si.signature.buffer));
  if (!ok) throw new MudSignatureError('the signature does not verify with the signer\'s key: the file or its signature was changed');
  checkChain(cert, certs, anchors, now);
  return cert.node.subject.replace(/\n/g, ', ');
}

/**
 * Verifies a detached CMS signature over `content`; returns the signer's
 * subject. Throws MudSignatureError saying why not.
 */
export function verifyMudSignature(content: Buffer, signature: Buffer, anchors: X509Certificate[], now = new Date()): string {
  if (!anchors.length) throw new MudSignatureError('no MUD signer trust anchors are configured (--mud-trust-anchors FILE)');
  let sd: SignedData;
  try {
    const info = AsnConvert.parse(der(signature), ContentInfo);
    if (info.contentType !== id_signedData) throw new MudSignatureError(`not a CMS SignedData (content type ${info.contentType})`);
    sd = AsnConvert.parse(info.content, SignedData);
  } catch (err) {
    if (err instanceof MudSignatureError) throw err;
    throw new MudSignatureError(`not a CMS signature: ${(err as Error).message}`);
  }
  if (sd.encapContentInfo.eContent) throw new MudSignatureError('the signature carries its content: a MUD signature is detached');
  const certs: Cert[] = [];
  for (const c of sd.certificates ?? []) {
    if (!c.certificate) continue;
    const raw = Buffer.from(AsnConvert.serialize(c.certificate));
    certs.push({ node: new X509Certificate(raw), asn: c.certificate });
  }
  if (!sd.signerInfos.length) throw new MudSignatureError('the signature has no signer');
  const errors: string[] = [];
  const raws = rawSignedAttrs(der(signature));
  for (const [i, si] of sd.signerInfos.entries()) {
    try {
      return checkSigner(content, si, raws[i] ?? null, certs, anchors, now);
    } catch (err) {
      if (!(err instanceof MudSignatureError)) throw err;
      errors.push(err.message);
    }
  }
  throw new MudSignatureError(errors.join('; '));
}
