// SPDX-License-Identifier: Apache-2.0
/**
 * Where a device announces its MUD URL (RFC 8520 §10): DHCPv4 option 161,
 * DHCPv6 option 112, or the id-pe-mud-url extension (1.3.6.1.5.5.7.1.25) of
 * its certificate or certificate request. Parsers of the wire forms, shared by
 * the enforcer (which sees DHCP) and the controller (which sees certificates).
 * Each returns null for what is not such a message, never throws; a URL is
 * taken only if it is https and at most 255 bytes (the DHCP option's limit).
 */

export interface DhcpMudAnnouncement {
  url: string;
  /** The client's hardware address (chaddr; for DHCPv6, from a DUID-LL or DUID-LLT), lower case. */
  mac: string | null;
  /** The address the client asked for or has (DHCPv4 option 50 or ciaddr; DHCPv6 IA_NA), if any. */
  address: string | null;
  /** DHCPv4 message type (1 DISCOVER, 3 REQUEST, 8 INFORM) or DHCPv6 (1 SOLICIT, 3 REQUEST, 5 RENEW, 6 REBIND, 11 INFORMATION-REQUEST). */
  messageType: number;
}

export const DHCPV4_MUD_OPTION = 161;
export const DHCPV6_MUD_OPTION = 112;
export const ID_PE_MUD_URL = '1.3.6.1.5.5.7.1.25';

const MAGIC = 0x63825363;
const macOf = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

function httpsUrl(b: Uint8Array): string | null {
  if (b.length < 9 || b.length > 255) return null;
  const s = Buffer.from(b).toString('latin1');
  if (!/^https:\/\/[\x21-\x7e]+$/.test(s)) return null;
  try {
    return new URL(s).protocol === 'https:' ? s : null;
  } catch {
    return null;
  }
}

/** A BOOTREQUEST (DHCPv4, RFC 2131) carrying option 161. */
export function parseDhcpV4(pkt: Uint8Array): DhcpMudAnnouncement | null {
  if (pkt.length < 240) return null;
  const b = Buffer.from(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  if (b[0] !== 1 || b.readUInt32BE(236) !== MAGIC) return null; // op BOOTREQUEST, the magic cookie
  const mac = b[1] === 1 && b[2] === 6 ? macOf(b.subarray(28, 34)) : null;
  const ciaddr = b.readUInt32BE(12) ? [...b.subarray(12, 16)].join('.') : null;
  let url: string | null = null;
  let requested: string | null = null;
  let type = 0;
  // Options; an option may repeat and concatenate (RFC 3396): join the parts of 161.
  const parts: Buffer[] = [];
  for (let i = 240; i < b.length; ) {
    const code = b[i];
    if (code === 255) break;
    if (code === 0) {
      i++;
      continue;
    }
    if (i + 1 >= b.length) return null;
    const len = b[i + 1];
    const v = b.subarray(i + 2, i + 2 + len);
    if (v.length !== len) return null;
    if (code === DHCPV4_MUD_OPTION) parts.push(v);
    else if (code === 50 && len === 4) requested = [...v].join('.');
    else if (code === 53 && len === 1) type = v[0];
    i += 2 + len;
  }
  if (parts.length) url = httpsUrl(Buffer.concat(parts));
  if (!url || ![1, 3, 8].includes(type)) return null;
  return { url, mac, address: requested ?? ciaddr, messageType: type };
}

function ipv6(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1); // the URL parser writes the canonical form
}

/** A client message (DHCPv6, RFC 8415) carrying option 112. */
export function parseDhcpV6(pkt: Uint8Array): DhcpMudAnnouncement | null {
  if (pkt.length < 4) return null;
  const b = Buffer.from(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  const type = b[0];
  if (![1, 3, 5, 6, 11].includes(type)) return null;
  let url: string | null = null;
  let mac: string | null = null;
  let address: string | null = null;
  for (let i = 4; i + 4 <= b.length; ) {
    const code = b.readUInt16BE(i);
    const len = b.readUInt16BE(i + 2);
    const v = b.subarray(i + 4, i + 4 + len);
    if (v.length !== len) return null;
    if (code === DHCPV6_MUD_OPTION) url = httpsUrl(v);
    else if (code === 1 && len >= 4) {
      // Client identifier: DUID-LLT (1: type, hw type, time, address) or DUID-LL (3: type, hw type, address); hw type 1 = Ethernet.
      const duid = v.readUInt16BE(0);
      const hw = v.readUInt16BE(2);
      if (hw === 1 && duid === 1 && len === 14) mac = macOf(v.subarray(8, 14));
      if (hw === 1 && duid === 3 && len === 10) mac = macOf(v.subarray(4, 10));
    } else if (code === 3 && len >= 12) {
      // IA_NA: IAID, T1, T2, then options; an IA Address (5) names the address.
      for (let j = 12; j + 4 <= len; ) {
        const c = v.readUInt16BE(j);
        const l = v.readUInt16BE(j + 2);
        if (c === 5 && l >= 24 && j + 4 + 16 <= len) address = ipv6(v.subarray(j + 4, j + 20));
        j += 4 + l;
      }
    }
    i += 4 + len;
  }
  return url ? { url, mac, address, messageType: type } : null;
}

/** The MUD URL of a certificate or CSR extension value (DER: MUDURLSyntax ::= IA5String). */
export function mudUrlOfExtension(der: Uint8Array): string | null {
  const b = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  if (b.length < 2 || b[0] !== 0x16) return null; // IA5String
  let len = b[1];
  let off = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 2 || b.length < 2 + n) return null;
    len = n === 1 ? b[2] : b.readUInt16BE(2);
    off = 2 + n;
  }
  if (b.length !== off + len) return null;
  return httpsUrl(b.subarray(off));
}
