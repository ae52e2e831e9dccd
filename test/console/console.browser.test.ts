// SPDX-License-Identifier: Apache-2.0
/**
 * The console in a real headless Chromium against a real controller and
 * enforcer on a namespace site with real traffic (test/support/site.ts):
 * sensors may reach the broker on tcp/7000, a stray host in the lan segment
 * (no Device claims it, no policy lets it out) is denied.
 *
 * Needs root, bpffs, the built addon (npm run build:bpf build:native), the
 * console bundle (npm run build:console) and /usr/bin/chromium. Run it under
 * the kernel lock. Screenshots: test/console/screenshots/*.png.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import type { Topology } from '../../scripts/topology';
import { TestSite, until } from '../support/site';
import { Browser, haveChromium, shot, signIn } from './browser';

const topology: Topology = {
  prefix: 'ccon',
  net: 246,
  sites: [
    { name: 'sensor', index: 1 },
    { name: 'stray', index: 2 },
    { name: 'broker', index: 3 },
  ],
};
const BUNDLE = path.join(__dirname, '..', '..', 'apps', 'console', 'dist', 'app.js');
const ready = process.getuid?.() === 0 && haveChromium() && fs.existsSync(BUNDLE);

(ready ? describe : describe.skip)('console in Chromium against a real site (root, chromium, npm run build:console)', () => {
  let s: TestSite;
  let browser: Browser;
  let page: Page;
  /** The main page's requests for flows: GET /v1/flows (the backlog, or polls) and the event stream. */
  const requests = { flows: 0, stream: 0 };
  const A = (n: string) => s.addr(n);
  const policy = (ports: string[]) => ({
    apiVersion: 'cordon/v1',
    kind: 'Policy',
    metadata: { name: 'sensors-to-broker' },
    spec: { from: ['sensors'], to: ['broker'], allow: [{ protocol: 'tcp', ports }] },
  });
  const siteDocs = () => [
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'sensors' }, spec: { cidrs: [A('sensor').subnet4] } },
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'lan' }, spec: { cidrs: [A('stray').subnet4] } },
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'broker' }, spec: { cidrs: [A('broker').subnet4] } },
    { apiVersion: 'cordon/v1', kind: 'Device', metadata: { name: 'sensor-1', labels: { type: 'sensor' } }, spec: { addresses: [A('sensor').v4] } },
    policy(['7000']),
  ];
  const tab = async (id: string) => {
    await page.click(`#tab-${id}`);
    await page.waitForSelector(`#view-${id}`);
  };

  beforeAll(async () => {
    // a device CA, its key-encryption key outside the controller's data dir, for the credentials view
    const kek = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-console-kek-')), 'kek');
    fs.writeFileSync(kek, randomBytes(32), { mode: 0o600 });
    s = await TestSite.start({ topology, enforcer: 'gw-console', controllerEnv: { CORDON_KEK_FILE: kek, CORDON_EST: '127.0.0.1:0' } });
    const { generation } = await s.apply(siteDocs());
    await s.waitEnforced(generation);
    await s.serve('broker', 7000);
    await s.serve('broker', 7001);
    browser = await Browser.launch();
    page = await browser.page();
    page.on('request', (r) => {
      const p = new URL(r.url()).pathname;
      if (p === '/v1/flows') requests.flows++;
      if (p === '/v1/flows/stream') requests.stream++;
    });
    await signIn(page, s.url, s.admin);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await s?.close();
  }, 60_000);

  test('console_1_the_page_is_served_with_a_strict_csp_and_the_token_stays_out_of_urls_storage_and_cookies', async () => {
    const r = await fetch(`${s.url}/`);
    expect(r.status).toBe(200);
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await fetch(`${s.url}/console/../../package.json`)).status).toBe(404);
    expect((await fetch(`${s.url}/console/secret.txt`)).status).toBe(404);
    const kept = await page.evaluate('({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie, url: location.href })');
    expect(kept).toEqual({ local: 0, session: 0, cookie: '', url: `${s.url}/` });
    expect((await browser.context.cookies()).length).toBe(0);
    // A wrong token is refused by the controller, and the page says so.
    const other = await browser.page();
    await other.goto(s.url);
    await other.fill('#token', 'not-a-token');
    await other.click('#signin button[type=submit]');
    await other.waitForSelector('#signin-error:has-text("401")');
    await other.close();
  });

  test('console_2_the_map_shows_the_segments_and_an_edge_for_a_flow_the_test_makes_and_the_edge_lists_it', async () => {
    expect(await s.connect('sensor', A('broker').v4, 7000)).toBe(true);
    await tab('map');
    for (const seg of ['sensors', 'lan', 'broker']) await page.waitForSelector(`svg.map g.node[data-segment="${seg}"]`);
    const edge = 'svg.map path.edge[data-src="sensors"][data-dst="broker"][data-verdict="allow"]';
    await page.waitForSelector(edge, { timeout: 20_000 });
    // The page's rows trail the counters by up to a poll: click until the edge lists the flow.
    await until(
      'the edge to list the sensor flow',
      async () => {
        await page.locator(edge).dispatchEvent('click'); // a curve's box centre may miss its stroke
        return (await page.locator('#map-detail tr.flow').count()) > 0;
      },
      10_000,
      500,
    );
    expect(await page.textContent('#map-detail')).toContain(`${A('sensor').v4} (sensor-1)`);
    expect(await page.textContent('#map-detail')).toContain('tcp/7000');
    await shot(page, 'map');
  }, 60_000);

  test('console_3_a_denied_flow_appears_in_the_table_and_its_explanation_names_the_default_deny', async () => {
    expect(await s.connect('stray', A('broker').v4, 7001, 300)).toBe(false);
    await tab('flows');
    await page.selectOption('#view-flows select[name=verdict]', 'deny');
    await page.fill('#view-flows input[name=address]', A('stray').v4);
    const row = `#view-flows tr.flow[data-src="${A('stray').v4}"][data-dst="${A('broker').v4}"][data-verdict="deny"]`;
    await page.waitForSelector(row, { timeout: 20_000 });
    // Filters narrow: the allowed sensor flow is not among the denied rows.
    expect(await page.locator(`#view-flows tr.flow[data-src="${A('sensor').v4}"]`).count()).toBe(0);
    // Its encryption class as the datapath gave it (issue 17; was "—"): a denied SYN never carried a payload.
    expect(await page.textContent(`${row} td.encryption`)).toBe('pending');
    await page.click(row);
    await page.waitForSelector('#flow-detail .explain');
    const text = await page.textContent('#flow-detail');
    expect(text).toContain('the default deny');
    expect(text).toContain('segment lan');
    expect(text).toContain('No policy allows anything from lan to broker');
    await shot(page, 'flows');
    // ...and on the map, as a deny edge from lan to broker.
    await tab('map');
    await page.waitForSelector('svg.map path.edge[data-src="lan"][data-dst="broker"][data-verdict="deny"]', { timeout: 10_000 });
  }, 60_000);

  test('console_4_the_matrix_cell_of_an_allowed_pair_shows_its_port_and_its_traffic', async () => {
    await tab('matrix');
    const cell = page.locator('table.matrix td.cell[data-src="sensors"][data-dst="broker"]');
    await until('the sensors → broker cell with tcp/7000 and its packets', async () => /tcp\/7000/.test((await cell.textContent()) ?? '') && /allow \d+/.test((await cell.textContent()) ?? ''), 10_000, 200);
    expect(await page.locator('table.matrix td.cell[data-src="lan"][data-dst="broker"] .rule').count()).toBe(0);
    await shot(page, 'matrix');
  });

  test('console_5_admit_turns_the_unknown_stray_host_into_a_device_and_its_next_flow_is_judged_as_that_device', async () => {
    await tab('devices');
    const row = `#view-devices tr[data-address="${A('stray').v4}"]`;
    await until('the stray host among the unknown devices', async () => {
      await page.click('#tab-devices');
      return (await page.locator(row).count()) > 0;
    }, 20_000, 1000);
    await shot(page, 'devices-unknown');
    await page.fill(`${row} input[name=name]`, 'stray-1');
    await page.fill(`${row} input[name=labels]`, 'type=sensor vendor=acme');
    await page.click(`${row} button[type=submit]`);
    await page.waitForSelector('#devices-message.ok');
    const dev = await s.api('GET', '/v1/devices/stray-1');
    expect(dev.status).toBe(200);
    expect(dev.body).toMatchObject({ metadata: { name: 'stray-1', labels: { type: 'sensor', vendor: 'acme' } }, spec: { addresses: [A('stray').v4] } });
    const audit = (await s.api('GET', '/v1/audit')).body.items as { action: string; target: string }[];
    expect(audit.some((a) => a.action === 'apply' && /admit|Device/.test(JSON.stringify(a)))).toBe(true);
    await until('stray-1 among the devices', async () => {
      await page.click('#tab-devices');
      return (await page.locator('#view-devices tr[data-device="stray-1"]').count()) > 0;
    }, 10_000, 1000);
    await s.waitEnforced(await s.currentGeneration());

    // Its next flow: the table names the device, the trace judges it as stray-1 in lan.
    expect(await s.connect('stray', A('broker').v4, 7001, 300)).toBe(false);
    await tab('flows');
    await page.fill('#view-flows input[name=device]', 'stray-1');
    const flow = `#view-flows tr.flow[data-src="${A('stray').v4}"]`;
    await page.waitForSelector(flow, { timeout: 20_000 });
    expect(await page.textContent(flow)).toContain(`${A('stray').v4} (stray-1)`);
    await page.click(flow);
    await page.waitForSelector('#flow-detail .explain');
    expect(await page.textContent('#flow-detail')).toContain('segment lan, device stray-1');
    await shot(page, 'devices-admitted');
  }, 90_000);

  test('console_6_the_enforcers_view_shows_the_enforcer_connected_and_in_sync_with_its_map_fill', async () => {
    await tab('enforcers');
    const row = page.locator('#view-enforcers tr[data-enforcer="gw-console"]');
    const gen = await s.currentGeneration();
    const serving = (await s.api('GET', '/v1/enforcers/gw-console')).body.controller as string;
    expect(serving).toBeTruthy();
    await until('gw-console connected (to which controller) and in sync', async () => {
      await page.click('#tab-enforcers');
      const t = (await row.textContent().catch(() => '')) ?? '';
      return t.includes(`connected to ${serving}`) && t.includes(`${gen} of ${gen} (in sync)`) && /%/.test(t);
    }, 15_000, 1000);
    await shot(page, 'enforcers');
  }, 30_000);

  test('console_6b_a_click_on_a_segment_zooms_into_its_devices_and_their_flows', async () => {
    expect(await s.connect('sensor', A('broker').v4, 7000)).toBe(true);
    await tab('map');
    await until('the sensors segment on the map', async () => (await page.locator('svg.map g.node[data-segment="sensors"]').count()) > 0, 15_000, 500);
    await page.click('svg.map g.node[data-segment="sensors"]');
    expect(await page.textContent('#map-title')).toBe('devices of sensors');
    // sensor-1 is a device node (by its Device name), the broker a peer segment, and an allow edge joins them
    const edge = 'svg.map path.edge.verdict-allow[data-src="sensor-1"][data-dst="broker"]';
    await until('sensor-1 → broker in the zoomed map', async () => {
      await page.click('#tab-map');
      return (await page.locator('svg.map g.node.device[data-device="sensor-1"]').count()) > 0 && (await page.locator(edge).count()) > 0;
    }, 15_000, 500);
    expect(await page.locator('svg.map g.node[data-segment="broker"]').count()).toBe(1);
    await page.locator(edge).dispatchEvent('click'); // a curve's box centre may miss its stroke
    await page.waitForSelector('#map-detail tr.flow');
    expect(await page.textContent('#map-detail')).toContain('sensor-1 → broker');
    await shot(page, 'map-zoomed');
    await page.click('#map-back');
    expect(await page.textContent('#map-title')).toBe('segments');
    expect(await page.locator('svg.map g.node[data-segment="sensors"]').count()).toBe(1);
  }, 45_000);

  test('console_6c_the_devices_view_shows_a_credential_with_its_expiry_and_revokes_it', async () => {
    const issued = await s.api('POST', '/v1/devices/sensor-1/credentials', { kind: 'certificate' });
    expect(issued.status).toBe(201);
    await tab('devices');
    const button = '#view-devices tr[data-device="sensor-1"] button.show-credentials';
    await page.waitForSelector(button);
    await page.click(button);
    const row = '#device-credentials tr[data-credential]';
    await page.waitForSelector(row);
    expect(await page.textContent('#device-credentials h3')).toContain('Credentials of sensor-1: valid');
    expect(await page.textContent(row)).toMatch(/certificate.*\(in \d+ days\).*valid/);
    await shot(page, 'devices-credentials');
    await page.selectOption(`${row} select[name=reason]`, 'keyCompromise');
    await page.click(`${row} button.revoke`);
    await until('the revocation answered', async () => /^revoke /.test((await page.textContent('#devices-message')) ?? ''), 10_000, 200);
    expect(await page.textContent('#devices-message')).toMatch(/^revoke .*: done$/);
    await until('the credential shown revoked', async () => /revoked/.test((await page.textContent(row)) ?? ''), 10_000, 200);
    const after = await s.api('GET', '/v1/devices/sensor-1/credentials');
    expect(after.body.items.map((c: { status: string; revokeReason: string }) => [c.status, c.revokeReason])).toEqual([['revoked', 'keyCompromise']]);
    const audit = (await s.api('GET', '/v1/audit')).body.items as { action: string }[];
    expect(audit.some((a) => /revoke/.test(a.action))).toBe(true);
  }, 45_000);

  /** Source ports of the sensor → broker rows the flow table holds. */
  const sensorPorts = async (p: Page) => {
    await p.fill('#view-flows input[name=address]', A('sensor').v4);
    return new Set(await p.locator('#view-flows tr.flow').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-sport'))));
  };

  test('console_6d_a_flow_made_after_the_page_opened_arrives_over_the_event_stream_without_a_reload_or_a_poll', async () => {
    await page.evaluate('window.__sameDocument = true');
    await tab('flows');
    await page.selectOption('#view-flows select[name=verdict]', '');
    await page.fill('#view-flows input[name=device]', '');
    await page.waitForSelector('#live-status[data-feed="stream"]');
    expect(await page.textContent('#live-status')).toContain('streaming');
    const before = await sensorPorts(page);
    const polls = requests.flows;
    expect(polls).toBe(1); // the backlog at sign-in; the stream has carried every flow since
    expect(requests.stream).toBe(1);
    expect(await s.connect('sensor', A('broker').v4, 7000)).toBe(true);
    await until('a new sensor → broker row', async () => [...(await sensorPorts(page))].some((p) => !before.has(p)), 20_000, 200);
    expect(requests.flows).toBe(polls); // not one GET /v1/flows: it came over the stream
    expect(requests.stream).toBe(1);
    expect(await page.evaluate('window.__sameDocument')).toBe(true); // no reload
    await page.fill('#view-flows input[name=address]', '');
  }, 45_000);

  test('console_7_a_viewer_sees_but_cannot_apply', async () => {
    const t = await s.api('POST', '/v1/tokens', { kind: 'api', role: 'viewer', ttl: '10m', name: 'console-viewer' });
    expect(t.status).toBe(201);
    const before = await s.currentGeneration();
    const viewer = await browser.page();
    await signIn(viewer, s.url, t.body.token);
    await viewer.click('#tab-matrix');
    await viewer.waitForSelector('table.matrix td.cell[data-src="sensors"][data-dst="broker"] .rule');
    await viewer.click('#tab-policy');
    await until('the editor filled with the site', async () => (await viewer.inputValue('#policy-editor')).includes('sensors-to-broker'), 10_000, 200);
    await viewer.fill('#policy-editor', `apiVersion: cordon/v1\nkind: Segment\nmetadata: { name: viewer-made }\nspec: { cidrs: [10.${topology.net}.99.0/24] }\n`);
    await viewer.click('#policy-apply');
    await viewer.waitForSelector('#policy-result .refused');
    expect(await viewer.textContent('#policy-result')).toContain('403');
    expect(await viewer.textContent('#policy-result')).toContain('operator role');
    expect(await s.currentGeneration()).toBe(before);
    expect((await s.api('GET', '/v1/segments/viewer-made')).status).toBe(404);
    await shot(viewer, 'viewer-refused');
    await viewer.close();
  });

  test('console_8_an_editor_dry_run_lists_the_observed_flow_the_change_would_newly_deny', async () => {
    expect(await s.connect('sensor', A('broker').v4, 7000)).toBe(true);
    const before = await s.currentGeneration();
    await tab('policy');
    await until('the editor filled with the site', async () => (await page.inputValue('#policy-editor')).includes('sensors-to-broker'), 10_000, 200);
    const yaml = (await page.inputValue('#policy-editor')).replace(/- "?7000"?/, '- "7002"');
    expect(yaml).toContain('7002');
    await page.fill('#policy-editor', yaml);
    await page.click('#policy-dry-run');
    await page.waitForSelector('#policy-result .impacts');
    const denied = page.locator(`#policy-result .impact.denied li[data-src="${A('sensor').v4}"][data-dst="${A('broker').v4}"]`);
    expect(await denied.count()).toBe(1);
    expect(await denied.textContent()).toContain('tcp/7000: allow by policy sensors-to-broker → deny by the default deny');
    expect(await page.textContent('#policy-result')).toContain('Policy/sensors-to-broker updated');
    expect(await s.currentGeneration()).toBe(before); // a dry run stores nothing
    await shot(page, 'policy-dry-run');
    // The same change from the CLI: cordon apply --dry-run prints the flow it would newly deny.
    const file = path.join(s.dir, 'narrower.yaml');
    fs.writeFileSync(file, yaml);
    const cli = await s.cli(['apply', '-f', file, '--dry-run']);
    expect({ code: cli.code, stderr: cli.stderr }).toEqual({ code: 0, stderr: '' });
    expect(cli.stdout).toContain(`newly denied: ${A('sensor').v4} (sensors) -> ${A('broker').v4} (broker) tcp/7000`);
    expect(cli.stdout).toContain('allow by policy sensors-to-broker before, deny by the default deny after');
    expect(await s.currentGeneration()).toBe(before);
    // No script error and no CSP violation on any page (the refusals the tests provoked are logged as failed loads).
    expect(browser.problems.filter((p) => !/Failed to load resource: the server responded with a status of (401|403)/.test(p))).toEqual([]);
  }, 60_000);

  test('console_9_when_the_stream_fails_the_page_polls_and_reconnects_with_backoff', async () => {
    const p = await browser.page();
    let polls = 0;
    let streams = 0;
    p.on('request', (r) => {
      const u = new URL(r.url()).pathname;
      if (u === '/v1/flows') polls++;
      if (u === '/v1/flows/stream') streams++;
    });
    await p.route('**/v1/flows/stream', (r) => r.abort('connectionrefused'));
    await signIn(p, s.url, s.admin);
    await p.waitForSelector('#live-status[data-feed="polling"]', { timeout: 10_000 });
    await p.click('#tab-flows');
    await p.waitForSelector('#view-flows');
    await until('the page to poll /v1/flows', async () => polls >= 3, 10_000, 200);
    const before = await sensorPorts(p);
    expect(await s.connect('sensor', A('broker').v4, 7000)).toBe(true);
    await until('the new flow, by polling', async () => [...(await sensorPorts(p))].some((x) => !before.has(x)), 20_000, 200);
    const tries = streams;
    expect(tries).toBeGreaterThanOrEqual(2); // it kept trying the stream
    await p.unroute('**/v1/flows/stream');
    await p.waitForSelector('#live-status[data-feed="stream"]', { timeout: 35_000 });
    const settled = polls;
    await new Promise((r) => setTimeout(r, 2500));
    expect(polls).toBeLessThanOrEqual(settled + 1); // polling stopped once the stream was back (one may have been in flight)
    await p.close();
  }, 90_000);

  test('console_10_the_devices_view_lists_an_incident_with_its_kinds_and_action_above_the_anomalies_in_it', async () => {
    // A vertical scan by sensor-1, reported on the monitoring ingest (REST) as an enforcer's flow records would be.
    const ids = (await s.api('GET', '/v1/bundles/current')).body.identities as Record<string, number>;
    const now = Date.now();
    const flows = Array.from({ length: 40 }, (_, i) => ({
      src: A('sensor').v4, dst: A('broker').v4, sport: 41000 + i, dport: 8000 + i, protocol: 6, family: 4, srcIdentity: ids.sensors, dstIdentity: ids.broker,
      verdict: 'VERDICT_DENY', reason: 'DROP_REASON_POLICY', ruleId: 0, packetsFwd: 1, bytesFwd: 60, packetsRev: 0, bytesRev: 0, firstSeen: now - 500 + i, lastSeen: now + i, ifindex: 4,
    }));
    expect((await s.api('POST', '/v1/monitoring/flows', { enforcer: 'gw-console', flows })).status).toBeLessThan(300);
    const incident = await until('an incident of sensor-1', async () => ((await s.api('GET', '/v1/incidents?device=sensor-1')).body.items as { id: number; kinds: string[] }[])[0], 15_000, 250);
    expect(incident.kinds).toContain('scan');
    await tab('devices');
    const row = `#view-devices table.incidents tr[data-incident="${incident.id}"]`;
    await page.waitForSelector(row, { timeout: 15_000 });
    const text = (await page.textContent(row)) ?? '';
    expect(text).toContain('sensor-1');
    expect(text).toMatch(/open/);
    expect(text).toMatch(/scan/);
    expect(text).toMatch(/alert/); // the sensors segment says no onAnomaly: alert only
    await shot(page, 'devices-incidents');
  }, 60_000);
});
