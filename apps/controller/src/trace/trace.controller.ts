import { Body, Controller, Get, HttpCode, Inject, Post, Query } from '@nestjs/common';
import { toDocument } from '../apply/site-state';
import { CurrentGeneration } from '../bundles/current-generation';
import { trace } from '../compiler/trace';
import { parseAt, traceAt } from './trace-at';
import { badRequest, notFound, Problem } from '../http/problem';
import type { Store } from '../store/store';
import { STORE } from '../di-tokens';
import { MinRole } from '../auth/roles';
import { EnforcerPlacement } from '../placement/placement.service';
import { anyPlaced } from '../placement/enforcer-view';

const PLACED_NOTE = 'some Policies or Segments apply only on some enforcers (enforcers:): this verdict counts every document; --enforcer NAME judges as that enforcer would';

interface TraceQuery {
  from?: unknown;
  to?: unknown;
  protocol?: unknown;
  port?: unknown;
  type?: unknown;
  /** Judge as this enforcer would: with the view of the generation its labels give (placement/). */
  enforcer?: unknown;
  /** The instant to judge at (default now): scheduled policies as they are then. */
  at?: unknown;
}

@Controller('v1/trace')
export class TraceController {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(CurrentGeneration) private readonly generations: CurrentGeneration,
    @Inject(EnforcerPlacement) private readonly placement: EnforcerPlacement,
  ) {}

  @Get()
  get(@Query() q: TraceQuery) {
    return this.run(q);
  }

  /** Read-only, so a viewer may POST it too. */
  @Post()
  @HttpCode(200)
  @MinRole('viewer')
  post(@Body() body: TraceQuery) {
    return this.run(body ?? {});
  }

  private async run(q: TraceQuery) {
    const missing = ['from', 'to', 'protocol'].filter((k) => q[k as keyof TraceQuery] === undefined || q[k as keyof TraceQuery] === '');
    if (missing.length) throw badRequest(`trace needs ${missing.join(', ')} (for example from=cam-07&to=broker&protocol=tcp&port=8883)`);
    let port: number | undefined;
    if (q.port !== undefined && q.port !== '') {
      port = Number(q.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw badRequest(`port must be 0-65535, got "${String(q.port)}"`);
    }
    const at = parseAt(q.at);
    if (typeof at === 'string') throw badRequest(at);
    const view = q.enforcer !== undefined && q.enforcer !== '' ? await this.enforcerView(String(q.enforcer)) : null;
    const bundle = view ? view.bundle : (await this.generations.latest()).bundle;
    if (!bundle) throw notFound('no bundle yet: apply some documents first (cordon apply -f FILE)');
    const docs = view ? view.docs : (await this.store.documents.list()).map(toDocument);
    try {
      const r = traceAt(bundle, docs, {
        from: String(q.from),
        to: targetText(q.to),
        protocol: numeric(q.protocol),
        port,
        type: q.type === undefined || q.type === '' ? undefined : numeric(q.type),
      } as Parameters<typeof trace>[2], at);
      if (view) return { ...r, enforcer: { name: String(q.enforcer), labels: view.labels } };
      return anyPlaced(docs) ? { ...r, note: PLACED_NOTE } : r;
    } catch (err) {
      // The tracer rejects unknown names and bad protocols with a plain message; those are the caller's to fix.
      if (err instanceof Error && !(err instanceof TypeError) && !(err instanceof RangeError)) throw badRequest(err.message);
      throw err;
    }
  }

  private async enforcerView(name: string) {
    const v = await this.placement.forEnforcer(name);
    if (v.bundle === null && v.docs.length) throw new Problem(503, 'Service Unavailable', 'the generation is being published: try again in a moment');
    return v;
  }
}

/** Query strings carry numbers as text: "6" is protocol 6, "tcp" stays a name. */
function numeric(v: unknown): string | number {
  return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : (v as string | number);
}

/** `to` as the tracer takes it: a string, or `{ fqdn: NAME }` as a policy writes a name (the same as the plain name). */
function targetText(to: unknown): string {
  if (to && typeof to === 'object' && !Array.isArray(to)) {
    const fqdn = (to as { fqdn?: unknown }).fqdn;
    if (typeof fqdn === 'string' && Object.keys(to).length === 1) return fqdn;
    throw badRequest('to is an address, a device, a segment, a DNS name, or { fqdn: NAME }');
  }
  return String(to);
}
