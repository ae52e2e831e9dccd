/**
 * Hole 16 (names): documents named like Object built-ins (`constructor`, `prototype`,
 * `hasOwnProperty`, `__proto__`) either are refused with a clear error or behave
 * exactly like any other name, through apply, the compiled bundle and trace.
 */
import { startTestController, type TestController } from './harness';

const seg = (name: string, cidr: string, selector?: Record<string, string>) => ({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name }, spec: { cidrs: [cidr], ...(selector ? { selector } : {}) } });
const policy = (name: string, from: string, to: string, port: string) => ({ apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name }, spec: { from: [from], to: [to], allow: [{ protocol: 'tcp', ports: [port] }] } });

describe('hole 16: names that are JavaScript built-ins', () => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController('pglite');
  });
  afterAll(async () => t?.close());

  it('16_builtin_names: refuses __proto__ and hasOwnProperty clearly; constructor and prototype work like any name (trace proves it)', async () => {
    for (const bad of ['__proto__', 'hasOwnProperty']) {
      const r = await t.call('POST', '/v1/apply', { documents: [seg(bad, '10.60.9.0/24')] });
      expect(r.status).toBe(400);
      expect(r.body.detail).toMatch(/metadata.name: a name is 1 to 63 lowercase letters, digits or "-"/);
    }
    const docs = [
      seg('constructor', '10.60.1.0/24'),
      seg('prototype', '10.60.2.0/24', { constructor: 'yes' }),
      seg('plain', '10.60.3.0/24'),
      { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'tostring', labels: { constructor: 'yes', hasOwnProperty: 'x', __proto__: 'y' } }, spec: { addresses: ['10.60.2.7'], mac: '02:00:00:60:07:07' } },
      policy('constructor', 'constructor', 'prototype', '8883'),
      policy('valueof', 'prototype', 'plain', '443'),
      { apiVersion: 'cordon/v1', kind: 'PolicyTest', metadata: { name: 'constructor' }, spec: [{ from: 'constructor', to: 'prototype', protocol: 'tcp', port: 8883, expect: 'allow' }, { from: 'constructor', to: 'plain', protocol: 'tcp', port: 443, expect: 'deny' }] },
    ];
    const r = await t.call('POST', '/v1/apply', { documents: docs });
    expect(r.body.detail ?? '').toBe('');
    expect(r.status).toBe(200);

    const trace = async (from: string, to: string, port: number) => (await t.call('POST', '/v1/trace', { from, to, protocol: 'tcp', port })).body;
    expect(await trace('10.60.1.5', '10.60.2.5', 8883)).toMatchObject({ verdict: 'allow', policy: 'constructor', from: { segment: 'constructor' }, to: { segment: 'prototype' } });
    expect(await trace('10.60.1.5', '10.60.2.5', 8884)).toMatchObject({ verdict: 'deny', policy: null });
    // The device's labels (constructor: yes) select it into `prototype`, like any label would.
    expect(await trace('10.60.2.7', '10.60.3.9', 443)).toMatchObject({ verdict: 'allow', policy: 'valueof', from: { segment: 'prototype', device: 'tostring' }, to: { segment: 'plain' } });
    expect(await trace('10.60.3.9', '10.60.1.5', 8883)).toMatchObject({ verdict: 'deny' });

    const b = (await t.call('GET', '/v1/bundles/current')).body;
    const ids = b.identities ?? b.bundle?.identities;
    expect(Object.prototype.hasOwnProperty.call(ids, 'constructor')).toBe(true);
    expect(typeof ids.constructor).toBe('number');
    for (const kind of ['segments', 'policies', 'devices']) {
      const l = await t.call('GET', `/v1/${kind}`);
      expect(l.status).toBe(200);
    }
    expect((await t.call('GET', '/v1/segments/constructor')).body).toMatchObject({ metadata: { name: 'constructor' } });
    expect((await t.call('GET', '/v1/segments/__proto__')).status).toBe(404);
    expect((await t.call('GET', '/v1/policies/hasownproperty')).status).toBe(404);
    // A name that is no segment, no device and no address is refused, even one every object inherits.
    const none = await t.call('POST', '/v1/trace', { from: 'valueOf', to: 'plain', protocol: 'tcp', port: 443 });
    expect(none.status).toBe(400);
    // Deleting `constructor` removes its identity from the next generation like any segment's.
    expect((await t.call('DELETE', '/v1/policytests/constructor')).status).toBeLessThan(300);
    expect((await t.call('DELETE', '/v1/policies/constructor')).status).toBeLessThan(300);
    expect((await t.call('DELETE', '/v1/segments/constructor')).status).toBeLessThan(300);
    const after = (await t.call('GET', '/v1/bundles/current')).body;
    expect(Object.prototype.hasOwnProperty.call(after.identities ?? after.bundle?.identities, 'constructor')).toBe(false);
    expect(await trace('10.60.1.5', '10.60.2.5', 8883)).toMatchObject({ verdict: 'deny', from: { segment: 'world' } });
  });
});
