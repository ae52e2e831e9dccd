// SPDX-License-Identifier: Apache-2.0
/** PKCS#10 requests, PEM or base64 DER, checked to be signed by the key they carry. */
import * as x509 from '@peculiar/x509';
import { Problem } from '../http/problem';

export async function parseCsr(text: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    const t = text.trim();
    csr = t.startsWith('-----') ? new x509.Pkcs10CertificateRequest(t) : new x509.Pkcs10CertificateRequest(Buffer.from(t.replace(/\s+/g, ''), 'base64'));
  } catch (err) {
    throw new Problem(400, 'Bad Request', `csr is not a PKCS#10 request (PEM or base64 DER): ${(err as Error).message}`);
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch {
    ok = false;
  }
  if (!ok) throw new Problem(400, 'Bad Request', 'the CSR signature does not verify: it must be signed by the key it carries');
  return csr;
}
