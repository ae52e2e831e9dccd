/**
 * A frozen controller (SIGSTOPped, swapped out, a hung host) still accepts
 * TCP in its kernel and never answers the TLS handshake; gRPC alone would wait
 * on it for ever. An enforcer whose current controller is one moves to the
 * next after CONNECT_TIMEOUT_MS, and enforces the generation it gets there.
 * The frozen controller is a listening socket that never reads; the other is
 * a real control server over real mTLS; the datapath is a recording one.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { CertificateAuthority } from '../../controller/src/control/ca/certificate-authority';
import { FlowAggregator } from '../../controller/src/control/flows/flow-aggregator';
import { ControlServer } from '../../controller/src/control/grpc/control.server';
import { ControlFeeds } from '../../controller/src/control/feeds';
import { MemoryGenerations, MemoryControlStore } from '../../controller/src/control/testing/fakes';
import { caCertSha256, formatJoin } from '../../../proto/cordon/v1/join';
import { CONNECT_TIMEOUT_MS } from './bundle-stream';
import { validateEnforcerConfig } from './config';
import { Enforcer } from './enforcer';
import { RecordingDatapath } from './testing/recording-datapath';
import { until } from '../../../test/support/wait';

jest.setTimeout(60_000);

const bundle = (generation: number) => ({ generation, identities: { sensors: 256 }, ipcache: [{ cidr: '10.10.1.0/24', identity: 256 }], policy: [], rules: [], warnings: [] });

describe('an enforcer whose controller is frozen', () => {
  let dir: string;
  let server: ControlServer;
  let frozen: net.Server;
  const held: net.Socket[] = [];
  const running: Enforcer[] = [];
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-frozen-'));
  });
  afterAll(async () => {
    for (const e of running) await e.stop();
    await server?.close();
    for (const s of held) s.destroy();
    frozen?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('moves to the next controller when the current one takes the connection and never answers', async () => {
    const ca = await CertificateAuthority.open(path.join(dir, 'ca'));
    const store = new MemoryControlStore();
    const bundles = new MemoryGenerations();
    server = new ControlServer({ ca, store, generations: bundles, log: pino({ level: 'silent' }), flows: new FlowAggregator(new Registry(), bundles), feeds: new ControlFeeds() });
    const live = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
    frozen = net.createServer((s) => void held.push(s)); // accepts, reads nothing, answers nothing
    await new Promise<void>((r) => frozen.listen(0, '127.0.0.1', r));
    const stopped = `127.0.0.1:${(frozen.address() as net.AddressInfo).port}`;
    const start = async (controller: string[], token?: string) => {
      const datapath = new RecordingDatapath();
      const cfg = validateEnforcerConfig(
        { controller, token, interface: ['eth1'], stateDir: path.join(dir, 'state'), metrics: '127.0.0.1:0', name: 'gw-frozen', flowInterval: '100ms', netns: '/proc/self/ns/net', failsafe: ['none'] },
        { datapath, log },
      );
      const e = await new Enforcer(cfg).start();
      running.push(e);
      return { e, dp: datapath };
    };

    // Enrolled on the live controller, then restarted with the frozen one first.
    store.addToken('tok');
    bundles.publish(bundle(1));
    const first = await start([live], formatJoin('tok', caCertSha256(ca.certificatePem)));
    await until('generation 1', () => first.dp.applied().includes(1));
    await first.e.stop();

    bundles.publish(bundle(2));
    lines.length = 0;
    const t0 = Date.now();
    const second = await start([stopped, live]);
    await until('generation 2 from the live controller', () => second.dp.applied().includes(2), CONNECT_TIMEOUT_MS + 10_000);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 500); // it did wait on the frozen one first
    expect(held.length).toBeGreaterThan(0);
    expect(lines.some((l) => /did not finish the TLS handshake/.test(l))).toBe(true);
    expect(second.dp.applied()[0]).toBe(1); // the kept generation was enforced meanwhile
  });
});
