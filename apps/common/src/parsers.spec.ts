// SPDX-License-Identifier: Apache-2.0
import { durationMs, parseDuration, parsePositiveDuration } from './duration';
import { parseHostPort } from './host-port';
import { trimOldest } from './lru';

test('durations: every unit, zero, bare numbers only when asked, nothing else', () => {
  expect(['500ms', '30s', '10m', '2h', '7d', '2w'].map((t) => parseDuration(t))).toEqual([500, 30_000, 600_000, 7_200_000, 604_800_000, 1_209_600_000]);
  expect(parseDuration(' 90d ')).toBe(90 * 86_400_000);
  expect(parseDuration('0s')).toBe(0);
  expect(parsePositiveDuration('0s')).toBeNull();
  expect(parseDuration('30')).toBeNull();
  expect(parseDuration('30', { bareUnit: 's' })).toBe(30_000);
  for (const bad of ['', '1.5h', '-1s', '10 s', '1y', 'h']) expect(parseDuration(bad)).toBeNull();
  expect(() => durationMs('soon')).toThrow('bad duration "soon"');
});

test('host:port: names, IPv4, bracketed IPv6, port bounds', () => {
  expect(parseHostPort('127.0.0.1:7470')).toEqual({ host: '127.0.0.1', port: 7470 });
  expect(parseHostPort('controller.local:0')).toEqual({ host: 'controller.local', port: 0 });
  expect(parseHostPort('[::1]:65535')).toEqual({ host: '::1', port: 65535 });
  for (const bad of ['::1:80', '127.0.0.1', '127.0.0.1:65536', 'a b:1', '[::1]', ':80']) expect(parseHostPort(bad)).toBeNull();
});

test('LRU trim: nothing under the bound, the oldest down to 7/8 of it over', () => {
  const m = new Map(Array.from({ length: 16 }, (_, i) => [i, i]));
  trimOldest(m, 16);
  expect(m.size).toBe(16);
  m.set(16, 16);
  trimOldest(m, 16);
  expect([...m.keys()]).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
});
