import 'reflect-metadata';
import { PATH_METADATA, METHOD_METADATA, MODULE_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common';
import { AppModule } from '../app.module';
import { OPENAPI } from './openapi';
import { fqdnPatternError } from '../../../../model/generation/fqdn';

/** Every route the app's controllers declare, as OpenAPI spells paths (/v1/x/{name}). */
function routes(): string[] {
  const seen = new Set<unknown>();
  const out = new Set<string>();
  const walk = (m: unknown) => {
    const mod = (m as { module?: unknown })?.module ?? m;
    if (!mod || seen.has(mod)) return;
    seen.add(mod);
    const meta = (k: string) => [...(Reflect.getMetadata(k, mod as object) ?? []), ...((m as Record<string, unknown[]>)?.[k] ?? [])];
    for (const imp of meta(MODULE_METADATA.IMPORTS)) walk(imp);
    for (const ctrl of meta(MODULE_METADATA.CONTROLLERS) as (new () => object)[]) {
      const bases = [Reflect.getMetadata(PATH_METADATA, ctrl) ?? ''].flat() as string[];
      for (const name of Object.getOwnPropertyNames(ctrl.prototype)) {
        const fn = ctrl.prototype[name];
        const method = Reflect.getMetadata(METHOD_METADATA, fn);
        if (method === undefined) continue;
        for (const base of bases)
          for (const sub of [Reflect.getMetadata(PATH_METADATA, fn) ?? ''].flat() as string[]) {
            const full = `/${[base, sub].filter((x) => x && x !== '/').join('/')}`.replace(/\/+/g, '/').replace(/:(\w+)/g, '{$1}');
            out.add(`${RequestMethod[method].toLowerCase()} ${full}`);
          }
      }
    }
  };
  // forRoot only hands the context to providers; the route table does not depend on it.
  walk(AppModule.forRoot({ store: {}, config: { grpcAddress: '', dataDir: '' }, logger: {} } as unknown as Parameters<typeof AppModule.forRoot>[0]));
  return [...out].sort();
}

test('the OpenAPI description lists every route the controller serves', () => {
  const found = routes();
  expect(found.length).toBeGreaterThan(30);
  const described = new Set(
    Object.entries(OPENAPI.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)),
  );
  expect(found.filter((r) => !described.has(r))).toEqual([]);
});

describe('the Policy document schema', () => {
  const schemas = OPENAPI.components.schemas as Record<string, any>;
  const pattern = schemas.FqdnPattern;
  /** What a client validating with the description accepts: the pattern and the length. */
  const described = (p: string) => new RegExp(pattern.pattern).test(p) && p.length <= pattern.maxLength;

  test('describes a to entry as a segment name or { fqdn: PATTERN }, in Policy documents and in the apply body', () => {
    expect(schemas.PolicySpec.properties.to.items).toEqual({ $ref: '#/components/schemas/PolicyTarget' });
    expect(schemas.PolicyTarget.oneOf).toEqual([expect.objectContaining({ type: 'string' }), { $ref: '#/components/schemas/FqdnTarget' }]);
    expect(schemas.FqdnTarget).toMatchObject({ required: ['fqdn'], additionalProperties: false, properties: { fqdn: { $ref: '#/components/schemas/FqdnPattern' } } });
    expect(pattern.description).toMatch(/at most 253 characters.*each label at most 63.*"\*" only as a whole leading label/);
    expect(schemas.PolicyTestCase.properties.to.oneOf).toEqual([{ type: 'string' }, { $ref: '#/components/schemas/FqdnTarget' }]);
    const body = (OPENAPI.paths['/v1/apply'] as any).post.requestBody.content['application/json'].schema;
    expect(body.properties.documents.items.anyOf).toContainEqual({ $ref: '#/components/schemas/PolicyDocument' });
  });

  test.each([
    'api.example.com',
    'API.Example.COM.',
    '*.iot.i.tplinknbu.com',
    '_sip._udp.example.com',
    'n-euw1-device-api.tplinkcloud.com',
    'a.' + 'x'.repeat(63) + '.com',
    Array.from({ length: 50 }, () => 'abcd').join('.') + '.xy',
    // 253 characters, then 253 with a trailing dot, then 254.
    Array.from({ length: 50 }, () => 'abcd').join('.') + '.xyz',
    Array.from({ length: 50 }, () => 'abcd').join('.') + '.xyz.',
    Array.from({ length: 50 }, () => 'abcd').join('.') + '.xyzw',
    '*foo.com',
    'a..b.com',
    '.a.com',
    'a.' + 'x'.repeat(64) + '.com',
    Array.from({ length: 60 }, () => 'abcd').join('.'),
    '*.com',
    '*',
    'foo.*.com',
    'localhost',
    'a b.com',
    '-a.com',
    'a-.com',
    '',
  ])('the pattern rules agree with the controller on %j', (p) => {
    expect(described(p)).toBe(fqdnPatternError(p) === null);
  });
});

