// SPDX-License-Identifier: Apache-2.0
/**
 * An enforcer's certificate read for CertificateAuthority.check(): parsed and
 * its signature checked with node:crypto (OpenSSL), the hot path of every
 * stream a controller accepts. Only what check() needs is read.
 */
import { type KeyObject, verify as verifySignature, X509Certificate as NodeX509 } from 'node:crypto';

/** What check() needs of a certificate whose signature this CA made. */
export interface VerifiedCert {
  serial: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * A certificate parsed and its signature checked with node:crypto (OpenSSL: ~0.4 ms, against ~1.5 ms for
 * @peculiar/x509's ASN.1 parser in JS, most of what a controller spent per enforcer taking over a dead
 * controller's). The results are @peculiar/x509's: the serial in lower-case hex of the INTEGER's octets
 * (without the sign octet), the subject as "CN=..., O=...", the dates to the second.
 */
export function readVerified(certPemOrDer: string | Buffer, caKey: KeyObject): VerifiedCert | 'unparsable' | 'bad-signature' {
  if (Buffer.isBuffer(certPemOrDer)) {
    const read = readSignedDer(certPemOrDer, caKey);
    if (read) return read;
  }
  let cert: NodeX509;
  try {
    cert = new NodeX509(certPemOrDer);
  } catch {
    return 'unparsable';
  }
  // Signature only, as @peculiar/x509's verify({ signatureOnly: true }): dates and revocation are the caller's.
  let good = false;
  try {
    good = cert.verify(caKey);
  } catch {
    /* a key of another type: not ours */
  }
  if (!good) return 'bad-signature';
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) return 'unparsable';
  return { serial: serialHex(cert.serialNumber), subject: cert.subject.split('\n').join(', '), notBefore, notAfter };
}

/** OpenSSL's serial (upper-case hex of the magnitude) as @peculiar/x509 gives it: lower-case, whole octets. */
export function serialHex(openssl: string): string {
  const h = openssl.toLowerCase();
  return h.length % 2 ? '0' + h : h;
}


/** ecdsa-with-SHA256 (1.2.840.10045.4.3.2), what this CA signs with (EC_ALG), as the AlgorithmIdentifier's DER. */
const ECDSA_SHA256 = Buffer.from('300a06082a8648ce3d040302', 'hex');
/** The attributes the CA writes in a subject (CN, O): their OIDs' DER (2.5.4.3, 2.5.4.10). */
const NAME_ATTRS = new Map([
  ['0603550403', 'CN'],
  ['060355040a', 'O'],
]);
/** A subject value printed as is by OpenSSL (nothing RFC 2253 escapes): what the CA writes (enforcer names are [a-z0-9-]). */
const PLAIN_VALUE = /^[A-Za-z0-9](?:[A-Za-z0-9 ._-]*[A-Za-z0-9])?$/;

/** One DER element at `at` (single-octet tag, minimal definite length) within `end`; null when it is not one. */
function tlv(b: Buffer, at: number, end: number): { tag: number; at: number; start: number; end: number } | null {
  if (at + 2 > end) return null;
  const tag = b[at];
  if ((tag & 0x1f) === 0x1f) return null;
  let len = b[at + 1];
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || p + n > end || b[p] === 0) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++];
    if (len < 0x80) return null;
  }
  return p + len > end ? null : { tag, at, start: p, end: p + len };
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as the CA writes them; null otherwise. */
function derTime(b: Buffer, e: { tag: number; start: number; end: number }): Date | null {
  const s = b.toString('latin1', e.start, e.end);
  const m = (e.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/ : e.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/ : null)?.exec(s);
  if (!m) return null;
  const y = e.tag === 0x17 ? (Number(m[1]) >= 50 ? 1900 : 2000) + Number(m[1]) : Number(m[1]);
  const d = new Date(Date.UTC(y, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  return d.getUTCDate() === Number(m[3]) && d.getUTCHours() === Number(m[4]) ? d : null;
}

/**
 * The certificates this CA issues read without node:crypto's X509Certificate: its parse decodes the subject's
 * public key (OpenSSL 3's decoders, ~0.3 ms, and more on a loaded host), which check() never uses, on every
 * stream of an enforcer new to this controller, a take-over's hot path. The signature (ecdsa-with-SHA256 by
 * the CA key over the exact to-be-signed octets) is checked first, so what is read after is the CA's own.
 * Null for anything else than what the CA writes (another algorithm, a name attribute or value it does not
 * write, a negative serial, any DER it does not read) and for a signature that does not verify: readVerified's
 * general path then decides, as before.
 */
export function readSignedDer(der: Buffer, caKey: KeyObject): VerifiedCert | null {
  const cert = tlv(der, 0, der.length);
  if (!cert || cert.tag !== 0x30 || cert.end !== der.length) return null;
  const tbs = tlv(der, cert.start, cert.end);
  const alg = tbs?.tag === 0x30 ? tlv(der, tbs.end, cert.end) : null;
  const sig = alg?.tag === 0x30 ? tlv(der, alg.end, cert.end) : null;
  if (!tbs || !alg || !sig || sig.tag !== 0x03 || sig.end !== cert.end || sig.end - sig.start < 2 || der[sig.start] !== 0) return null;
  if (!der.subarray(alg.at, alg.end).equals(ECDSA_SHA256)) return null;
  let good = false;
  try {
    good = verifySignature('sha256', der.subarray(tbs.at, tbs.end), caKey, der.subarray(sig.start + 1, sig.end));
  } catch {
    return null;
  }
  if (!good) return null;
  // TBSCertificate: [0] version, serialNumber, signature, issuer, validity, subject, ...
  let e = tlv(der, tbs.start, tbs.end);
  if (e?.tag === 0xa0) e = tlv(der, e.end, tbs.end);
  if (!e || e.tag !== 0x02 || e.end === e.start || der[e.start] & 0x80) return null;
  let from = e.start;
  while (from < e.end - 1 && der[from] === 0) from++;
  const serial = der.toString('hex', from, e.end);
  const inner = tlv(der, e.end, tbs.end);
  if (!inner || !der.subarray(inner.at, inner.end).equals(ECDSA_SHA256)) return null;
  const issuer = tlv(der, inner.end, tbs.end);
  const validity = issuer?.tag === 0x30 ? tlv(der, issuer.end, tbs.end) : null;
  if (!validity || validity.tag !== 0x30) return null;
  const nb = tlv(der, validity.start, validity.end);
  const na = nb ? tlv(der, nb.end, validity.end) : null;
  if (!nb || !na || na.end !== validity.end) return null;
  const notBefore = derTime(der, nb);
  const notAfter = derTime(der, na);
  const subject = tlv(der, validity.end, tbs.end);
  if (!notBefore || !notAfter || !subject || subject.tag !== 0x30) return null;
  // Name: SET { SEQUENCE { OID, string } } each, one attribute a set, printed "CN=..., O=..." as OpenSSL does.
  const parts: string[] = [];
  for (let p = subject.start; p < subject.end; ) {
    const set = tlv(der, p, subject.end);
    const atv = set?.tag === 0x31 ? tlv(der, set.start, set.end) : null;
    if (!set || !atv || atv.tag !== 0x30 || atv.end !== set.end) return null;
    const oid = tlv(der, atv.start, atv.end);
    const val = oid?.tag === 0x06 ? tlv(der, oid.end, atv.end) : null;
    const name = oid && NAME_ATTRS.get(der.toString('hex', oid.at, oid.end));
    if (!val || !name || val.end !== atv.end || (val.tag !== 0x0c && val.tag !== 0x13)) return null;
    const value = der.toString('latin1', val.start, val.end);
    if (!PLAIN_VALUE.test(value)) return null;
    parts.push(`${name}=${value}`);
    p = set.end;
  }
  return parts.length ? { serial, subject: parts.join(', '), notBefore, notAfter } : null;
}
