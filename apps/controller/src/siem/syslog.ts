// SPDX-License-Identifier: Apache-2.0
/**
 * Syslog export: RFC 5424 messages (the ECS JSON, or CEF, as MSG) over UDP, or
 * over TCP with octet-counting framing (RFC 6587 3.4.1: `LEN SP MSG`), so a
 * message may hold any byte. TCP reconnects with backoff and buffers a bounded
 * queue meanwhile; what does not fit is counted, never blocks monitoring.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as os from 'node:os';
import { EventSeverity, SecurityEvent, SEVERITY_NUMBER } from '../monitoring/events';
import { transportName } from '../monitoring/flow-record';
import { toEcsLine } from './ecs';

/** Facility 13: log audit (RFC 5424 table 1). */
export const FACILITY = 13;
const SYSLOG_SEVERITY: Record<EventSeverity, number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };
/** Private enterprise number of our structured data: 32473 is the one RFC 5612 reserves for documentation. */
export const SD_ID = 'cordon@32473';
/** Keep each message under rsyslog's default 8 KiB maxMessageSize. */
export const MAX_MESSAGE = 8000;

export interface SyslogTarget {
  transport: 'udp' | 'tcp';
  host: string;
  port: number;
}

export function parseSyslogUrl(url: string): SyslogTarget {
  const m = /^(udp|tcp):\/\/(?:\[([0-9a-fA-F:.]+)\]|([^:/\s]+)):(\d{1,5})$/.exec(url.trim());
  if (!m || Number(m[4]) > 65535) throw new Error(`syslog target must be udp://HOST:PORT or tcp://HOST:PORT, got "${url}"`);
  return { transport: m[1] as 'udp' | 'tcp', host: m[2] ?? m[3], port: Number(m[4]) };
}

const sdEscape = (v: string) => v.replace(/[\\"\]]/g, (c) => `\\${c}`);
const printable = (s: string, max: number) => (s.replace(/[^\x21-\x7e]/g, '_') || '-').slice(0, max);

function header(e: SecurityEvent, hostname: string): string {
  const pri = FACILITY * 8 + SYSLOG_SEVERITY[e.severity];
  const sd: [string, string | number | undefined | null][] = [
    ['id', e.id],
    ['type', e.type],
    ['action', e.action],
    ['severity', e.severity],
    ['device', e.device],
    ['enforcer', e.enforcer],
  ];
  const params = sd.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => `${k}="${sdEscape(String(v))}"`);
  return `<${pri}>1 ${e.at} ${printable(hostname, 255)} cordon ${process.pid} ${printable(e.type, 32)} [${SD_ID} ${params.join(' ')}]`;
}

/** RFC 5424 with the ECS JSON document as MSG. */
export function formatRfc5424(e: SecurityEvent, hostname = os.hostname()): string {
  const h = header(e, hostname);
  let msg = toEcsLine(e);
  if (h.length + 1 + msg.length > MAX_MESSAGE) {
    // Too big (a large audit diff): drop the cordon.* detail, keep the ECS fields.
    const { cordon: _drop, ...rest } = JSON.parse(msg) as Record<string, unknown>;
    msg = JSON.stringify({ ...rest, cordon: { type: e.type, truncated: true } });
  }
  return `${h} ${msg}`;
}

export const cefHeader = (s: string) => s.replace(/[\\|]/g, (c) => `\\${c}`).replace(/[\r\n]/g, ' ');
/**
 * CEF extension values escape backslash and `=`, and encode line breaks as `\n` or `\r`
 * (the spec's two multi-line escapes): a CRLF is one `\n`, a lone CR is `\r`, so no
 * raw CR ever reaches a collector that splits records on it (a forged second line).
 */
export const cefExt = (s: string) =>
  s
    .replace(/[\\=]/g, (c) => `\\${c}`)
    .replace(/\r\n|\n/g, '\\n')
    .replace(/\r/g, '\\r');

/** ArcSight CEF:0 as the MSG of an RFC 5424 message. */
export function formatCef(e: SecurityEvent, hostname = os.hostname()): string {
  const sev = Math.min(10, SEVERITY_NUMBER[e.severity] + 1);
  const ext: [string, string | number | undefined | null][] = [
    ['rt', Date.parse(e.at)],
    ['externalId', e.id],
    ['cat', e.type],
    ['act', e.action],
    ['src', e.source?.ip],
    ['spt', e.source?.port],
    ['smac', e.source?.mac],
    ['dst', e.destination?.ip],
    ['dpt', e.destination?.port],
    ['proto', e.protocol !== undefined ? transportName(e.protocol).toUpperCase() : undefined],
    ['dvchost', e.enforcer],
    ['duser', e.device],
    ['suser', e.actor],
    ['cs1Label', e.rule ? 'rule' : undefined],
    ['cs1', e.rule],
    ['cs2Label', e.reason ? 'reason' : undefined],
    ['cs2', e.reason],
    ['cnt', e.packets],
    ['in', e.bytes],
    ['msg', e.message.slice(0, 1000)],
  ];
  const body = ext.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => `${k}=${cefExt(String(v))}`).join(' ');
  const cef = `CEF:0|Cordon|cordon|0.1.0|${cefHeader(e.action)}|${cefHeader(e.type.replace('_', ' '))}|${sev}|${body}`;
  return `${header(e, hostname)} ${cef}`;
}

/** RFC 6587 octet counting: the length is of the message's bytes, not characters. */
export function octetFrame(msg: string): Buffer {
  const b = Buffer.from(msg, 'utf8');
  return Buffer.concat([Buffer.from(`${b.length} `, 'ascii'), b]);
}

export class SyslogSender {
  private udp: dgram.Socket | null = null;
  private tcp: net.Socket | null = null;
  private connected = false;
  private queue: Buffer[] = [];
  private backoff = 200;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;
  sent = 0;
  dropped = 0;
  lastError: string | null = null;

  constructor(
    readonly target: SyslogTarget,
    private readonly maxQueue = 5000,
  ) {
    if (target.transport === 'udp') {
      this.udp = dgram.createSocket(net.isIPv6(target.host) ? 'udp6' : 'udp4');
      this.udp.on('error', (err) => (this.lastError = err.message));
      this.udp.unref();
    } else this.connect();
  }

  send(msg: string): void {
    if (this.closed) return;
    if (this.udp) {
      const b = Buffer.from(msg, 'utf8');
      this.udp.send(b, this.target.port, this.target.host, (err) => {
        if (err) {
          this.dropped++;
          this.lastError = err.message;
        } else this.sent++;
      });
      return;
    }
    const frame = octetFrame(msg);
    if (this.connected && this.tcp && this.queue.length === 0) this.write(frame);
    else this.enqueue(frame);
  }

  private enqueue(f: Buffer) {
    this.queue.push(f);
    if (this.queue.length > this.maxQueue) {
      this.queue.shift();
      this.dropped++;
    }
  }

  private write(f: Buffer) {
    this.tcp!.write(f);
    this.sent++;
  }

  private connect() {
    if (this.closed) return;
    const s = net.connect({ host: this.target.host, port: this.target.port });
    s.setNoDelay(true);
    s.unref();
    this.tcp = s;
    s.on('connect', () => {
      this.connected = true;
      this.backoff = 200;
      const q = this.queue;
      this.queue = [];
      for (const f of q) this.write(f);
    });
    s.on('error', (err) => (this.lastError = err.message));
    s.on('close', () => {
      this.connected = false;
      this.tcp = null;
      if (this.closed) return;
      this.reconnectTimer = setTimeout(() => this.connect(), this.backoff);
      this.reconnectTimer.unref();
      this.backoff = Math.min(this.backoff * 2, 30_000);
    });
  }

  /** Waits (bounded) for queued TCP data to be written, then closes. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.udp) {
      const u = this.udp;
      this.udp = null;
      await new Promise<void>((r) => u.close(() => r()));
    }
    const s = this.tcp;
    if (s) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          s.destroy();
          resolve();
        }, 1000);
        s.end(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  status() {
    return { target: `${this.target.transport}://${this.target.host}:${this.target.port}`, connected: this.udp ? true : this.connected, sent: this.sent, dropped: this.dropped, queued: this.queue.length, lastError: this.lastError };
  }
}
