import { effectiveLabels, formatLabels, labelKeyProblem, labelsProblem, labelValueProblem, parseLabelArg, selectorMatchesEnforcer } from './labels';

describe('enforcer labels', () => {
  it('takes Kubernetes label keys and values and refuses the rest with the reason', () => {
    for (const k of ['site', 'cordon.dev/site', 'a', 'A_b.c-9', 'x'.repeat(63)]) expect(labelKeyProblem(k)).toBeNull();
    for (const k of ['', '-site', 'site-', 'x'.repeat(64), '/site', 'Bad_Prefix/site', 'a/b/c', 'si te']) expect(labelKeyProblem(k)).toMatch(/label key/);
    for (const v of ['', 'plant-1', 'v1.2_3']) expect(labelValueProblem('site', v)).toBeNull();
    for (const v of ['-x', 'x-', 'a b', 'x'.repeat(64), 'a,b', 'a=b']) expect(labelValueProblem('site', v)).toMatch(/value/);
    expect(labelValueProblem('site', 3)).toMatch(/string/);
    expect(labelsProblem({ site: 'plant-1', 'bad key': 'x' })).toMatch(/bad key/);
  });

  it('parses KEY=VALUE and KEY- as the flags and `cordon label` take them', () => {
    expect(parseLabelArg('site=plant-1', false)).toEqual({ key: 'site', value: 'plant-1' });
    expect(parseLabelArg('site=', false)).toEqual({ key: 'site', value: '' });
    expect(parseLabelArg('site-', true)).toEqual({ key: 'site', value: null });
    expect(() => parseLabelArg('site-', false)).toThrow(/KEY=VALUE/);
    expect(() => parseLabelArg('=x', true)).toThrow(/KEY=VALUE/);
    expect(() => parseLabelArg('site=a b', false)).toThrow(/value/);
  });

  it('applies the controller\'s overrides over what the enforcer reports, key by key', () => {
    expect(effectiveLabels({ site: 'plant-1', rack: 'r1' }, { site: 'plant-2', zone: 'z' })).toEqual({ rack: 'r1', site: 'plant-2', zone: 'z' });
    expect(effectiveLabels({ site: 'plant-1', rack: 'r1' }, { rack: null })).toEqual({ site: 'plant-1' });
    expect(formatLabels(effectiveLabels({ b: '2', a: '1' }, {}))).toBe('a=1,b=2');
  });

  it('matches a selector when every key has its value; no selector is everywhere', () => {
    expect(selectorMatchesEnforcer(undefined, {})).toBe(true);
    expect(selectorMatchesEnforcer({ site: 'plant-1' }, { site: 'plant-1', rack: 'r1' })).toBe(true);
    expect(selectorMatchesEnforcer({ site: 'plant-1', rack: 'r2' }, { site: 'plant-1', rack: 'r1' })).toBe(false);
    expect(selectorMatchesEnforcer({ site: 'plant-1' }, {})).toBe(false);
    expect(selectorMatchesEnforcer({ constructor: '' }, {})).toBe(false);
  });
});
