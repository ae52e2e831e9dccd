// SPDX-License-Identifier: Apache-2.0
/**
 * Elements without a framework: h('div', { class: 'x', onclick: fn }, child…)
 * and s() for SVG. Text always goes in as text nodes (never innerHTML), so no
 * string from the API is ever parsed as markup.
 */
type Attr = string | number | boolean | null | undefined | ((ev: Event) => void);
export type Child = Node | string | number | null | undefined | false | Child[];

function fill(el: Element, attrs: Record<string, Attr>, children: Child[]): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v as EventListener);
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
}

export function append(el: Element, children: Child[]): void {
  for (const c of children.flat(10 as 1)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, Attr> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  fill(el, attrs, children);
  return el;
}

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, Attr> = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  fill(el, attrs, children);
  return el;
}

/** Replaces an element's children. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}
