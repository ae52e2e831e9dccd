import { ConfigError, validateConfig } from './config';

describe('validateConfig', () => {
  it('applies the DESIGN.md defaults', () => {
    const c = validateConfig({});
    expect(c.http).toEqual({ host: '127.0.0.1', port: 7470 });
    expect(c.grpc).toEqual({ host: '0.0.0.0', port: 7471 });
    expect(c.dataDir).toMatch(/\.cordon$/);
    expect(c.databaseUrl).toBeUndefined();
  });

  it('names each bad flag', () => {
    expect(() => validateConfig({ http: 'localhost', databaseUrl: 'mysql://x', logLevel: 'loud' })).toThrow(ConfigError);
    try {
      validateConfig({ http: 'localhost', databaseUrl: 'mysql://x', logLevel: 'loud' });
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toMatch(/--http must be HOST:PORT/);
      expect(msg).toMatch(/--database-url/);
      expect(msg).toMatch(/--log-level/);
    }
    expect(validateConfig({ http: '[::1]:0' }).http).toEqual({ host: '::1', port: 0 });
  });

  it('takes the flow stream caps as whole numbers in range, 500 rows a second and 4 streams a token by default', () => {
    expect(validateConfig({})).toMatchObject({ streamRowsPerSecond: 500, streamsPerToken: 4 });
    expect(validateConfig({ streamRowsPerSecond: '50', streamsPerToken: 2 })).toMatchObject({ streamRowsPerSecond: 50, streamsPerToken: 2 });
    expect(() => validateConfig({ streamRowsPerSecond: '0' })).toThrow(/--stream-rows-per-second must be a whole number from 1 to 20000, got "0"/);
    expect(() => validateConfig({ streamRowsPerSecond: 'lots' })).toThrow(/--stream-rows-per-second/);
    expect(() => validateConfig({ streamsPerToken: '65' })).toThrow(/--streams-per-token must be a whole number from 1 to 64/);
  });

  it('takes --dns-resolver as IPv4 or IPv6 addresses, canonical and each once, none by default', () => {
    expect(validateConfig({}).dnsResolvers).toEqual([]);
    expect(validateConfig({ dnsResolver: ['10.10.53.2', 'FD00:0:0::53', ' 10.10.53.2'] }).dnsResolvers).toEqual(['10.10.53.2', 'fd00::53']);
    expect(() => validateConfig({ dnsResolver: ['10.10.53.2', 'resolver.lan'] })).toThrow(/--dns-resolver must be an IPv4 or IPv6 address \(for example 10\.10\.53\.2 or fd00::53\), got "resolver\.lan"/);
    expect(() => validateConfig({ dnsResolver: ['10.10.53.0/24'] })).toThrow(/--dns-resolver must be an IPv4 or IPv6 address.*got "10\.10\.53\.0\/24"/);
    expect(() => validateConfig({ dnsResolver: Array.from({ length: 17 }, (_, i) => `10.0.0.${i + 1}`) })).toThrow(/--dns-resolver may be given at most 16 times/);
  });
});
