// SPDX-License-Identifier: Apache-2.0
/**
 * The shared vocabulary of the MUD translation (mud.ts, mud-ace.ts,
 * mud-peers.ts): where an issue is, what a peer of an ACE is, and the labels
 * by which devices carry what their MUD URL says (DESIGN.md "MUD").
 */
import { createHash } from 'node:crypto';
import type { Rule } from '../policy/schema';

export interface MudIssue {
  /** `acl NAME ace NAME` or `mud`. */
  where: string;
  /** JSON path inside it, e.g. `matches.ipv6.ietf-acldns:dst-dnsname`. */
  field: string;
  message: string;
}

export class MudImportError extends Error {
  constructor(
    readonly issues: MudIssue[],
    readonly file = 'mud',
  ) {
    super(`${file}: MUD file refused:\n${issues.map((i) => `  ${file}: ${i.where}: ${i.field}: ${i.message}`).join('\n')}`);
    this.name = 'MudImportError';
  }
}

export type Json = Record<string, any>;
export const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The remote end of an ACE, before it becomes a `from`/`to` entry. */
export type Peer =
  | { kind: 'world' }
  | { kind: 'cidr'; cidr: string }
  | { kind: 'fqdn'; name: string }
  | { kind: 'local-networks' }
  | { kind: 'manufacturer'; authority: string; same: boolean }
  | { kind: 'model'; url: string }
  | { kind: 'controller'; uri: string; mine: boolean };

/** One ACE, translated: who the remote end is, which side opens, and the rule. */
export interface Entry {
  dir: 'from-device' | 'to-device';
  action: 'allow' | 'deny';
  peer: Peer;
  rule: Rule;
  where: string;
  /** Where the peer came from (for issues raised when mapping it). */
  peerField: string;
  /** A source-port match: the reply leg of a connection the other side opens, if a mirror ACE exists. */
  sourcePorts?: string[];
}

/** Labels the MUD manager sets on a device that announced a MUD URL; abstractions select by them. */
export const MUD_LABELS = { type: 'mud-type', manufacturer: 'mud-manufacturer', model: 'mud-model', controller: 'mud-controller' } as const;

export function deviceTypeName(s: string): string {
  const n = s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').replace(/-+/g, '-').slice(0, 40).replace(/-+$/, '');
  return n || 'mud-device';
}

/** The device type a MUD URL names: its last path element without `.json`. */
export function typeNameOfUrl(url: string): string {
  return deviceTypeName(url.replace(/[?#].*$/, '').replace(/\.json$/i, '').split('/').filter(Boolean).pop() ?? '');
}

/** The authority (host, lower case) of a MUD URL, or null if it is not an https URL. */
export function mudAuthority(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && u.hostname ? u.hostname.toLowerCase() : null;
  } catch {
    return null;
  }
}

/** A label value (≤ 63 characters) standing for one MUD URL: a short digest of it. */
export function modelId(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 20);
}
