/** Which segments select a device by labels, without testing every segment against every device. */
import type { Segment } from './schema';

/** A selector matches when every one of its labels is on the device; an empty selector matches nothing. */
export function selectorMatches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  const keys = Object.keys(selector);
  if (keys.length === 0 || !labels) return false;
  return keys.every((k) => labels[k] === selector[k]);
}

/** Returns a function giving the segments (sorted by name) whose selector matches a label set. */
export function selectingSegments(segments: readonly Segment[]): (labels: Record<string, string> | undefined) => Segment[] {
  // Indexed by one label of each selector: a device can only match through a label it has.
  const index = new Map<string, Segment[]>();
  for (const s of segments) {
    const keys = Object.keys(s.spec.selector).sort();
    if (keys.length === 0) continue;
    const k = `${keys[0]}\u0000${s.spec.selector[keys[0]]}`;
    const list = index.get(k);
    if (list) list.push(s);
    else index.set(k, [s]);
  }
  return (labels) => {
    if (!labels) return [];
    const found = new Set<Segment>();
    for (const [k, v] of Object.entries(labels)) {
      for (const s of index.get(`${k}\u0000${v}`) ?? []) if (selectorMatches(s.spec.selector, labels)) found.add(s);
    }
    return [...found].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  };
}
