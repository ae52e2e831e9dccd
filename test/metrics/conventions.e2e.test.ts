// SPDX-License-Identifier: Apache-2.0
/**
 * The metrics of both daemons, scraped from a real controller and enforcer on
 * a namespace site with real traffic (issue 17): every family has HELP and
 * TYPE, counters end in _total and nothing else does, ratios end in _ratio,
 * a name shared by both daemons means the same there (same type, same HELP),
 * the default process metrics carry no cordon prefix, both export
 * cordon_build_info, the enforcer counts hits per policy, and the series of
 * a deleted segment disappear from both.
 *
 * Needs root, bpffs and the built addon. Run it under the kernel lock.
 */
import type { Topology } from '../../scripts/topology';
import { TestSite, until } from '../support/site';

const topology: Topology = { prefix: 'cmet', net: 248, sites: [{ name: 'sensor', index: 1 }, { name: 'broker', index: 2 }, { name: 'lan', index: 3 }] };

interface Family {
  name: string;
  type: string;
  help: string;
  samples: string[];
}

/** The families of a Prometheus text exposition, by name. */
export function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  const fam = (name: string) => {
    let f = out.get(name);
    if (!f) out.set(name, (f = { name, type: '', help: '', samples: [] }));
    return f;
  };
  for (const line of text.split('\n')) {
    let m = /^# HELP (\S+) (.*)$/.exec(line);
    if (m) {
      fam(m[1]).help = m[2];
      continue;
    }
    m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) {
      fam(m[1]).type = m[2];
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? /.exec(line);
    if (!m) continue;
    const base = [...out.keys()].find((n) => m![1] === n || (m![1].startsWith(n) && /^_(bucket|sum|count)$/.test(m![1].slice(n.length))));
    fam(base ?? m[1]).samples.push(line);
  }
  return out;
}

function conventionProblems(daemon: string, fams: Map<string, Family>): string[] {
  const problems: string[] = [];
  for (const f of fams.values()) {
    // prom-client's default process_* and nodejs_* metrics keep their stock names (stock dashboards use them)
    if (/^(process|nodejs)_/.test(f.name)) continue;
    if (!f.help) problems.push(`${daemon} ${f.name}: no HELP`);
    if (!f.type) problems.push(`${daemon} ${f.name}: no TYPE`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) problems.push(`${daemon} ${f.name}: a counter not ending in _total`);
    if (f.type !== 'counter' && f.name.endsWith('_total')) problems.push(`${daemon} ${f.name}: a ${f.type} ending in _total`);
    if (/(share|fraction|percent)$/.test(f.name)) problems.push(`${daemon} ${f.name}: a ratio not named _ratio`);
    if (/^cordon_.*_(process|nodejs)_/.test(f.name)) problems.push(`${daemon} ${f.name}: a default metric with a cordon prefix`);
  }
  return problems;
}

const policy = { apiVersion: 'cordon/v1', kind: 'Policy', metadata: { name: 'sensors-to-broker' }, spec: { from: ['sensors'], to: ['broker'], allow: [{ protocol: 'tcp', ports: ['7000'] }] } };

(process.getuid?.() === 0 ? describe : describe.skip)('metrics of both daemons (root)', () => {
  let s: TestSite;
  const A = (n: string) => s.addr(n);
  const scrapeController = async () => (await fetch(`${s.url}/metrics`)).text();
  const docs = () => [
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'sensors' }, spec: { cidrs: [A('sensor').subnet4] } },
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'broker' }, spec: { cidrs: [A('broker').subnet4] } },
    { apiVersion: 'cordon/v1', kind: 'Segment', metadata: { name: 'lan' }, spec: { cidrs: [A('lan').subnet4] } },
    policy,
  ];

  beforeAll(async () => {
    s = await TestSite.start({ topology, enforcer: 'gw-metrics' });
    await s.waitEnforced((await s.apply(docs())).generation);
    await s.serve('broker', 7000);
    expect(await s.connect('sensor', A('broker').v4, 7000)).toBe(true);
    expect(await s.connect('lan', A('broker').v4, 7000, 300)).toBe(false);
  }, 120_000);

  afterAll(async () => {
    await s?.close();
  }, 60_000);

  test('metrics_1_both_daemons_follow_the_naming_conventions_and_a_shared_name_means_one_thing', async () => {
    // the flows have reached both: their pair series exist
    await until('the flows counted by both daemons', async () => /cordon_flow_packets_total\{[^}]*src_segment="lan"/.test(await scrapeController()) && /cordon_flow_packets_total\{[^}]*src_segment="lan"/.test(await s.scrapeEnforcer()), 15_000, 300);
    const ctl = families(await scrapeController());
    const enf = families(await s.scrapeEnforcer());
    expect([...conventionProblems('controller', ctl), ...conventionProblems('enforcer', enf)]).toEqual([]);
    const differ: string[] = [];
    for (const [name, f] of ctl) {
      const g = enf.get(name);
      if (g && (g.type !== f.type || g.help !== f.help)) differ.push(`${name}: controller ${f.type} "${f.help}" / enforcer ${g.type} "${g.help}"`);
    }
    expect(differ).toEqual([]);
    for (const [daemon, fams] of [['controller', ctl], ['enforcer', enf]] as const) {
      expect({ daemon, process: fams.has('process_cpu_seconds_total'), nodejs: fams.has('nodejs_heap_size_total_bytes') }).toEqual({ daemon, process: true, nodejs: true });
      expect({ daemon, build: fams.get('cordon_build_info')?.samples.some((l) => /version="[^"]+"/.test(l) && / 1$/.test(l)) }).toEqual({ daemon, build: true });
    }
    // hits per policy, as the datapath counts them per rule
    await until('the enforcer to count the policy hit', async () => /cordon_policy_packets_total\{[^}]*policy="sensors-to-broker"[^}]*\} [1-9]/.test(await s.scrapeEnforcer()), 15_000, 300);
  }, 60_000);

  test('metrics_2_the_series_of_a_deleted_segment_disappear_from_both_daemons', async () => {
    const lanSeries = /src_segment="lan"|dst_segment="lan"|segment="lan"/;
    expect(lanSeries.test(await scrapeController())).toBe(true);
    expect(lanSeries.test(await s.scrapeEnforcer())).toBe(true);
    const r = await s.cli(['delete', 'segment', 'lan']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    await s.waitEnforced(await s.currentGeneration());
    await until('the lan series gone from both daemons', async () => !lanSeries.test(await scrapeController()) && !lanSeries.test(await s.scrapeEnforcer()), 15_000, 300);
    // the others stay
    expect(/src_segment="sensors"/.test(await scrapeController())).toBe(true);
    expect(/src_segment="sensors"/.test(await s.scrapeEnforcer())).toBe(true);
  }, 60_000);
});
