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
});
