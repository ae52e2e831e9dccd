// SPDX-License-Identifier: Apache-2.0
import { SegmentSchema } from '../policy/schema';
import { applyPatch, DEFAULT_SETTINGS, segmentThresholds } from './settings';

describe('monitoring settings', () => {
  it('every threshold has a default and is settable site-wide, with bad values refused by name', () => {
    const s = applyPatch(DEFAULT_SETTINGS, { interval: '1s', volumeWindows: ['1s', '5s', '30s'], slowScanWindow: '2m', slowScanDistinct: 25, incidentWindow: '5m', volumeRatios: [5, 4, 3] });
    expect(s).toMatchObject({ intervalMs: 1000, volumeWindowsMs: [1000, 5000, 30_000], slowScanWindowMs: 120_000, slowScanDistinct: 25, incidentWindowMs: 300_000, volumeRatios: [5, 4, 3] });
    expect(() => applyPatch(DEFAULT_SETTINGS, { volumeWindows: ['15s'] })).toThrow(/volumeWindows|each volume window/);
    expect(() => applyPatch(DEFAULT_SETTINGS, { scanDistinct: 1 })).toThrow(/scanDistinct/);
  });

  it("a segment's spec.monitoring sets its devices' thresholds over the site's", () => {
    const seg = SegmentSchema.parse({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'cams' }, spec: { cidrs: ['10.0.2.0/24'], monitoring: { learningWindow: '1h', scanDistinct: 8, volumeRatios: [6, 4, 3] } } });
    const t = segmentThresholds(DEFAULT_SETTINGS, seg.spec.monitoring);
    expect(t).toMatchObject({ learningWindowMs: 3600_000, scanDistinct: 8, volumeRatios: [6, 4, 3], slowScanDistinct: DEFAULT_SETTINGS.slowScanDistinct });
    expect(() => SegmentSchema.parse({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'x' }, spec: { cidrs: ['10.0.3.0/24'], monitoring: { learningWindow: 'soon' } } })).toThrow(/duration/);
    expect(() => SegmentSchema.parse({ apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'x' }, spec: { cidrs: ['10.0.3.0/24'], monitoring: { interval: '1s' } } })).toThrow();
  });
});
