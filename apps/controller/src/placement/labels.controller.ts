// SPDX-License-Identifier: Apache-2.0
/**
 * `cordon label enforcer NAME k=v k2-` over REST: PATCH
 * /v1/enforcers/NAME/labels with `{"set": {"site": "plant-1", "old": null},
 * "reset": false}`. The controller's labels override the enforcer's own
 * (--label) key by key; null hides a key the enforcer reports; `reset` drops
 * every override first. Audited; the enforcer's open bundle stream gets what
 * changed for it at once. And GET /v1/enforcers/NAME/bundle: what those
 * labels give it of the current generation (`cordon get bundle --enforcer NAME`).
 */
import { Body, Controller, Get, Inject, Param, Patch } from '@nestjs/common';
import { enforcerNameOr400 } from '../http/enforcer-name';
import { CurrentActor } from '../auth/actor.decorator';
import type { Actor } from '../auth/roles';
import { badRequest, notFound } from '../http/problem';
import { EnforcerLabels } from './enforcer-labels.service';
import { EnforcerPlacement } from './placement.service';

@Controller('v1/enforcers')
export class LabelsController {
  constructor(
    @Inject(EnforcerLabels) private readonly labels: EnforcerLabels,
    @Inject(EnforcerPlacement) private readonly placement: EnforcerPlacement,
  ) {}

  @Get(':name/bundle')
  async bundle(@Param('name') name: string) {
    const v = await this.placement.forEnforcer(enforcerNameOr400(name));
    if (!v.bundle) throw notFound(v.docs.length ? 'the generation is being published: try again in a moment' : 'no bundle yet: apply some documents first (cordon apply -f FILE)');
    return v.bundle;
  }

  @Get(':name/labels')
  async get(@Param('name') name: string) {
    const l = await this.labels.of(enforcerNameOr400(name));
    if (!l) throw notFound(`enforcer "${name}" is not enrolled`);
    return { name, labels: l };
  }

  @Patch(':name/labels')
  async patch(@Param('name') name: string, @Body() body: unknown, @CurrentActor() actor: Actor) {
    const b = (body ?? {}) as { set?: unknown; reset?: unknown };
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body is {"set": {"KEY": "VALUE" or null}, "reset": false}');
    const set = b.set ?? {};
    if (typeof set !== 'object' || set === null || Array.isArray(set)) throw badRequest('set: a map of label keys to a value (a string) or null (remove)');
    for (const [k, v] of Object.entries(set)) if (v !== null && typeof v !== 'string') throw badRequest(`set.${k}: a value is a string, or null to remove the key`);
    if (b.reset !== undefined && typeof b.reset !== 'boolean') throw badRequest('reset: true or false');
    if (Object.keys(set).length === 0 && !b.reset) throw badRequest('nothing to change: set a label (KEY=VALUE), remove one (KEY-) or reset');
    const rec = await this.labels.label(enforcerNameOr400(name), { set: set as Record<string, string | null>, reset: b.reset === true }, actor);
    return { name, labels: rec.labels, reportedLabels: rec.reportedLabels, labelOverrides: rec.labelOverrides };
  }
}
