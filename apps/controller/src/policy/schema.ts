/**
 * One zod schema per document kind (DESIGN.md "Policy documents"), shared by
 * the CLI, the REST API and the compiler. Every object is strict: an unknown
 * field is an error, because a misspelt `deny` silently ignored is a hole.
 */
import { z } from 'zod';
import { cidrError, parseAddress } from './net';
import { icmpType, parsePortSpec, protocolNumber } from './protocols';
import { DURATION_PATTERN } from '../../../common/src/duration';
import { EnforcerSelector } from './enforcer-selector';
import { Labels } from './labels-field';
import { Instant, ScheduleField } from './schedule-field';
import { canonicalFqdn, fqdnIdentityName, fqdnNameError, fqdnPatternError } from '../../../../model/generation/fqdn';

export { Labels };

export const API_VERSION = 'cordon/v1';
export const KINDS = ['Segment', 'Device', 'Policy', 'PolicyTest', 'PostureRule'] as const;
export type Kind = (typeof KINDS)[number];
/** Segments every site has; policies may name them, documents may not define them. */
export const BUILTIN_SEGMENTS = ['world', 'host', 'quarantine'] as const;

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const Name = z
  .string({ error: 'expected a name (string)' })
  .regex(NAME_RE, { error: 'a name is 1 to 63 lowercase letters, digits or "-", starting and ending with a letter or digit' });

const Metadata = z.strictObject({ name: Name, labels: Labels.optional() });

const Cidr = z.string({ error: 'expected a CIDR string such as 10.0.0.0/24' }).superRefine((v, ctx) => {
  const err = cidrError(v);
  if (err) ctx.addIssue({ code: 'custom', message: err });
});

const IpAddress = z.string({ error: 'expected an IP address string' }).superRefine((v, ctx) => {
  if (!parseAddress(v)) ctx.addIssue({ code: 'custom', message: `${v} is not an IPv4 or IPv6 address` });
});

const Mode = z.enum(['enforce', 'audit'], { error: 'mode is enforce or audit' });

function doc<K extends Kind, S extends z.ZodType>(kind: K, spec: S) {
  return z.strictObject({
    apiVersion: z.literal(API_VERSION, { error: `apiVersion must be ${API_VERSION}` }),
    kind: z.literal(kind),
    metadata: Metadata,
    spec,
  });
}

// ---- Segment ---------------------------------------------------------------
const Duration = z.union([z.number().int().positive(), z.string().regex(DURATION_PATTERN, { error: 'a duration looks like 500ms, 30s, 10m, 1h, 7d or 2w' })]);
const Count = z.number().int().min(2).max(96);
const SegmentMonitoring = z.strictObject({
  learningWindow: Duration.optional(),
  incidentWindow: Duration.optional(),
  scanWindow: Duration.optional(),
  scanDistinct: Count.optional(),
  slowScanWindow: Duration.optional(),
  slowScanDistinct: Count.optional(),
  longScanWindow: Duration.optional(),
  longScanDistinct: Count.optional(),
  earlyScanDistinct: Count.optional(),
  distributedScanDistinct: Count.optional(),
  distributedScanDevices: Count.optional(),
  deniedWindow: Duration.optional(),
  deniedBurst: z.number().int().min(1).optional(),
  noveltyPerIncident: z.number().int().min(0).max(1000).optional(),
  diversePeers: z.number().int().min(2).max(255).optional(),
  volumeRatios: z.array(z.number().positive()).min(1).max(4).optional(),
  volumeScore: z.number().positive().optional(),
  volumeFloorBytes: z.number().min(0).optional(),
  burstRatio: z.number().gt(1).optional(),
  burstFloorBytes: z.number().min(0).optional(),
});
export const SegmentSpec = z
  .strictObject({
    cidrs: z.array(Cidr).default([]),
    /** Devices whose labels include all of these join; empty selects no device. */
    selector: Labels.default({}),
    mode: Mode.default('enforce'),
    onAnomaly: z.enum(['alert', 'quarantine'], { error: 'onAnomaly is alert or quarantine' }).default('alert'),
    /** Anomaly thresholds for this segment's devices (monitoring/detector.ts Thresholds; defaults in the README). */
    monitoring: SegmentMonitoring.optional(),
    /** The enforcers this segment exists on (enforcer-selector.ts); omitted: every one. */
    enforcers: EnforcerSelector.optional(),
    /** The resolvers this segment's devices use: the enforcers learn names from their answers only. */
    dns: z.array(IpAddress).max(16, { error: 'at most 16 resolvers' }).optional(),
    /** What a MUD announcement of one of its devices does: `review` (default: `cordon mud pending`) or `auto` (applied at once). */
    mud: z.enum(['auto', 'review'], { error: 'mud is auto or review' }).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.cidrs.length === 0 && Object.keys(s.selector).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['cidrs'], message: 'a segment needs cidrs, a selector, or both' });
    }
  });
export const SegmentSchema = doc('Segment', SegmentSpec).superRefine((d, ctx) => {
  if ((BUILTIN_SEGMENTS as readonly string[]).includes(d.metadata.name)) {
    ctx.addIssue({ code: 'custom', path: ['metadata', 'name'], message: `${d.metadata.name} is a built-in segment; pick another name` });
  }
});

// ---- Device ----------------------------------------------------------------
export const DeviceSpec = z.strictObject({
  mac: z
    .string()
    .regex(/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/, { error: 'a MAC address looks like 02:00:00:00:00:07' })
    .transform((m) => m.toLowerCase().replace(/-/g, ':'))
    .optional(),
  addresses: z.array(IpAddress).min(1, { error: 'a device needs at least one address' }),
  firmware: z.string().optional(),
  credential: z
    .strictObject({
      kind: z.enum(['certificate', 'psk']).optional(),
      serial: z.string().optional(),
      fingerprint: z.string().optional(),
      expiresAt: z.string().optional(),
      status: z.enum(['valid', 'expired', 'revoked']).optional(),
    })
    .optional(),
});
export const DeviceSchema = doc('Device', DeviceSpec);

// ---- Policy ----------------------------------------------------------------
const ProtocolField = z.union(
  [z.enum(['tcp', 'udp', 'icmp', 'icmpv6', 'any']), z.number().int().min(0).max(255)],
  { error: 'protocol is tcp, udp, icmp, icmpv6, any or an IP protocol number 0-255' },
);

const PortSpec = z.union([z.string(), z.number()], { error: 'a port is a number or a range "a-b"' }).superRefine((v, ctx) => {
  const r = parsePortSpec(v);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

const IcmpTypeField = z.union([z.string(), z.number()], { error: 'an ICMP type is a name (echo-request) or a number 0-255' });

export const Rule = z
  .strictObject({
    protocol: ProtocolField,
    ports: z.array(PortSpec).min(1, { error: 'ports is empty; omit it to mean every port' }).optional(),
    types: z.array(IcmpTypeField).min(1, { error: 'types is empty; omit it to mean every type' }).optional(),
    encryption: z.enum(['required', 'optional'], { error: 'encryption is required or optional' }).optional(),
  })
  .superRefine((r, ctx) => {
    const proto = protocolNumber(r.protocol);
    if (r.ports && proto !== 6 && proto !== 17) {
      ctx.addIssue({ code: 'custom', path: ['ports'], message: `ports apply only to tcp and udp, not ${r.protocol}` });
    }
    if (r.types) {
      if (proto !== 1 && proto !== 58) {
        ctx.addIssue({ code: 'custom', path: ['types'], message: `types apply only to icmp and icmpv6, not ${r.protocol}` });
      } else {
        r.types.forEach((t, i) => {
          if (icmpType(proto, t) === null) {
            ctx.addIssue({
              code: 'custom',
              path: ['types', i],
              message: `${JSON.stringify(t)} is not an ${r.protocol} type (a name such as echo-request, or 0-255)`,
            });
          }
        });
      }
    }
  });
export type Rule = z.output<typeof Rule>;

const SegmentRefs = z.array(Name).min(1, { error: 'name at least one segment' });

/** A DNS name or `*.domain` pattern as a `to` entry (DESIGN.md "Names: policy by DNS name"). */
export const FqdnTarget = z.strictObject({
  fqdn: z
    .string({ error: 'fqdn is a DNS name such as api.example.com or a pattern such as *.example.com' })
    .superRefine((v, ctx) => {
      const err = fqdnPatternError(v);
      if (err) ctx.addIssue({ code: 'custom', message: err });
    })
    .transform(canonicalFqdn),
});
export type FqdnTarget = z.output<typeof FqdnTarget>;
const Target = z.union([Name, FqdnTarget], { error: 'a to entry is a segment name or { fqdn: NAME }' });
const TargetRefs = z.array(Target).min(1, { error: 'name at least one segment or fqdn' });
export type Target = z.output<typeof Target>;

/** The identity names a `to` list stands for: segment names, and `fqdn:PATTERN` for each name selector. */
export function targetRefs(to: readonly Target[]): string[] {
  return to.map((t) => (typeof t === 'string' ? t : fqdnIdentityName(t.fqdn)));
}

/** The segments a `to` list names (its name selectors left out). */
export function targetSegments(to: readonly Target[]): string[] {
  return to.filter((t): t is string => typeof t === 'string');
}

export const PolicySpec = z
  .strictObject({
    from: SegmentRefs,
    to: TargetRefs,
    allow: z.array(Rule).optional(),
    deny: z.array(Rule).optional(),
    mode: Mode.default('enforce'),
    /** The enforcers this policy applies on (enforcer-selector.ts); omitted: every one. */
    enforcers: EnforcerSelector.optional(),
    /** When the allows hold (DESIGN.md "Context: when and where"); denies are never scheduled. */
    schedule: ScheduleField.optional(),
  })
  .superRefine((p, ctx) => {
    if (!p.allow?.length && !p.deny?.length) {
      ctx.addIssue({ code: 'custom', path: [], message: 'a policy needs at least one allow or deny rule' });
    }
    p.deny?.forEach((r, i) => {
      if (r.encryption) {
        ctx.addIssue({ code: 'custom', path: ['deny', i, 'encryption'], message: 'encryption applies only to allow rules' });
      }
    });
  });
export const PolicySchema = doc('Policy', PolicySpec);

// ---- PolicyTest ------------------------------------------------------------
const Endpoint = z.string({ error: 'name a device, a segment or an address' }).min(1);

/**
 * `to: { fqdn: NAME }` in a PolicyTest: the same as `to: NAME` (judged as an
 * address learned for NAME; trace-fqdn.ts), said explicitly. A test states one
 * destination, so a pattern is refused here (name one it matches), and so is an
 * address, which is no DNS name.
 */
export const FqdnTestTarget = z.strictObject({
  fqdn: z
    .string({ error: 'fqdn is a DNS name such as api.example.com' })
    .superRefine((v, ctx) => {
      const err = parseAddress(v) ? `${JSON.stringify(v)} is an address, not a DNS name; write it as to: ${v}` : fqdnNameError(v);
      if (err) ctx.addIssue({ code: 'custom', message: err });
    })
    .transform(canonicalFqdn),
});
const TestTarget = z.union([Endpoint, FqdnTestTarget], { error: 'to names a device, a segment, an address or a DNS name, or is { fqdn: NAME }' });
export type TestTarget = z.output<typeof TestTarget>;

/** What a PolicyTest case's `to` names, as text (the DNS name of `{ fqdn }`). */
export function testTargetText(to: TestTarget): string {
  return typeof to === 'string' ? to : to.fqdn;
}

export const PolicyTestCase = z
  .strictObject({
    from: Endpoint,
    to: TestTarget,
    protocol: z.union([z.enum(['tcp', 'udp', 'icmp', 'icmpv6']), z.number().int().min(0).max(255)], {
      error: 'protocol is tcp, udp, icmp, icmpv6 or an IP protocol number 0-255',
    }),
    port: z.number().int().min(0).max(65535).optional(),
    type: IcmpTypeField.optional(),
    code: z.number().int().min(0).max(255).optional(),
    expect: z.enum(['allow', 'deny', 'audit'], { error: 'expect is allow, deny or audit' }),
    /** Judge at this instant (schedules as they are then); omitted: as if every schedule were open. */
    at: Instant.optional(),
  })
  .superRefine((t, ctx) => {
    const proto = protocolNumber(t.protocol);
    if (t.port !== undefined && proto !== 6 && proto !== 17) {
      ctx.addIssue({ code: 'custom', path: ['port'], message: `port applies only to tcp and udp, not ${t.protocol}` });
    }
    if ((t.type !== undefined || t.code !== undefined) && proto !== 1 && proto !== 58) {
      ctx.addIssue({ code: 'custom', path: [t.type !== undefined ? 'type' : 'code'], message: `type and code apply only to icmp and icmpv6` });
    } else if (t.type !== undefined && icmpType(proto as number, t.type) === null) {
      ctx.addIssue({ code: 'custom', path: ['type'], message: `${JSON.stringify(t.type)} is not an ${t.protocol} type` });
    }
  });
export const PolicyTestSpec = z.array(PolicyTestCase).min(1, { error: 'a policy test needs at least one case' });
export const PolicyTestSchema = doc('PolicyTest', PolicyTestSpec);

// ---- PostureRule -----------------------------------------------------------
export const PostureRuleSpec = z.strictObject({
  selector: Labels.refine((s) => Object.keys(s).length > 0, { error: 'a posture rule needs a selector (it would apply to every device)' }),
  require: z
    .strictObject({
      firmware: z
        .string()
        .regex(/^(>=|<=|>|<|==|=)?\s*\d+(\.\d+){0,3}([-+][0-9A-Za-z.-]+)?$/, { error: 'firmware is a version constraint such as ">=4.2.0"' })
        .optional(),
      lastSeenWithin: z.string().regex(/^\d+(s|m|h|d)$/, { error: 'lastSeenWithin is a duration such as 10m, 1h or 7d' }).optional(),
      credential: z.literal('valid', { error: 'credential can only be required to be valid' }).optional(),
    })
    .refine((r) => Object.keys(r).length > 0, { error: 'require at least one of firmware, lastSeenWithin, credential' }),
  onFailure: z.enum(['quarantine', 'alert'], { error: 'onFailure is quarantine or alert' }).default('alert'),
});
export const PostureRuleSchema = doc('PostureRule', PostureRuleSpec);

export const SCHEMAS = {
  Segment: SegmentSchema,
  Device: DeviceSchema,
  Policy: PolicySchema,
  PolicyTest: PolicyTestSchema,
  PostureRule: PostureRuleSchema,
} as const;

export const DocumentSchema = z.union([SegmentSchema, DeviceSchema, PolicySchema, PolicyTestSchema, PostureRuleSchema]);

export type Segment = z.output<typeof SegmentSchema>;
export type Device = z.output<typeof DeviceSchema>;
export type Policy = z.output<typeof PolicySchema>;
export type PolicyTest = z.output<typeof PolicyTestSchema>;
export type PolicyTestCase = z.output<typeof PolicyTestCase>;
export type PostureRule = z.output<typeof PostureRuleSchema>;
export type Document = Segment | Device | Policy | PolicyTest | PostureRule;
