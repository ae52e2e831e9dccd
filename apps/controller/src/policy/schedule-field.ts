// SPDX-License-Identifier: Apache-2.0
/** The `schedule` of a Policy spec: its shape here, its meaning in model/schedule/ (parseSchedule gives the errors). */
import { z } from 'zod';
import { parseSchedule } from '../../../../model/schedule/parse';

export const ScheduleField = z
  .strictObject({
    timezone: z.string({ error: 'timezone is an IANA name such as Europe/Berlin or UTC' }),
    windows: z.array(z.string({ error: 'a window is a string such as "Mon-Fri 07:00-19:00"' }), { error: 'windows is a list of strings' }),
  })
  .superRefine((s, ctx) => {
    const r = parseSchedule(s);
    if ('errors' in r) for (const e of r.errors) ctx.addIssue({ code: 'custom', path: e.path, message: e.message });
  });

/** An instant with its offset: 2026-12-24T09:00:00+01:00 or 2026-12-24T08:00:00Z. */
export const Instant = z
  .string({ error: 'at is a date and time with its offset, such as 2026-12-24T09:00:00+01:00 or 2026-12-24T08:00:00Z' })
  .refine((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s) && Number.isFinite(Date.parse(s)), {
    error: 'at is a date and time with its offset, such as 2026-12-24T09:00:00+01:00 or 2026-12-24T08:00:00Z',
  });
