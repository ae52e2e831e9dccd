// SPDX-License-Identifier: Apache-2.0
/**
 * Output formats, chosen once per command (kubectl's -o): `table` (the default), `wide`
 * (more columns), `json` and `yaml` (the API's objects; a list is a bare array), `name`
 * (`kind/name`, one a line). Commands build data; printers here print it.
 */
import { stringify } from 'yaml';
import { CliError } from '../cli-error';
import type { CliContext } from '../context';
import { FORMATS, type OutputFormat } from './formats';

export { FORMATS, parseFormat, type OutputFormat } from './formats';
import { colorOn, renderTable, StreamingTable, type Cell } from './table';

/** JSON (two-space indent) or YAML text of a value; undefined for the human formats. */
export function structured(format: OutputFormat, value: unknown): string | undefined {
  if (format === 'json') return JSON.stringify(value, null, 2) + '\n';
  if (format === 'yaml') return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
  return undefined;
}

/** One column of a list: its header, the cell of an item, and whether only `-o wide` shows it. */
export interface Column<T> {
  header: string;
  cell: (item: T) => Cell;
  wide?: boolean;
}

/** How a kind of item prints: its columns, and its `-o name` (`segment/sensors`). */
export interface ListView<T> {
  columns: Column<T>[];
  name?: (item: T) => string;
}

/** Prints a list (or, with `single`, one item of it) in the chosen format. */
export function printList<T>(ctx: CliContext, format: OutputFormat, view: ListView<T>, items: T[], opts: { single?: boolean } = {}): void {
  const s = structured(format, opts.single ? items[0] : items);
  if (s !== undefined) return ctx.out(s);
  if (format === 'name') {
    if (!view.name) throw new CliError('-o name is not available for this list; use -o json', 2);
    return ctx.out(items.map((i) => view.name!(i) + '\n').join(''));
  }
  const cols = view.columns.filter((c) => format === 'wide' || !c.wide);
  ctx.out(renderTable(cols.map((c) => c.header), items.map((i) => cols.map((c) => c.cell(i))), { color: colorOn(ctx) }));
}

/**
 * The printer of a --watch: batch after batch of items, as JSON lines (one object a
 * line, for jq), YAML documents (`---` apart), names, or table rows under one header
 * whose columns stay aligned from batch to batch.
 */
export class StreamPrinter<T> {
  private readonly table?: StreamingTable;
  private readonly cols: Column<T>[];

  constructor(
    private readonly ctx: CliContext,
    private readonly format: OutputFormat,
    private readonly view: ListView<T>,
  ) {
    this.cols = view.columns.filter((c) => format === 'wide' || !c.wide);
    if (format === 'table' || format === 'wide') this.table = new StreamingTable(this.cols.map((c) => c.header), colorOn(ctx));
    if (format === 'name' && !view.name) throw new CliError('-o name is not available for this list; use -o json', 2);
  }

  print(items: T[]): void {
    if (this.format === 'json') return items.forEach((i) => this.ctx.out(JSON.stringify(i) + '\n'));
    if (this.format === 'yaml') return items.forEach((i) => this.ctx.out('---\n' + structured('yaml', i)));
    if (this.format === 'name') return items.forEach((i) => this.ctx.out(this.view.name!(i) + '\n'));
    if (!items.length && this.table) return;
    this.ctx.out(this.table!.render(items.map((i) => this.cols.map((c) => c.cell(i)))));
  }
}

/** Prints one result (trace, apply, token…): JSON/YAML of the value, else the command's own text. */
export function printValue(ctx: CliContext, format: OutputFormat, value: unknown, human: () => string): void {
  const s = structured(format, value);
  if (s !== undefined) return ctx.out(s);
  if (format === 'name') throw new CliError('-o name is for lists (get, flows…); use -o json or yaml', 2);
  ctx.out(human());
}

/** Prints the value when the format is json or yaml and says so; refuses -o name; false for the human formats. */
export function emitted(ctx: CliContext, format: OutputFormat, value: unknown): boolean {
  const s = structured(format, value);
  if (s !== undefined) {
    ctx.out(s);
    return true;
  }
  if (format === 'name') throw new CliError('-o name is for lists (get, flows…); use -o json or yaml', 2);
  return false;
}
