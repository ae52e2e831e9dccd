import { Controller, Get } from '@nestjs/common';
import { Public } from '../auth/roles';
import { COLLECTION_NAMES, COLLECTIONS } from '../documents/kinds';
import { ENFORCER_SCHEMA } from './openapi-enforcer';
import { documentSchemas } from './openapi-documents';
const problem = { description: 'Problem details (RFC 7807)', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
const ok = (description: string, schema: object = { type: 'object' }) => ({ description, content: { 'application/json': { schema } } });
const errors = { 400: problem, 401: problem, 403: problem };
const pathParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const queryParam = (name: string, description: string, type = 'string') => ({ name, in: 'query', schema: { type }, description });
const page = (item: string) => ({ type: 'object', properties: { items: { type: 'array', items: { $ref: `#/components/schemas/${item}` } }, nextCursor: { type: 'string', nullable: true } } });
const paging = [{ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500 } }, { name: 'cursor', in: 'query', schema: { type: 'string' } }];
const traceParams = ['from', 'to', 'protocol', 'port', 'type', 'enforcer', 'at'].map((n) => ({ name: n, in: 'query', required: ['from', 'to', 'protocol'].includes(n), schema: { type: 'string' } }));

function documentPaths() {
  const out: Record<string, object> = {};
  for (const c of COLLECTION_NAMES) {
    const kind = COLLECTIONS[c];
    out[`/v1/${c}`] = { get: { summary: `List ${kind} documents`, tags: ['documents'], parameters: paging, responses: { 200: ok('A page', page('StoredDocument')), ...errors } } };
    out[`/v1/${c}/{name}`] = {
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
      get: { summary: `Get one ${kind}`, tags: ['documents'], responses: { 200: ok('The document', { $ref: '#/components/schemas/StoredDocument' }), 404: problem, ...errors } },
      delete: {
        summary: `Delete one ${kind} and recompile (operator)`,
        tags: ['documents'],
        parameters: [{ name: 'dryRun', in: 'query', schema: { type: 'boolean' } }],
        responses: { 200: ok('The change', { $ref: '#/components/schemas/ChangeResult' }), 404: problem, 422: problem, ...errors },
      },
    };
  }
  return out;
}

export const OPENAPI = {
  openapi: '3.0.3',
  info: { title: 'Cordon controller', version: '1', description: 'Bearer tokens with roles viewer (reads), operator (changes), admin (tokens, enforcers).' },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Problem: { type: 'object', properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, issues: { type: 'array', items: { type: 'object' } }, failures: { type: 'array', items: { type: 'object' } } } },
      ...documentSchemas,
      ChangeResult: { type: 'object', properties: { dryRun: { type: 'boolean' }, changed: { type: 'boolean' }, generation: { type: 'integer' }, hash: { type: 'string' }, documents: { type: 'array', items: { type: 'object' } }, warnings: { type: 'array', items: { type: 'string' } }, flows: { $ref: '#/components/schemas/FlowImpact' } } },
      FlowImpact: {
        type: 'object',
        description: 'Which already observed flows (GET /v1/flows) the change newly denies or newly allows, each judged by the bundle before and after; omitted when no flow was observed',
        properties: {
          checked: { type: 'integer', description: 'distinct (source, destination, protocol, port) judged' },
          newlyDenied: { type: 'array', items: { $ref: '#/components/schemas/ImpactedFlow' } },
          newlyAllowed: { type: 'array', items: { $ref: '#/components/schemas/ImpactedFlow' } },
          truncated: { type: 'boolean', description: 'a list was cut at 100 entries (most packets first)' },
        },
      },
      ImpactedFlow: {
        type: 'object',
        properties: {
          src: { type: 'string' }, dst: { type: 'string' }, protocol: { type: 'string' }, port: { type: 'integer', nullable: true },
          srcSegment: { type: 'string' }, dstSegment: { type: 'string' }, enforcer: { type: 'string' },
          before: { type: 'string', enum: ['allow', 'deny', 'audit'] }, after: { type: 'string', enum: ['allow', 'deny', 'audit'] },
          policyBefore: { type: 'string', nullable: true, description: 'null: the default deny' }, policyAfter: { type: 'string', nullable: true },
          packets: { type: 'integer' }, lastSeen: { type: 'string', format: 'date-time' },
        },
      },
      AuditEntry: { type: 'object', properties: { id: { type: 'integer' }, at: { type: 'string' }, actor: { type: 'string' }, source: { type: 'string' }, action: { type: 'string' }, target: { type: 'string' }, diff: {}, prevHash: { type: 'string' }, hash: { type: 'string' } } },
      ShareSummary: {
        type: 'object',
        description: 'TCP/UDP flows by the class of their first payload (encrypted: tls, dtls, ssh, quic; in clear: plaintext, mqtt, http, coap; unknown). A flow counts once, its bytes both directions.',
        properties: {
          flows: { type: 'integer' },
          flowsInClear: { type: 'integer' },
          flowsEncrypted: { type: 'integer' },
          flowShareInClear: { type: 'number', nullable: true, minimum: 0, maximum: 1 },
          bytes: { type: 'integer' },
          bytesInClear: { type: 'integer' },
          bytesEncrypted: { type: 'integer' },
          bytesShareInClear: { type: 'number', nullable: true, minimum: 0, maximum: 1 },
          refusedInClear: { type: 'integer', description: 'flows in clear dropped by a rule with encryption: required (reason plaintext)' },
          byClass: { type: 'object', additionalProperties: { type: 'object', properties: { flows: { type: 'integer' }, bytes: { type: 'integer' } } } },
          clearTo: { type: 'array', items: { type: 'string', example: '10.0.2.2:1883/tcp' } },
          lastSeen: { type: 'string', nullable: true },
        },
      },
      PlaintextReport: {
        type: 'object',
        properties: {
          since: { type: 'string', description: 'counted since (the site began counting: the figures are kept in the store)' },
          total: { $ref: '#/components/schemas/ShareSummary' },
          segments: { type: 'array', items: { allOf: [{ $ref: '#/components/schemas/ShareSummary' }, { type: 'object', properties: { segment: { type: 'string' } } }] } },
          devices: {
            type: 'array',
            description: 'by source, most in clear first; device is null for an address no Device claims',
            items: { allOf: [{ $ref: '#/components/schemas/ShareSummary' }, { type: 'object', properties: { device: { type: 'string', nullable: true }, addresses: { type: 'array', items: { type: 'string' } }, segment: { type: 'string' } } }] },
          },
          sourcesOverflow: { type: 'integer' },
          classes: { type: 'object', properties: { encrypted: { type: 'array', items: { type: 'string' } }, inClear: { type: 'array', items: { type: 'string' } } } },
        },
      },
      CredentialRequest: {
        type: 'object',
        properties: {
          kind: { type: 'string', enum: ['certificate', 'psk'], default: 'certificate' },
          csr: { type: 'string', description: 'PKCS#10 (PEM); without it the controller makes the key and returns it once' },
          overlap: { type: 'string', example: '24h', description: 'rotate: how long the previous credentials keep working' },
        },
      },
      IssuedCredential: {
        type: 'object',
        description: 'privateKey and psk appear in this answer only',
        properties: {
          device: { type: 'string' },
          kind: { type: 'string', enum: ['certificate', 'psk'] },
          id: { type: 'string', description: 'certificate serial (hex) or PSK identity' },
          notAfter: { type: 'string' },
          certificate: { type: 'string' },
          privateKey: { type: 'string' },
          identity: { type: 'string' },
          psk: { type: 'string' },
          pskFile: { type: 'string' },
          retiring: { type: 'object', properties: { ids: { type: 'array', items: { type: 'string' } }, at: { type: 'string' } } },
        },
      },
      Token: {
        type: 'object',
        properties: {
          id: { type: 'integer' },
          name: { type: 'string' },
          kind: { type: 'string', enum: ['api', 'enrollment'] },
          role: { type: 'string', enum: ['viewer', 'operator', 'admin', 'enforcer'] },
          state: { type: 'string', enum: ['active', 'used', 'expired', 'revoked'] },
          createdAt: { type: 'string' },
          expiresAt: { type: 'string', nullable: true },
          lastUsedAt: { type: 'string', nullable: true, description: 'API tokens: the last request it authenticated, to the minute (written at most once a minute per token and controller)' },
          usedAt: { type: 'string', nullable: true, description: 'enrollment tokens: when it was spent' },
          usedBy: { type: 'string', nullable: true, description: 'enrollment tokens: the enforcer name it was spent on' },
          enforcer: { type: 'string', nullable: true, description: 'enrollment tokens: the enforcer name it may take (null: only a new name)' },
          replace: { type: 'boolean' },
          bootstrap: { type: 'boolean', description: 'the admin token of DATA_DIR/admin.token' },
          revoked: { type: 'boolean' },
        },
      },
      CreatedToken: {
        type: 'object',
        required: ['token', 'expiresAt'],
        properties: {
          token: { type: 'string' },
          expiresAt: { type: 'string' },
          id: { type: 'integer' },
          kind: { type: 'string' },
          role: { type: 'string' },
          name: { type: 'string' },
          enforcer: { type: 'string', nullable: true },
          replace: { type: 'boolean' },
          caCertHash: { type: 'string', example: 'sha256:3f…', description: 'enrollment tokens: SHA-256 of the enforcer CA certificate (DER)' },
          join: { type: 'string', description: 'enrollment tokens: TOKEN.CAHEX, for cordon enforcer --token: the enforcer checks the CA pin before it sends the token' },
        },
      },
      Enforcer: ENFORCER_SCHEMA,
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/healthz': { get: { summary: 'Liveness (no token)', security: [], responses: { 200: ok('Healthy') } } },
    '/metrics': { get: { summary: 'Prometheus metrics (no token)', security: [], responses: { 200: { description: 'Prometheus text format' } } } },
    '/v1/openapi.json': { get: { summary: 'This description (no token)', security: [], responses: { 200: ok('OpenAPI 3') } } },
    '/v1/apply': {
      post: {
        summary: 'Create or update documents (operator); every PolicyTest must pass',
        tags: ['documents'],
        parameters: [{ name: 'dryRun', in: 'query', schema: { type: 'boolean' }, description: 'for YAML bodies' }],
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: { type: 'object', required: ['documents'], properties: { documents: { type: 'array', items: { anyOf: [{ $ref: '#/components/schemas/PolicyDocument' }, { $ref: '#/components/schemas/PolicyTestDocument' }, { $ref: '#/components/schemas/Document' }] } }, dryRun: { type: 'boolean' } } } },
            'application/yaml': { schema: { type: 'string' } },
          },
        },
        responses: { 200: ok('The diff and new generation', { $ref: '#/components/schemas/ChangeResult' }), 413: problem, 422: problem, ...errors },
      },
    },
    ...documentPaths(),
    '/v1/bundles/current': { get: { summary: 'The newest compiled bundle', tags: ['bundles'], responses: { 200: ok('Bundle'), 404: problem, ...errors } } },
    '/v1/bundles/{generation}': { get: { summary: 'One bundle generation', tags: ['bundles'], parameters: [{ name: 'generation', in: 'path', required: true, schema: { type: 'integer' } }], responses: { 200: ok('Bundle'), 404: problem, ...errors } } },
    '/v1/trace': {
      get: { summary: 'Verdict for a packet', tags: ['trace'], parameters: traceParams, responses: { 200: ok('verdict, policy, ruleId, from, to; name (when to is a DNS name: the fqdn pattern that decided, the patterns that match, a note)'), 404: problem, ...errors } },
      post: { summary: 'Verdict for a packet (body: from, to (an address, device, segment or DNS name), protocol, port, type, enforcer, at: the instant to judge at, default now)', tags: ['trace'], requestBody: { content: { 'application/json': { schema: { type: 'object' } } } }, responses: { 200: ok('verdict, policy, ruleId, from, to; name (when to is a DNS name: the fqdn pattern that decided, the patterns that match, a note)'), 404: problem, ...errors } },
    },
    '/v1/audit': { get: { summary: 'Audit log page, oldest first', tags: ['audit'], parameters: paging, responses: { 200: ok('A page', page('AuditEntry')), ...errors } } },
    '/v1/audit/export': { get: { summary: 'Whole audit log as JSON lines', tags: ['audit'], responses: { 200: { description: 'application/x-ndjson' }, ...errors } } },
    '/v1/audit/verify': { post: { summary: 'Check the hash chain', tags: ['audit'], responses: { 200: ok('{ok, entries, firstBadId?, reason?}'), ...errors } } },
    '/v1/tokens': {
      get: { summary: 'Token metadata: kind, role, state (active, used, expired, revoked), expiry, last use; never a secret (admin)', tags: ['tokens'], responses: { 200: ok('Tokens', page('Token')), ...errors } },
      post: {
        summary:
          'Create an API token ({role, ttl}; ttl default 90d) or a one-time enforcer enrollment token ({kind: "enrollment", ttl, name, replace}; ttl default 1h). An enrollment token without name may take only a new enforcer name; with name, only that one, and a live enforcer of that name only with replace (its certificates are then revoked). The answer of an enrollment token carries caCertHash and join (TOKEN.CAHEX), what `cordon enforcer --token` takes (admin)',
        tags: ['tokens'],
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  kind: { type: 'string', enum: ['api', 'enrollment'] },
                  role: { type: 'string', enum: ['viewer', 'operator', 'admin'] },
                  ttl: { type: 'string', example: '90d', description: 'API tokens: default 90d; enrollment tokens: default 1h' },
                  name: { type: 'string', description: 'API token: a label; enrollment token: the enforcer name it may take' },
                  replace: { type: 'boolean', description: 'enrollment token with name: may replace the live enforcer of that name' },
                },
              },
            },
          },
        },
        responses: { 201: ok('The token, shown once', { $ref: '#/components/schemas/CreatedToken' }), ...errors },
      },
    },
    '/v1/tokens/{ref}/revoke': {
      post: {
        summary: 'Revoke a token by id, or by name when one unrevoked token has it: refused (401) from the next request on, on every controller. The last usable admin token cannot be revoked (409) (admin)',
        tags: ['tokens'],
        parameters: [pathParam('ref')],
        responses: { 200: ok('The revoked token', { $ref: '#/components/schemas/Token' }), 404: problem, 409: problem, ...errors },
      },
    },
    '/v1/tokens/rotate-admin': {
      post: {
        summary: 'Replace the bootstrap admin token: the previous one is revoked, the new one (ttl default 90d) written to DATA_DIR/admin.token (0600) of this controller and returned once (admin)',
        tags: ['tokens'],
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { ttl: { type: 'string', example: '90d' } } } } } },
        responses: { 200: ok('{token, expiresAt, id, file, revoked}'), ...errors },
      },
    },
    '/v1/enforcers': { get: { summary: 'Enrolled enforcers with their fleet status: connected to which controller, generation enforced vs current, in sync, version, certificate expiry, map fill', tags: ['enforcers'], responses: { 200: ok('Enforcers', page('Enforcer')), ...errors } } },
    '/v1/enforcers/{name}': { get: { summary: 'One enforcer', tags: ['enforcers'], parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: ok('Enforcer'), 404: problem, ...errors } } },
    '/v1/quarantine': {
      get: { summary: 'Quarantined devices', tags: ['quarantine'], responses: { 200: ok('Devices'), ...errors } },
      post: { summary: 'Quarantine a device (operator)', tags: ['quarantine'], requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { device: { type: 'string' }, reason: { type: 'string' } } } } } }, responses: { 200: ok('The change'), 404: problem, ...errors } },
    },
    '/v1/report/plaintext': {
      get: {
        summary: 'Share of flows and bytes sent in clear, per source device and segment, since the site began counting (cordon report plaintext)',
        tags: ['reports'],
        parameters: [
          { name: 'segment', in: 'query', schema: { type: 'string' }, description: 'only this source segment' },
          { name: 'device', in: 'query', schema: { type: 'string' }, description: 'only this Device (or source address)' },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 100000 }, description: 'at most this many devices' },
        ],
        responses: { 200: ok('The report', { $ref: '#/components/schemas/PlaintextReport' }), ...errors },
      },
    },
    '/v1/ca/cert': {
      get: {
        summary: 'The device CA certificate (no token); EST /.well-known/est/cacerts serves it too, on the --est listener',
        tags: ['credentials'],
        security: [],
        parameters: [{ name: 'format', in: 'query', schema: { type: 'string', enum: ['pem', 'der'], default: 'pem' } }],
        responses: { 200: { description: 'application/x-pem-file or application/pkix-cert' } },
      },
    },
    '/v1/ca/crl': {
      get: {
        summary: 'The CRL, republished on every revocation (no token); header X-CRL-Number',
        tags: ['credentials'],
        security: [],
        parameters: [{ name: 'format', in: 'query', schema: { type: 'string', enum: ['der', 'pem'], default: 'der' } }],
        responses: { 200: { description: 'application/pkix-crl or application/x-pem-file' } },
      },
    },
    '/v1/devices/{name}/credentials': {
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'the Device' }],
      get: { summary: 'Credential status of a device: valid, revoked, expired or none, and each credential (no secrets)', tags: ['credentials'], responses: { 200: ok('Status and items'), 404: problem, ...errors } },
      post: {
        summary: 'Issue a certificate (from a CSR, or with a key made here and returned once) or a PSK (operator; audited)',
        tags: ['credentials'],
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/CredentialRequest' } } } },
        responses: { 201: ok('The credential; secrets shown once', { $ref: '#/components/schemas/IssuedCredential' }), 404: problem, ...errors },
      },
    },
    '/v1/devices/{name}/credentials/rotate': {
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'the Device' }],
      post: {
        summary: 'Issue a new certificate or PSK; the previous ones keep working for the overlap, then are revoked (operator; audited)',
        tags: ['credentials'],
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/CredentialRequest' } } } },
        responses: { 201: ok('The new credential and what retires when', { $ref: '#/components/schemas/IssuedCredential' }), 404: problem, ...errors },
      },
    },
    '/v1/devices/{name}/credentials/revoke': {
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'the Device' }],
      post: {
        summary: 'Revoke at once (operator; audited): all credentials of the device, one kind, or one id; the CRL and PSK file are republished',
        tags: ['credentials'],
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  kind: { type: 'string', enum: ['certificate', 'psk'] },
                  id: { type: 'string', description: 'certificate serial or PSK identity' },
                  reason: { type: 'string', enum: ['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation'] },
                },
              },
            },
          },
        },
        responses: { 200: ok('{device, revoked: [ids]}'), 404: problem, ...errors },
      },
    },
    '/v1/devices/{name}/enrollment-tokens': {
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'the Device' }],
      post: {
        summary: 'A one-time token for EST simpleenroll (HTTP Basic: the device name and this token) (operator)',
        tags: ['credentials'],
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { ttl: { type: 'string', example: '1h' } } } } } },
        responses: { 201: ok('{device, username, token, expiresAt, est}; the token is shown once'), 404: problem, ...errors },
      },
    },
    // Control channel (enforcers) and flows.
    '/v1/enforcers/{name}/revoke': { post: { summary: 'Revoke an enforcer: its certificate is refused and its streams cut at once (admin; audited)', tags: ['enforcers'], parameters: [pathParam('name')], responses: { 200: ok('The revoked enforcer'), 404: problem, ...errors } } },
    '/v1/enforcers/{name}/scope': {
      get: { summary: 'The addresses an enforcer serves (null: the site\'s own addresses)', tags: ['enforcers'], parameters: [pathParam('name')], responses: { 200: ok('{name, prefixes}'), ...errors } },
      put: {
        summary: 'Declare the addresses an enforcer serves: flows and events it reports about neither end in them are refused and counted (admin; audited)',
        tags: ['enforcers'],
        parameters: [pathParam('name')],
        requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['prefixes'], properties: { prefixes: { type: 'array', nullable: true, items: { type: 'string' } } } } } } },
        responses: { 200: ok('{name, prefixes}'), ...errors },
      },
    },
    '/v1/audit/checkpoint': { post: { summary: 'Sign the audit chain\'s head with the controller key and send it down the event stream now (admin)', tags: ['audit'], responses: { 200: ok('{lastId, hash, at, signature}'), 404: problem, ...errors } } },
    '/v1/enforcers/{name}/bundle': { get: { summary: 'The current generation as this enforcer is sent it: only the Policies and Segments whose `enforcers:` match its labels', tags: ['enforcers'], parameters: [pathParam('name')], responses: { 200: ok('A bundle'), 404: problem, ...errors } } },
    '/v1/enforcers/{name}/labels': {
      get: { summary: 'An enforcer\'s labels: what it reports (--label) with the controller\'s overrides', tags: ['enforcers'], parameters: [pathParam('name')], responses: { 200: ok('{name, labels}'), 404: problem, ...errors } },
      patch: {
        summary: 'Set (a value) or remove (null) labels of an enforcer over those it reports; reset drops every override first. Policies and Segments with `enforcers:` apply where the labels match; the enforcer gets what changed at once (operator; audited)',
        tags: ['enforcers'],
        parameters: [pathParam('name')],
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { set: { type: 'object', additionalProperties: { type: 'string', nullable: true } }, reset: { type: 'boolean' } } } } } },
        responses: { 200: ok('{name, labels, reportedLabels, labelOverrides}'), 404: problem, ...errors },
      },
    },
    '/v1/fqdn': { get: { summary: 'What the enforcers learned from DNS answers (cordon get fqdn): a row per enforcer, name and address, with its expiry and the policy patterns it matches; reports: when each enforcer last reported, total vs listed', tags: ['enforcers'], parameters: [{ name: 'enforcer', in: 'query', schema: { type: 'string' } }, { name: 'name', in: 'query', schema: { type: 'string' }, description: 'a DNS name or a *.domain pattern' }], responses: { 200: ok('{ items: [{enforcer, name, address, expiresAt, expired, selectors}], reports: [{enforcer, reportedAt, total, listed}] }'), 404: problem, ...errors } } },
    '/v1/enforcers-connected': { get: { summary: 'Enforcers with a live stream now', tags: ['enforcers'], responses: { 200: ok('[{name, since, generation}]'), ...errors } } },
    '/v1/flows': {
      get: {
        summary: 'Flows reported by enforcers, most recently received first; each row has its encryption class and, for ICMP, icmpType/icmpCode',
        tags: ['flows'],
        parameters: [
          queryParam('since', 'last packet after this time (ms since the epoch or ISO time)'),
          queryParam('after', 'the cursor of a previous answer: only flows received since (what a watcher polls with)'),
          queryParam('verdict', 'allow | deny | audit (comma-separated: any)'),
          queryParam('reason', 'drop reason (policy, spoofed, plaintext, ...)'),
          queryParam('from', 'source: addresses, CIDRs or segment names, comma-separated'),
          queryParam('to', 'destination: addresses, CIDRs or segment names, comma-separated'),
          queryParam('endpoint', 'either end: addresses, CIDRs or segment names, comma-separated'),
          queryParam('rule', 'deciding rule ids, comma-separated (bundle rules)'),
          queryParam('port', 'destination port (tcp, udp)'),
          queryParam('protocol', 'tcp | udp | icmp | icmpv6 | a number'),
          queryParam('encryption', 'tls | dtls | ssh | quic | plaintext | mqtt | http | coap | pending | unknown'),
          queryParam('enforcer', 'enforcer name'),
          queryParam('segment', 'source or destination segment'),
          queryParam('limit', 'at most this many', 'integer'),
        ],
        responses: { 200: ok('{now, cursor, items}'), ...errors },
      },
    },
    '/v1/flows/stream': {
      get: {
        summary:
          'The flows of /v1/flows as server-sent events (text/event-stream) as they are received: ready, flows ({items}, oldest first), aggregate (flows beyond --stream-rows-per-second or sent while the client was slow, counted by segment pair and verdict), and a keep-alive comment every 15 s. Each event id is a cursor: resume with Last-Event-ID or after. At most --streams-per-token open per token (429 beyond). Takes the filters of /v1/flows but limit',
        tags: ['flows'],
        parameters: [queryParam('after', 'a cursor (an event id, or the cursor of /v1/flows): start after it (default: now); the Last-Event-ID header wins'), queryParam('verdict', 'allow | deny | audit'), queryParam('segment', 'source or destination segment')],
        responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, 429: problem, ...errors },
      },
    },
    '/v1/version': { get: { summary: 'Versions of this controller and of the enforcers it knows', tags: ['version'], responses: { 200: ok('{controller: {version, node}, enforcers: [{name, version, generation, connected}]}'), ...errors } } },
    '/v1/control/ca.pem': { get: { summary: 'The enforcer CA certificate (PEM; pin it with --ca-sha256)', tags: ['enforcers'], security: [], responses: { 200: { description: 'PEM' } } } },
    '/v1/control/crl.pem': { get: { summary: 'Revoked enforcer certificates (PEM CRL)', tags: ['enforcers'], security: [], responses: { 200: { description: 'PEM' } } } },
    // Continuous verification.
    '/v1/unknown-devices': { get: { summary: 'Sources no Device claims: address, MAC, interface, enforcer, first and last seen, what they tried to reach', tags: ['monitoring'], responses: { 200: ok('{items}'), ...errors } } },
    '/v1/admit': { post: { summary: 'Turn an unknown source into a Device (operator; through apply, audited)', tags: ['monitoring'], requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['address', 'name'], properties: { address: { type: 'string' }, name: { type: 'string' }, labels: { type: 'object', additionalProperties: { type: 'string' } }, mac: { type: 'string' }, firmware: { type: 'string' }, dryRun: { type: 'boolean' } } } } } }, responses: { 200: ok('The change'), 404: problem, 422: problem, ...errors } } },
    '/v1/anomalies': { get: { summary: 'Anomalies: device, kind (new_peer, new_port, volume, scan, denied_burst), severity, evidence, at', tags: ['monitoring'], parameters: [queryParam('device', 'one device'), queryParam('kind', 'one kind')], responses: { 200: ok('{items}'), ...errors } } },
    '/v1/incidents': { get: { summary: "Incidents: one device's anomalies within the incident window grouped, with all their evidence, one severity, the action taken (onAnomaly)", tags: ['monitoring'], parameters: [queryParam('device', 'one device'), queryParam('after', 'incident id')], responses: { 200: ok('{items}'), ...errors } } },
    '/v1/baselines/{device}': { get: { summary: "A device's learned baseline", tags: ['monitoring'], parameters: [pathParam('device')], responses: { 200: ok('Baseline'), 404: problem, ...errors } } },
    '/v1/posture': { get: { summary: 'Posture of every device under a PostureRule, and posture-to-quarantine latencies', tags: ['monitoring'], responses: { 200: ok('Posture'), ...errors } } },
    '/v1/events': { get: { summary: 'Security events (ECS field names); format=ecs answers JSON lines', tags: ['monitoring'], parameters: [queryParam('after', 'event id'), queryParam('type', 'event type'), queryParam('device', 'one device'), queryParam('format', 'json | ecs')], responses: { 200: ok('{items} or JSON lines'), ...errors } } },
    '/v1/monitoring/settings': {
      get: { summary: 'Learning window, detector windows and thresholds, syslog target', tags: ['monitoring'], responses: { 200: ok('Settings'), ...errors } },
      put: { summary: 'Change monitoring settings (admin)', tags: ['monitoring'], requestBody: { content: { 'application/json': { schema: { type: 'object' } } } }, responses: { 200: ok('Settings'), ...errors } },
    },
    '/v1/monitoring/flows': { post: { summary: 'Feed flow records directly (admin; tests and replays)', tags: ['monitoring'], requestBody: { content: { 'application/json': { schema: { type: 'object' } } } }, responses: { 200: ok('Accepted'), ...errors } } },
    '/v1/monitoring/tick': { post: { summary: 'Run one monitoring pass now (admin)', tags: ['monitoring'], responses: { 200: ok('Done'), ...errors } } },
    // Least privilege.
    '/v1/recommend': { get: { summary: 'The smallest set of Policy documents that allows exactly the observed flows', tags: ['least-privilege'], parameters: [queryParam('window', 'e.g. 7d'), queryParam('includeDenied', 'also denied flows', 'boolean'), queryParam('format', 'json | yaml')], responses: { 200: ok('Policy documents'), ...errors } } },
    '/v1/report/unused': { get: { summary: 'Allow rules no packet used over the window', tags: ['least-privilege'], parameters: [queryParam('window', 'e.g. 7d')], responses: { 200: ok('{observedSince, generation, window, items: [{policy, index, rule, mode, lastUsed, packets, fqdn (the DNS names and patterns of a policy by name)}]}'), ...errors } } },
    '/v1/grants': {
      get: { summary: 'Temporary access grants: from, to, protocol, port, start, end, reason, grantedBy, open', tags: ['grants'], responses: { 200: ok('Grants', { type: 'object', properties: { items: { type: 'array', items: { type: 'object' } } } }), ...errors } },
      post: { summary: 'Grant access for a while (operator; a Policy with a one-off window, audited with its reason)', tags: ['grants'], requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['from', 'to', 'for', 'reason'], properties: { from: { type: 'string', description: 'device or segment' }, to: { type: 'string', description: 'device or segment' }, protocol: { type: 'string', example: 'tcp' }, port: { type: 'integer' }, for: { type: 'string', example: '2h' }, reason: { type: 'string', example: 'ticket 4711' }, name: { type: 'string' } } } } } }, responses: { 201: ok('The grant and the change'), 409: problem, 422: problem, ...errors } },
    },
    '/v1/grants/{name}': { delete: { summary: 'Revoke a grant before it ends (operator; audited)', tags: ['grants'], parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: ok('The grant and the change'), 404: problem, ...errors } } },
    '/v1/mud/import': { post: { summary: 'Segments and policies from a Manufacturer Usage Description (RFC 8520), given or fetched from its https URL (its mud-signature checked); apply=true applies them', tags: ['least-privilege'], requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { mud: { type: 'object' }, url: { type: 'string', format: 'uri' }, name: { type: 'string' }, apply: { type: 'boolean' }, file: { type: 'string' }, controllers: { type: 'object', additionalProperties: { type: 'string' }, description: 'MUD controller class URI (or my-controller) to segment' } } } } } }, responses: { 200: ok('Documents'), 422: problem, ...errors } } },
    '/v1/mud/announce': { post: { summary: 'A device announces its MUD URL (as DHCP option 161/112 or its certificate would): the MUD manager fetches, verifies and proposes', tags: ['least-privilege'], requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['url'], properties: { url: { type: 'string', format: 'uri' }, mac: { type: 'string' }, address: { type: 'string' }, source: { type: 'string', enum: ['dhcpv4', 'dhcpv6', 'certificate', 'api'] } } } } } }, responses: { 200: ok('The device\'s MUD proposal'), ...errors } } },
    '/v1/mud/pending': { get: { summary: 'MUD proposals waiting for review, and failed ones with the reason (all=true: applied ones too)', tags: ['least-privilege'], parameters: [{ name: 'all', in: 'query', schema: { type: 'boolean' } }], responses: { 200: ok('Proposals'), ...errors } } },
    '/v1/mud/approve/{device}': { post: { summary: 'Apply a device\'s pending MUD proposal through the normal apply (PolicyTests run)', tags: ['least-privilege'], parameters: [{ name: 'device', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: ok('The proposal and the apply result'), 404: problem, 409: problem, 422: problem, ...errors } } },
    // The web console (apps/console), public: it signs in with an API token held in the page's memory.
    '/': { get: { summary: 'The web console (HTML, strict Content-Security-Policy)', tags: ['console'], security: [], responses: { 200: { description: 'HTML' }, 503: problem } } },
    '/console/{file}': { get: { summary: "The console's script and style sheet (app.js, app.css)", tags: ['console'], security: [], parameters: [pathParam('file')], responses: { 200: { description: 'JavaScript or CSS' }, 404: problem } } },
    '/v1/quarantine/{device}': { delete: { summary: 'Release a device (operator)', tags: ['quarantine'], parameters: [{ name: 'device', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: ok('The change'), 404: problem, ...errors } } },
  } as Record<string, object>,
};

@Controller('v1')
@Public()
export class OpenApiController {
  @Get('openapi.json')
  get() {
    return OPENAPI;
  }
}
