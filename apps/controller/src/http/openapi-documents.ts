// SPDX-License-Identifier: Apache-2.0
/**
 * The OpenAPI schemas of the Policy and PolicyTest documents (openapi.ts),
 * above all what a `to` entry may be (DESIGN.md "Names: policy by DNS name"):
 * the pattern rules are those of model/generation/fqdn.ts, written as a JSON
 * Schema pattern that openapi.spec.ts holds to fqdnPatternError.
 */
import { MAX_LABEL_LENGTH, MAX_NAME_LENGTH } from '../../../../model/generation/fqdn';
import { COLLECTIONS } from '../documents/kinds';

/** One DNS label as fqdn.ts reads it: letters, digits, "-" and "_", not starting or ending with "-", 1 to 63 characters. */
const LABEL = `[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,${MAX_LABEL_LENGTH - 2}}[A-Za-z0-9_])?`;
/** At most 253 characters before an optional trailing dot, two labels or more, or `*.` before two or more (model/generation/fqdn.ts fqdnPatternError). */
export const FQDN_PATTERN = `^(?=.{1,${MAX_NAME_LENGTH}}\\.?$)(?:\\*\\.)?(?:${LABEL}\\.)+${LABEL}\\.?$`;
const FQDN_RULES = `at most ${MAX_NAME_LENGTH} characters (a trailing dot not counted), each label at most ${MAX_LABEL_LENGTH} (letters, digits, "-", "_"; no leading or trailing "-"), at least two labels; "*" only as a whole leading label ("*.example.com": every name under example.com, not example.com itself); matched case-insensitively, a trailing dot ignored`;

/** Documents, and the `to` entries of Policy documents (DESIGN.md "Names: policy by DNS name") and PolicyTest cases, described for clients. */
export const documentSchemas = {
  Document: { type: 'object', required: ['apiVersion', 'kind', 'metadata', 'spec'], properties: { apiVersion: { type: 'string', example: 'cordon/v1' }, kind: { type: 'string', enum: Object.values(COLLECTIONS) }, metadata: { type: 'object', properties: { name: { type: 'string' }, labels: { type: 'object', additionalProperties: { type: 'string' } } } }, spec: { description: 'by kind: PolicyDocument and PolicyTestDocument describe those of Policy and PolicyTest' } } },
  StoredDocument: { allOf: [{ $ref: '#/components/schemas/Document' }, { type: 'object', properties: { version: { type: 'integer' }, createdAt: { type: 'string' }, updatedAt: { type: 'string' } } }] },
  FqdnPattern: { type: 'string', maxLength: MAX_NAME_LENGTH + 1, pattern: FQDN_PATTERN, example: '*.iot.i.tplinknbu.com', description: `A DNS name or pattern: ${FQDN_RULES}` },
  FqdnTarget: { type: 'object', required: ['fqdn'], additionalProperties: false, properties: { fqdn: { $ref: '#/components/schemas/FqdnPattern' } } },
  PolicyTarget: {
    description: 'A segment name (built-in world, host, quarantine included), or { fqdn: PATTERN }: the addresses the enforcer learns for matching names from the DNS answers its source devices get',
    oneOf: [{ type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', example: 'broker' }, { $ref: '#/components/schemas/FqdnTarget' }],
  },
  PolicySpec: {
    type: 'object',
    required: ['from', 'to'],
    additionalProperties: false,
    properties: {
      from: { type: 'array', minItems: 1, items: { type: 'string' }, description: 'segment names' },
      to: { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/PolicyTarget' } },
      allow: { type: 'array', items: { type: 'object' } },
      deny: { type: 'array', items: { type: 'object' } },
      mode: { type: 'string', enum: ['enforce', 'audit'] },
      enforcers: { type: 'object' },
      schedule: { type: 'object' },
    },
  },
  PolicyTestCase: {
    type: 'object',
    required: ['from', 'to', 'protocol', 'expect'],
    additionalProperties: false,
    properties: {
      from: { type: 'string', description: 'a device, a segment or an address' },
      to: {
        description: 'a device, a segment, an address or a DNS name; or { fqdn: NAME }, the same DNS name said explicitly (one name, so no "*."): the expectation holds for the addresses learned for it, judged by the patterns that match it',
        oneOf: [{ type: 'string' }, { $ref: '#/components/schemas/FqdnTarget' }],
      },
      protocol: { oneOf: [{ type: 'string', enum: ['tcp', 'udp', 'icmp', 'icmpv6'] }, { type: 'integer', minimum: 0, maximum: 255 }] },
      port: { type: 'integer', minimum: 0, maximum: 65535 },
      type: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
      code: { type: 'integer', minimum: 0, maximum: 255 },
      expect: { type: 'string', enum: ['allow', 'deny', 'audit'] },
      at: { type: 'string', format: 'date-time' },
    },
  },
  PolicyDocument: { allOf: [{ $ref: '#/components/schemas/Document' }, { type: 'object', properties: { kind: { type: 'string', enum: ['Policy'] }, spec: { $ref: '#/components/schemas/PolicySpec' } } }] },
  PolicyTestDocument: {
    allOf: [{ $ref: '#/components/schemas/Document' }, { type: 'object', properties: { kind: { type: 'string', enum: ['PolicyTest'] }, spec: { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/PolicyTestCase' } } } }],
  },
};
