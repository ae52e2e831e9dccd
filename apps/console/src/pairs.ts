// SPDX-License-Identifier: Apache-2.0
/**
 * Traffic per segment pair and verdict from the controller's own counters
 * (cordon_flow_packets_total / cordon_flow_bytes_total on /metrics): they count
 * every packet the enforcers report, however many flows a busy site has, so the
 * map and the matrix stay exact where the flow table shows only a sample.
 */
export interface PairTraffic {
  src: string;
  dst: string;
  verdict: string;
  packets: number;
  bytes: number;
}

const LINE = /^(cordon_flow_(?:packets|bytes)_total)\{([^}]*)\}\s+([0-9.eE+-]+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

export function parsePairs(metrics: string): PairTraffic[] {
  const out = new Map<string, PairTraffic>();
  for (const line of metrics.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of m[2].matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, '$1');
    if (!labels.src_segment || !labels.dst_segment || !labels.verdict) continue;
    const k = `${labels.src_segment}|${labels.dst_segment}|${labels.verdict}`;
    let p = out.get(k);
    if (!p) out.set(k, (p = { src: labels.src_segment, dst: labels.dst_segment, verdict: labels.verdict, packets: 0, bytes: 0 }));
    const v = Number(m[3]);
    if (m[1] === 'cordon_flow_packets_total') p.packets = v;
    else p.bytes = v;
  }
  return [...out.values()].filter((p) => p.packets > 0);
}

export interface Point {
  x: number;
  y: number;
}

/**
 * Segments on a circle, in name order so a segment keeps its place between
 * refreshes; `world` and `quarantine` sit in the middle row when present.
 */
export function circleLayout(names: readonly string[], width: number, height: number): Map<string, Point> {
  const sorted = [...new Set(names)].sort();
  const out = new Map<string, Point>();
  const r = Math.max(40, Math.min(width, height) / 2 - 70);
  const cx = width / 2;
  const cy = height / 2;
  if (sorted.length === 1) out.set(sorted[0], { x: cx, y: cy });
  else
    sorted.forEach((n, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / sorted.length;
      out.set(n, { x: Math.round(cx + r * Math.cos(a)), y: Math.round(cy + r * Math.sin(a)) });
    });
  return out;
}

/** Stroke width of an edge: grows with the log of its packets, 1.5 to 10 px. */
export const edgeWidth = (packets: number) => Math.min(10, 1.5 + Math.log10(1 + packets) * 1.5);

export const VERDICT_COLOUR: Record<string, string> = { allow: '#2e9d57', deny: '#d0342c', audit: '#d89614' };
