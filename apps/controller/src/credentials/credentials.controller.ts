// SPDX-License-Identifier: Apache-2.0
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Res } from '@nestjs/common';

/** The few express Response methods used here (express's types are not installed). */
interface Response {
  type(t: string): Response;
  send(body: unknown): Response;
  setHeader(name: string, value: string): void;
}
import { CurrentActor } from '../auth/actor.decorator';
import { Public, type Actor } from '../auth/roles';
import { badRequest } from '../http/problem';
import { parsePositiveDuration as parseDuration } from '../../../common/src/duration';
import { CredentialsService } from './credentials.service';

interface CredentialBody {
  kind?: unknown;
  csr?: unknown;
  overlap?: unknown;
  id?: unknown;
  serial?: unknown;
  reason?: unknown;
  ttl?: unknown;
}

function kindOf(b: CredentialBody | undefined, required: boolean): 'certificate' | 'psk' | undefined {
  const k = b?.kind ?? (required ? 'certificate' : undefined);
  if (k === undefined) return undefined;
  if (k !== 'certificate' && k !== 'psk') throw badRequest('kind must be "certificate" or "psk"');
  return k;
}

function optString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !v) throw badRequest(`${field} must be a non-empty string`);
  return v;
}

function overlapMs(v: unknown): number | undefined {
  const s = optString(v, 'overlap');
  if (s === undefined) return undefined;
  if (s === '0' || s === '0s') return 0;
  const ms = parseDuration(s);
  if (ms === null) throw badRequest(`overlap must be a duration such as 1h, 30s or 0, got "${s}"`);
  return ms;
}

/**
 * REST for device credentials. The CA certificate and the CRL are public (a
 * broker fetches them without a token); reads need viewer, changes operator.
 * Secrets (a generated private key, a PSK, an enrollment token) are in the
 * answer that creates them and nowhere else.
 */
@Controller('v1')
export class CredentialsController {
  constructor(@Inject(CredentialsService) private readonly credentials: CredentialsService) {}

  @Public()
  @Get('ca/cert')
  caCert(@Query('format') format: string | undefined, @Res() res: Response) {
    const pem = this.credentials.caCertificatePem();
    if (format === 'der') return res.type('application/pkix-cert').send(Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ''), 'base64'));
    return res.type('application/x-pem-file').send(pem);
  }

  @Public()
  @Get('ca/crl')
  crl(@Query('format') format: string | undefined, @Res() res: Response) {
    const crl = this.credentials.currentCrl();
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-CRL-Number', String(crl.number));
    if (format === 'pem') return res.type('application/x-pem-file').send(crl.pem);
    return res.type('application/pkix-crl').send(crl.der);
  }

  @Get('devices/:name/credentials')
  status(@Param('name') name: string) {
    return this.credentials.describe(name);
  }

  @Post('devices/:name/credentials')
  @HttpCode(201)
  issue(@Param('name') name: string, @Body() body: CredentialBody | undefined, @CurrentActor() actor: Actor) {
    const kind = kindOf(body, true);
    if (kind === 'psk') return this.credentials.issuePsk(name, { actor });
    return this.credentials.issueCertificate(name, { actor, csr: optString(body?.csr, 'csr') });
  }

  @Post('devices/:name/credentials/rotate')
  @HttpCode(201)
  rotate(@Param('name') name: string, @Body() body: CredentialBody | undefined, @CurrentActor() actor: Actor) {
    const kind = kindOf(body, true);
    const overlap = overlapMs(body?.overlap);
    if (kind === 'psk') return this.credentials.issuePsk(name, { actor, rotate: true, overlapMs: overlap });
    return this.credentials.issueCertificate(name, { actor, rotate: true, overlapMs: overlap, csr: optString(body?.csr, 'csr') });
  }

  @Post('devices/:name/credentials/revoke')
  @HttpCode(200)
  revoke(@Param('name') name: string, @Body() body: CredentialBody | undefined, @CurrentActor() actor: Actor) {
    return this.credentials.revoke(name, {
      actor,
      kind: kindOf(body, false),
      id: optString(body?.id ?? body?.serial, 'id'),
      reason: optString(body?.reason, 'reason'),
    });
  }

  @Post('devices/:name/enrollment-tokens')
  @HttpCode(201)
  enrollmentToken(@Param('name') name: string, @Body() body: CredentialBody | undefined, @CurrentActor() actor: Actor) {
    return this.credentials.enrollmentToken(name, { actor, ttl: optString(body?.ttl, 'ttl') });
  }
}
