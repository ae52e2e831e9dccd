import { unifiedDiff } from './text-diff';

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => expect(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y')).toBe(''));

  it('shows a changed line with its context and line numbers', () => {
    const a = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].join('\n') + '\n';
    const b = a.replace('5', 'five');
    expect(unifiedDiff(a, b, 'stored', 'file')).toBe(['--- stored', '+++ file', '@@ -2,7 +2,7 @@', ' 2', ' 3', ' 4', '-5', '+five', ' 6', ' 7', ' 8', ''].join('\n'));
  });

  it('diffs a new document against nothing', () => {
    expect(unifiedDiff('', 'a\nb\n', '/dev/null', 'new')).toBe(['--- /dev/null', '+++ new', '@@ -0,0 +1,2 @@', '+a', '+b', ''].join('\n'));
  });

  it('keeps far-apart changes in separate hunks', () => {
    const a = Array.from({ length: 20 }, (_, i) => String(i)).join('\n');
    const b = a.replace(/^1$/m, 'one').replace(/^18$/m, 'eighteen');
    const d = unifiedDiff(a, b, 'a', 'b');
    expect(d.match(/^@@/gm)).toHaveLength(2);
  });
});
