// SPDX-License-Identifier: Apache-2.0
/**
 * The MUD URLs devices announce in DHCP on the managed interfaces (RFC 8520
 * §10: DHCPv4 option 161, DHCPv6 option 112), read from a copy of each client
 * message (native/src/dhcp_tap.h: an AF_PACKET tap, so the host's DHCP server
 * still gets every packet) and reported to the controller (ReportMud). The
 * same device and URL are reported once a minute at most (DHCP renews), the
 * memory of what was reported is bounded, and a tap that cannot be opened is
 * logged and skipped: MUD is never a reason for the enforcer not to enforce.
 */
import { macText } from '../../../native/lib/encode';
import type { Logger } from 'pino';
import { parseDhcpV4, parseDhcpV6, type DhcpMudAnnouncement } from '../../../model/mud/announcement';

export interface DhcpTap {
  openDhcpTap(ifname: string, netns?: string): number;
  closeDhcpTap(fd: number): void;
  pollDhcpTaps(fds: number[], timeoutMs: number): Promise<Buffer>;
}

/** The addon's tap, loaded when first needed (as openDatapath loads the datapath). */
export function nativeDhcpTap(): DhcpTap {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { binding } = require('../../../native/lib/binding') as typeof import('../../../native/lib/binding');
  return binding();
}

export interface MudReport {
  url: string;
  mac: string;
  address: string;
  source: 'dhcpv4' | 'dhcpv6';
  interface: string;
}

export interface TapRecord {
  index: number;
  mac: string | null;
  ethertype: number;
  packet: Buffer;
}

/** The tap's records (see DhcpTap.pollDhcpTaps); a truncated tail is dropped. */
export function decodeTapRecords(buf: Buffer): TapRecord[] {
  const out: TapRecord[] = [];
  for (let off = 0; off + 12 <= buf.length; ) {
    const len = buf.readUInt16LE(off);
    if (len < 10 || off + 2 + len > buf.length) break;
    const mac = buf.subarray(off + 4, off + 10);
    out.push({
      index: buf[off + 2],
      mac: mac.some((b) => b !== 0) ? macText(mac) : null,
      ethertype: buf.readUInt16LE(off + 10),
      packet: buf.subarray(off + 12, off + 2 + len),
    });
    off += 2 + len;
  }
  return out;
}

/** The MUD announcement of an IPv4 or IPv6 UDP packet to the DHCP server port, or null. */
export function announcementOf(packet: Buffer, ethertype: number): (DhcpMudAnnouncement & { source: 'dhcpv4' | 'dhcpv6' }) | null {
  if (ethertype === 0x0800 && packet.length >= 28 && packet[0] >> 4 === 4 && packet[9] === 17) {
    const ihl = (packet[0] & 0x0f) * 4;
    if (ihl < 20 || packet.length < ihl + 8 || packet.readUInt16BE(ihl + 2) !== 67) return null;
    const a = parseDhcpV4(packet.subarray(ihl + 8));
    return a ? { ...a, source: 'dhcpv4' } : null;
  }
  if (ethertype === 0x86dd && packet.length >= 48 && packet[0] >> 4 === 6 && packet[6] === 17) {
    if (packet.readUInt16BE(42) !== 547) return null;
    const a = parseDhcpV6(packet.subarray(48));
    return a ? { ...a, source: 'dhcpv6' } : null;
  }
  return null;
}

export class MudDhcpWatcher {
  private fds: number[] = [];
  private names: string[] = [];
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly tap: DhcpTap,
    private readonly report: (r: MudReport) => Promise<unknown>,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  start(interfaces: string[], netns?: string): void {
    for (const ifname of interfaces) {
      try {
        this.fds.push(this.tap.openDhcpTap(ifname, netns));
        this.names.push(ifname);
      } catch (err) {
        this.log.warn({ ifname, err: String(err) }, 'MUD: no DHCP tap on this interface; its devices\' MUD URLs are not seen');
      }
    }
    if (!this.fds.length) return;
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let buf: Buffer;
      try {
        buf = await this.tap.pollDhcpTaps(this.fds, 200);
      } catch (err) {
        this.log.warn({ err: String(err) }, 'MUD: DHCP tap poll failed');
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      for (const rec of decodeTapRecords(buf)) this.take(rec);
    }
  }

  private take(rec: TapRecord): void {
    const a = announcementOf(rec.packet, rec.ethertype);
    if (!a) return;
    const mac = a.mac ?? rec.mac ?? '';
    const key = `${mac}|${a.address ?? ''}|${a.url}`;
    const now = this.now();
    if ((this.recent.get(key) ?? -Infinity) > now - 60_000) return;
    this.recent.delete(key);
    this.recent.set(key, now);
    if (this.recent.size > 4096) this.recent.delete(this.recent.keys().next().value!);
    const r: MudReport = { url: a.url, mac, address: a.address ?? '', source: a.source, interface: this.names[rec.index] ?? '' };
    this.log.info(r, 'MUD: a device announced its MUD URL');
    this.report(r).catch((err) => {
      this.recent.delete(key); // not reported: the next announcement tries again
      this.log.warn({ url: r.url, err: String(err) }, 'MUD: report to the controller failed');
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    for (const fd of this.fds) this.tap.closeDhcpTap(fd);
    this.fds = [];
  }
}
