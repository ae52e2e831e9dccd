// SPDX-License-Identifier: Apache-2.0
/**
 * Encrypted-only flows end to end (issue 7), with real processes and packets:
 * `cordon controller` (device CA sealed by a KEK) and `cordon enforcer` on a
 * namespace gateway (test/support/site.ts), a real Mosquitto in the broker's
 * namespace, mosquitto_pub in the devices' namespaces.
 *
 *   cenc-s1 (thermo-1, 10.242.1.2) ─┐                    ┌─ cenc-broker 10.242.2.2:8883  MQTT over TLS (client cert from Cordon's CA)
 *                                   ├─ cenc-gw (enforcer)┤
 *   cenc-s2 (legacy-2, 10.242.3.2) ─┘                    └─ cenc-broker 10.242.2.3:8883  MQTT in clear
 *
 * Policy `sensors -> broker: tcp 8883 encryption: required`: MQTT over TLS
 * passes; MQTT in clear to the same port is dropped on its first payload (the
 * broker sees a TCP connection but never the CONNECT), the enforcer counts a
 * `plaintext` drop and the flow's class is mqtt in the datapath and in the flow
 * record the controller receives. With the rule's encryption optional, the
 * same client connects: the drop is the rule's. Then `cordon report plaintext`
 * and GET /v1/report/plaintext name legacy-2 as the device sending in clear.
 *
 * Needs root, bpffs, the built addon, nft and Debian's mosquitto + mosquitto-clients.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { Datapath } from '../../native/lib/datapath';
import type { Topology } from '../../scripts/topology';
import { TestSite, until } from '../support/site';

const topology: Topology = {
  prefix: 'cenc',
  net: 242,
  sites: [
    { name: 's1', index: 1 },
    { name: 'broker', index: 2 },
    { name: 's2', index: 3 },
  ],
};
const PORT = 8883;
const BROKER_CLEAR = '10.242.2.3'; // a second address of the broker, for the listener in clear

const haveTools = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v mosquitto && command -v mosquitto_pub && command -v openssl && command -v nft'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const root = process.getuid?.() === 0;

(root && haveTools ? describe : describe.skip)('encryption e2e: encrypted-only MQTT through the gateway, and the plaintext report (root, mosquitto)', () => {
  let s: TestSite;
  let work: string;
  let broker: ChildProcess | null = null;
  let brokerLog = '';
  const A = (n: string) => s.addr(n);
  const log = () => (fs.existsSync(brokerLog) ? fs.readFileSync(brokerLog, 'utf8') : '');

  const docs = (encryption: 'required' | 'optional') => [
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'sensors' }, spec: { cidrs: [A('s1').subnet4, A('s2').subnet4] } },
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'broker' }, spec: { cidrs: [A('broker').subnet4] } },
    { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'thermo-1', labels: { type: 'thermostat' } }, spec: { addresses: [A('s1').v4] } },
    { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'legacy-2', labels: { type: 'meter' } }, spec: { addresses: [A('s2').v4] } },
    {
      apiVersion: 'cordon/v1',
      kind: 'Policy',
      metadata: { name: 'sensors-to-broker' },
      spec: { from: ['sensors'], to: ['broker'], allow: [{ protocol: 'tcp', ports: [String(PORT)], encryption }] },
    },
  ];

  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });
  const f = (name: string) => path.join(work, name);

  /** The enforcer's drop counter for a reason (its /metrics). */
  const drops = async (reason: string) => Number(new RegExp(`^cordon_drops_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(await s.scrapeEnforcer())?.[1] ?? 0);

  /** One MQTT publish with QoS 1 (waits for PUBACK); exit 0 when the broker took it. */
  const pubTls = () =>
    s.runIn('s1', ['mosquitto_pub', '-h', A('broker').v4, '-p', String(PORT), '--cafile', f('server-ca.crt'), '--cert', f('thermo-1.crt'), '--key', f('thermo-1.key'), '-i', 'thermo-1', '-t', 'site/thermo-1', '-m', '21.5', '-q', '1'], 10_000);
  // mosquitto_pub 2.0 turns TLS on by itself for port 8883 (it has no flag
  // against it), so the device in clear publishes to 1883 and its own
  // namespace's nftables sends that to 8883: on the wire, MQTT in clear to 8883.
  const pubClear = (timeoutMs: number) => s.runIn('s2', ['mosquitto_pub', '-h', BROKER_CLEAR, '-p', '1883', '-i', 'legacy-2', '-t', 'site/legacy-2', '-m', '1234', '-q', '1'], timeoutMs);

  beforeAll(async () => {
    work = fs.mkdtempSync('/tmp/cordon-enc-e2e-');
    const kek = f('kek');
    fs.writeFileSync(kek, randomBytes(32), { mode: 0o600 });
    s = await TestSite.start({ topology, enforcer: 'gw-enc', controllerEnv: { CORDON_KEK_FILE: kek, CORDON_EST: 'off' } });
    const { generation } = await s.apply(docs('required'));
    await s.waitEnforced(generation);

    // The device's certificate, from Cordon's device CA; the broker trusts that CA for clients.
    const ca = await s.api('GET', '/v1/ca/cert');
    expect(ca.status).toBe(200);
    fs.writeFileSync(f('device-ca.crt'), ca.body);
    const issued = await s.api('POST', '/v1/devices/thermo-1/credentials', { kind: 'certificate' });
    expect(issued.status).toBe(201);
    fs.writeFileSync(f('thermo-1.crt'), issued.body.certificate);
    fs.writeFileSync(f('thermo-1.key'), issued.body.privateKey, { mode: 0o600 });

    // The broker's own server certificate, from a throwaway openssl CA.
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server-ca.key', '-out', 'server-ca.crt', '-days', '2', '-subj', '/CN=broker test CA']);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=broker']);
    fs.writeFileSync(f('ext.cnf'), `subjectAltName=IP:${A('broker').v4}\nextendedKeyUsage=serverAuth\n`);
    openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'server-ca.crt', '-CAkey', 'server-ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf']);

    // Mosquitto in the broker's namespace: TLS with client certificates on .2, in clear on .3, both port 8883.
    execFileSync('ip', ['netns', 'exec', A('broker').ns, 'ip', 'addr', 'add', `${BROKER_CLEAR}/24`, 'dev', 'eth0']);
    brokerLog = f('mosquitto.log');
    fs.writeFileSync(
      f('mosquitto.conf'),
      [
        'user root',
        'per_listener_settings true',
        'persistence false',
        `log_dest file ${brokerLog}`,
        'log_type all',
        'connection_messages true',
        '',
        `listener ${PORT} ${A('broker').v4}`,
        `cafile ${f('device-ca.crt')}`,
        `certfile ${f('server.crt')}`,
        `keyfile ${f('server.key')}`,
        'require_certificate true',
        'use_identity_as_username true',
        'allow_anonymous true',
        '',
        `listener ${PORT} ${BROKER_CLEAR}`,
        'allow_anonymous true',
        '',
      ].join('\n'),
    );
    const nat = `table ip cordon_e2e_nat {\n  chain out {\n    type nat hook output priority -100;\n    ip daddr ${BROKER_CLEAR} tcp dport 1883 dnat to ${BROKER_CLEAR}:${PORT}\n  }\n}\n`;
    execFileSync('ip', ['netns', 'exec', A('s2').ns, 'nft', '-f', '-'], { input: nat, stdio: ['pipe', 'ignore', 'pipe'] });

    broker = s.spawnIn('broker', ['mosquitto', '-c', f('mosquitto.conf')]);
    let err = '';
    broker.stderr!.on('data', (d) => (err += d));
    await until(
      'mosquitto to listen on both addresses',
      async () => {
        if (broker!.exitCode !== null) throw new Error(`mosquitto exited ${broker!.exitCode}: ${err}\n${log()}`);
        const ss = (await s.runIn('broker', ['ss', '-ltnH'], 5000)).stdout;
        return ss.includes(`${A('broker').v4}:${PORT}`) && ss.includes(`${BROKER_CLEAR}:${PORT}`);
      },
      10_000,
      100,
    );
  }, 180_000);

  afterAll(async () => {
    if (broker && broker.exitCode === null) {
      broker.kill('SIGTERM');
      let t: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((r) => broker!.once('exit', r)), new Promise((r) => (t = setTimeout(r, 3000)))]);
      clearTimeout(t);
      if (broker.exitCode === null && broker.signalCode === null) broker.kill('SIGKILL');
    }
    await s?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  }, 60_000);

  test('enc_e2e_1_required_passes_mqtt_over_tls_drops_mqtt_in_clear_and_optional_lets_it_through', async () => {
    // 1. MQTT over TLS with Cordon's certificate: passes, and the broker knows the device by its certificate.
    const tls = await pubTls();
    expect({ code: tls.code, stderr: tls.stderr }).toEqual({ code: 0, stderr: '' });
    expect(log()).toMatch(new RegExp(`New client connected from ${A('s1').v4.replace(/\./g, '\\.')}:\\d+ as thermo-1 .*u'thermo-1'`));

    // 2. MQTT in clear to the same port: the TCP handshake passes (no payload yet),
    //    the CONNECT is dropped, so mosquitto_pub waits for a CONNACK until it is killed.
    const before = await drops('plaintext');
    const t0 = Date.now();
    const clear = await pubClear(4000);
    // Killed by the bound (code null), not refused nor answered.
    expect({ code: clear.code, stderr: clear.stderr, killedAfterBound: Date.now() - t0 >= 3500, log: log().split('\n').slice(-6) }).toMatchObject({ code: null, stderr: '', killedAfterBound: true });
    const after = await until('the enforcer to count a plaintext drop', async () => {
      const n = await drops('plaintext');
      return n > before ? n : 0;
    }, 5000, 100);
    expect(after).toBeGreaterThan(before);
    // The broker accepted a TCP connection from legacy-2's address but never read its CONNECT.
    expect(log()).toContain(`New connection from ${A('s2').v4}`);
    expect(log()).not.toContain('as legacy-2');

    // The datapath's flow: class mqtt, dropped for plaintext (a second handle on the enforcer's pins).
    const dp = await Datapath.open({ name: s.pinName });
    try {
      const flow = (await dp.flows()).find((x) => x.src === A('s2').v4 && x.dport === PORT);
      expect(flow).toMatchObject({ encryption: 'mqtt', reason: 'plaintext' });
      const tlsFlow = (await dp.flows()).find((x) => x.src === A('s1').v4 && x.dport === PORT);
      expect(tlsFlow).toMatchObject({ encryption: 'tls', verdict: 'allow' });
    } finally {
      dp.close();
    }
    // The flow record the enforcer sent carries the class: the controller counted it as mqtt, refused.
    const legacy = await until('the controller to count legacy-2\'s refused flow in clear', async () => {
      const d = (await s.api('GET', '/v1/report/plaintext?device=legacy-2')).body.devices?.[0];
      return d?.refusedInClear >= 1 ? d : undefined;
    }, 10_000, 200);
    expect(legacy).toMatchObject({ device: 'legacy-2', segment: 'sensors', byClass: { mqtt: expect.objectContaining({ flows: 1 }) } });
    // and /v1/flows shows it as what it is, a plaintext drop (until a later policy re-judges it)
    const refused = await until('the refused flow in /v1/flows', async () => {
      const rows = (await s.api('GET', `/v1/flows?from=${A('s2').v4}`)).body.items as { verdict: string; reason: string; encryption: string }[];
      return rows.find((f) => f.reason === 'plaintext');
    }, 10_000, 200);
    expect(refused).toMatchObject({ verdict: 'deny', reason: 'plaintext', encryption: 'mqtt' });

    // TLS on the same port still passes while the rule says required.
    expect((await pubTls()).code).toBe(0);

    // 3. The same rule with encryption optional: the same client in clear connects and publishes.
    const { generation } = await s.apply(docs('optional'));
    await s.waitEnforced(generation);
    const dropsBefore = await drops('plaintext');
    const ok = await pubClear(10_000);
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
    expect(log()).toMatch(new RegExp(`New client connected from ${A('s2').v4.replace(/\./g, '\\.')}:\\d+ as legacy-2`));
    expect(await drops('plaintext')).toBe(dropsBefore);
  }, 120_000);

  test('enc_e2e_2_report_plaintext_names_the_device_in_clear_with_its_shares_per_device_and_segment', async () => {
    // By now: thermo-1 two flows over TLS; legacy-2 one refused and one passed flow in clear.
    const r = await until('the report to hold both devices\' flows', async () => {
      const b = (await s.api('GET', '/v1/report/plaintext')).body;
      const legacy = b.devices?.find((d: any) => d.device === 'legacy-2');
      const thermo = b.devices?.find((d: any) => d.device === 'thermo-1');
      return legacy?.flowsInClear >= 2 && thermo?.flowsEncrypted >= 2 ? b : undefined;
    }, 15_000, 300);
    const legacy = r.devices.find((d: any) => d.device === 'legacy-2');
    const thermo = r.devices.find((d: any) => d.device === 'thermo-1');
    // Most in clear first.
    expect(r.devices[0].device).toBe('legacy-2');
    expect(legacy).toMatchObject({ addresses: [A('s2').v4], segment: 'sensors', flows: 2, flowsInClear: 2, flowShareInClear: 1, bytesShareInClear: 1, refusedInClear: 1 });
    expect(legacy.clearTo).toEqual([`${BROKER_CLEAR}:${PORT}/tcp`]);
    expect(legacy.bytesInClear).toBeGreaterThan(0);
    expect(thermo).toMatchObject({ segment: 'sensors', flowsInClear: 0, flowShareInClear: 0, bytesShareInClear: 0, byClass: { tls: expect.objectContaining({ flows: thermo.flowsEncrypted }) } });
    const sensors = r.segments.find((x: any) => x.segment === 'sensors');
    expect(sensors).toMatchObject({ flows: legacy.flows + thermo.flows, flowsInClear: 2, refusedInClear: 1, bytes: legacy.bytes + thermo.bytes });
    expect(sensors.flowShareInClear).toBeCloseTo(2 / sensors.flows, 3);
    expect(sensors.bytesShareInClear).toBeGreaterThan(0);
    expect(sensors.bytesShareInClear).toBeLessThan(1);

    // The CLI: JSON as REST, and the table naming the device with its shares.
    const json = await s.cli(['report', 'plaintext', '--output', 'json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).devices[0]).toMatchObject({ device: 'legacy-2', flowShareInClear: 1 });
    const text = await s.cli(['report', 'plaintext']);
    expect({ code: text.code, stderr: text.stderr }).toEqual({ code: 0, stderr: '' });
    const row = text.stdout.split('\n').find((l) => l.startsWith('legacy-2'));
    expect(row).toMatch(/^legacy-2\s+sensors\s+2\s+2\s+100\.0%\s+\d+\s+\d+\s+100\.0%\s+1\s+/);
    expect(text.stdout.split('\n').find((l) => l.startsWith('thermo-1'))).toMatch(/\s0\.0%\s/);
    expect(text.stdout).toMatch(/^sensors\s+\d+\s+2\s+/m);
    const bySegment = await s.cli(['report', 'plaintext', '--segment', 'sensors', '--device', 'thermo-1', '--output', 'json']);
    expect(JSON.parse(bySegment.stdout).devices.map((d: any) => d.device)).toEqual(['thermo-1']);
    // `report unused` still there beside it.
    expect((await s.cli(['report', 'unused', '--output', 'json'])).code).toBe(0);

    // The controller's /metrics: by segment and class, never by device.
    const m = await fetch(`${s.url}/metrics`).then((x) => x.text());
    const metric = (name: string, cls: string) => Number(new RegExp(`^${name}\\{src_segment="sensors",class="${cls}"\\} (\\d+)`, 'm').exec(m)?.[1] ?? -1);
    expect(metric('cordon_flows_by_encryption_total', 'mqtt')).toBe(2);
    expect(metric('cordon_flows_by_encryption_total', 'tls')).toBe(thermo.flows);
    expect(metric('cordon_bytes_by_encryption_total', 'mqtt')).toBeGreaterThan(0);
    expect(m).toMatch(/^cordon_plaintext_flows_ratio\{src_segment="sensors"\} 0\.\d+/m);
    expect(m).toMatch(/^cordon_plaintext_bytes_ratio\{src_segment="sensors"\} (0\.\d+|1)$/m);
    expect(m).not.toMatch(/by_encryption_total\{[^}]*(legacy-2|thermo-1)/);

    // The OpenAPI description has the report and the credential routes.
    const o = (await s.api('GET', '/v1/openapi.json')).body;
    for (const p of ['/v1/report/plaintext', '/v1/ca/cert', '/v1/ca/crl', '/v1/devices/{name}/credentials', '/v1/devices/{name}/credentials/rotate', '/v1/devices/{name}/credentials/revoke']) expect(o.paths).toHaveProperty([p]);
  }, 60_000);

  test('enc_e2e_3_cordon_flows_shows_each_flows_encryption_class_and_icmp_by_type_and_code', async () => {
    // Issue 17: the class the datapath gave each flow, through the enforcer's report, in /v1/flows and `cordon flows`.
    type Row = { src: string; dport: number; encryption: string; verdict: string; reason: string; protocol: number; icmpType: number | null; icmpCode: number | null };
    const flows = async (...args: string[]) => {
      const r = await s.cli(['flows', '-o', 'json', ...args]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      return JSON.parse(r.stdout) as Row[];
    };
    const tls = await flows('--from', 'thermo-1', '--port', String(PORT));
    expect(tls.length).toBeGreaterThanOrEqual(2);
    for (const f of tls) expect(f).toMatchObject({ src: A('s1').v4, encryption: 'tls', verdict: 'allow' });
    // legacy-2's two connections in clear (the refused one and the one the optional rule let through): class mqtt.
    const clear = await flows('--from', 'legacy-2');
    expect(clear.map((f) => ({ src: f.src, dport: f.dport, encryption: f.encryption }))).toEqual([
      { src: A('s2').v4, dport: PORT, encryption: 'mqtt' },
      { src: A('s2').v4, dport: PORT, encryption: 'mqtt' },
    ]);
    expect((await flows('--encryption', 'tls')).every((f) => f.src === A('s1').v4)).toBe(true);

    // The table: an ENCRYPTION column, aligned with the rest.
    const table = await s.cli(['flows', '--from', 'sensors', '--port', String(PORT)]);
    const lines = table.stdout.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/\bVERDICT\s+REASON\s+ENCRYPTION\s+PACKETS\s+BYTES$/);
    const col = lines[0].indexOf('ENCRYPTION');
    expect(lines.find((l) => l.includes(`${A('s1').v4}:`))!.slice(col)).toMatch(/^tls\s/);
    expect(lines.find((l) => l.includes(`${A('s2').v4}:`))!.slice(col)).toMatch(/^mqtt\s/);

    // A ping the policy denies: ICMP echo-request by type and code, never its identifier as a port.
    await s.runIn('s1', ['ping', '-c', '1', '-W', '1', A('broker').v4], 5000);
    const icmp = await until('the ping\'s flow to be reported', async () => (await flows('--from', 'thermo-1', '--protocol', 'icmp'))[0], 15_000, 300);
    expect(icmp).toMatchObject({ protocol: 1, icmpType: 8, icmpCode: 0, verdict: 'deny' });
    const row = (await s.cli(['flows', '--from', 'thermo-1', '--protocol', 'icmp'])).stdout.split('\n')[1];
    expect(row).toMatch(new RegExp(`${A('s1').v4.replace(/\./g, '\\.')}\\s+${A('broker').v4.replace(/\./g, '\\.')}\\s+icmp 8/0 echo-request\\s`));
  }, 60_000);
});
