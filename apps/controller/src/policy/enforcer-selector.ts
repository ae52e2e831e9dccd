// SPDX-License-Identifier: Apache-2.0
/**
 * `enforcers: { site: plant-1 }` on a Policy or Segment: the enforcers it
 * applies on (model/placement/labels.ts has the syntax and the matching).
 * Omitted: every enforcer. An empty selector is refused rather than read as
 * "everywhere", so that a forgotten label is not a site-wide rule.
 */
import { z } from 'zod';
import { labelsProblem } from '../../../../model/placement/labels';

export const EnforcerSelector = z
  .record(z.string(), z.string({ error: 'a label value is a string (quote numbers and booleans)' }))
  .superRefine((s, ctx) => {
    if (Object.keys(s).length === 0) {
      ctx.addIssue({ code: 'custom', message: 'enforcers is empty; omit it to mean every enforcer' });
      return;
    }
    const p = labelsProblem(s);
    if (p) ctx.addIssue({ code: 'custom', message: p });
  });
