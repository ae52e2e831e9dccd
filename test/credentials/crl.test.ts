/**
 * The CRL builder keeps each entry's DER between rebuilds; openssl must read what
 * it makes, cold and after a rebuild with entries added and removed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileCaKey } from '../../apps/controller/src/keys/file-key';
import { CrlBuilder, REASON } from '../../apps/controller/src/credentials/crl';
import { DeviceCa, randomSerial } from '../../apps/controller/src/credentials/device-ca';
import { makeKek, run, tmpDir } from './helpers';

jest.setTimeout(60_000);

it('builds CRLs openssl verifies, cold and incrementally', async () => {
  const dir = tmpDir('cordon-crl-');
  try {
    const key = await FileCaKey.open({ keyFile: path.join(dir, 'ca', 'ca.key.sealed'), kekFile: makeKek(path.join(dir, 'secrets')) });
    const ca = await DeviceCa.open(path.join(dir, 'ca'), key);
    fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certificatePem);
    const now = Date.now();
    const entries = Array.from({ length: 3000 }, (_, i) => ({ serial: randomSerial(), revokedAt: new Date(now - i * 1000), reason: [undefined, REASON.keyCompromise, REASON.superseded, REASON.cessationOfOperation][i % 4] }));
    const builder = new CrlBuilder(ca);
    const check = async (der: Buffer, expect: typeof entries, number: number) => {
      const f = path.join(dir, `crl-${number}.der`);
      fs.writeFileSync(f, der);
      const r = await run('openssl', ['crl', '-inform', 'DER', '-in', f, '-CAfile', path.join(dir, 'ca.pem'), '-noout', '-text'], { timeoutMs: 30_000 });
      return { r, expect, number };
    };
    const first = await check(await builder.build(entries, { number: 7, nextUpdate: new Date(now + 86400_000) }), entries, 7);
    expect(first.r.stderr + first.r.stdout).toContain('verify OK');
    expect((first.r.stdout.match(/Serial Number:/g) ?? []).length).toBe(3000);
    expect(first.r.stdout).toMatch(/X509v3 CRL Number: *\n *7/);
    expect((first.r.stdout.match(/Key Compromise/g) ?? []).length).toBe(750);
    expect(builder.cached).toBe(3000);

    // One revoked, one expired out of the list: only the new entry is serialised.
    const next = [...entries.slice(1), { serial: randomSerial(), revokedAt: new Date(), reason: REASON.superseded }];
    const second = await check(await builder.build(next, { number: 8, nextUpdate: new Date(now + 86400_000) }), next, 8);
    expect(second.r.stderr + second.r.stdout).toContain('verify OK');
    expect((second.r.stdout.match(/Serial Number:/g) ?? []).length).toBe(3000);
    expect(second.r.stdout.toLowerCase()).toContain(next[next.length - 1].serial);
    expect(second.r.stdout.toLowerCase()).not.toContain(entries[0].serial);
    expect(builder.cached).toBe(3000);

    // An empty CRL is still a valid one.
    const empty = await check(await builder.build([], { number: 9, nextUpdate: new Date(now + 86400_000) }), [], 9);
    expect(empty.r.stderr + empty.r.stdout).toContain('verify OK');
    expect(empty.r.stdout).toContain('No Revoked Certificates');
    await key.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
