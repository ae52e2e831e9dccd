import 'reflect-metadata';
import { PATH_METADATA, METHOD_METADATA, MODULE_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common';
import { AppModule } from '../app.module';
import { OPENAPI } from './openapi';

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
