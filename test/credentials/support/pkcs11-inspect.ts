/**
 * Opens the CA key in the token the way the controller does and prints what the
 * token says about it, as JSON. Run in its own process (SoftHSM2 reads
 * SOFTHSM2_CONF from the real environment).
 * Usage: pkcs11-inspect.ts MODULE TOKEN PIN
 */
import { webcrypto } from 'node:crypto';
import { Pkcs11CaKey } from '../../../apps/controller/src/keys/pkcs11-key';

(async () => {
  const [module, token, pin] = process.argv.slice(2);
  const key = await Pkcs11CaKey.open({ module, token, pin });
  const data = Buffer.from('signed inside the token');
  const sig = await key.sign(data);
  const out = {
    created: key.created,
    ...key.attributes(),
    exportError: key.tryExport(),
    verifies: await webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key.publicKey, sig, data),
    spki: Buffer.from(await webcrypto.subtle.exportKey('spki', key.publicKey)).toString('base64'),
  };
  await key.close();
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((err) => {
  process.stderr.write(String(err?.message ?? err) + '\n');
  process.exit(1);
});
