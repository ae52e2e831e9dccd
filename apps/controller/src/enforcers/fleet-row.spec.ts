import { fleetRow, fullestMap } from './fleet-row';
import type { EnforcerRecord } from '../store/types';

const record = (over: Partial<EnforcerRecord> = {}): EnforcerRecord => ({
  name: 'gw', enrolledAt: '2026-01-01T00:00:00.000Z', lastSeen: null, generation: null, status: {}, certSerial: null, revoked: false, labels: {}, reportedLabels: {}, labelOverrides: {}, ...over,
});

describe('fleet row', () => {
  it('takes the fullest map by share of its capacity, skipping maps without one and values that are not counts', () => {
    expect(fullestMap({ ipcache: { entries: 900, max: 10_000 }, policy: { entries: 2, max: 3 }, empty: { entries: 5, max: 0 }, junk: { entries: 'x', max: 1 } })).toEqual({ map: 'policy', entries: 2, max: 3, percent: 66.7 });
    expect(fullestMap({ ct: { entries: '10', max: '40' } })).toEqual({ map: 'ct', entries: 10, max: 40, percent: 25 });
    for (const bad of [undefined, null, 'x', [], {}, { m: null }]) expect(fullestMap(bad)).toBeNull();
  });

  it('is in sync at the current generation, never connected when revoked, and shows nothing it was not told', () => {
    expect(fleetRow(record(), null, 0)).toMatchObject({ connected: false, controller: null, inSync: true, version: null, certExpiresAt: null, mapFill: null });
    expect(fleetRow(record({ generation: 3 }), 'ctl-a', 4)).toMatchObject({ connected: true, controller: 'ctl-a', currentGeneration: 4, inSync: false });
    expect(fleetRow(record({ generation: 4, revoked: true }), 'ctl-a', 4)).toMatchObject({ connected: false, controller: null, inSync: true });
    expect(fleetRow(record({ status: { version: '1.2.3', certificateExpiresAt: 1_800_000_000_000 } }), null, 0)).toMatchObject({ version: '1.2.3', certExpiresAt: '2027-01-15T08:00:00.000Z' });
  });
});
