// SPDX-License-Identifier: Apache-2.0
/**
 * deploy/prometheus/cordon-rules.yml checked by Debian's promtool: the file is
 * valid (check rules) and each alert fires on series this test writes, and
 * stays quiet on the healthy series beside them (test rules). Needs promtool
 * (the prometheus package, installed by scripts/setup.sh).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';

const RULES = path.resolve(__dirname, '..', '..', 'deploy', 'prometheus', 'cordon-rules.yml');
const havePromtool = spawnSync('promtool', ['--version']).status === 0;

const ctl = (metric: string, labels = '') => `${metric}{job="cordon-controller",instance="ctl:7470"${labels ? `,${labels}` : ''}}`;
const enf = (metric: string, instance: string, labels = '') => `${metric}{job="cordon-enforcer",instance="${instance}"${labels ? `,${labels}` : ''}}`;
const enfLabels = (instance: string, extra: Record<string, string> = {}) => ({ job: 'cordon-enforcer', instance, ...extra });

interface Alert {
  exp_labels: Record<string, string>;
  exp_annotations: Record<string, string>;
}
interface Case {
  name: string;
  input_series: { series: string; values: string }[];
  alert_rule_test: { eval_time: string; alertname: string; exp_alerts: Alert[] }[];
  promql_expr_test?: { expr: string; eval_time: string; exp_samples: { labels: string; value: number }[] }[];
}

const CASES: Case[] = [
  {
    name: 'an enforcer behind the controller\'s generation for two minutes is out of sync; one at it is not',
    input_series: [
      { series: ctl('cordon_policy_generation'), values: '5x10' },
      { series: enf('cordon_policy_generation', 'gw-1:7472'), values: '5x10' },
      { series: enf('cordon_policy_generation', 'gw-2:7472'), values: '4x10' },
    ],
    alert_rule_test: [
      { eval_time: '1m', alertname: 'CordonEnforcerOutOfSync', exp_alerts: [] },
      {
        eval_time: '5m',
        alertname: 'CordonEnforcerOutOfSync',
        exp_alerts: [
          {
            exp_labels: enfLabels('gw-2:7472', { severity: 'warning' }),
            exp_annotations: {
              summary: "Enforcer gw-2:7472 enforces generation 4, older than the controller's",
              description: 'The enforcer has not applied the newest policy bundle for 2 minutes; it keeps enforcing its last generation. Check `cordon get enforcers` and its log.',
            },
          },
        ],
      },
    ],
  },
  {
    name: 'a lost policy stream and an enforcer that cannot be scraped',
    input_series: [
      { series: enf('cordon_controller_connected', 'gw-1:7472'), values: '1 1 0 0 0 0 0 0' },
      { series: enf('cordon_controller_connected', 'gw-2:7472'), values: '1x7' },
      { series: enf('up', 'gw-3:7472'), values: '0x7' },
      { series: enf('up', 'gw-2:7472'), values: '1x7' },
    ],
    alert_rule_test: [
      { eval_time: '3m', alertname: 'CordonEnforcerDisconnected', exp_alerts: [] },
      {
        eval_time: '6m',
        alertname: 'CordonEnforcerDisconnected',
        exp_alerts: [
          {
            exp_labels: enfLabels('gw-1:7472', { severity: 'critical' }),
            exp_annotations: {
              summary: 'Enforcer gw-1:7472 has no policy stream to the controller',
              description: 'It keeps enforcing its last generation but gets no new policy and its flow batches queue up (and are dropped oldest first).',
            },
          },
        ],
      },
      {
        eval_time: '6m',
        alertname: 'CordonEnforcerDown',
        exp_alerts: [
          {
            exp_labels: enfLabels('gw-3:7472', { severity: 'critical' }),
            exp_annotations: {
              summary: 'Enforcer metrics at gw-3:7472 cannot be scraped',
              description: 'The daemon may be down; the datapath keeps enforcing from its pinned maps, but nothing is reported.',
            },
          },
        ],
      },
    ],
  },
  {
    name: 'a certificate three hours from expiry that does not renew, beside one renewed a day ahead',
    input_series: [
      { series: enf('cordon_certificate_expiry_timestamp_seconds', 'gw-1:7472'), values: '10800x10' },
      { series: enf('cordon_certificate_expiry_timestamp_seconds', 'gw-2:7472'), values: '86400x10' },
    ],
    alert_rule_test: [
      {
        eval_time: '10m',
        alertname: 'CordonCertificateExpiringSoon',
        exp_alerts: [
          {
            exp_labels: enfLabels('gw-1:7472', { severity: 'warning' }),
            exp_annotations: {
              summary: 'The certificate of enforcer gw-1:7472 expires in 2h 50m 0s',
              description: 'Enforcer certificates last 24 h and renew on their own well before expiry; one this close to it is failing to renew. Once expired the controller refuses it.',
            },
          },
        ],
      },
    ],
  },
  {
    name: 'a datapath map 90 % full for five minutes; another at 10 % is not',
    input_series: [
      { series: enf('cordon_map_entries', 'gw-1:7472', 'map="flows"'), values: '900x10' },
      { series: enf('cordon_map_max_entries', 'gw-1:7472', 'map="flows"'), values: '1000x10' },
      { series: enf('cordon_map_entries', 'gw-1:7472', 'map="policy"'), values: '100x10' },
      { series: enf('cordon_map_max_entries', 'gw-1:7472', 'map="policy"'), values: '1000x10' },
    ],
    alert_rule_test: [
      { eval_time: '3m', alertname: 'CordonMapAlmostFull', exp_alerts: [] },
      {
        eval_time: '8m',
        alertname: 'CordonMapAlmostFull',
        exp_alerts: [
          {
            exp_labels: enfLabels('gw-1:7472', { map: 'flows', severity: 'warning' }),
            exp_annotations: {
              summary: 'Datapath map flows on gw-1:7472 is 90% full',
              description: 'A full map refuses new entries (new flows or policy entries). Raise its size or reduce what fills it.',
            },
          },
        ],
      },
    ],
  },
  {
    name: 'spoofed drops jump from 1/s to 20/s; policy drops steady at 1/s stay quiet',
    input_series: [
      { series: ctl('cordon_drops_total', 'reason="spoofed"'), values: '0+60x70 4260+1200x10' },
      { series: ctl('cordon_drops_total', 'reason="policy"'), values: '0+60x80' },
      // An enforcer's own counter of the same drops is not counted twice.
      { series: enf('cordon_drops_total', 'gw-1:7472', 'reason="spoofed"'), values: '0+60x70 4260+1200x10' },
    ],
    alert_rule_test: [
      { eval_time: '60m', alertname: 'CordonDropReasonSpike', exp_alerts: [] },
      {
        eval_time: '78m',
        alertname: 'CordonDropReasonSpike',
        exp_alerts: [
          {
            exp_labels: { reason: 'spoofed', severity: 'warning' },
            exp_annotations: {
              summary: "Drops for reason spoofed at 20/s, over four times the last hour's rate",
              description: "A burst of drops (policy: something new is being refused; spoofed or malformed: a misbehaving or hostile device). See the console's flow table filtered by reason.",
            },
          },
        ],
      },
    ],
  },
  {
    name: 'cameras start sending a third of their flows over http; sensors steady at 10 % in clear stay quiet',
    input_series: [
      { series: ctl('cordon_flows_by_encryption_total', 'src_segment="cameras",class="tls"'), values: '0+100x150' },
      { series: ctl('cordon_flows_by_encryption_total', 'src_segment="cameras",class="http"'), values: '0x60 50+50x90' },
      { series: ctl('cordon_flows_by_encryption_total', 'src_segment="sensors",class="tls"'), values: '0+90x150' },
      { series: ctl('cordon_flows_by_encryption_total', 'src_segment="sensors",class="mqtt"'), values: '0+10x150' },
    ],
    promql_expr_test: [{ expr: 'round(cordon:plaintext_flows_ratio:rate1h, 0.001)', eval_time: '150m', exp_samples: [{ labels: '{src_segment="cameras"}', value: 0.333 }, { labels: '{src_segment="sensors"}', value: 0.1 }] }],
    alert_rule_test: [
      { eval_time: '50m', alertname: 'CordonPlaintextShareRising', exp_alerts: [] },
      {
        eval_time: '150m',
        alertname: 'CordonPlaintextShareRising',
        exp_alerts: [
          {
            exp_labels: { src_segment: 'cameras', severity: 'warning' },
            exp_annotations: {
              summary: 'Segment cameras sends 33.33% of its new flows in clear, up by more than 10 points in an hour',
              description: 'Devices of the segment started talking in clear (cordon report plaintext lists which); consider encryption: required on their rules.',
            },
          },
        ],
      },
    ],
  },
];

(havePromtool ? describe : describe.skip)('Prometheus rules under promtool', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-promtool-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('promtool check rules accepts the file', () => {
    const out = execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: 9 rules found/);
  });

  test('every alert fires on the series written for it, and only there (promtool test rules)', () => {
    const file = path.join(dir, 'cordon-rules.test.yml');
    fs.writeFileSync(file, stringify({ rule_files: [RULES], evaluation_interval: '1m', tests: CASES.map(({ name: _n, ...c }) => ({ interval: '1m', ...c })) }));
    const r = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
    expect({ status: r.status, out: r.stdout + r.stderr }).toEqual({ status: 0, out: expect.stringContaining('SUCCESS') });
  });

  test('a rule that does not fire where the test expects it makes promtool fail (the check can fail)', () => {
    const file = path.join(dir, 'wrong.test.yml');
    const wrong = { ...CASES[3], alert_rule_test: [{ eval_time: '8m', alertname: 'CordonMapAlmostFull', exp_alerts: [] }] };
    fs.writeFileSync(file, stringify({ rule_files: [RULES], evaluation_interval: '1m', tests: [{ interval: '1m', ...wrong, name: undefined }] }));
    const r = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('CordonMapAlmostFull');
  });
});
