// SPDX-License-Identifier: Apache-2.0
/**
 * Cordon as netbench's custom filter: `up N` loads the datapath with a
 * generation of N policy entries (the client->server allow among them) and
 * attaches it to the gateway's interfaces, then exits (the program stays);
 * `down` detaches it and removes its pins. Reads netbench's NETBENCH_* env.
 */
import { Datapath } from '../../native/lib/datapath';
import { benchGeneration } from './fixtures';

const NAME = 'bench-netbench';

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through netbench --custom-up/--custom-down`);
  return v;
}

async function main() {
  const [cmd, count] = process.argv.slice(2);
  const netns = `/run/netns/${env('NETBENCH_GW_NS')}`;
  const ifaces = [env('NETBENCH_GW_IF_CLIENT'), env('NETBENCH_GW_IF_SERVER')];
  if (cmd === 'up') {
    Datapath.removePins(NAME);
    const dp = await Datapath.open({ name: NAME });
    const c4 = env('NETBENCH_CLIENT_IP');
    const s4 = env('NETBENCH_SERVER_IP');
    const c6 = env('NETBENCH_CLIENT_IP6');
    const s6 = env('NETBENCH_SERVER_IP6');
    const net4 = (ip: string) => `${ip.split('.').slice(0, 3).join('.')}.0/24`;
    const net6 = (ip: string) => `${ip.split(':').slice(0, 3).join(':')}::/64`;
    const gw4 = (ip: string) => `${ip.split('.').slice(0, 3).join('.')}.1/32`;
    const gen = benchGeneration(Number(count ?? 10000), {
      client4: net4(c4),
      server4: net4(s4),
      client6: net6(c6),
      server6: net6(s6),
      hosts: [gw4(c4), gw4(s4)],
    });
    const r = await dp.applyGeneration(gen);
    for (const ifname of ifaces) {
      await dp.attach(ifname, 'ingress', { netns });
      await dp.attach(ifname, 'egress', { netns });
    }
    dp.close();
    process.stderr.write(`cordon: ${gen.policy.length} policy and ${gen.ipcache.length} ipcache entries in ${r.durationMs.toFixed(1)} ms, attached to ${ifaces.join(', ')}\n`);
  } else if (cmd === 'down') {
    const dp = await Datapath.open({ name: NAME });
    for (const ifname of ifaces) {
      await dp.detach(ifname, 'ingress', { netns }).catch(() => undefined);
      await dp.detach(ifname, 'egress', { netns }).catch(() => undefined);
    }
    dp.unpin();
    dp.close();
  } else {
    throw new Error('usage: netbench-filter up N | down');
  }
}

main().catch((e) => {
  process.stderr.write(`netbench-filter: ${(e as Error).message}\n`);
  process.exit(1);
});
