// SPDX-License-Identifier: Apache-2.0
/**
 * Monitoring settings: defaults, then the controller's flags when config.ts
 * carries them (learningWindow, syslog, syslogFormat), then the environment
 * (CORDON_LEARNING_WINDOW=7d, CORDON_SYSLOG=udp://127.0.0.1:514,
 * CORDON_SYSLOG_FORMAT=rfc5424|cef), then PUT /v1/monitoring/settings at run time.
 */
import { z } from 'zod';
import { DEFAULT_DETECTOR, DetectorOptions, Thresholds } from './detector';
import { durationMs } from './posture';

export interface MonitoringSettings extends DetectorOptions {
  /** Posture re-evaluation, interval closing and audit tailing period. */
  tickMs: number;
  /** Drops are summarised per flow over this interval. */
  dropSummaryMs: number;
  syslog: string | null;
  syslogFormat: 'rfc5424' | 'cef';
}

export const DEFAULT_SETTINGS: MonitoringSettings = {
  ...DEFAULT_DETECTOR,
  tickMs: 2000,
  dropSummaryMs: 10_000,
  syslog: null,
  syslogFormat: 'rfc5424',
};

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const show = (ms: number) => (ms % DAY === 0 ? `${ms / DAY}d` : ms % HOUR === 0 ? `${ms / HOUR}h` : ms % MINUTE === 0 ? `${ms / MINUTE}m` : ms % SECOND === 0 ? `${ms / SECOND}s` : `${ms}ms`);

/**
 * A duration (ms as a number, or "30s") between min and max. Every duration here
 * drives a timer or a window: below the floor the controller spins (a 1 ms tick
 * is a busy loop), and above ~24.8 days setTimeout overflows and fires at once,
 * which is the same busy loop; so each has bounds that say why.
 */
function duration(field: string, min: number, max: number) {
  return z.union([z.number(), z.string()]).transform((v, ctx): number => {
    let ms: number;
    if (typeof v === 'number') ms = v;
    else {
      try {
        ms = durationMs(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }
    if (!Number.isSafeInteger(ms) || ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `${field} must be between ${show(min)} and ${show(max)}, got ${typeof v === 'number' ? v : JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  });
}
const int = (field: string, min: number, max: number) =>
  z.number().refine((n) => Number.isInteger(n) && n >= min && n <= max, { message: `${field} must be an integer from ${min} to ${max}` });
const num = (field: string, min: number, max: number, exclusiveMin = false) =>
  z.number().refine((n) => Number.isFinite(n) && (exclusiveMin ? n > min : n >= min) && n <= max, { message: `${field} must be a number ${exclusiveMin ? 'above' : 'from'} ${min} ${exclusiveMin ? 'and at most' : 'to'} ${max}` });

export const SyslogUrl = z
  .string()
  .regex(/^(udp|tcp):\/\/(\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d{1,5}$/, { error: 'syslog is udp://HOST:PORT or tcp://HOST:PORT' })
  .nullable();

/** What PUT /v1/monitoring/settings accepts (durations as numbers of ms or "30s"). */
export const SettingsPatch = z.strictObject({
  learningWindow: duration('learningWindow', SECOND, 365 * DAY).optional(),
  interval: duration('interval', SECOND, DAY).optional(),
  scanWindow: duration('scanWindow', SECOND, DAY).optional(),
  deniedWindow: duration('deniedWindow', SECOND, DAY).optional(),
  // The tick also tails the audit log and re-evaluates posture: at most a few per second.
  tick: duration('tick', 100, HOUR).optional(),
  dropSummary: duration('dropSummary', SECOND, DAY).optional(),
  // The detector sizes per-device tables to count up to these: a huge one is memory per device.
  scanDistinct: int('scanDistinct', 2, 40).optional(),
  slowScanWindow: duration('slowScanWindow', SECOND, DAY).optional(),
  slowScanDistinct: int('slowScanDistinct', 2, 40).optional(),
  earlyScanDistinct: int('earlyScanDistinct', 2, 40).optional(),
  longScanWindow: duration('longScanWindow', SECOND, DAY).optional(),
  longScanDistinct: int('longScanDistinct', 2, 40).optional(),
  distributedScanDistinct: int('distributedScanDistinct', 2, 96).optional(),
  distributedScanDevices: int('distributedScanDevices', 2, 48).optional(),
  deniedBurst: int('deniedBurst', 1, 1_000_000).optional(),
  noveltyPerIncident: int('noveltyPerIncident', 0, 1000).optional(),
  diversePeers: int('diversePeers', 2, 255).optional(),
  incidentWindow: duration('incidentWindow', SECOND, DAY).optional(),
  volumeWindows: z.array(duration('volumeWindows', SECOND, DAY)).min(1).max(4).optional(),
  volumeRatios: z.array(num('volumeRatios', 0, 1000, true)).min(1).max(4).optional(),
  volumeScore: num('volumeScore', 0, 1000, true).optional(),
  volumeMinSamples: int('volumeMinSamples', 3, 32).optional(),
  volumeFloorBytes: num('volumeFloorBytes', 0, Number.MAX_SAFE_INTEGER).optional(),
  burstRatio: num('burstRatio', 1, 1000, true).optional(),
  burstFloorBytes: num('burstFloorBytes', 0, Number.MAX_SAFE_INTEGER).optional(),
  syslog: SyslogUrl.optional(),
  syslogFormat: z.enum(['rfc5424', 'cef']).optional(),
});
export type SettingsPatch = z.input<typeof SettingsPatch>;

export function applyPatch(s: MonitoringSettings, raw: unknown): MonitoringSettings {
  const p = SettingsPatch.parse(raw);
  const out = { ...s };
  if (p.learningWindow !== undefined) out.learningWindowMs = p.learningWindow;
  if (p.interval !== undefined) out.intervalMs = p.interval;
  if (p.scanWindow !== undefined) out.scanWindowMs = p.scanWindow;
  if (p.deniedWindow !== undefined) out.deniedWindowMs = p.deniedWindow;
  if (p.tick !== undefined) out.tickMs = p.tick;
  if (p.dropSummary !== undefined) out.dropSummaryMs = p.dropSummary;
  if (p.slowScanWindow !== undefined) out.slowScanWindowMs = p.slowScanWindow;
  if (p.longScanWindow !== undefined) out.longScanWindowMs = p.longScanWindow;
  if (p.incidentWindow !== undefined) out.incidentWindowMs = p.incidentWindow;
  if (p.volumeWindows !== undefined) out.volumeWindowsMs = p.volumeWindows;
  for (const k of ['scanDistinct', 'earlyScanDistinct', 'slowScanDistinct', 'longScanDistinct', 'distributedScanDistinct', 'distributedScanDevices', 'deniedBurst', 'noveltyPerIncident', 'diversePeers', 'volumeRatios', 'volumeScore', 'volumeMinSamples', 'volumeFloorBytes', 'burstRatio', 'burstFloorBytes', 'syslogFormat'] as const) {
    if (p[k] !== undefined) (out as Record<string, unknown>)[k] = p[k];
  }
  if (p.syslog !== undefined) out.syslog = p.syslog;
  const bucketsPerWindow = out.volumeWindowsMs.map((w) => w / out.intervalMs);
  if (bucketsPerWindow.some((k) => k < 1 || k > 30 || !Number.isInteger(k))) throw new z.ZodError([{ code: 'custom', path: ['volumeWindows'], message: `each volume window is 1 to 30 intervals of ${out.intervalMs} ms`, input: out.volumeWindowsMs }]);
  return out;
}

/** The thresholds of a segment's devices: the site's, with what its spec.monitoring sets (durations as "30s"). */
export function segmentThresholds(site: Thresholds, spec: Record<string, unknown> | undefined): Thresholds {
  if (!spec) return site;
  const out: Thresholds = { ...site };
  const ms: Record<string, keyof Thresholds> = { learningWindow: 'learningWindowMs', scanWindow: 'scanWindowMs', slowScanWindow: 'slowScanWindowMs', longScanWindow: 'longScanWindowMs', deniedWindow: 'deniedWindowMs', incidentWindow: 'incidentWindowMs' };
  for (const [k, v] of Object.entries(spec)) {
    if (v === undefined) continue;
    if (ms[k]) (out as unknown as Record<string, unknown>)[ms[k]] = typeof v === 'number' ? v : durationMs(String(v));
    else if (k in out) (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}

/** Boot-time settings; a bad value stops the controller with the variable's name. */
export function initialSettings(config: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): MonitoringSettings {
  const patch: Record<string, unknown> = {};
  const from = (key: string, envName: string) => config[key] ?? env[envName];
  const lw = from('learningWindow', 'CORDON_LEARNING_WINDOW');
  if (lw !== undefined && lw !== '') patch.learningWindow = lw;
  const sl = from('syslog', 'CORDON_SYSLOG');
  if (sl) patch.syslog = sl;
  const sf = from('syslogFormat', 'CORDON_SYSLOG_FORMAT');
  if (sf) patch.syslogFormat = sf;
  const tick = env.CORDON_MONITORING_TICK;
  if (tick) patch.tick = tick;
  try {
    return applyPatch(DEFAULT_SETTINGS, patch);
  } catch (err) {
    const issues = (err as z.ZodError).issues?.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid monitoring setting (--learning-window / --syslog / CORDON_* variables): ${issues ?? (err as Error).message}`);
  }
}
