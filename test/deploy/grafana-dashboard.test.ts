// SPDX-License-Identifier: Apache-2.0
/**
 * deploy/grafana/cordon.json: provisioning-ready (uid, datasource variable,
 * panels on the 24-column grid without overlap), every metric it queries is
 * one Cordon exports (found in the source of apps/, not a list kept here) or a
 * recording rule of deploy/prometheus/cordon-rules.yml, and every query is
 * PromQL that promtool parses.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';

const ROOT = path.resolve(__dirname, '..', '..');
const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy', 'grafana', 'cordon.json'), 'utf8'));
const rules = parse(fs.readFileSync(path.join(ROOT, 'deploy', 'prometheus', 'cordon-rules.yml'), 'utf8'));
const havePromtool = spawnSync('promtool', ['--version']).status === 0;

interface Panel {
  id: number;
  title: string;
  datasource: { uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: { expr: string; datasource: { uid: string } }[];
}
const panels: Panel[] = dashboard.panels;
const exprs = panels.flatMap((p) => p.targets.map((t) => t.expr));

/** Metric names registered in the controller's and the enforcer's source (prom-client `name: 'cordon_…'`). */
function exportedMetrics(): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts')) for (const m of fs.readFileSync(p, 'utf8').matchAll(/name: '(cordon_[a-z0-9_]+)'/g)) out.add(m[1]);
    }
  };
  for (const app of ['controller', 'enforcer', 'common']) walk(path.join(ROOT, 'apps', app, 'src'));
  return out;
}

test('the dashboard is provisioning-ready: uid, title, a datasource variable every query uses, unique ids, panels on the grid without overlap', () => {
  expect(dashboard).toMatchObject({ uid: 'cordon-site', title: 'Cordon site', schemaVersion: expect.any(Number) });
  expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
  expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  const cells = new Set<string>();
  for (const p of panels) {
    expect([p.title, p.datasource.uid, ...p.targets.map((t) => t.datasource.uid)]).toEqual([p.title, ...Array(p.targets.length + 1).fill('${datasource}')]);
    expect(p.targets.length).toBeGreaterThan(0);
    expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        expect(cells.has(`${x},${y}`) ? `${p.title} overlaps at ${x},${y}` : '').toBe('');
        cells.add(`${x},${y}`);
      }
  }
});

test('every metric the dashboard queries is one Cordon exports or one of its recording rules', () => {
  const exported = exportedMetrics();
  expect(exported.size).toBeGreaterThan(15);
  const recorded = new Set<string>(rules.groups.flatMap((g: { rules: { record?: string }[] }) => g.rules.map((r) => r.record).filter(Boolean)));
  const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\bcordon[:_][a-zA-Z0-9_:]*/g)].map((m) => m[0])));
  const known = (m: string) => exported.has(m) || recorded.has(m) || exported.has(m.replace(/_(bucket|count|sum)$/, ''));
  expect([...used].filter((m) => !known(m))).toEqual([]);
  // What the issue asks the dashboard to show.
  for (const m of ['cordon_drops_total', 'cordon_flow_packets_total', 'cordon_policy_generation', 'cordon_enforcers_connected', 'cordon_apply_duration_seconds_bucket', 'cordon:plaintext_flows_ratio:rate1h', 'cordon_security_events_total', 'cordon_posture_quarantine_seconds_bucket', 'cordon_map_entries']) {
    expect([m, used.has(m)]).toEqual([m, true]);
  }
});

(havePromtool ? test : test.skip)('every query is PromQL promtool parses', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-dashboard-'));
  try {
    const file = path.join(dir, 'queries.yml');
    // Grafana's $__rate_interval is a duration when the query runs.
    const asRules = exprs.map((expr, i) => ({ record: `cordon:dashboard_query_${i}`, expr: expr.replace(/\$__rate_interval/g, '5m') }));
    fs.writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: asRules }] }));
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8', timeout: 30_000 });
    expect({ status: r.status, out: r.stdout + r.stderr }).toEqual({ status: 0, out: expect.stringContaining(`SUCCESS: ${exprs.length} rules found`) });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
