// SPDX-License-Identifier: Apache-2.0
/** The enforcer's flags for learning names (DESIGN.md "Names: policy by DNS name"), validated with the others. */
import { addressBytes, addressText } from '../../../../native/lib/encode';
import { isIP } from 'node:net';
import { LIMITS } from '../../../../native/lib/abi';
import { parseDuration } from '../../../common/src/duration';

export interface FqdnFlags {
  /** --dns-resolver ADDRESS (repeatable): resolvers devices use, besides those the bundle declares. */
  dnsResolver?: string[];
  /** --fqdn-min-ttl: the least time a learned address stays allowed for new connections (default 60s). */
  fqdnMinTtl?: string;
  /** --dns-proxy-port: the proxy's first port (resolver i: port + i). */
  dnsProxyPort?: string;
  /** --dns-proxy-address (an IPv4 and/or an IPv6 address of this host): where steered queries go; default: one of each family of this host. */
  dnsProxyAddress?: string[];
  fqdnMaxAddresses?: string;
  fqdnMaxPerName?: string;
}

export interface FqdnConfig {
  resolvers: string[];
  minTtlS: number;
  proxyPort: number;
  proxyAddresses: string[];
  maxAddresses: number;
  maxPerName: number;
  /** How long past its expiry an entry stays for connections tracked already (re-judged under a new generation). */
  lingerS: number;
}

export const FQDN_DEFAULTS = { minTtl: '60s', proxyPort: 10053, maxAddresses: 50_000, maxPerName: 64, lingerS: 6 * 3600 } as const;

function integer(text: string | undefined, fallback: number, min: number, max: number, flag: string, problems: string[]): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) problems.push(`${flag} must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

export function parseFqdnFlags(f: FqdnFlags, problems: string[]): FqdnConfig {
  for (const r of f.dnsResolver ?? []) if (!isIP(r)) problems.push(`--dns-resolver must be an IPv4 or IPv6 address, got "${r}"`);
  // in the form Node reports an answer's source in (and the controller writes bundle resolvers in), so the proxy's check matches
  const resolvers = [...new Set((f.dnsResolver ?? []).filter((r) => isIP(r)).map((r) => addressText(addressBytes(r))))];
  if (resolvers.length > LIMITS.RESOLVERS) problems.push(`--dns-resolver: at most ${LIMITS.RESOLVERS} resolvers, got ${resolvers.length}`);
  const ttl = parseDuration(f.fqdnMinTtl ?? FQDN_DEFAULTS.minTtl, { bareUnit: 's' });
  if (ttl === null || ttl < 1000) problems.push(`--fqdn-min-ttl must be a duration of at least 1s, such as 60s or 5m, got "${f.fqdnMinTtl}"`);
  const proxyPort = integer(f.dnsProxyPort, FQDN_DEFAULTS.proxyPort, 1, 65535 - LIMITS.RESOLVERS, '--dns-proxy-port', problems);
  const proxyAddresses = f.dnsProxyAddress ?? [];
  for (const a of proxyAddresses) if (!isIP(a)) problems.push(`--dns-proxy-address must be an address of this host, got "${a}"`);
  if (new Set(proxyAddresses.map(isIP)).size !== proxyAddresses.length) problems.push('--dns-proxy-address: give at most one IPv4 and one IPv6 address');
  return {
    resolvers,
    minTtlS: Math.ceil((ttl ?? 60_000) / 1000),
    proxyPort,
    proxyAddresses,
    maxAddresses: integer(f.fqdnMaxAddresses, FQDN_DEFAULTS.maxAddresses, 1, LIMITS.FQDN, '--fqdn-max-addresses', problems),
    maxPerName: integer(f.fqdnMaxPerName, FQDN_DEFAULTS.maxPerName, 1, 4096, '--fqdn-max-per-name', problems),
    lingerS: FQDN_DEFAULTS.lingerS,
  };
}
