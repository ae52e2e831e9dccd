// SPDX-License-Identifier: Apache-2.0
/**
 * Which enforcer name an enrollment token may take (issue 11, holes 10 and 16):
 *
 *  - no name is reserved: `cordon-controller` is the subject of the controller's
 *    own gRPC certificate (CONTROL_GRPC.serverName), and enforcers check the
 *    server by that CN under the shared CA, so an enforcer of that name could
 *    pose as the controller to every other enforcer;
 *  - a token made without --name takes only a name no enforcer has had (a
 *    revoked enforcer's name needs a token made for it);
 *  - a token made with --name NAME takes only NAME, and only when no live
 *    enforcer holds it, unless it was made with --replace: then the live
 *    enforcer's certificates are revoked and its streams cut.
 */
import { CONTROL_GRPC } from '../../../../proto/cordon/v1/control';
import type { EnforcerRecord, TokenRecord } from '../store/types';

/** Names no enforcer may take. */
export const RESERVED_ENFORCER_NAMES: ReadonlySet<string> = new Set([CONTROL_GRPC.serverName, 'controller', 'localhost']);

export function reservedNameProblem(name: string): string | null {
  return RESERVED_ENFORCER_NAMES.has(name) ? `the enforcer name "${name}" is reserved (${[...RESERVED_ENFORCER_NAMES].join(', ')}): choose another --name` : null;
}

/** Why `token` may not enroll as `name`, or null when it may. */
export function enrollmentRefusal(token: Pick<TokenRecord, 'name' | 'enforcer' | 'replace'>, name: string, existing: Pick<EnforcerRecord, 'revoked'> | null): string | null {
  const reserved = reservedNameProblem(name);
  if (reserved) return reserved;
  if (token.enforcer !== null && token.enforcer !== name) {
    return `this enrollment token is for the enforcer "${token.enforcer}", not "${name}": start the enforcer with --name ${token.enforcer}, or create a token with \`cordon token create --name ${name}\``;
  }
  if (token.enforcer === null && existing) {
    return `the enforcer name "${name}" is taken${existing.revoked ? ' (revoked)' : ''}, and this token may only take a new name: create one for it with \`cordon token create --name ${name}${existing.revoked ? '' : ' --replace'}\``;
  }
  if (existing && !existing.revoked && !token.replace) {
    return `the enforcer "${name}" is enrolled and live: to enroll a new host in its place (revoking the old certificate), create the token with \`cordon token create --name ${name} --replace\``;
  }
  return null;
}
