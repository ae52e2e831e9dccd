// SPDX-License-Identifier: Apache-2.0
import type { ConsoleState } from '../state';

/** One tab of the console: its element, and a refresh called when the data changed while it shows. */
export interface View {
  el: HTMLElement;
  refresh(): void;
}
export type ViewFactory = (state: ConsoleState) => View;

/** "12 packets", "3.4 k packets". */
export function count(n: number, unit: string): string {
  const t = n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)} k` : String(n);
  return `${t} ${unit}`;
}
