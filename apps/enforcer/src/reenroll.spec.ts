/**
 * An enforcer whose state dir holds a certificate from another controller CA
 * (a reinstalled controller, a gateway moved to another site), started with a
 * join string of the new controller: it enrolls anew with that token (after
 * the pin check) and follows the new controller, instead of retrying a TLS
 * chain that will never verify. Two real control servers with their own CAs,
 * real gRPC and certificates; the datapath is a recording one.
 */
import 'reflect-metadata';
import * as fs from 'node:fs';
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
import { validateEnforcerConfig } from './config';
import { Enforcer } from './enforcer';
import { fingerprint, IdentityStore } from './identity';
import { RecordingDatapath } from './testing/recording-datapath';
import { until } from '../../../test/support/wait';

const bundle = (generation: number) => ({
  generation,
  identities: { sensors: 256 },
  ipcache: [{ cidr: '10.10.1.0/24', identity: 256 }],
  policy: [],
  rules: [],
  warnings: [],
});

interface Site {
  ca: CertificateAuthority;
  store: MemoryControlStore;
  bundles: MemoryGenerations;
  server: ControlServer;
  address: string;
}

describe('an enforcer enrolled under another CA, given a join string of the new controller', () => {
  let dir: string;
  const sites: Site[] = [];
  const running: Enforcer[] = [];
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });

  const site = async (name: string): Promise<Site> => {
    const ca = await CertificateAuthority.open(path.join(dir, name));
    const store = new MemoryControlStore();
    const bundles = new MemoryGenerations();
    const server = new ControlServer({ ca, store, generations: bundles, log: pino({ level: 'silent' }), flows: new FlowAggregator(new Registry(), bundles), feeds: new ControlFeeds() });
    const s = { ca, store, bundles, server, address: `127.0.0.1:${await server.listen('127.0.0.1:0')}` };
    sites.push(s);
    return s;
  };
  const start = async (s: Site, token?: string) => {
    const cfg = validateEnforcerConfig(
      { controller: s.address, token, interface: ['eth1'], stateDir: path.join(dir, 'state'), metrics: '127.0.0.1:0', name: 'gw-moved', flowInterval: '100ms', netns: '/proc/self/ns/net', failsafe: ['none'] },
      { datapath: new RecordingDatapath(), log },
    );
    const e = await new Enforcer(cfg).start();
    running.push(e);
    return { e, dp: cfg.datapath as RecordingDatapath };
  };
  const storedCa = () => fingerprint(new IdentityStore(path.join(dir, 'state')).load()!.caPem);

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-reenroll-'));
  });
  afterAll(async () => {
    for (const e of running) await e.stop();
    for (const s of sites) await s.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('enrolls anew with the token after the pin check, follows the new controller, and a restart with the same token changes nothing', async () => {
    const old = await site('old');
    old.store.addToken('tok-old');
    const first = await start(old, formatJoin('tok-old', caCertSha256(old.ca.certificatePem)));
    old.bundles.publish(bundle(3));
    await until('generation 3 from the old controller', () => first.dp.applied().includes(3));
    await first.e.stop();
    expect(storedCa()).toBe(caCertSha256(old.ca.certificatePem));

    // The controller is reinstalled: a new CA, a new token.
    const fresh = await site('new');
    fresh.store.addToken('tok-new');
    fresh.bundles.publish(bundle(1));
    lines.length = 0;
    const second = await start(fresh, formatJoin('tok-new', caCertSha256(fresh.ca.certificatePem)));
    await until('generation 1 from the new controller', () => second.dp.applied().includes(1));
    expect(second.dp.applied()[0]).toBe(3); // the kept generation was enforced while it enrolled anew
    expect(storedCa()).toBe(caCertSha256(fresh.ca.certificatePem));
    const warned = lines.map((l) => JSON.parse(l) as { msg: string; storedCa?: string; pinnedCa?: string }).find((l) => /another CA than the one --token pins/.test(l.msg));
    expect(warned).toMatchObject({ storedCa: `sha256:${caCertSha256(old.ca.certificatePem)}`, pinnedCa: `sha256:${caCertSha256(fresh.ca.certificatePem)}` });
    await second.e.stop();

    // The token stays in the configuration: the stored certificate is under the CA it pins, so no second enrollment (the token is spent).
    lines.length = 0;
    const third = await start(fresh, formatJoin('tok-new', caCertSha256(fresh.ca.certificatePem)));
    fresh.bundles.publish(bundle(2));
    await until('generation 2 on the same certificate', () => third.dp.applied().includes(2));
    expect(lines.some((l) => /another CA/.test(l))).toBe(false);
  });

  it('a token pinning a CA the controller does not present is refused before it is sent, and says so', async () => {
    const other = await site('other');
    const wrongPin = caCertSha256(sites[0].ca.certificatePem); // the old site's CA, which `other` does not present
    other.store.addToken('tok-other');
    await expect(start(other, formatJoin('tok-other', wrongPin))).rejects.toThrow(/not the pinned sha256:.*the enrollment token was not sent/);
    expect([...other.store.tokens.values()].every((t) => !t.used)).toBe(true);
  });

  it('with no token to enroll anew, the lost policy stream says what to do', async () => {
    lines.length = 0;
    await start(sites[0]); // the old controller: its CA is not the stored certificate's any more
    const hint = await until('the hint', () => lines.find((l) => /policy stream lost/.test(l)));
    expect(JSON.parse(hint).msg).toMatch(/a CA this enforcer was not enrolled under .*join string from `cordon token create` on that controller as --token/);
  });
});
