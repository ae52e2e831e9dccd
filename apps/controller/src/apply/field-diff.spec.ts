import { fieldDiff } from './field-diff';

describe('fieldDiff', () => {
  it('lists changed, added and removed leaves with their paths', () => {
    const a = { spec: { cidrs: ['10.0.0.0/8'], mode: 'enforce', selector: { type: 'x' } }, metadata: { labels: {} } };
    const b = { spec: { cidrs: ['10.0.0.0/8', '10.1.0.0/16'], mode: 'audit' }, metadata: { labels: { a: 'b' } } };
    expect(fieldDiff(a, b)).toEqual([
      { path: 'metadata.labels.a', to: 'b' },
      { path: 'spec.cidrs[1]', to: '10.1.0.0/16' },
      { path: 'spec.mode', from: 'enforce', to: 'audit' },
      { path: 'spec.selector', from: { type: 'x' } },
    ]);
    expect(fieldDiff(a, JSON.parse(JSON.stringify(a)))).toEqual([]);
  });
});
