// SPDX-License-Identifier: Apache-2.0
/**
 * The one table renderer of the CLI (kubectl's printers): a header, columns aligned
 * on the widest cell, two spaces apart, the last column unpadded. Colour only on a
 * terminal and never when NO_COLOR is set (https://no-color.org).
 */

export type Style = 'green' | 'red' | 'yellow' | 'dim' | 'bold';
/** A cell: text, or text with a style (shown only when colour is on). */
export type Cell = string | { text: string; style?: Style };

const ANSI: Record<Style, [string, string]> = {
  green: ['\x1b[32m', '\x1b[39m'],
  red: ['\x1b[31m', '\x1b[39m'],
  yellow: ['\x1b[33m', '\x1b[39m'],
  dim: ['\x1b[2m', '\x1b[22m'],
  bold: ['\x1b[1m', '\x1b[22m'],
};

/** Colour when writing to a terminal, unless NO_COLOR is set to anything non-empty (or TERM is dumb). */
export function colorOn(ctx: { env: NodeJS.ProcessEnv | Record<string, string | undefined>; isTTY?: boolean }): boolean {
  if (ctx.env.NO_COLOR) return false;
  if (ctx.env.TERM === 'dumb') return false;
  return !!ctx.isTTY;
}

const text = (c: Cell | undefined) => (c === undefined ? '' : typeof c === 'string' ? c : c.text);

export function renderTable(headers: string[], rows: Cell[][], opts: { color?: boolean; header?: boolean } = {}): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i]).length)));
  const paint = (c: Cell | undefined, s: string) => (opts.color && typeof c === 'object' && c.style ? ANSI[c.style][0] + s + ANSI[c.style][1] : s);
  const line = (r: Cell[]) =>
    r
      .map((c, i) => {
        const t = text(c);
        const padded = i === r.length - 1 ? t : t.padEnd(widths[i]);
        return paint(c, padded);
      })
      .join('  ')
      .trimEnd();
  const out = opts.header === false ? rows.map(line) : [line(headers), ...rows.map(line)];
  return out.length ? out.join('\n') + '\n' : '';
}

/** Fixed-width columns, header first, no colour: what commands without styles call. */
export function table(headers: string[], rows: string[][]): string {
  return renderTable(headers, rows);
}

/** Column widths that stay put across the batches of a --watch (each batch may widen them, never narrow). */
export class StreamingTable {
  private widths: number[];
  private printedHeader = false;

  constructor(
    private readonly headers: string[],
    private readonly color: boolean,
  ) {
    this.widths = headers.map((h) => h.length);
  }

  render(rows: Cell[][]): string {
    for (const r of rows) r.forEach((c, i) => (this.widths[i] = Math.max(this.widths[i] ?? 0, text(c).length)));
    const pad = (r: Cell[]) => r.map((c, i) => (i === r.length - 1 ? c : typeof c === 'string' ? c.padEnd(this.widths[i]) : { ...c, text: c.text.padEnd(this.widths[i]) }));
    const body = renderTable(this.headers, rows.map(pad), { color: this.color, header: false });
    if (this.printedHeader) return body;
    this.printedHeader = true;
    return renderTable(this.headers.map((h, i) => (i === this.headers.length - 1 ? h : h.padEnd(this.widths[i]))), [], {}) + body;
  }
}
