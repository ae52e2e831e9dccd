// SPDX-License-Identifier: Apache-2.0
/**
 * The console under a flow storm: a real site (controller and enforcer
 * processes), the console open in Chromium on the flow table, and two storms
 * of 100,000 distinct allowed TCP flows each, created in the enforcer's pinned
 * datapath by running the real program on generated SYNs (BPF_PROG_TEST_RUN,
 * no packet leaves the kernel). The enforcer exports every flow record to the
 * controller; the page reads them from GET /v1/flows/stream, which sends at
 * most --stream-rows-per-second (500) rows a second and aggregate events beyond.
 *
 * Proves: the records reach the controller within the minute; the page stays
 * responsive (a tab switch and a filter answer within a bound while the storm
 * runs) on the one stream it opened (it never falls back to polling /v1/flows),
 * holds a bounded number of rows and says it is sampling; the map's edge
 * counts every packet; the controller's resident memory stays bounded from the
 * first storm to the second (its flow table is bounded, not the page).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { Datapath } from '../../native/lib/datapath';
import type { Topology } from '../../scripts/topology';
import { packet, TCP_FLAGS } from '../support/packets';
import { TestSite, until } from '../support/site';
import { Browser, haveChromium, shot, signIn } from './browser';

const topology: Topology = { prefix: 'ccst', net: 247, sites: [{ name: 'edge', index: 1 }] };
const FLOWS = 100_000;
const BUNDLE = path.join(__dirname, '..', '..', 'apps', 'console', 'dist', 'app.js');
const ready = process.getuid?.() === 0 && haveChromium() && fs.existsSync(BUNDLE);

const STORM_SITE = [
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'clients' }, spec: { cidrs: ['10.64.0.0/10'] } },
  { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'servers' }, spec: { cidrs: ['10.2.0.0/16'] } },
  { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'clients-to-servers' }, spec: { from: ['clients'], to: ['servers'], allow: [{ protocol: 'tcp', ports: ['5201'] }] } },
];

/** n distinct flows (storm k uses its own source ports), 16 program runs at a time; returns how many passed. */
async function storm(dp: Datapath, n: number, k: number): Promise<number> {
  let next = 0;
  let passed = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < n) {
        const i = next++;
        const src = `10.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`;
        const p = packet({ src, dst: '10.2.0.9', protocol: 'tcp', sport: 20000 + k * 10000 + (i % 10000), dport: 5201, tcpFlags: TCP_FLAGS.SYN });
        if ((await dp.testRun(p)).passed) passed++;
      }
    }),
  );
  return passed;
}

async function scrape(url: string): Promise<string> {
  return fetch(`${url}/metrics`, { signal: AbortSignal.timeout(20_000) }).then((r) => r.text());
}
const metric = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
const RSS = /^process_resident_memory_bytes (\S+)$/m;
const rss = async (url: string) => metric(await scrape(url), RSS);
// The controller's memory after each storm: the process, V8's heap (used and reserved), memory outside it (PGlite's WASM).
const MEMORY_METRICS = [
  ['Rss', RSS],
  ['HeapUsed', /^nodejs_heap_size_used_bytes (\S+)$/m],
  ['HeapTotal', /^nodejs_heap_size_total_bytes (\S+)$/m],
  ['External', /^nodejs_external_memory_bytes (\S+)$/m],
] as const;
const allowedPackets = async (url: string) => metric(await scrape(url), /^cordon_flow_packets_total\{src_segment="clients",dst_segment="servers",verdict="allow"\} (\S+)$/m);

/** Time for the page to switch to a tab and draw it. */
async function tabSwitchMs(page: Page, id: string): Promise<number> {
  const t0 = Date.now();
  await page.click(`#tab-${id}`);
  await page.waitForSelector(`#view-${id}`);
  return Date.now() - t0;
}

(ready ? describe : describe.skip)('console under a flow storm (root, chromium, npm run build:console)', () => {
  let s: TestSite;
  let browser: Browser;
  let dp: Datapath | null = null;

  beforeAll(async () => {
    s = await TestSite.start({ topology, enforcer: 'gw-storm' });
    const { generation } = await s.apply(STORM_SITE);
    await s.waitEnforced(generation);
    browser = await Browser.launch();
  }, 120_000);

  afterAll(async () => {
    dp?.close();
    await browser?.close();
    await s?.close();
  }, 60_000);

  test('console_storm_two_storms_of_100000_flows_page_responsive_rows_bounded_controller_memory_bounded', async () => {
    const page = await browser.page();
    const requests = { flows: 0, stream: 0 };
    page.on('request', (r) => {
      const p = new URL(r.url()).pathname;
      if (p === '/v1/flows') requests.flows++;
      if (p === '/v1/flows/stream') requests.stream++;
    });
    await signIn(page, s.url, s.admin);
    await page.click('#tab-flows');
    await page.waitForSelector('#view-flows');
    const streamOpened = Date.now();
    dp = await Datapath.open({ name: s.pinName }); // adopts the enforcer's pinned maps
    const rssBefore = await rss(s.url);
    const figures: Record<string, number> = { rssBeforeMB: Math.round(rssBefore / 2 ** 20) };

    for (const k of [0, 1]) {
      const t0 = Date.now();
      const packetsBefore = (await allowedPackets(s.url)) || 0;
      const running = storm(dp, FLOWS, k);
      // While the storm runs and its records arrive: the page answers.
      const switches: number[] = [];
      for (const id of ['map', 'flows', 'matrix', 'flows']) switches.push(await tabSwitchMs(page, id));
      const passed = await running;
      expect(passed).toBe(FLOWS);
      figures[`storm${k}FillMs`] = Date.now() - t0;
      await until(`the controller to count the ${FLOWS} packets of storm ${k}`, async () => (await allowedPackets(s.url)) - packetsBefore >= FLOWS, 60_000, 500).catch(async (err: Error) => {
        // Seen once in a full CI run (and not in three runs alone): say where the records stopped.
        const counted = (await allowedPackets(s.url)) - packetsBefore;
        throw new Error(`${err.message}: ${counted} counted\n--- enforcer log (tail):\n${(s.enf?.log ?? '').slice(-6000)}\n--- controller log (tail):\n${(s.ctl?.log ?? '').slice(-4000)}`);
      });
      figures[`storm${k}DeliveredMs`] = Date.now() - t0;
      expect(Date.now() - t0).toBeLessThan(60_000); // 100,000 records within the minute
      for (const id of ['map', 'flows']) switches.push(await tabSwitchMs(page, id));
      figures[`storm${k}MaxTabSwitchMs`] = Math.max(...switches);
      expect(Math.max(...switches)).toBeLessThan(3000);
      const memory = await scrape(s.url);
      for (const [name, re] of MEMORY_METRICS) figures[`storm${k}${name}MB`] = Math.round(metric(memory, re) / 2 ** 20);
    }

    // The page: a bounded sample, said so, and filters still answer at once.
    await page.waitForSelector('#view-flows .status:has-text("busy site")', { timeout: 10_000 });
    expect(await page.textContent('#view-flows .status')).toMatch(/\d+ flow\(s\) beyond the stream's 500 rows a second were only counted/);
    // All of it over the one stream: the backlog at sign-in was the only GET /v1/flows.
    expect(requests).toEqual({ flows: 1, stream: 1 });
    expect(await page.getAttribute('#live-status', 'data-feed')).toBe('stream');
    const text = await scrape(s.url);
    const sent = metric(text, /^cordon_flow_stream_rows_total\{kind="row"\} (\S+)$/m);
    const counted = metric(text, /^cordon_flow_stream_rows_total\{kind="aggregated"\} (\S+)$/m);
    figures.streamRows = sent;
    figures.streamAggregated = counted;
    expect(counted).toBeGreaterThan(sent); // most of the storm went as counts, not rows
    expect(sent).toBeLessThanOrEqual(500 * Math.ceil((Date.now() - streamOpened) / 1000) + 500);
    const drawnBefore = await page.locator('#view-flows tr.flow').count();
    expect(drawnBefore).toBe(200); // more match than are drawn
    const one = (await page.locator('#view-flows tr.flow').first().getAttribute('data-src'))!;
    const t1 = Date.now();
    await page.fill('#view-flows input[name=address]', one);
    // A function, not a string: a string predicate is eval()ed on every poll, which the page's CSP refuses.
    // The address filter is a prefix (10.64.1.2 also shows 10.64.1.23), as the table documents.
    await page.waitForFunction(
      (prefix) => {
        // runs in the page (this file's tsconfig has no DOM types)
        const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ getAttribute(n: string): string | null }> } }).document;
        const r = [...doc.querySelectorAll('#view-flows tr.flow')];
        return r.length > 0 && r.length < 200 && r.every((x) => (x.getAttribute('data-src') ?? '').startsWith(prefix));
      },
      one,
      { timeout: 10_000 },
    );
    figures.filterMs = Date.now() - t1;
    expect(figures.filterMs).toBeLessThan(3000);
    const drawn = await page.locator('#view-flows tr.flow').count();
    expect(drawn).toBeLessThanOrEqual(200);
    const held = Number(/(\d+) held/.exec((await page.textContent('#view-flows .status')) ?? '')?.[1]);
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(5000);
    const heap = (await page.evaluate('performance.memory ? performance.memory.usedJSHeapSize : 0')) as number;
    figures.pageHeapMB = Math.round(heap / 2 ** 20);

    // The map's edge counts every packet, not only the rows the page holds.
    await page.click('#tab-map');
    const edge = page.locator('svg.map path.edge[data-src="clients"][data-dst="servers"][data-verdict="allow"]');
    await edge.waitFor();
    expect(await edge.locator('title').textContent()).toMatch(/clients → servers allow: (1\d\d|2\d\d)\.\d k packets/);
    await shot(page, 'storm-map');

    // The controller: its flow table is bounded (50,000), so 200,000 flows cost it about what 100,000 did.
    // Its RSS is a loose measure of that: V8 grows its heap ahead of the collector, and right after a storm
    // the heap holds garbage too (used after the second storm: 253-460 MB over three runs, after the first
    // 277-289 MB); PGlite's WASM memory (~145 MB, external) never shrinks. Over eight runs (three in CI), RSS
    // grew 260-470 MB. The figures after each storm are printed to tell those apart.
    const rssAfter = await rss(s.url);
    figures.rssAfterMB = Math.round(rssAfter / 2 ** 20);
    process.stderr.write(`console storm: ${JSON.stringify(figures)}\n`);
    expect(rssAfter).toBeLessThan(rssBefore + 600 * 2 ** 20);
    expect(browser.problems.filter((p) => !/Failed to load resource/.test(p))).toEqual([]);
  }, 240_000);
});
