/**
 * Enrolls an enforcer against a running controller the way `cordon enforcer` does:
 * a one-time token made over REST, a CSR, the Enroll call; returns a client
 * holding the certificate. One place for the integrity tests to follow
 * changes to enrollment.
 */
import { controlClient, rpc, type RawControlClient } from '../../proto/cordon/v1/client';
import { keyAndCsr } from '../../apps/controller/src/control/testing/fakes';

export interface Enrolled {
  name: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  serial: string;
  expiresAt: number;
  /** A client on `grpcAddress` (or another controller's) with this certificate. */
  client(grpcAddress?: string): RawControlClient;
}

export async function enrollEnforcer(ctl: { url: string; grpcAddress: string }, adminToken: string, name: string): Promise<Enrolled> {
  const r = await fetch(`${ctl.url}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'enrollment', ttl: '10m', name }),
  });
  const tok = (await r.json()) as { token: string };
  if (!tok.token) throw new Error(`token create failed: ${JSON.stringify(tok)}`);
  const { keyPem, csrPem } = await keyAndCsr();
  const anon = controlClient(ctl.grpcAddress, { caPem: null });
  try {
    const res = await rpc.enroll(anon, { token: tok.token, csrPem, name });
    return {
      name,
      caPem: res.caPem,
      certPem: res.certificatePem,
      keyPem,
      serial: res.serial,
      expiresAt: Number(res.expiresAt),
      client: (addr = ctl.grpcAddress) => controlClient(addr, { caPem: res.caPem, certPem: res.certificatePem, keyPem }),
    };
  } finally {
    anon.close();
  }
}
