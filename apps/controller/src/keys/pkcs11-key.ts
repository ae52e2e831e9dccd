// SPDX-License-Identifier: Apache-2.0
/**
 * The CA key in a PKCS#11 token (SoftHSM2 in the tests; a real HSM the same way).
 * On first start an EC P-256 pair is generated inside the token with
 * CKA_SENSITIVE true and CKA_EXTRACTABLE false: the private key cannot be read
 * or wrapped out of it, only used. Signing is CKM_ECDSA over a SHA-256 digest
 * computed here (the token returns r||s, which is what WebCrypto returns too).
 */
import * as fs from 'node:fs';
import { createHash, webcrypto } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { ECParameters } from '@peculiar/asn1-ecc';
import * as pkcs11js from 'pkcs11js';
import { CaKey, KeyStoreError } from './ca-key';

export const DEFAULT_KEY_LABEL = 'cordon-device-ca';
const P256_OID = '1.2.840.10045.3.1.7';

export interface Pkcs11Options {
  /** --pkcs11-module: path of the PKCS#11 library (for SoftHSM2: /usr/lib/softhsm/libsofthsm2.so). */
  module: string;
  /** --pkcs11-token: the token label. */
  token: string;
  /** User PIN (from --pkcs11-pin-file or CORDON_PKCS11_PIN). */
  pin: string;
  /** Object label of the CA key pair. */
  keyLabel?: string;
}

// One C_Initialize per library per process: a second open (a bench, a test) shares it.
const libraries = new Map<string, { lib: pkcs11js.PKCS11; users: number }>();

function loadLibrary(module: string): pkcs11js.PKCS11 {
  const known = libraries.get(module);
  if (known) {
    known.users++;
    return known.lib;
  }
  if (!fs.existsSync(module)) {
    throw new KeyStoreError(`--pkcs11-module ${module} does not exist (SoftHSM2 on Debian: /usr/lib/softhsm/libsofthsm2.so, from the softhsm2 package)`);
  }
  const lib = new pkcs11js.PKCS11();
  try {
    lib.load(module);
    lib.C_Initialize();
  } catch (err) {
    throw new KeyStoreError(`cannot load the PKCS#11 module ${module}: ${(err as Error).message}`);
  }
  libraries.set(module, { lib, users: 1 });
  return lib;
}

function releaseLibrary(module: string): void {
  const known = libraries.get(module);
  if (!known || --known.users > 0) return;
  libraries.delete(module);
  try {
    known.lib.C_Finalize();
    known.lib.close();
  } catch {
    /* already gone */
  }
}

export class Pkcs11CaKey implements CaKey {
  readonly kind = 'pkcs11' as const;
  private closed = false;

  private constructor(
    private readonly lib: pkcs11js.PKCS11,
    private readonly opts: Pkcs11Options,
    private readonly session: Buffer,
    private readonly privateKey: Buffer,
    readonly publicKey: webcrypto.CryptoKey,
    readonly created: boolean,
  ) {}

  static async open(opts: Pkcs11Options): Promise<Pkcs11CaKey> {
    const label = opts.keyLabel ?? DEFAULT_KEY_LABEL;
    const lib = loadLibrary(opts.module);
    let session: Buffer | undefined;
    try {
      const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === opts.token);
      if (!slot) {
        const labels = lib.C_GetSlotList(true).map((s) => `"${lib.C_GetTokenInfo(s).label.trim()}"`);
        throw new KeyStoreError(`no PKCS#11 token labelled "${opts.token}" in ${opts.module} (tokens: ${labels.join(', ') || 'none'}; softhsm2-util --show-slots lists them)`);
      }
      session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        lib.C_Login(session, pkcs11js.CKU_USER, opts.pin);
      } catch (err) {
        if (!/CKR_USER_ALREADY_LOGGED_IN/.test((err as Error).message)) {
          throw new KeyStoreError(`cannot log in to PKCS#11 token "${opts.token}": ${(err as Error).message} (check the PIN in --pkcs11-pin-file)`);
        }
      }
      let priv = findOne(lib, session, pkcs11js.CKO_PRIVATE_KEY, label);
      let pub = findOne(lib, session, pkcs11js.CKO_PUBLIC_KEY, label);
      let created = false;
      if (!priv || !pub) {
        if (priv || pub) throw new KeyStoreError(`token "${opts.token}" holds only half of the key pair "${label}"; remove it or pick another label`);
        const ecParams = Buffer.from(AsnConvert.serialize(new ECParameters({ namedCurve: P256_OID })));
        const id = createHash('sha256').update(label).digest().subarray(0, 8);
        const pair = lib.C_GenerateKeyPair(
          session,
          { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
          [
            { type: pkcs11js.CKA_TOKEN, value: true },
            { type: pkcs11js.CKA_LABEL, value: label },
            { type: pkcs11js.CKA_ID, value: id },
            { type: pkcs11js.CKA_EC_PARAMS, value: ecParams },
            { type: pkcs11js.CKA_VERIFY, value: true },
          ],
          [
            { type: pkcs11js.CKA_TOKEN, value: true },
            { type: pkcs11js.CKA_PRIVATE, value: true },
            { type: pkcs11js.CKA_LABEL, value: label },
            { type: pkcs11js.CKA_ID, value: id },
            { type: pkcs11js.CKA_SIGN, value: true },
            { type: pkcs11js.CKA_SENSITIVE, value: true },
            { type: pkcs11js.CKA_EXTRACTABLE, value: false },
          ],
        );
        priv = pair.privateKey;
        pub = pair.publicKey;
        created = true;
      }
      const extractable = lib.C_GetAttributeValue(session, priv, [{ type: pkcs11js.CKA_EXTRACTABLE }])[0].value as Buffer;
      if (extractable[0] !== 0) {
        throw new KeyStoreError(`the key "${label}" in token "${opts.token}" is extractable; Cordon only signs with a non-extractable CA key — generate a new one`);
      }
      const point = lib.C_GetAttributeValue(session, pub, [{ type: pkcs11js.CKA_EC_POINT }])[0].value as Buffer;
      // CKA_EC_POINT is the DER OCTET STRING around the uncompressed point.
      const raw = point.length === 65 && point[0] === 4 ? point : Buffer.from(AsnConvert.parse(point, OctetString).buffer);
      const publicKey = await webcrypto.subtle.importKey('raw', raw, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
      return new Pkcs11CaKey(lib, { ...opts, keyLabel: label }, session, priv, publicKey, created);
    } catch (err) {
      if (session) {
        try {
          lib.C_CloseSession(session);
        } catch {
          /* ignore */
        }
      }
      releaseLibrary(opts.module);
      throw err instanceof KeyStoreError ? err : new KeyStoreError(`PKCS#11 token "${opts.token}": ${(err as Error).message}`);
    }
  }

  async sign(data: ArrayBuffer | Uint8Array): Promise<ArrayBuffer> {
    if (this.closed) throw new KeyStoreError('the PKCS#11 session is closed');
    const digest = createHash('sha256').update(Buffer.from(data as ArrayBuffer)).digest();
    // Init and Sign in one synchronous stretch: no other sign can interleave on the session.
    this.lib.C_SignInit(this.session, { mechanism: pkcs11js.CKM_ECDSA }, this.privateKey);
    const sig = this.lib.C_Sign(this.session, digest, Buffer.alloc(64));
    return sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.byteLength) as ArrayBuffer;
  }

  /** CKA_EXTRACTABLE and CKA_SENSITIVE of the private key, as the token reports them. */
  attributes(): { extractable: boolean; sensitive: boolean } {
    const [e, s] = this.lib.C_GetAttributeValue(this.session, this.privateKey, [{ type: pkcs11js.CKA_EXTRACTABLE }, { type: pkcs11js.CKA_SENSITIVE }]);
    return { extractable: (e.value as Buffer)[0] !== 0, sensitive: (s.value as Buffer)[0] !== 0 };
  }

  /** Tries to read the private value (CKA_VALUE); a sound token refuses. Returns the error text. */
  tryExport(): string | null {
    try {
      this.lib.C_GetAttributeValue(this.session, this.privateKey, [{ type: pkcs11js.CKA_VALUE }]);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }

  describe() {
    return { store: 'pkcs11', module: this.opts.module, token: this.opts.token, keyLabel: this.opts.keyLabel ?? DEFAULT_KEY_LABEL, extractable: false };
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    try {
      this.lib.C_CloseSession(this.session);
    } catch {
      /* ignore */
    }
    releaseLibrary(this.opts.module);
  }
}

function findOne(lib: pkcs11js.PKCS11, session: Buffer, cls: number, label: string): Buffer | null {
  lib.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: cls },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]);
  try {
    return lib.C_FindObjects(session);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/** The PIN: CORDON_PKCS11_PIN, else the first line of --pkcs11-pin-file (which must not be world-readable). */
export function readPin(pinFile: string | undefined, envPin: string | undefined): string {
  if (envPin) return envPin;
  if (!pinFile) throw new KeyStoreError('a PKCS#11 token needs its user PIN: --pkcs11-pin-file FILE or CORDON_PKCS11_PIN');
  let text: string;
  try {
    text = fs.readFileSync(pinFile, 'utf8');
  } catch (err) {
    throw new KeyStoreError(`cannot read --pkcs11-pin-file ${pinFile}: ${(err as Error).message}`);
  }
  if ((fs.statSync(pinFile).mode & 0o007) !== 0) throw new KeyStoreError(`--pkcs11-pin-file ${pinFile} is world-readable: chmod 600 ${pinFile}`);
  const pin = text.split('\n')[0].trim();
  if (!pin) throw new KeyStoreError(`--pkcs11-pin-file ${pinFile} is empty`);
  return pin;
}
