// SPDX-License-Identifier: Apache-2.0
/** The enforcer's Prometheus metrics and the /metrics listener (up from the moment the daemon starts). */
import * as http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { parseHostPort } from '../../common/src/host-port';
import { CumulativeFeed, SHARED_HELP, pruneSeries, registerBuildInfo, segmentsIn } from '../../common/src/metric-catalog';

const H = SHARED_HELP;
const pairLabels = ['src_segment', 'dst_segment', 'verdict'] as const;

export class EnforcerMetrics {
  readonly registry = new Registry();
  readonly generation = new Gauge({ name: 'cordon_policy_generation', help: H.cordon_policy_generation, registers: [this.registry] });
  readonly packets = new Counter({ name: 'cordon_flow_packets_total', help: H.cordon_flow_packets_total, labelNames: pairLabels, registers: [this.registry] });
  readonly bytes = new Counter({ name: 'cordon_flow_bytes_total', help: H.cordon_flow_bytes_total, labelNames: pairLabels, registers: [this.registry] });
  readonly drops = new Counter({ name: 'cordon_drops_total', help: H.cordon_drops_total, labelNames: ['reason'], registers: [this.registry] });
  readonly applyDuration = new Histogram({
    name: 'cordon_datapath_apply_duration_seconds',
    help: 'Time to write a generation into the datapath and swap it in',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly mapEntries = new Gauge({ name: 'cordon_map_entries', help: 'Entries in each datapath map', labelNames: ['map'], registers: [this.registry] });
  readonly mapMax = new Gauge({ name: 'cordon_map_max_entries', help: 'Capacity of each datapath map', labelNames: ['map'], registers: [this.registry] });
  readonly connected = new Gauge({ name: 'cordon_controller_connected', help: '1 while the policy stream to the controller is open', registers: [this.registry] });
  readonly batchesAcked = new Counter({ name: 'cordon_flow_batches_acked_total', help: 'Flow batches a controller acknowledged (duplicate="true": it had taken them before, a resend)', labelNames: ['duplicate'], registers: [this.registry] });
  readonly batchesUnacked = new Gauge({ name: 'cordon_flow_batches_unacknowledged', help: 'Flow batches queued and not yet acknowledged by a controller', registers: [this.registry] });
  readonly controllerMoves = new Counter({ name: 'cordon_controller_moves_total', help: 'Moves to another controller after the current one failed', registers: [this.registry] });
  readonly batchesDropped = new Counter({ name: 'cordon_flow_batches_dropped_total', help: H.cordon_flow_batches_dropped_total, registers: [this.registry] });
  readonly events = new Counter({ name: 'cordon_security_events_total', help: H.cordon_security_events_total, labelNames: ['verdict', 'reason'], registers: [this.registry] });
  private readonly eventsLostTotal = new Counter({ name: 'cordon_security_events_lost_total', help: H.cordon_security_events_lost_total, registers: [this.registry] });
  private readonly eventsLostFeed = new CumulativeFeed();
  readonly certExpiry = new Gauge({ name: 'cordon_certificate_expiry_timestamp_seconds', help: 'When the enforcer certificate expires', registers: [this.registry] });
  /** Hits per Policy document, summed from the datapath's per-rule counters (policy-hits.ts). */
  readonly policyPackets = new Counter({ name: 'cordon_policy_packets_total', help: 'Packets that matched a rule of the Policy document, by policy (the datapath counts per rule)', labelNames: ['policy'], registers: [this.registry] });
  readonly policyBytes = new Counter({ name: 'cordon_policy_bytes_total', help: 'Bytes of the packets that matched a rule of the Policy document, by policy', labelNames: ['policy'], registers: [this.registry] });

  /** The events lost since start (the collector's cumulative count), into cordon_security_events_lost_total. */
  eventsLostSinceStart(sinceStart: number): void {
    const d = this.eventsLostFeed.delta('', sinceStart);
    if (d > 0) this.eventsLostTotal.inc(d);
  }

  /** Removes the pair series of segments the enforced generation no longer has. */
  async pruneSegments(names: { has(name: string): boolean }): Promise<void> {
    await pruneSeries(this.packets, segmentsIn(names));
    await pruneSeries(this.bytes, segmentsIn(names));
  }

  /**
   * cordon_link_local_frames_total, read from the datapath at each scrape; only
   * registered when the datapath counts them (`read` is its linkLocalFrames).
   */
  watchLinkLocal(read: () => number): void {
    if (this.registry.getSingleMetric('cordon_link_local_frames_total')) return;
    new Counter({
      name: 'cordon_link_local_frames_total',
      help: 'Link-local control frames (802.1X/EAPOL, LLDP) the datapath passed since it was loaded (--link-local pass)',
      registers: [this.registry],
      collect() {
        let n: number;
        try {
          n = read();
        } catch {
          return; // the datapath is closing: keep the last value
        }
        this.reset();
        this.inc(n);
      },
    });
  }

  /**
   * What /healthz answers: 200 when healthy, 503 with the reason when not
   * (set by the daemon: datapath attached, last apply good, the generation in
   * the kernel the one kept). Until set: starting, 503.
   */
  health: () => { ok: boolean; detail: string; [k: string]: unknown } = () => ({ ok: false, detail: 'starting' });

  constructor() {
    this.generation.set(0);
    this.connected.set(0);
    this.eventsLostTotal.inc(0);
    // Stock names (process_*, nodejs_*): the Node.js dashboards and alerts people already have use them.
    collectDefaultMetrics({ register: this.registry });
    registerBuildInfo(this.registry, 'enforcer');
  }

  /** Serves /metrics (and /healthz) on host:port; resolves with the bound port. */
  async listen(address: string): Promise<{ port: number; close(): Promise<void> }> {
    const hp = parseHostPort(address);
    if (!hp) throw new Error(`--metrics must be HOST:PORT (for example 127.0.0.1:7472), got "${address}"`);
    const server = http.createServer((req, res) => {
      if (req.url === '/metrics') {
        this.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': this.registry.contentType });
            res.end(text);
          },
          (err) => {
            res.writeHead(500);
            res.end(String(err));
          },
        );
      } else if (req.url === '/healthz') {
        let h: ReturnType<EnforcerMetrics['health']>;
        try {
          h = this.health();
        } catch (err) {
          h = { ok: false, detail: `health check failed: ${(err as Error).message}` };
        }
        res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(h) + '\n');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new Error(`--metrics ${address}: ${(e as Error).message}`)));
      server.listen(hp.port, hp.host, () => resolve());
    });
    const port = (server.address() as { port: number }).port;
    return { port, close: () => new Promise((r) => server.close(() => r())) };
  }
}
