import { credentialsConfig, CredentialsConfigError } from './credentials.config';
import { deviceUris } from './device-ca';

describe('credential settings', () => {
  it('defaults: EST on 0.0.0.0:7473, 30d certificates, 1h overlap, PSK file in the data dir, no key store', () => {
    const c = credentialsConfig('/var/lib/cordon', {});
    expect(c).toMatchObject({ est: { host: '0.0.0.0', port: 7473 }, lifetimeMs: 30 * 86400_000, overlapMs: 3600_000, pskFile: '/var/lib/cordon/psk_file', dir: '/var/lib/cordon/device-ca' });
    expect(c.keys.kekFile).toBeUndefined();
    expect(c.keys.pkcs11Module).toBeUndefined();
  });

  it('reads the flags handed over as CORDON_* and names each bad one', () => {
    const c = credentialsConfig('/d', { CORDON_EST: 'off', CORDON_KEK_FILE: '/secrets/kek', CORDON_CREDENTIAL_LIFETIME: '7d' });
    expect(c.est).toBeNull();
    expect(c.keys.kekFile).toBe('/secrets/kek');
    expect(c.lifetimeMs).toBe(7 * 86400_000);
    expect(() => credentialsConfig('/d', { CORDON_EST: 'nowhere', CORDON_CREDENTIAL_OVERLAP: 'soon' })).toThrow(CredentialsConfigError);
    expect(() => credentialsConfig('/d', { CORDON_EST: 'nowhere' })).toThrow(/--est must be HOST:PORT or off/);
    expect(() => credentialsConfig('/d', { CORDON_CREDENTIAL_OVERLAP: 'soon' })).toThrow(/--credential-overlap must be a duration/);
  });

  it('puts the device name and every label in SAN URIs, percent-encoded', () => {
    expect(deviceUris('cam-07', { vendor: 'acme inc', 'example.com/role': 'a=b' })).toEqual([
      'urn:cordon:device:cam-07',
      'urn:cordon:label:example.com%2Frole=a%3Db',
      'urn:cordon:label:vendor=acme%20inc',
    ]);
  });
});
