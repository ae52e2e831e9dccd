// SPDX-License-Identifier: Apache-2.0
/** The OpenAPI schema of an enforcer in GET /v1/enforcers: its record and its fleet status (enforcers/fleet-row.ts). */
export const ENFORCER_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    enrolledAt: { type: 'string' },
    lastSeen: { type: 'string' },
    generation: { type: 'integer', nullable: true, description: 'the generation it enforces, as it last reported (null before its first status)' },
    status: { type: 'object', description: 'the status it last reported (proto EnforcerStatus)' },
    certSerial: { type: 'string' },
    revoked: { type: 'boolean' },
    labels: { type: 'object', additionalProperties: { type: 'string' }, description: "what it reports (--label) with the controller's overrides" },
    reportedLabels: { type: 'object', additionalProperties: { type: 'string' } },
    labelOverrides: { type: 'object', additionalProperties: { type: 'string', nullable: true } },
    // Fleet status (issue 14), the same on every controller of the site.
    connected: { type: 'boolean', description: 'its bundle stream is open on a controller of the site (any controller sharing the database; never when revoked)' },
    controller: { type: 'string', nullable: true, description: 'the id (`cordon controller --id`, default HOSTNAME:GRPC-PORT) of the controller serving that stream; null when not connected' },
    currentGeneration: { type: 'integer', description: "the site's current generation" },
    inSync: { type: 'boolean', description: 'it enforces the current generation' },
    version: { type: 'string', nullable: true, description: 'its software version, as it last reported' },
    certExpiresAt: { type: 'string', format: 'date-time', nullable: true, description: 'when its certificate expires (notAfter), as it last reported' },
    mapFill: {
      type: 'object',
      nullable: true,
      description: 'its fullest datapath map, as it last reported',
      properties: { map: { type: 'string' }, entries: { type: 'integer' }, max: { type: 'integer' }, percent: { type: 'number', description: 'entries / max in percent, one decimal' } },
    },
  },
} as const;
