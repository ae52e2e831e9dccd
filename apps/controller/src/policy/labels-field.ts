// SPDX-License-Identifier: Apache-2.0
/**
 * Labels in documents (metadata.labels, device selectors). Keys follow
 * Kubernetes' syntax, checked by model/placement/labels.ts (the one key
 * validator, for enforcer labels too). Values are any string of at most 63
 * characters, not Kubernetes' stricter value syntax: document labels carry
 * URIs (`mud-controller: urn:ietf:params:mud:dns`). Enforcer labels and
 * `enforcers:` selectors keep the strict syntax (enforcer-selector.ts).
 */
import { z } from 'zod';
import { labelKeyProblem, MAX_LABELS } from '../../../../model/placement/labels';

export const Labels = z
  .record(z.string(), z.string({ error: 'a label value is a string (quote numbers and booleans)' }).max(63, { error: 'a label value is at most 63 characters' }))
  .superRefine((labels, ctx) => {
    const keys = Object.keys(labels);
    if (keys.length > MAX_LABELS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_LABELS} labels` });
    for (const k of keys) {
      const p = labelKeyProblem(k);
      if (p) ctx.addIssue({ code: 'custom', message: p });
    }
  });
