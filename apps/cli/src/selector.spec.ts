import { parseSelector } from './selector';

describe('label selectors (get -l)', () => {
  const l = { type: 'camera', vendor: 'acme', 'site.example/zone': 'north' };
  it.each([
    ['type=camera', true],
    ['type==camera', true],
    ['type=sensor', false],
    ['type!=sensor', true],
    ['type=camera,vendor=acme', true],
    ['type=camera,vendor=other', false],
    ['type in (camera,sensor)', true],
    ['type notin (camera,sensor)', false],
    ['type in (sensor),vendor', false],
    ['vendor', true],
    ['!vendor', false],
    ['!owner', true],
    ['site.example/zone=north', true],
  ])('%s -> %s', (sel, want) => expect(parseSelector(sel)(l)).toBe(want));

  it('an unlabelled document matches only negative requirements', () => {
    expect(parseSelector('type!=camera')(undefined)).toBe(true);
    expect(parseSelector('type=camera')(undefined)).toBe(false);
  });

  it('refuses what is no requirement, as a usage error', () => {
    expect(() => parseSelector('type=(x')).toThrow(expect.objectContaining({ code: 2 }));
    expect(() => parseSelector(',')).toThrow(/at least one/);
  });
});
