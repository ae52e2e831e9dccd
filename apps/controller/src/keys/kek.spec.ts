import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readKek, seal, unseal } from './kek';

describe('KEK sealing', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-kek-spec-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, data: Buffer | string, mode = 0o600) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, data, { mode });
    fs.chmodSync(f, mode);
    return f;
  };

  it('reads raw, hex and base64 KEKs alike', () => {
    const key = randomBytes(32);
    const a = readKek(write('raw', key));
    const b = readKek(write('hex', key.toString('hex') + '\n'));
    const c = readKek(write('b64', key.toString('base64') + '\n'));
    expect(a.key.equals(key) && b.key.equals(key) && c.key.equals(key)).toBe(true);
    expect(new Set([a.fingerprint, b.fingerprint, c.fingerprint]).size).toBe(1);
  });

  it('refuses a short or world-readable KEK with the command that makes a good one', () => {
    expect(() => readKek(write('short', randomBytes(16)))).toThrow(/32 bytes.*head -c 32 \/dev\/urandom/);
    expect(() => readKek(write('loose', randomBytes(32), 0o644))).toThrow(/readable by others.*chmod 600/);
  });

  it('round-trips, and tells a wrong KEK from a damaged file', () => {
    const kek = readKek(write('k1', randomBytes(32)));
    const other = readKek(write('k2', randomBytes(32)));
    const secret = Buffer.from('the CA key');
    const env = seal(kek, 'test', secret);
    expect(JSON.stringify(env)).not.toContain('the CA key');
    expect(unseal(kek, env, 'f').equals(secret)).toBe(true);
    expect(() => unseal(other, env, 'f')).toThrow(/another key-encryption key/);
    const data = Buffer.from(env.data, 'base64');
    data[0] ^= 1;
    expect(() => unseal(kek, { ...env, data: data.toString('base64') }, 'f')).toThrow(/altered or damaged/);
    // The purpose is authenticated too: a sealed PSK cannot pass for a CA key.
    expect(() => unseal(kek, { ...env, purpose: 'other' }, 'f')).toThrow(/altered or damaged/);
  });
});
