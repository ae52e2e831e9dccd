// SPDX-License-Identifier: Apache-2.0
/**
 * A grant's --from and --to: a segment (or built-in segment) stands for itself;
 * a device stands for the segment it is in, but only when that segment holds
 * nothing else. The datapath judges identities, and a policy names segments:
 * a grant to a device that shares its segment would open it for every other
 * member too, so it is refused with what to do instead. Never more than asked.
 */
import { Problem } from '../http/problem';
import { BUILTIN_SEGMENTS, type Document } from '../policy/schema';
import { formatAddress, parseAddress, parseCidr } from '../policy/net';
import type { Bundle } from '../../../../model/generation/bundle';

const unprocessable = (detail: string) => new Problem(422, 'Unprocessable Entity', detail);

/** The address of a host CIDR (a /32 or /128) in one spelling; null for a network. */
function hostOf(cidr: string): string | null {
  const p = parseCidr(cidr);
  return p.len === 128 ? formatAddress(p) : null;
}

export function resolveGrantEnd(name: string, field: 'from' | 'to', docs: readonly Document[], bundle: Bundle | null): string {
  if ((BUILTIN_SEGMENTS as readonly string[]).includes(name)) return name;
  if (docs.some((d) => d.kind === 'Segment' && d.metadata.name === name)) return name;
  const device = docs.find((d) => d.kind === 'Device' && d.metadata.name === name);
  if (!device || device.kind !== 'Device') throw unprocessable(`${field}: "${name}" is neither a segment nor a device`);
  if (!bundle) throw unprocessable(`${field}: no bundle yet to find device ${name}'s segment in`);
  const own = new Set(device.spec.addresses.map((a) => formatAddress(parseAddress(a)!)));
  const ids = new Set<number>();
  for (const e of bundle.ipcache) {
    const h = hostOf(e.cidr);
    if (h !== null && own.has(h)) ids.add(e.identity);
  }
  if (ids.size !== 1) throw unprocessable(`${field}: device ${name}'s addresses are in ${ids.size === 0 ? 'no segment' : 'more than one segment'}; grant to a segment instead`);
  const id = [...ids][0];
  const segment = Object.entries(bundle.identities).find(([, v]) => v === id)?.[0];
  if (!segment || (BUILTIN_SEGMENTS as readonly string[]).includes(segment)) throw unprocessable(`${field}: device ${name} is in no segment of its own (${segment ?? 'unknown'}); grant to a segment instead`);
  const others = bundle.ipcache.filter((e) => e.identity === id && !own.has(hostOf(e.cidr) ?? ''));
  if (others.length) {
    throw unprocessable(
      `${field}: device ${name} shares segment ${segment} with ${others.length} other address(es) or network(s) (${others.slice(0, 3).map((e) => e.cidr).join(', ')}${others.length > 3 ? ', …' : ''}); ` +
        `a grant names segments, so it would open ${segment} for all of them. Grant to the segment (--${field} ${segment}) or give ${name} a segment of its own`,
    );
  }
  return segment;
}
