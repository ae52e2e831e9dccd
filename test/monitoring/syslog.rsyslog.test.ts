// SPDX-License-Identifier: Apache-2.0
/** The syslog export against a real rsyslogd on loopback (UDP, and TCP with octet counting). */
import type { SecurityEvent } from '../../apps/controller/src/monitoring/events';
import { formatCef, formatRfc5424, parseSyslogUrl, SyslogSender } from '../../apps/controller/src/siem/syslog';
import { startRsyslog, TestRsyslog } from './rsyslog';

const event = (id: number, over: Partial<SecurityEvent> = {}): SecurityEvent => ({
  id,
  at: new Date(Date.UTC(2026, 0, 1, 12, 0, id)).toISOString(),
  type: 'anomaly',
  action: 'anomaly-scan',
  severity: 'high',
  message: `scan from cam-07 (event ${id}) with "quotes" and ] brackets | pipes`,
  device: 'cam-07',
  source: { ip: '10.10.2.7', mac: '02:00:00:00:00:07', segment: 'cameras' },
  destination: { ip: '10.10.1.20', port: 22 },
  protocol: 6,
  enforcer: 'gw-1',
  rule: 'default-deny',
  data: { anomaly: { kind: 'scan', evidence: { distinctDestinations: 40 } } },
  ...over,
});

describe('syslog export to a real rsyslogd', () => {
  let rs: TestRsyslog;
  beforeAll(async () => {
    rs = await startRsyslog();
  });
  afterAll(async () => rs?.stop());

  it('RFC 5424 over UDP: arrives, and MSG parses as ECS JSON', async () => {
    const s = new SyslogSender(parseSyslogUrl(`udp://127.0.0.1:${rs.udpPort}`));
    s.send(formatRfc5424(event(1)));
    const lines = await rs.waitFor((l) => l.some((x) => x.msg.includes('"id":"1"')));
    await s.close();
    const got = lines.find((x) => x.msg.includes('"id":"1"'))!;
    expect(got).toMatchObject({ pri: 13 * 8 + 3, version: '1', app: 'cordon', msgid: 'anomaly' });
    expect(got.sd).toContain('[cordon@32473 id="1" type="anomaly" action="anomaly-scan" severity="high" device="cam-07" enforcer="gw-1"]');
    const ecs = JSON.parse(got.msg);
    expect(ecs).toMatchObject({
      '@timestamp': '2026-01-01T12:00:01.000Z',
      event: { kind: 'alert', category: ['network', 'intrusion_detection'], action: 'anomaly-scan', severity: 7 },
      source: { ip: '10.10.2.7', mac: '02-00-00-00-00-07' },
      destination: { ip: '10.10.1.20', port: 22 },
      network: { transport: 'tcp' },
      observer: { name: 'gw-1' },
      rule: { name: 'default-deny' },
      host: { name: 'cam-07' },
    });
  });

  it('RFC 5424 over TCP with octet counting: many messages, in order, none split or merged', async () => {
    const s = new SyslogSender(parseSyslogUrl(`tcp://127.0.0.1:${rs.tcpPort}`));
    // Messages are framed by length (RFC 6587 3.4.1), so rsyslog must cut exactly at each count.
    for (let i = 100; i < 150; i++) s.send(formatRfc5424(event(i, { message: `line one\nline two of ${i}` })));
    const lines = await rs.waitFor((l) => l.filter((x) => x.msgid === 'anomaly' && /"id":"1[0-4]\d"/.test(x.msg)).length >= 50);
    await s.close();
    const ids = lines.filter((x) => /"id":"1[0-4]\d"/.test(x.msg)).map((x) => Number(JSON.parse(x.msg).event.id));
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
    expect(s.status()).toMatchObject({ sent: 50, dropped: 0 });
  });

  it('CEF over TCP: header fields and extensions parse', async () => {
    const s = new SyslogSender(parseSyslogUrl(`tcp://127.0.0.1:${rs.tcpPort}`));
    s.send(formatCef(event(200)));
    const lines = await rs.waitFor((l) => l.some((x) => x.msg.includes('externalId=200')));
    await s.close();
    const msg = lines.find((x) => x.msg.includes('externalId=200'))!.msg;
    expect(msg.startsWith('CEF:0|Cordon|cordon|0.1.0|anomaly-scan|anomaly|8|')).toBe(true);
    const ext = msg.split('|').slice(7).join('|');
    const fields = Object.fromEntries([...ext.matchAll(/(\w+)=((?:\\.|[^\\])*?)(?= \w+=|$)/g)].map((m) => [m[1], m[2].replace(/\\(.)/g, '$1')]));
    expect(fields).toMatchObject({ src: '10.10.2.7', dst: '10.10.1.20', dpt: '22', proto: 'TCP', dvchost: 'gw-1', duser: 'cam-07', act: 'anomaly-scan', cs1: 'default-deny' });
    expect(fields.msg).toContain('"quotes"');
  });

  it('a TCP collector that is down: messages wait and arrive once it listens', async () => {
    const s = new SyslogSender(parseSyslogUrl('tcp://127.0.0.1:1'));
    s.send(formatRfc5424(event(300)));
    await new Promise((r) => setTimeout(r, 300));
    expect(s.status()).toMatchObject({ connected: false, queued: 1 });
    await s.close();
  });
});
