import { colorOn, renderTable, StreamingTable } from './table';

describe('the table renderer', () => {
  it('aligns every column on its widest cell, the last one unpadded', () => {
    expect(renderTable(['A', 'LONG HEADER', 'Z'], [['xxxx', 'y', 'last'], ['x', { text: 'deny', style: 'red' }, '']])).toBe('A     LONG HEADER  Z\nxxxx  y            last\nx     deny\n');
  });

  it('colours styled cells only when asked, without changing the alignment', () => {
    const plain = renderTable(['V', 'N'], [[{ text: 'allow', style: 'green' }, '1']]);
    const coloured = renderTable(['V', 'N'], [[{ text: 'allow', style: 'green' }, '1']], { color: true });
    expect(plain).not.toContain('\x1b[');
    expect(coloured).toContain('\x1b[32mallow\x1b[39m  1');
    expect(coloured.replace(/\x1b\[\d+m/g, '')).toBe(plain);
  });

  it('colour on a terminal only, never with NO_COLOR or TERM=dumb', () => {
    expect(colorOn({ env: {}, isTTY: true })).toBe(true);
    expect(colorOn({ env: {}, isTTY: false })).toBe(false);
    expect(colorOn({ env: { NO_COLOR: '1' }, isTTY: true })).toBe(false);
    expect(colorOn({ env: { NO_COLOR: '' }, isTTY: true })).toBe(true); // no-color.org: set and not empty
    expect(colorOn({ env: { TERM: 'dumb' }, isTTY: true })).toBe(false);
  });

  it('a streaming table prints its header once and keeps columns aligned across batches', () => {
    const t = new StreamingTable(['FROM', 'VERDICT', 'N'], false);
    const a = t.render([['10.0.0.1:1234', 'allow', '1']]);
    const b = t.render([['10.0.0.2:80', 'deny', '22']]);
    expect(a).toBe('FROM           VERDICT  N\n10.0.0.1:1234  allow    1\n');
    expect(b).toBe('10.0.0.2:80    deny     22\n');
  });
});
