// SPDX-License-Identifier: Apache-2.0
import { isOpen, nextChange, openIntervals, parseSchedule, type ParsedSchedule, type ScheduleSpec } from './index';
import { instantOf } from './zone';

const H = 3_600_000;

function parsed(spec: ScheduleSpec): ParsedSchedule {
  const r = parseSchedule(spec);
  if ('errors' in r) throw new Error(JSON.stringify(r.errors));
  return r;
}

/** Wall clock of an instant in tz, by Intl directly (not through zone.ts): "2026-03-29 03:30". */
function wall(tz: string, t: number): string {
  return new Date(t).toLocaleString('sv-SE', { timeZone: tz, hourCycle: 'h23' }).slice(0, 16);
}

/** Every transition in [from, to), walked with nextChange. */
function transitions(s: ParsedSchedule, from: number, to: number): number[] {
  const out: number[] = [];
  for (let t: number | null = from; (t = nextChange(s, t)) !== null && t < to; ) out.push(t);
  return out;
}

describe('schedule windows over 2026 in three timezones', () => {
  const zones = [
    // [timezone, spring-forward (gap) Sunday, fall-back (overlap) Sunday, wall time the 01:30-02:30 window closes on the gap day, its length on the overlap day]
    { tz: 'Europe/Berlin', gap: '2026-03-29', overlap: '2026-10-25', gapClose: '03:30', overlapLen: 1 * H },
    { tz: 'America/New_York', gap: '2026-03-08', overlap: '2026-11-01', gapClose: '03:30', overlapLen: 2 * H },
    { tz: 'Australia/Sydney', gap: '2026-10-04', overlap: '2026-04-05', gapClose: '03:30', overlapLen: 1 * H },
  ];

  for (const z of zones) {
    describe(z.tz, () => {
      const yearStart = instantOf(z.tz, Date.UTC(2026, 0, 1));
      const yearEnd = instantOf(z.tz, Date.UTC(2027, 0, 1));
      const shift = parsed({ timezone: z.tz, windows: ['Mon-Fri 07:00-19:00', 'Sun 01:30-02:30'] });

      it('opens and closes 626 times (261 weekdays, 52 Sundays), at the written wall times', () => {
        const ts = transitions(shift, yearStart, yearEnd);
        expect(ts).toHaveLength(2 * (261 + 52));
        let open = isOpen(shift, yearStart);
        expect(open).toBe(false);
        for (const t of ts) {
          // A real edge: the state flips at t, not a millisecond before.
          expect(isOpen(shift, t - 1)).toBe(open);
          expect(isOpen(shift, t)).toBe(!open);
          open = !open;
          const w = wall(z.tz, t);
          const day = w.slice(0, 10);
          const sunday = new Date(`${day}T12:00:00Z`).getUTCDay() === 0;
          const expected = sunday ? (open ? ['01:30'] : day === z.gap ? [z.gapClose] : ['02:30']) : open ? ['07:00'] : ['19:00'];
          expect({ at: w, open }).toEqual({ at: `${day} ${expected[0]}`, open });
        }
      });

      it('the Sunday window across the transitions: the gap day ends at the shifted wall time, the overlap day starts at the earlier 01:30', () => {
        const gapDay = openIntervals(shift, instantOf(z.tz, Date.parse(`${z.gap}T00:00Z`)), instantOf(z.tz, Date.parse(`${z.gap}T23:59Z`)));
        expect(gapDay).toHaveLength(1);
        expect(wall(z.tz, gapDay[0].start)).toBe(`${z.gap} 01:30`);
        expect(wall(z.tz, gapDay[0].end)).toBe(`${z.gap} ${z.gapClose}`);
        const overlapDay = openIntervals(shift, instantOf(z.tz, Date.parse(`${z.overlap}T00:00Z`)), instantOf(z.tz, Date.parse(`${z.overlap}T23:59Z`)));
        expect(overlapDay).toHaveLength(1);
        expect(overlapDay[0].end - overlapDay[0].start).toBe(z.overlapLen);
      });

      it('a whole-day window lasts 23 hours on the gap day, 25 on the overlap day, 24 on every other Sunday', () => {
        const sundays = parsed({ timezone: z.tz, windows: ['Sun 00:00-24:00'] });
        const ivs = openIntervals(sundays, yearStart, yearEnd);
        expect(ivs).toHaveLength(52);
        for (const iv of ivs) {
          const day = wall(z.tz, iv.start).slice(0, 10);
          expect(wall(z.tz, iv.start)).toBe(`${day} 00:00`);
          expect({ day, hours: (iv.end - iv.start) / H }).toEqual({ day, hours: day === z.gap ? 23 : day === z.overlap ? 25 : 24 });
        }
      });
    });
  }

  it('a one-off window opens and closes once, at its wall times in its timezone', () => {
    const s = parsed({ timezone: 'Europe/Berlin', windows: ['2026-12-24T08:00/2026-12-24T12:00'] });
    expect(transitions(s, Date.UTC(2026, 0, 1), Date.UTC(2028, 0, 1))).toEqual([Date.UTC(2026, 11, 24, 7), Date.UTC(2026, 11, 24, 11)]);
    expect(nextChange(s, Date.UTC(2026, 11, 24, 11))).toBeNull();
  });

  it('overlapping windows are their union; a window open all week never changes', () => {
    const s = parsed({ timezone: 'UTC', windows: ['Mon 08:00-12:00', 'Mon 10:00-14:00', 'Mon 14:00-15:00'] });
    const mon = Date.UTC(2026, 10, 30); // a Monday
    expect(openIntervals(s, mon, mon + 24 * H)).toEqual([{ start: mon + 8 * H, end: mon + 15 * H }]);
    const always = parsed({ timezone: 'UTC', windows: ['Mon-Sun 00:00-24:00'] });
    expect(isOpen(always, mon)).toBe(true);
    expect(nextChange(always, mon)).toBeNull();
  });
});

describe('schedule errors', () => {
  const errors = (spec: ScheduleSpec) => {
    const r = parseSchedule(spec);
    return 'errors' in r ? r.errors : [];
  };
  it('names a bad timezone', () => {
    expect(errors({ timezone: 'Europe/Berlinn', windows: ['Mon 08:00-09:00'] })).toEqual([{ path: ['timezone'], message: expect.stringContaining('unknown timezone "Europe/Berlinn"') }]);
  });
  it('names a bad day range, a reversed range and an unknown day', () => {
    expect(errors({ timezone: 'UTC', windows: ['Fri-Mon 08:00-09:00'] })[0]).toEqual({ path: ['windows', 0], message: expect.stringContaining('bad day range "Fri-Mon": Fri comes after Mon') });
    expect(errors({ timezone: 'UTC', windows: ['Mon-Fry 08:00-09:00'] })[0].message).toContain('Fry is not a day');
    expect(errors({ timezone: 'UTC', windows: ['Weekdays 08:00-09:00'] })[0].message).toContain('bad day range "Weekdays"');
  });
  it('names an end before its start, in both forms', () => {
    expect(errors({ timezone: 'UTC', windows: ['Mon 19:00-07:00'] })[0].message).toContain('the end 07:00 is not after the start 19:00');
    expect(errors({ timezone: 'UTC', windows: ['Mon 08:00-09:00', '2026-12-24T12:00/2026-12-24T08:00'] })).toEqual([
      { path: ['windows', 1], message: expect.stringContaining('the end 2026-12-24T08:00 is not after the start 2026-12-24T12:00') },
    ]);
  });
  it('names a time or date that does not exist, and an empty list', () => {
    expect(errors({ timezone: 'UTC', windows: ['Mon 25:00-26:00'] })[0].message).toContain('25:00 is not a time of day');
    expect(errors({ timezone: 'UTC', windows: ['2026-02-30T08:00/2026-03-01T08:00'] })[0].message).toContain('2026-02-30T08:00 is not a date');
    expect(errors({ timezone: 'UTC', windows: [] })).toEqual([{ path: ['windows'], message: 'a schedule needs at least one window' }]);
  });
  it('accepts lists of days and 24:00', () => {
    expect(errors({ timezone: 'UTC', windows: ['Mon,Wed,Sat-Sun 00:00-24:00'] })).toEqual([]);
  });
});
